// Sales dashboard charts (S-20): the funnel, and per consultant the lead counts as bars with the
// revenue as bars of its own (yuan) axis. Consultants are categories with no order between them,
// so no line joins them. Data comes from the page's JSON block (no inline script).
(function () {
  'use strict';
  var block = document.getElementById('dashboard-data');
  if (!block || typeof Chart === 'undefined') { return; }
  var data = JSON.parse(block.textContent);
  new Chart(document.getElementById('funnel-chart'), {
    type: 'bar',
    data: { labels: data.funnel.labels, datasets: [{ data: data.funnel.values, backgroundColor: ['#0d6efd', '#6f42c1', '#198754'] }] },
    options: { indexAxis: 'y', plugins: { legend: { display: false } } }
  });
  new Chart(document.getElementById('consultant-chart'), {
    type: 'bar',
    data: {
      labels: data.consultants,
      datasets: [
        { label: data.legend.received, data: data.series.received, backgroundColor: '#0d6efd', yAxisID: 'y' },
        { label: data.legend.converted, data: data.series.converted, backgroundColor: '#198754', yAxisID: 'y' },
        { label: data.legend.lost, data: data.series.lost, backgroundColor: '#dc3545', yAxisID: 'y' },
        { label: data.legend.revenue, data: data.series.revenue, backgroundColor: '#fd7e14', yAxisID: 'money' }
      ]
    },
    options: {
      scales: {
        y: { beginAtZero: true, position: 'left', title: { display: true, text: data.axes.leads } },
        money: { beginAtZero: true, position: 'right', grid: { drawOnChartArea: false },
                 title: { display: true, text: data.axes.money } }
      }
    }
  });
})();
