// Registers the service worker (offline shell, push) and drives "Turn on push here" on the settings page.
(function () {
  "use strict";
  if (!("serviceWorker" in navigator)) return;
  const ready = navigator.serviceWorker.register("/sw.js", { scope: "/" });

  function csrfToken() {
    try { return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || ""; }
    catch (e) { return ""; }
  }

  function keyBytes(base64url) {
    const padded = (base64url + "===".slice((base64url.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    const raw = atob(padded);
    return Uint8Array.from(raw, (c) => c.charCodeAt(0));
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify(body),
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    const enable = document.getElementById("push-enable");
    const disable = document.getElementById("push-disable");
    const status = document.getElementById("push-status");
    if (!enable) return;
    const say = (text) => { if (status) status.textContent = text; };
    if (!("PushManager" in window)) { enable.disabled = true; say("This browser cannot receive push."); return; }
    enable.addEventListener("click", async function () {
      try {
        const permission = await Notification.requestPermission();
        if (permission !== "granted") { say("Notifications are blocked for this site in the browser."); return; }
        const registration = await ready;
        const subscription = await registration.pushManager.subscribe({
          userVisibleOnly: true, applicationServerKey: keyBytes(enable.dataset.key),
        });
        const answer = await post(enable.dataset.subscribe, subscription.toJSON());
        say(answer.ok ? "Push is on for this device." : "The server refused this subscription.");
      } catch (e) { say("Push could not be turned on: " + e.message); }
    });
    if (disable) disable.addEventListener("click", async function () {
      const registration = await ready;
      const subscription = await registration.pushManager.getSubscription();
      if (subscription) {
        await post(enable.dataset.unsubscribe, { endpoint: subscription.endpoint });
        await subscription.unsubscribe();
      }
      say("Push is off for this device.");
    });
  });
})();
