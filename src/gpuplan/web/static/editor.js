// gpuplan scenario editor: a form for the common fields beside the YAML, kept in sync through
// POST /api/scenario/form; the plan is computed as a job (POST /api/jobs, polled with GET
// /api/jobs/{id} for options done and Monte Carlo samples), the previous one cancelled
// (AbortController for the polls, DELETE for the job) whenever the user edits again or presses
// Cancel. After an error the results are cleared and hidden: nothing stale stays visible.
// All text from the server goes into the page with textContent (never innerHTML).
(function () {
  'use strict';
  var DEBOUNCE_MS = 500;
  var FORM_DEBOUNCE_MS = 300;
  var POLL_MS = 200;
  var AMOUNT_LABEL = {rate: 'traffic in year 1 [requests/s]', qps: 'traffic in year 1 [queries/s]',
                      tokens: 'tokens per run [tokens]'};
  var AMOUNT_SCHEMA = {serve: 'ServeWorkload', recsys: 'RecsysWorkload', train: 'TrainWorkload',
                       finetune: 'TrainWorkload', lora: 'TrainWorkload', qlora: 'TrainWorkload'};
  var $ = function (id) { return document.getElementById(id); };
  var body = document.body;
  var ta = $('yaml');
  var statusEl = $('status');
  var errorEl = $('error');
  var resultsEl = $('results');
  var recEl = $('recommendation');
  var table = $('summary-table');
  var chart = $('chart');
  var progressEl = $('progress');
  var cancelBtn = $('cancel');
  var form = $('fields');
  var formErr = $('form-error');
  var timer = null;
  var formTimer = null;
  var renders = 0;
  var current = null;  // the plan job being followed: {id, ctrl, timer}
  var schema = null;
  var lastFields = null;

  function el(tag, text, cls) {
    var x = document.createElement(tag);
    if (text !== undefined && text !== null) { x.textContent = text; }
    if (cls) { x.className = cls; }
    return x;
  }
  function setStatus(text) { statusEl.textContent = text; }
  function detailText(d) { return typeof d === 'string' ? d : JSON.stringify(d, null, 1); }

  // -- results ---------------------------------------------------------------------------
  function clearResults() {
    recEl.textContent = '';
    table.tHead.textContent = '';
    table.tBodies[0].textContent = '';
    if (window.Plotly) { Plotly.purge(chart); }
    chart.textContent = '';
  }

  function showError(detail) {
    clearResults();
    resultsEl.hidden = true;
    resultsEl.classList.add('stale');
    errorEl.textContent = detailText(detail);
    errorEl.hidden = false;
    body.dataset.planState = 'error';
  }

  function render(j) {
    errorEl.hidden = true;
    resultsEl.hidden = false;
    resultsEl.classList.remove('stale');
    recEl.textContent = j.recommendation;
    var thead = table.tHead, tbody = table.tBodies[0];
    thead.textContent = ''; tbody.textContent = '';
    var hr = el('tr');
    j.summary_headers.forEach(function (h) { hr.appendChild(el('th', h[1], h[2] ? 'num' : '')); });
    thead.appendChild(hr);
    j.summary.forEach(function (row) {
      var tr = el('tr', undefined, row.recommended ? 'best' : '');
      j.summary_headers.forEach(function (h) {
        var td = el('td', row[h[0]], h[2] ? 'num' : '');
        td.dataset.key = h[0];
        tr.appendChild(td);
      });
      tbody.appendChild(tr);
    });
    var fig = j.figures.cumulative;
    if (window.Plotly) {
      Plotly.react(chart, fig.data, fig.layout, {responsive: true, displaylogo: false});
    }
    renders += 1;
    body.dataset.planRenders = String(renders);
    body.dataset.planState = 'ready';
    setStatus('planned ' + new Date().toLocaleTimeString() + ' · ' + j.scenario);
  }

  // -- the plan job ----------------------------------------------------------------------
  function showProgress(p) {
    var total = p.stages_total;
    // the bar moves with every chunk of Monte Carlo samples, not only per hardware option
    if (p.samples_total) { progressEl.max = p.samples_total; progressEl.value = p.samples_done; }
    else if (total) { progressEl.max = total; progressEl.value = p.stages_done; }
    else { progressEl.removeAttribute('value'); }
    body.dataset.stagesDone = String(p.stages_done);
    body.dataset.stagesTotal = String(total || 0);
    body.dataset.samplesDone = String(p.samples_done || 0);
    if (p.state !== 'queued' && p.state !== 'running') { return; }
    var parts = [p.state === 'queued' ? 'waiting for a free worker' : 'computing'];
    if (total) {
      parts.push(p.stages_done + ' of ' + total + ' hardware options planned');
      parts.push(p.samples_done.toLocaleString() + ' of ' + p.samples_total.toLocaleString() +
                 ' Monte Carlo samples');
    }
    parts.push(p.elapsed_s.toFixed(1) + ' s');
    setStatus(parts.join(' · ') + (p.stage ? ' · now: ' + p.stage : ''));
  }

  function stopFollowing() {
    var job = current;
    current = null;
    cancelBtn.disabled = true;
    if (!job) { return; }
    clearTimeout(job.timer);
    job.ctrl.abort();  // any poll in flight
    if (job.id) { fetch('/api/jobs/' + job.id, {method: 'DELETE'}).catch(function () {}); }
    else { job.dropped = true; }  // its POST is still on the way: delete the job once it answers
  }

  function finish(p) {
    current = null;
    cancelBtn.disabled = true;
    if (p.state === 'done') { progressEl.max = 1; progressEl.value = 1; render(p.preview); return; }
    setStatus('not planned (' + p.state + ')');
    showError(p.error ? p.error.detail : p.state);
  }

  function poll(job) {
    if (current !== job) { return; }
    fetch('/api/jobs/' + job.id, {signal: job.ctrl.signal}).then(function (r) {
      return r.json();
    }).then(function (p) {
      if (current !== job) { return; }
      showProgress(p);
      if (p.state === 'queued' || p.state === 'running') {
        job.timer = setTimeout(function () { poll(job); }, POLL_MS);
        return;
      }
      finish(p);
    }).catch(function (err) {
      if (current !== job || err.name === 'AbortError') { return; }
      current = null; cancelBtn.disabled = true;
      setStatus('not planned'); showError(String(err));
    });
  }

  function recompute() {
    stopFollowing();
    var job = {id: null, ctrl: new AbortController(), timer: null, dropped: false};
    current = job;
    resultsEl.classList.add('stale');  // greyed while the new plan computes
    body.dataset.planState = 'computing';
    setStatus('computing…');
    progressEl.removeAttribute('value');
    cancelBtn.disabled = false;
    fetch('/api/jobs', {
      method: 'POST', headers: {'Content-Type': 'application/json'},
      body: JSON.stringify({yaml: ta.value})
    }).then(function (r) {
      return r.json().then(function (j) {
        return {status: r.status, j: j, retry: r.headers.get('retry-after')};
      });
    }).then(function (res) {
      if (job.dropped || current !== job) {
        if (res.j && res.j.job) { fetch('/api/jobs/' + res.j.job, {method: 'DELETE'}); }
        return;
      }
      if (res.status === 503) {
        var wait = Math.max(1, Number(res.retry) || 1);
        showError(res.j.detail);
        setStatus('server busy: ' + res.j.queue_length + ' plans queued; retrying in ' + wait +
                  ' s');
        job.timer = setTimeout(function () { if (current === job) { recompute(); } },
                               wait * 1000);
        return;
      }
      if (res.status !== 202) {
        current = null; cancelBtn.disabled = true;
        setStatus('not planned (' + res.status + ')');
        showError(res.j.detail);
        return;
      }
      job.id = res.j.job;
      body.dataset.jobId = job.id;
      showProgress(res.j);
      if (res.j.state === 'queued' || res.j.state === 'running') { poll(job); }
      else { finish(res.j); }
    }).catch(function (err) {
      if (current === job) {
        current = null; cancelBtn.disabled = true;
        setStatus('not planned'); showError(String(err));
      }
    });
  }

  function cancel() {
    stopFollowing();
    clearResults();
    resultsEl.hidden = true;
    errorEl.hidden = true;
    progressEl.value = 0;
    body.dataset.planState = 'cancelled';
    setStatus('cancelled: edit the scenario to plan again');
  }

  // -- the form --------------------------------------------------------------------------
  function schemaProp(defName, prop) {
    if (!schema) { return null; }
    var s = defName ? (schema.$defs || {})[defName] : schema;
    return s && s.properties ? s.properties[prop] || null : null;
  }

  function helpText(defName, prop) {
    var p = schemaProp(defName, prop);
    if (!p) { return ''; }
    var text = p.description || '';
    if (!text && p.$ref) {
      var d = (schema.$defs || {})[p.$ref.split('/').pop()];
      text = d && d.description ? d.description : '';
    }
    if (p['default'] !== undefined && typeof p['default'] !== 'object') {
      text += (text ? ' · ' : '') + 'default ' + p['default'];
    }
    return text;
  }

  function addHelp(label, text) {
    if (!text) { return; }
    var old = label.querySelector('.help');
    if (old) { old.remove(); }
    label.appendChild(el('span', text, 'help'));
    var input = label.querySelector('input, select');
    if (input) { input.title = text; }
  }

  function topHelp() {
    ['name', 'horizon_years', 'region', 'financing'].forEach(function (k) {
      addHelp($('f-' + k).parentNode, helpText(null, k));
    });
    $('help-gpus').textContent = helpText('HardwareOption', 'gpu') ||
      'each checked accelerator is one hardware option to compare';
  }

  function fillSelect(sel, values, chosen) {
    sel.textContent = '';
    values.forEach(function (v) {
      var o = el('option', v); o.value = v; o.selected = v === chosen; sel.appendChild(o);
    });
  }

  function fillForm(j) {
    var f = j.fields;
    lastFields = f;
    $('f-name').value = f.name;
    $('f-horizon_years').value = f.horizon_years === null ? '' : f.horizon_years;
    fillSelect($('f-region'), j.regions, f.region || 'us');
    $('f-financing').value = f.financing;
    var gpus = $('f-gpus');
    gpus.textContent = '';
    j.gpus.forEach(function (g) {
      var lab = el('label'), box = el('input');
      box.type = 'checkbox'; box.value = g; box.checked = f.gpus.indexOf(g) >= 0;
      box.name = 'gpu';
      lab.appendChild(box); lab.appendChild(document.createTextNode(' ' + g));
      gpus.appendChild(lab);
    });
    var works = $('f-workloads');
    works.textContent = '';
    f.workloads.forEach(function (w, i) {
      var box = el('div', undefined, 'workload');
      box.appendChild(el('b', w.kind + ' · ' + (w.model || '')));
      var ln = el('label', 'Name'), name = el('input');
      name.type = 'text'; name.id = 'w-' + i + '-name'; name.value = w.name; name.maxLength = 200;
      ln.appendChild(name); box.appendChild(ln);
      addHelp(ln, helpText(AMOUNT_SCHEMA[w.kind], 'name'));
      if (w.amount_key) {
        var la = el('label', AMOUNT_LABEL[w.amount_key] || w.amount_key), amt = el('input');
        amt.type = 'number'; amt.step = 'any'; amt.min = '0'; amt.id = 'w-' + i + '-amount';
        amt.value = w.amount === null ? '' : w.amount;
        la.appendChild(amt); box.appendChild(la);
        addHelp(la, helpText(AMOUNT_SCHEMA[w.kind], w.amount_key));
      }
      works.appendChild(box);
    });
    topHelp();
  }

  function readForm() {
    var num = function (v) { return v === '' ? null : Number(v); };
    var gpus = [];
    form.querySelectorAll('#f-gpus input:checked').forEach(function (b) { gpus.push(b.value); });
    var works = (lastFields ? lastFields.workloads : []).map(function (w, i) {
      var amt = $('w-' + i + '-amount');
      return {kind: w.kind, name: $('w-' + i + '-name').value, model: w.model,
              amount: amt ? num(amt.value) : null};
    });
    return {name: $('f-name').value, horizon_years: num($('f-horizon_years').value),
            region: $('f-region').value, financing: $('f-financing').value, gpus: gpus,
            workloads: works};
  }

  function setFormEnabled(ok, message) {
    form.querySelectorAll('fieldset').forEach(function (fs) { fs.disabled = !ok; });
    formErr.hidden = ok;
    formErr.textContent = ok ? '' : 'The form follows the YAML once it parses: ' + message;
    body.dataset.formState = ok ? 'ready' : 'error';
  }

  function postForm(payload) {
    return fetch('/api/scenario/form', {
      method: 'POST', headers: {'Content-Type': 'application/json'},
      body: JSON.stringify(payload)
    }).then(function (r) { return r.json().then(function (j) { return {ok: r.ok, j: j}; }); });
  }

  function yamlToForm() {
    var text = ta.value;
    postForm({yaml: text}).then(function (res) {
      if (ta.value !== text) { return; }  // edited again meanwhile
      if (!res.ok) { setFormEnabled(false, detailText(res.j.detail)); return; }
      fillForm(res.j); setFormEnabled(true, '');
    }).catch(function () {});
  }

  function formToYaml() {
    var text = ta.value;
    postForm({yaml: text, fields: readForm()}).then(function (res) {
      if (ta.value !== text) { return; }
      if (!res.ok) { setFormEnabled(false, detailText(res.j.detail)); return; }
      setFormEnabled(true, '');
      if (res.j.yaml !== text) { ta.value = res.j.yaml; recompute(); }
      lastFields = res.j.fields;  // the form is the source here: not redrawn (keeps focus)
      body.dataset.formSyncs = String(Number(body.dataset.formSyncs || 0) + 1);
    }).catch(function () {});
  }

  // -- saving ----------------------------------------------------------------------------
  function refreshSaved() {
    fetch('/api/scenarios').then(function (r) { return r.json(); }).then(function (j) {
      var ul = $('saved');
      ul.textContent = '';
      (j.scenarios || []).forEach(function (s) {
        var li = el('li');
        var a = el('a', s.name);
        a.href = '/report/' + encodeURIComponent(s.name);
        li.appendChild(a);
        li.appendChild(document.createTextNode(' · ' + s.revisions + ' revision(s), ' +
                                               s.updated_at));
        ul.appendChild(li);
      });
    }).catch(function () {});
  }

  function save() {
    var name = $('save-name').value.trim();
    var comment = $('save-comment').value;
    var out = $('save-status');
    out.textContent = 'saving…';
    fetch('/api/scenarios', {
      method: 'POST', headers: {'Content-Type': 'application/json'},
      body: JSON.stringify({name: name, yaml: ta.value, comment: comment || null})
    }).then(function (r) {
      return r.json().then(function (j) { return {ok: r.ok, j: j}; });
    }).then(function (res) {
      if (!res.ok) { out.textContent = 'not saved: ' + detailText(res.j.detail); return; }
      out.textContent = '';
      out.appendChild(document.createTextNode('saved revision ' + res.j.revision + ' · '));
      var a = el('a', 'report');
      a.href = '/report/' + encodeURIComponent(res.j.name);
      out.appendChild(a);
      body.dataset.lastSaved = res.j.name + '@' + res.j.revision;
      refreshSaved();
    }).catch(function (err) { out.textContent = 'not saved: ' + String(err); });
  }

  ta.addEventListener('input', function () {
    clearTimeout(timer);
    timer = setTimeout(function () { recompute(); yamlToForm(); }, DEBOUNCE_MS);
  });
  form.addEventListener('input', function () {
    clearTimeout(formTimer);
    formTimer = setTimeout(formToYaml, FORM_DEBOUNCE_MS);
  });
  form.addEventListener('submit', function (ev) { ev.preventDefault(); });
  cancelBtn.addEventListener('click', cancel);
  $('save').addEventListener('click', save);
  fetch('/api/schema').then(function (r) { return r.json(); }).then(function (s) {
    schema = s; if (lastFields) { yamlToForm(); }
  }).catch(function () {});
  recompute();
  yamlToForm();
  refreshSaved();
})();
