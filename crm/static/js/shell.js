// Behaviour of the page shell, on every page (the product's layout and the Flask-Admin pages
// both load this file): confirm questions on destructive forms, and the narrow-screen menu.
document.addEventListener('submit', function (e) {
  // The question sits on the form, or on the button that sent it.
  var f = e.target;
  var question = (e.submitter && e.submitter.dataset && e.submitter.dataset.confirm) ||
    (f.dataset && f.dataset.confirm);
  if (question && !window.confirm(question)) { e.preventDefault(); }
});
document.addEventListener('click', function (e) {
  if (e.target.closest('#crm-menu-toggle')) {
    document.getElementById('crm-sidebar').classList.toggle('collapsed');
  }
});
