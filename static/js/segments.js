// Filter builder: the product picker of the "bought" condition (no inline scripts: the CSP forbids them).
(function () {
  "use strict";
  function pickerOf(element) {
    return element && element.closest ? element.closest(".product-picker") : null;
  }
  // Typing in the picker searches products; it is not a change of the filter, so the builder form
  // (which recounts on every keyup and change) must not hear it. Enter searches instead of saving.
  function keepInPicker(event) {
    if (pickerOf(event.target)) {
      event.stopPropagation();
    }
  }
  function watchPickers(root) {
    var scope = root && root.querySelectorAll ? root : document;
    var pickers = Array.prototype.slice.call(scope.querySelectorAll(".product-picker"));
    if (scope.matches && scope.matches(".product-picker")) { pickers.push(scope); }
    pickers.forEach(function (picker) {
      if (picker.getAttribute("data-picker-ready")) { return; }
      picker.setAttribute("data-picker-ready", "1");
      picker.addEventListener("keyup", keepInPicker);
      picker.addEventListener("change", keepInPicker);
      picker.addEventListener("keydown", function (event) {
        if (event.key === "Enter" && event.target.matches("input[type=search]")) {
          event.preventDefault();
        }
      });
    });
  }
  document.addEventListener("htmx:load", function (event) { watchPickers(event.target); });
  document.addEventListener("DOMContentLoaded", function () { watchPickers(document); });

  // A product chosen in the list: add its code to the condition's codes (once) and recount.
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button[data-product-code][data-product-target]") : null;
    if (!button) { return; }
    var input = document.getElementById(button.getAttribute("data-product-target"));
    if (!input) { return; }
    var code = button.getAttribute("data-product-code");
    var codes = input.value.split(/[,;\n]/).map(function (c) { return c.trim(); }).filter(Boolean);
    if (codes.indexOf(code) === -1) { codes.push(code); }
    input.value = codes.join(", ");
    input.dispatchEvent(new Event("change", { bubbles: true }));
    button.setAttribute("aria-pressed", "true");
    button.classList.add("chosen");
  });
})();
