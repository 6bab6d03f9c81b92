// Ask before destructive form posts (forms with data-confirm text), on every page:
// the product's layout and the Flask-Admin pages both load this file.
document.addEventListener('submit', function (e) {
  var f = e.target;
  if (f.dataset && f.dataset.confirm && !window.confirm(f.dataset.confirm)) { e.preventDefault(); }
});
