// Behaviour of the page shell, on every page (the product's layout and the Flask-Admin pages
// both load this file): confirm questions on destructive forms, and the narrow-screen menu.
document.addEventListener('submit', function (e) {
  var f = e.target;
  if (f.dataset && f.dataset.confirm && !window.confirm(f.dataset.confirm)) { e.preventDefault(); }
});
document.addEventListener('click', function (e) {
  if (e.target.closest('#crm-menu-toggle')) {
    document.getElementById('crm-sidebar').classList.toggle('collapsed');
  }
});
