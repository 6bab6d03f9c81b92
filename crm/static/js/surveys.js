/* Surveys: the editor's add / reorder controls and the results charts.
   The editor works as a plain form without this file (order numbers, Remove boxes, a blank
   row to fill); this script adds buttons that do the same in place. */
(function () {
  'use strict';

  // -- editor ---------------------------------------------------------------------------------
  function renumber(container, rowSelector) {
    var rows = container.querySelectorAll(':scope > ' + rowSelector);
    rows.forEach(function (row, i) {
      var position = row.querySelector('.js-position');
      if (position) { position.value = i + 1; }
    });
  }

  function showKind(question) {
    var kind = question.querySelector('.js-kind');
    var options = question.querySelector('.js-options');
    if (kind && options) { options.hidden = kind.value !== 'choice'; }
  }

  function fromTemplate(id, replacements) {
    var html = document.getElementById(id).innerHTML;
    Object.keys(replacements).forEach(function (key) { html = html.split(key).join(replacements[key]); });
    var holder = document.createElement('tbody');  // a tbody parses both <div> and <tr> rows
    if (html.trim().indexOf('<tr') === 0) { holder.innerHTML = html; return holder.firstElementChild; }
    var div = document.createElement('div');
    div.innerHTML = html;
    return div.firstElementChild;
  }

  function addOption(question) {
    var rows = question.querySelector('.js-option-rows');
    var next = parseInt(rows.dataset.nextOption || '0', 10);
    rows.dataset.nextOption = next + 1;
    var row = fromTemplate('option-template', {'__Q__': question.dataset.index, '__O__': String(next)});
    rows.appendChild(row);
    enable(row);
    renumber(rows, 'tr');
    return row;
  }

  function addQuestion() {
    var list = document.getElementById('questions');
    var next = parseInt(list.dataset.nextIndex || '0', 10);
    list.dataset.nextIndex = next + 1;
    var question = fromTemplate('question-template', {'__Q__': String(next)});
    list.appendChild(question);
    enable(question);
    addOption(question);
    addOption(question);
    showKind(question);
    renumber(list, '.js-question');
    question.querySelector('.js-prompt').focus();
    return question;
  }

  function move(row, up) {
    var sibling = up ? row.previousElementSibling : row.nextElementSibling;
    if (!sibling) { return; }
    row.parentNode.insertBefore(up ? row : sibling, up ? sibling : row);
    var isQuestion = row.classList.contains('js-question');
    renumber(row.parentNode, isQuestion ? '.js-question' : 'tr');
  }

  function enable(scope) {
    scope.querySelectorAll('.js-only').forEach(function (el) { el.hidden = false; });
  }

  var editor = document.getElementById('survey-form');
  if (editor) {
    enable(document);
    document.querySelectorAll('#questions > .js-question').forEach(showKind);
    editor.addEventListener('click', function (event) {
      var button = event.target.closest('button');
      if (!button) { return; }
      if (button.id === 'add-question') { addQuestion(); }
      else if (button.classList.contains('js-add-option')) { addOption(button.closest('.js-question')); }
      else if (button.classList.contains('js-up') || button.classList.contains('js-down')) {
        var row = button.closest('tr.js-option') || button.closest('.js-question');
        move(row, button.classList.contains('js-up'));
      }
    });
    editor.addEventListener('change', function (event) {
      if (event.target.classList.contains('js-kind')) { showKind(event.target.closest('.js-question')); }
      if (event.target.classList.contains('js-remove')) {
        var row = event.target.closest('tr.js-option') || event.target.closest('.js-question');
        row.classList.toggle('opacity-50', event.target.checked);
      }
    });
  }

  // -- results charts -------------------------------------------------------------------------
  var holder = document.getElementById('survey-charts');
  if (holder && typeof Chart !== 'undefined') {
    var data = JSON.parse(holder.dataset.chart);
    data.charts.forEach(function (chart) {
      var canvas = document.getElementById('chart-' + chart.id);
      if (!canvas) { return; }
      new Chart(canvas, {
        type: 'bar',
        data: {labels: chart.labels, datasets: [{label: data.label, data: chart.values,
          backgroundColor: chart.type === 'score' ? '#0d6efd' : '#6f42c1'}]},
        options: {indexAxis: chart.type === 'choice' ? 'y' : 'x', animation: false,
          plugins: {legend: {display: false}},
          scales: {x: {beginAtZero: true, ticks: {precision: 0}}, y: {beginAtZero: true, ticks: {precision: 0}}}}
      });
      canvas.dataset.drawn = '1';
    });
    holder.dataset.drawn = '1';
  }
})();
