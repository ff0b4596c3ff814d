// After django-otp-webauthn's script has set up a passkey, go on to the page the enrolment names (the recovery
// codes at a first login, the security page otherwise).
document.addEventListener("otp_webauthn.register_complete", () => {
  const enrol = document.getElementById("passkey-enrol");
  window.location.assign(enrol?.dataset.after || "/");
});
