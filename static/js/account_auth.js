// Account form: show the fields of the chosen authentication kind (no inline scripts: the CSP forbids them).
(function () {
  "use strict";
  function apply(block) {
    var select = block.querySelector('select[name="auth_kind"]');
    if (!select) { return; }
    block.querySelectorAll("[data-auth-for]").forEach(function (part) {
      part.hidden = part.getAttribute("data-auth-for").split(" ").indexOf(select.value) === -1;
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var block = document.getElementById("auth-block");
    if (block) { apply(block); }
  });
  document.addEventListener("change", function (event) {
    if (event.target && event.target.name === "auth_kind") {
      var block = event.target.closest("#auth-block");
      if (block) { apply(block); }
    }
  });
})();
