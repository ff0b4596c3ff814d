// Draws the usage page's charts from the numbers the page carries as JSON (#usage-data): no inline script.
(function () {
  "use strict";
  function draw() {
    var source = document.getElementById("usage-data");
    if (!source || typeof Chart === "undefined") return;
    var data = JSON.parse(source.textContent);
    Chart.defaults.animation = false;
    new Chart(document.getElementById("usage-chart"), {
      data: {
        labels: data.labels,
        datasets: [
          { type: "bar", label: "Allowed", data: data.allowed, backgroundColor: "#1e6b34", stack: "decisions" },
          { type: "bar", label: "Denied", data: data.denied, backgroundColor: "#9b1c1c", stack: "decisions" },
          {
            type: "line", label: "Deny rate", data: data.deny_rate, yAxisID: "rate",
            borderColor: "#8a5300", pointRadius: 0, spanGaps: true
          }
        ]
      },
      options: {
        scales: {
          x: { stacked: true },
          y: { stacked: true, beginAtZero: true, title: { display: true, text: "decisions" } },
          rate: {
            position: "right", min: 0, max: 1, grid: { drawOnChartArea: false },
            ticks: { callback: function (value) { return Math.round(value * 100) + " %"; } }
          }
        }
      }
    });
    var reasons = document.getElementById("reasons-chart");
    if (reasons) {
      new Chart(reasons, {
        type: "bar",
        data: {
          labels: data.reasons.map(function (row) { return row[0]; }),
          datasets: [{ label: "Denies", data: data.reasons.map(function (row) { return row[1]; }), backgroundColor: "#9b1c1c" }]
        },
        options: { indexAxis: "y", plugins: { legend: { display: false } } }
      });
    }
    var quotas = document.getElementById("quota-chart");
    if (quotas) {
      new Chart(quotas, {
        type: "bar",
        data: {
          labels: data.quotas.labels,
          datasets: [
            { label: "Of the daily quota", data: data.quotas.today, backgroundColor: "#1c3f9b" },
            { label: "Of the monthly quota", data: data.quotas.month, backgroundColor: "#8a8f98" }
          ]
        },
        options: {
          indexAxis: "y",
          scales: { x: { min: 0, max: 100, ticks: { callback: function (value) { return value + " %"; } } } }
        }
      });
    }
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();
