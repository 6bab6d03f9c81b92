// Meeting rooms grid: progressive enhancement of a plain form of checkboxes.
// Without this file every free cell and own booking is a visible checkbox and Save posts them.
// With it the checkboxes are hidden, a click anywhere in a cell toggles it, the cell changes
// its look and the Save button counts the changes; nothing is sent until Save.
(function () {
  'use strict';
  var form = document.getElementById('rooms-form');
  if (!form) { return; }
  form.classList.add('rooms-js');
  var counter = document.getElementById('rooms-count');

  function paint(box) {
    var cell = box.closest('td');
    if (!cell) { return; }
    cell.classList.toggle('room-selected', box.checked);
    var text = cell.querySelector('.room-text');
    if (text) { text.textContent = box.checked ? text.dataset.on : text.dataset.off; }
  }

  function count() {
    var n = form.querySelectorAll('input.room-check:checked').length;
    if (counter) {
      counter.textContent = String(n);
      counter.hidden = n === 0;
    }
  }

  form.addEventListener('click', function (event) {
    var cell = event.target.closest('td.room-cell');
    if (!cell || event.target.closest('label')) { return; }  // the label toggles its own checkbox
    var box = cell.querySelector('input.room-check');
    if (box) {
      box.checked = !box.checked;
      box.dispatchEvent(new Event('change', { bubbles: true }));
    }
  });
  form.addEventListener('change', function (event) {
    if (event.target.classList.contains('room-check')) {
      paint(event.target);
      count();
    }
  });
  form.querySelectorAll('input.room-check').forEach(paint);
  count();
})();
