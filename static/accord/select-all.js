// A box that ticks every box named by its data-select-all in the same form, e.g. all of a reviewer's unanswered
// items. It is rendered hidden and shown here, so that without JavaScript the page offers only what works.
(function () {
  "use strict";
  function wire(master) {
    var boxes = Array.prototype.slice.call(
      master.form.querySelectorAll('input[type="checkbox"][name="' + master.dataset.selectAll + '"]')
    );
    if (!boxes.length) return;
    function reflect() {
      var ticked = boxes.filter(function (box) { return box.checked; }).length;
      master.checked = ticked === boxes.length;
      master.indeterminate = ticked > 0 && ticked < boxes.length;
    }
    master.addEventListener("change", function () {
      boxes.forEach(function (box) { box.checked = master.checked; });
      master.indeterminate = false;
    });
    boxes.forEach(function (box) { box.addEventListener("change", reflect); });
    reflect();
    master.hidden = false;
  }
  document.querySelectorAll("input[type=checkbox][data-select-all]").forEach(function (master) {
    if (master.form) wire(master);
  });
})();
