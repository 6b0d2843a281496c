// Dashboard charts: Chartkick (Chart.js, served from our own static files) draws every
// [data-chart] element from the JSON series in the <script type="application/json"> it names.
// Runs on page load and again after every HTMX swap; no inline script, so CSP stays strict.
(function () {
  "use strict";
  var TYPES = { line: "LineChart", column: "ColumnChart" };

  function draw(root) {
    if (!window.Chartkick) { return; }
    var nodes = (root || document).querySelectorAll("[data-chart]");
    Array.prototype.forEach.call(nodes, function (el) {
      if (el.dataset.drawn) { return; }
      var source = document.getElementById(el.dataset.series);
      var kind = TYPES[el.dataset.chart];
      if (!source || !kind) { return; }
      el.dataset.drawn = "1";
      new window.Chartkick[kind](el, JSON.parse(source.textContent), {
        height: "260px",
        legend: "bottom",
        library: { animation: false }
      });
    });
  }

  // The period filter: typing a date means a custom period; a shortcut clears the dates.
  // Capture phase, so the fields are consistent before HTMX sends the form on "change".
  document.addEventListener("change", function (event) {
    var target = event.target;
    var period = document.getElementById("id_period");
    if (!period || !target || !target.id) { return; }
    if ((target.id === "id_start" || target.id === "id_end") && target.value) {
      period.value = "custom";
    } else if (target === period && period.value !== "custom") {
      ["id_start", "id_end"].forEach(function (id) {
        var field = document.getElementById(id);
        if (field) { field.value = ""; }
      });
    }
  }, true);

  document.addEventListener("DOMContentLoaded", function () { draw(document); });
  document.addEventListener("htmx:afterSettle", function (event) { draw(event.target); });
})();
