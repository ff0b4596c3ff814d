// Counts down each <time data-clock> to its deadline, so a checklist left open stays true.
(function () {
  "use strict";
  function span(seconds) {
    var s = Math.abs(Math.round(seconds));
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    if (d) return d + " d " + h + " h";
    if (h) return h + " h " + (m < 10 ? "0" : "") + m + " min";
    if (m) return m + " min " + (s % 60) + " s";
    return (s % 60) + " s";
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll("time[data-clock]").forEach(function (clock) {
      if (clock.dataset.stopped) return;
      var left = (Date.parse(clock.getAttribute("datetime")) - now) / 1000;
      clock.textContent = left >= 0 ? "in " + span(left) : "overdue by " + span(left);
      clock.classList.toggle("overdue", left < 0);
    });
  }
  tick();
  setInterval(tick, 1000);
})();
