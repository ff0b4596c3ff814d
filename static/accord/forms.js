// Forms whose one control is the choice itself: <select data-submit-on-change> sends its form when it changes
// (no inline handlers: the Content-Security-Policy allows scripts from files only).
document.addEventListener("change", (event) => {
  if (event.target.matches("select[data-submit-on-change]")) {
    event.target.form.requestSubmit();
  }
});
