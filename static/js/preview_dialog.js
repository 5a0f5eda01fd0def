// Batch page: «Anteprima» loads the message preview (htmx, into #preview-panel) and shows it in a
// modal <dialog>, so it opens in view at any width instead of below the whole list.
(function () {
  "use strict";
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail && event.detail.target;
    if (!target || target.id !== "preview-panel") {
      return;
    }
    var dialog = target.closest("dialog");
    if (dialog && !dialog.open) {
      dialog.showModal();
    }
    target.scrollTop = 0;
  });
  // Closed (button, Esc): drop the old preview so the next one never flashes the previous message.
  document.addEventListener(
    "close",
    function (event) {
      var dialog = event.target;
      if (dialog && dialog.id === "preview-dialog") {
        var panel = dialog.querySelector("#preview-panel");
        if (panel) {
          panel.replaceChildren();
        }
      }
    },
    true
  );
  // A click on the backdrop (the dialog itself, outside its box) closes it too.
  document.addEventListener("click", function (event) {
    var dialog = event.target;
    if (dialog && dialog.id === "preview-dialog" && dialog.open) {
      dialog.close();
    }
  });
})();
