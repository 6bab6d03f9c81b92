// Flask-Admin pages under a CSP without 'unsafe-inline': what its templates did in inline
// handlers is done here (the handlers are rewritten into data attributes, crm/core/admin.py).
document.addEventListener('click', function (e) {
  // "javascript:void(0)" links (tabs, dropdown toggles, disabled pager links) do nothing.
  var link = e.target.closest('a[href^="javascript:"]');
  if (link) { e.preventDefault(); }
  var action = e.target.closest('[data-crm-action]');
  if (action && window.modelActions) { window.modelActions.execute(action.dataset.crmAction); }
  var add = e.target.closest('[data-crm-inline-add]');
  if (add && window.faForm) { window.faForm.addInlineField(add, add.dataset.crmInlineAdd); }
}, true);
