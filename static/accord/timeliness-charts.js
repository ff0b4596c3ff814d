// Draws the timeliness page's stacked bars from the numbers the page carries as JSON (#timeliness-data): no
// inline script, no inline style.
(function () {
  "use strict";
  // On time, late, missed, overdue now, not due yet: the order the selector gives the states in.
  var COLOURS = ["#1e6b34", "#b7791f", "#9b1c1c", "#d9480f", "#8a8f98"];
  function draw() {
    var source = document.getElementById("timeliness-data");
    if (!source || typeof Chart === "undefined") return;
    var charts = JSON.parse(source.textContent);
    Chart.defaults.animation = false;
    Object.keys(charts).forEach(function (name) {
      var canvas = document.getElementById(name + "-chart");
      if (!canvas) return;
      var chart = charts[name];
      new Chart(canvas, {
        type: "bar",
        data: {
          labels: chart.labels,
          datasets: chart.states.map(function (state, index) {
            return { label: state[0], data: state[1], backgroundColor: COLOURS[index % COLOURS.length] };
          })
        },
        options: {
          scales: {
            x: { stacked: true },
            y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } }
          }
        }
      });
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();
