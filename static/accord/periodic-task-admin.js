// django-celery-beat's periodic task form (its own inline script, as a file for the Content-Security-Policy):
// under the crontab field, what the chosen schedule means in words.
window.addEventListener("load", () => {
  const $ = window.django && window.django.jQuery;
  const data = document.getElementById("readable-crontabs");
  if (!$ || !data) return;
  const readable = JSON.parse(data.textContent);
  const help = $(".field-crontab .help");
  const original = help.text();
  $(".field-crontab_translation").hide();
  $(".field-crontab").on("change", () => {
    help.empty().append(document.createTextNode(original), $("<br>"),
      document.createTextNode(`Translation: ${readable[$("#id_crontab").val()] || ""}`));
  });
});
