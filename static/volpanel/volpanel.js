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

  // A stream swapping in the action panel (a fresher read of the volume, or its next state) keeps the forms the
  // tenant opened open, with what they typed: the new panel's forms are the same actions, with fresh keys.
  var opened = null;
  document.addEventListener("htmx:sseBeforeMessage", function (evt) {
    if (evt.target.id !== "volume-actions") return;
    opened = [];
    evt.target.querySelectorAll("details[data-action][open]").forEach(function (details) {
      var values = [];
      details.querySelectorAll("input, select, textarea").forEach(function (field) {
        if (!field.name || field.type === "hidden") return;
        values.push([field.name, field.type === "checkbox" || field.type === "radio" ? field.checked : field.value,
                     field.type === "radio" ? field.value : null]);
      });
      opened.push([details.getAttribute("data-action"), values]);
    });
  });
  document.addEventListener("htmx:sseMessage", function (evt) {
    if (evt.target.id !== "volume-actions" || !opened) return;
    opened.forEach(function (entry) {
      var details = evt.target.querySelector('details[data-action="' + entry[0] + '"]');
      if (!details) return;
      details.open = true;
      entry[1].forEach(function (saved) {
        details.querySelectorAll("input, select, textarea").forEach(function (field) {
          if (field.name !== saved[0] || field.type === "hidden") return;
          if (field.type === "radio") { if (field.value === saved[2]) field.checked = saved[1]; }
          else if (field.type === "checkbox") field.checked = saved[1];
          else if (field.tagName !== "SELECT" || field.querySelector('option[value="' + CSS.escape(saved[1]) + '"]')) {
            field.value = saved[1];
          }
        });
      });
    });
    opened = null;
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
