// Forms whose one control is the choice itself: <select data-submit-on-change> sends its form when it changes
// (no inline handlers: the Content-Security-Policy allows scripts from files only).
document.addEventListener("change", (event) => {
  if (event.target.matches("select[data-submit-on-change]")) {
    event.target.form.requestSubmit();
  }
});

// A destructive button asks first: <form data-confirm="Revoke grant #12? …"> (or the button's own data-confirm)
// submits only when the person says yes.
document.addEventListener("submit", (event) => {
  const asking = event.submitter?.closest("[data-confirm]") || event.target.closest("[data-confirm]");
  if (asking && !window.confirm(asking.dataset.confirm)) {
    event.preventDefault();
  }
});
