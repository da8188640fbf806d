// Draws every chart on the page from its JSON (rendered by `json_script` inside `[data-chart]`), once the page
// loads and again when HTMX swaps new ones in. The only script that calls Plotly; pages hold no inline script.
(function () {
  "use strict";

  function draw(root) {
    root.querySelectorAll("[data-chart]").forEach(function (holder) {
      const source = holder.querySelector('script[type="application/json"]');
      if (!source || holder.dataset.drawn) return;
      const figure = JSON.parse(source.textContent);
      const target = document.createElement("div");
      holder.appendChild(target);
      holder.dataset.drawn = "true";
      Plotly.newPlot(target, figure.data, figure.layout, figure.config);
    });
  }

  // Figures are drawn before the grid has its final column widths: fit each to its card once laid out.
  function fit() {
    document.querySelectorAll("[data-chart] .js-plotly-plot").forEach(function (el) { Plotly.Plots.resize(el); });
  }

  document.addEventListener("DOMContentLoaded", function () { draw(document); });
  window.addEventListener("load", fit);
  // A phone turned sideways, or a window resized: refit once the resizing stops.
  let resizing = 0;
  window.addEventListener("resize", function () {
    clearTimeout(resizing);
    resizing = setTimeout(fit, 150);
  });
  document.addEventListener("htmx:afterSettle", function () { draw(document); fit(); });
})();
