// Contacts area: small helpers (no inline scripts: the CSP forbids them).
(function () {
  "use strict";
  // A new contact starts with its function's default document types ticked.
  document.addEventListener("change", function (event) {
    var select = event.target;
    if (!select || select.name !== "function") { return; }
    var form = select.closest("form[data-new-contact]");
    if (!form) { return; }
    var defaults = {};
    try { defaults = JSON.parse(form.getAttribute("data-function-defaults") || "{}"); } catch (e) { return; }
    var wanted = defaults[select.value] || [];
    form.querySelectorAll('input[name="document_types"]').forEach(function (box) {
      box.checked = wanted.indexOf(box.value) !== -1;
    });
  });
  // "Annulla" on a new-contact form: drop the form without a round trip.
  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("[data-remove-closest]") : null;
    if (!link) { return; }
    var box = link.closest(link.getAttribute("data-remove-closest"));
    if (box) {
      event.preventDefault();
      box.remove();
      // The focus goes back to the button that opened the form, not to the top of the page.
      var opener = document.querySelector("[data-opens-contact-form]");
      if (opener) { opener.focus(); }
    }
  });
})();
