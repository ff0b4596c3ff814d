// A <textarea data-yaml-editor> becomes a YAML editor with line numbers (CodeMirror, vendored), and the lines its
// data-error-lines names ("3 7": the page's problems say "line 3: …") are marked. Without JavaScript the textarea
// stays as it is; with it, the textarea still holds the text, so the form posts `document` the same way.
(function () {
  "use strict";

  function errorLines(textarea, editor) {
    return (textarea.dataset.errorLines || "")
      .split(/\s+/)
      .map(Number)
      .filter(function (line) { return Number.isInteger(line) && line >= 1 && line <= editor.lineCount(); });
  }

  function enhance(textarea) {
    var label = textarea.labels && textarea.labels.length ? textarea.labels[0].textContent.trim() : "YAML";
    var editor = CodeMirror.fromTextArea(textarea, {
      mode: "yaml",
      lineNumbers: true,
      lineWrapping: true,
      indentUnit: 2,
      tabSize: 2,
      // Tab moves on to the next field, as it does from the textarea: an editor that kept it would trap a keyboard
      // user (and YAML refuses the tab character anyway). Ctrl-] and Ctrl-[ indent and outdent.
      extraKeys: { Tab: false, "Shift-Tab": false },
      // Every line is drawn, not just the visible ones, so the browser's find sees the whole charter.
      viewportMargin: Infinity,
      screenReaderLabel: label
    });
    // fromTextArea copies the text back only when the form is sent; a change copies it at once, so the textarea
    // is never behind what the person sees.
    editor.on("change", function () { editor.save(); });
    // The label still names the textarea, which is hidden now: clicking it goes to the editor.
    if (textarea.labels) {
      Array.prototype.forEach.call(textarea.labels, function (element) {
        element.addEventListener("click", function (event) {
          event.preventDefault();
          editor.focus();
        });
      });
    }
    // The lines scroll inside the editor: that region takes the keyboard focus too, so the arrow keys scroll it.
    var scroller = editor.getScrollerElement();
    scroller.setAttribute("tabindex", "0");
    scroller.setAttribute("role", "region");
    scroller.setAttribute("aria-label", label + ": the lines, to scroll");
    var lines = errorLines(textarea, editor);
    lines.forEach(function (line) {
      editor.addLineClass(line - 1, "background", "yaml-editor-problem");
      editor.addLineClass(line - 1, "gutter", "yaml-editor-problem-gutter");
    });
    if (lines.length) {
      editor.scrollIntoView({ line: lines[0] - 1, ch: 0 }, 3 * editor.defaultTextHeight());
    }
  }

  if (typeof CodeMirror === "undefined") return; // the editor did not load: the plain textarea still works
  document.querySelectorAll("textarea[data-yaml-editor]").forEach(enhance);
})();
