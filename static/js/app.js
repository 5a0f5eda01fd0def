// Recapito: small client helpers. No inline scripts (the CSP forbids them).
(function () {
  "use strict";
  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }
  // htmx sends the CSRF token in a header on every state-changing request.
  document.addEventListener("htmx:configRequest", function (event) {
    var verb = (event.detail.verb || "get").toLowerCase();
    if (verb !== "get") {
      event.detail.headers["X-CSRFToken"] = csrfToken();
    }
  });
  // Session expired during an htmx request: go to the login page.
  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    if (xhr && xhr.status === 401) {
      window.location.href = "/auth/login";
    }
  });
  // A form swapped in by htmx (a new or edited contact, the same form back with errors) takes the focus:
  // its first field in error, else its first field; so the keyboard goes on where the eyes go.
  document.addEventListener("htmx:load", function (event) {
    var elt = event.detail && event.detail.elt;
    if (!elt || elt === document.body || !elt.querySelector) { return; }
    var box = elt.matches("[data-focus-on-swap]") ? elt : elt.querySelector("[data-focus-on-swap]");
    if (!box || box.contains(document.activeElement)) { return; }  // never take the focus from a field already chosen
    var field = box.querySelector("[aria-invalid=true]") ||
      box.querySelector("input:not([type=hidden]), select, textarea");
    if (field) { field.focus(); }
  });
  // A message frame reached with Tab (to scroll the message) matches no :focus in Chromium: the page
  // only sees its own window lose the focus. Mark the frame so the CSS can show where the focus is.
  window.addEventListener("blur", function () {
    var frame = document.activeElement;
    if (frame && frame.tagName === "IFRAME") {
      frame.classList.add("frame-focused");
      window.addEventListener("focus", function () { frame.classList.remove("frame-focused"); }, { once: true });
    }
  });
  // Links styled and announced as buttons (<a role="button">) answer to Space as well as Enter, like buttons.
  document.addEventListener("keydown", function (event) {
    var link = event.target;
    if (event.key === " " && link && link.matches && link.matches("a[role=button][href]")) {
      event.preventDefault();
      link.click();
    }
  });
  // "Select all" checkboxes: <input type="checkbox" data-select-all="name-of-boxes">
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target && target.matches && target.matches("input[data-select-all]")) {
      var name = target.getAttribute("data-select-all");
      document.querySelectorAll('input[type="checkbox"][name="' + name + '"]').forEach(function (box) {
        box.checked = target.checked;
      });
    }
  });
  // Confirm buttons/forms without inline JS: <form data-confirm="Sicuro?">
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form && form.getAttribute && form.getAttribute("data-confirm") && !form.hasAttribute("hx-post")) {
      if (!window.confirm(form.getAttribute("data-confirm"))) {
        event.preventDefault();
      }
    }
  });
})();
