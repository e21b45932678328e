// oncall console: progressive enhancement only. Everything works without this file;
// with it, lists and incident pages refresh themselves while visible.
(function () {
  "use strict";
  function refresh(box) {
    if (document.hidden || box.dataset.busy === "1") return;
    if (box.contains(document.activeElement) && document.activeElement.tagName !== "BODY") return;
    box.dataset.busy = "1";
    fetch(box.dataset.live, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) {
        if (r.redirected || !r.ok) throw new Error(String(r.status));
        return r.text();
      })
      .then(function (html) {
        if (box.innerHTML.trim() !== html.trim()) box.innerHTML = html;
        var s = document.querySelector("[data-live-status]");
        if (s) s.textContent = "updated " + new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
      })
      .catch(function () {
        var s = document.querySelector("[data-live-status]");
        if (s) s.textContent = "not updating (offline?)";
      })
      .finally(function () { box.dataset.busy = "0"; });
  }
  function start() {
    document.querySelectorAll("[data-live]").forEach(function (box) {
      var every = Math.max(0.5, Number(box.dataset.liveEvery || 10)) * 1000;
      setInterval(function () { refresh(box); }, every);
      document.addEventListener("visibilitychange", function () { if (!document.hidden) refresh(box); });
    });
    document.querySelectorAll("input.copy").forEach(function (input) {
      input.addEventListener("focus", function () { input.select(); });
    });
    document.querySelectorAll("form select[name=state], form select[name=desk], form select[name=customer]").forEach(function (sel) {
      sel.addEventListener("change", function () { sel.form.submit(); });
    });
    // One click per action: a second tap while the first is on its way does nothing.
    document.querySelectorAll("form[method=post]").forEach(function (form) {
      form.addEventListener("submit", function () {
        form.querySelectorAll("button").forEach(function (b) { setTimeout(function () { b.disabled = true; }, 0); });
      });
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();
