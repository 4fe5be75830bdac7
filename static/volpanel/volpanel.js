// volpanel: small behaviours htmx does not cover. No inline scripts anywhere: the CSP forbids them.
(function () {
  "use strict";

  // Tell the tenant whether the live status stream is connected or has dropped.
  function indicator(evt, text, cls) {
    var live = evt.target.closest ? evt.target.closest("#volume-live, #admin-live") : null;
    var el = live && live.querySelector("[data-stream-indicator]");
    if (!el) return;
    el.textContent = text;
    el.className = "live-indicator " + cls;
  }
  document.addEventListener("htmx:sseOpen", function (evt) {
    indicator(evt, "Live: status updates arrive as the volume changes.", "is-connected");
  });
  document.addEventListener("htmx:sseError", function (evt) {
    indicator(evt, "Live updates dropped; reconnecting… (reload the page if this stays)", "is-dropped");
  });
  document.addEventListener("htmx:sseClose", function (evt) {
    indicator(evt, "The volume has settled.", "is-settled");
  });

  // Request ids: a click, or Enter/Space from the keyboard, copies them, for a support ticket.
  function copy(code) {
    if (!navigator.clipboard) return;
    navigator.clipboard.writeText(code.textContent.trim()).then(function () {
      code.setAttribute("data-copied", "copied");
    });
  }
  document.addEventListener("click", function (evt) {
    var code = evt.target.closest && evt.target.closest("code.copyable");
    if (code) copy(code);
  });
  document.addEventListener("keydown", function (evt) {
    var code = evt.target.closest && evt.target.closest("code.copyable");
    if (!code || (evt.key !== "Enter" && evt.key !== " ")) return;
    evt.preventDefault();
    copy(code);
  });
})();
