// The forecast dashboard: poll the small "latest run" endpoint; when a new run lands, HTMX swaps the body in place.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    const live = document.getElementById("forecast-live");
    if (!live || !live.dataset.latestUrl) return;
    setInterval(async function () {
      try {
        const r = await fetch(live.dataset.latestUrl, {headers: {"Accept": "application/json"}});
        const data = await r.json();
        if (data.run && data.run !== live.dataset.run) { live.dataset.run = data.run; htmx.trigger(live, "newrun"); }
      } catch (e) { /* offline for a moment: try again next tick */ }
    }, 5000);
  });
})();
