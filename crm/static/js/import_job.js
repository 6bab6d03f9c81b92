// Live progress of an import job (S-9): polls the job's progress URL until it is finished.
(function () {
  var box = document.getElementById('import-job');
  var bar = document.getElementById('import-bar');
  var labels = JSON.parse(box.dataset.labels);
  function text(id, value) { document.getElementById(id).textContent = value; }
  function show(p) {
    bar.style.width = p.percent + '%';
    bar.setAttribute('aria-valuenow', p.percent);
    bar.textContent = p.percent + ' %';
    text('import-rows', p.processed); text('import-total', p.total);
    var status = document.getElementById('import-status');
    status.textContent = labels[p.status] || p.status; status.dataset.status = p.status;
    text('import-imported', p.imported); text('import-duplicates', p.duplicates);
    text('import-invalid', p.invalid); text('import-unassigned', p.unassigned);
    text('import-message', p.message);
    if (p.finished) {
      bar.classList.remove('progress-bar-striped', 'progress-bar-animated');
      if (p.status === 'failed') { bar.classList.add('bg-danger'); }
      var link = document.getElementById('import-errors-link');
      if (p.errors_url) { link.href = p.errors_url; link.classList.remove('d-none'); }
    }
    return p.finished;
  }
  function poll() {
    fetch(box.dataset.progressUrl, {headers: {'Accept': 'application/json'}, credentials: 'same-origin'})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (p) { if (!p || !show(p)) { window.setTimeout(poll, 1000); } })
      .catch(function () { window.setTimeout(poll, 2000); });
  }
  if (document.getElementById('import-status').dataset.status !== 'done' &&
      document.getElementById('import-status').dataset.status !== 'failed') { window.setTimeout(poll, 1000); }
})();
