// Teaching pages: "select all" boxes and the portal's grade charts (T-8).
// Loaded as a static file (the CSP forbids inline script); data comes from data-* attributes.
(function () {
  'use strict';

  document.querySelectorAll('[data-check-all]').forEach(function (box) {
    box.addEventListener('change', function () {
      var form = box.closest('form');
      form.querySelectorAll('input[name="' + box.dataset.checkAll + '"]').forEach(function (other) {
        other.checked = box.checked;
      });
    });
  });

  if (typeof window.Chart === 'undefined') { return; }

  // Grades that are not numbers (N/A, COPY, FAIL) are drawn as text labels at their
  // session, never as bars or zeros.
  var gradeLabels = {
    id: 'gradeLabels',
    afterDatasetsDraw: function (chart) {
      var points = chart.options.plugins.gradeLabels.points || [];
      var ctx = chart.ctx;
      var x = chart.scales.x;
      var bottom = chart.chartArea.bottom;
      ctx.save();
      ctx.font = 'bold 12px sans-serif';
      ctx.textAlign = 'center';
      ctx.fillStyle = '#6c757d';
      points.forEach(function (point, index) {
        if (point.score === null && point.grade) {
          ctx.fillText(point.grade, x.getPixelForValue(index), bottom - 6);
        }
      });
      ctx.restore();
    }
  };

  document.querySelectorAll('canvas.js-grade-chart').forEach(function (canvas) {
    var data;
    try { data = JSON.parse(canvas.dataset.chart || '{}'); } catch (e) { return; }
    var points = data.points || [];
    var chart = new window.Chart(canvas, {
      type: 'bar',
      data: {
        labels: points.map(function (p) { return p.label; }),
        datasets: [{
          label: data.title || '',
          data: points.map(function (p) { return p.score; }),
          backgroundColor: 'rgba(13, 110, 253, 0.6)'
        }]
      },
      options: {
        animation: false,
        responsive: true,
        scales: { y: { min: 0, max: 100 } },
        plugins: {
          legend: { display: false },
          gradeLabels: { points: points },
          tooltip: {
            callbacks: {
              label: function (item) {
                var p = points[item.dataIndex];
                return p.grade + (p.score !== null ? ' (' + p.score + ')' : '');
              }
            }
          }
        }
      },
      plugins: [gradeLabels]
    });
    canvas.dataset.rendered = String(points.length);
    canvas.chart = chart;
  });
})();
