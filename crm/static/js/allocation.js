// Allocation page (S-7): "Use these weights" copies the proposed weights into the table's inputs.
// The proposal is loaded into the page later (htmx), so the click is handled on the document.
document.addEventListener('click', function (event) {
  'use strict';
  if (!event.target.closest('#use-proposed-weights')) { return; }
  document.querySelectorAll('#weight-proposal tr[data-user]').forEach(function (row) {
    var id = row.dataset.user;
    var input = document.querySelector('tr[data-user-id="' + id + '"] input[name$="-weight"], [data-weight-for="' + id + '"]');
    if (input) {
      input.value = row.dataset.proposed;
      input.dispatchEvent(new Event('change', {bubbles: true}));
    }
  });
});
