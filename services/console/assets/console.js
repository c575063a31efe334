// placehub console: one page, four views (#overview, #trace, #dead-letters,
// #subject), each drawn from the console's JSON API. No outside scripts;
// text is always set with textContent, never parsed as HTML.
'use strict';

let session = null;
let overviewTimer = null;
const colours = ['#2f6fde', '#d9480f', '#2b8a3e', '#862e9c', '#c92a2a', '#0b7285', '#5c940d'];

function $(id) { return document.getElementById(id); }

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function row(cells, className) {
  const tr = element('tr', null, className);
  for (const cell of cells) {
    if (cell instanceof Node) { const td = element('td'); td.appendChild(cell); tr.appendChild(td); }
    else tr.appendChild(element('td', cell === null || cell === undefined ? '' : cell));
  }
  return tr;
}

function notice(text, isError) {
  const box = $('notice');
  box.textContent = text || '';
  box.className = isError ? 'error' : '';
}

// GET or POST; resolves to the JSON answer; an error answer becomes an Error
// with .field and .status.
async function api(path, options) {
  const init = { credentials: 'same-origin', headers: {} };
  if (options && options.body !== undefined) {
    init.method = 'POST';
    init.headers['Content-Type'] = 'application/json';
    init.headers['X-CSRF-Token'] = session.csrf;
    init.body = JSON.stringify(options.body);
  }
  const answer = await fetch(path, init);
  if (answer.status === 401) { location.href = '/login'; throw new Error('logged out'); }
  const json = await answer.json().catch(() => ({}));
  if (!answer.ok) {
    const problem = json.error || {};
    const error = new Error(problem.message || ('HTTP ' + answer.status));
    error.field = problem.field; error.status = answer.status;
    throw error;
  }
  return json;
}

function fmt(value, digits) {
  if (value === null || value === undefined) return '–';
  return Number(value).toLocaleString('en-GB', { maximumFractionDigits: digits || 0 });
}

function ms(value) { return value === null || value === undefined ? '–' : fmt(value, 0) + ' ms'; }

// ---- overview ------------------------------------------------------------

function partnerState(partner, dispatch, dispatchUp) {
  if (!dispatchUp) return { state: 'down', text: 'dispatch not answering' };
  if (dispatch && dispatch.state) {
    const text = {
      delivering: 'delivering', paused: 'paused',
      circuit_open: 'circuit open' + (dispatch.circuit_open_since ? ' since ' + dispatch.circuit_open_since : ''),
      half_open: 'probing',
    }[dispatch.state] || dispatch.state;
    return { state: dispatch.state, text };
  }
  const state = ['delivering', 'circuit_open', 'half_open'][partner.circuit] || 'delivering';
  return { state, text: state.replace('_', ' ') };
}

function controls(partner, state) {
  const box = element('span');
  if (session.role !== 'operator') return box;
  const actions = state === 'paused' ? ['resume'] : ['pause'];
  if (state === 'circuit_open') actions.push('probe');
  for (const action of actions) {
    const button = element('button', action === 'probe' ? 'probe now' : action);
    button.type = 'button';
    button.id = 'control-' + action + '-' + partner.id;
    button.addEventListener('click', async () => {
      try {
        await api('/api/partners/' + encodeURIComponent(partner.id) + '/' + action, { body: {} });
        notice(partner.id + ': ' + action + ' done');
        setTimeout(loadOverview, 300);
      } catch (error) { notice(partner.id + ': ' + error.message, true); }
    });
    box.appendChild(button);
  }
  return box;
}

function suppressedText(partner) {
  const reasons = Object.entries(partner.suppressed_by_reason || {})
    .map(([reason, count]) => reason + ' ' + fmt(count)).join(', ');
  return fmt(partner.suppressed) + (reasons ? ' (' + reasons + ')' : '');
}

function drawChart(svg, times, seriesOf, partners) {
  svg.replaceChildren();
  let top = 1;
  for (const partner of partners) for (const v of seriesOf(partner)) if (v !== null) top = Math.max(top, v);
  const span = times.length > 1 ? times[times.length - 1] - times[0] : 1;
  const x = i => times.length > 1 ? 40 + (times[i] - times[0]) / span * 590 : 40;
  const y = v => 145 - v / top * 130;
  const axis = document.createElementNS('http://www.w3.org/2000/svg', 'text');
  axis.setAttribute('x', '2'); axis.setAttribute('y', '14'); axis.setAttribute('font-size', '11');
  axis.textContent = fmt(top, 1);
  svg.appendChild(axis);
  if (times.length > 1) {
    for (const [at, anchor, px] of [[times[0], 'start', 40], [times[times.length - 1], 'end', 630]]) {
      const label = document.createElementNS('http://www.w3.org/2000/svg', 'text');
      label.setAttribute('x', String(px)); label.setAttribute('y', '158');
      label.setAttribute('font-size', '10'); label.setAttribute('text-anchor', anchor);
      label.textContent = new Date(at).toLocaleTimeString('en-GB');
      svg.appendChild(label);
    }
  }
  partners.forEach((partner, index) => {
    const values = seriesOf(partner);
    const points = [];
    values.forEach((v, i) => { if (v !== null) points.push(x(i).toFixed(1) + ',' + y(v).toFixed(1)); });
    const line = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
    line.setAttribute('fill', 'none');
    line.setAttribute('stroke', colours[index % colours.length]);
    line.setAttribute('stroke-width', '1.5');
    line.setAttribute('points', points.join(' '));
    line.dataset.partner = partner.id;
    line.dataset.points = String(points.length);
    svg.appendChild(line);
  });
}

function renderOverview(overview) {
  const dispatchUp = overview.services.dispatch && overview.services.dispatch.state === 'up';
  const states = {};
  for (const p of ((overview.dispatch_partners || {}).partners || [])) states[p.id] = p;
  $('updated').textContent = overview.updated_at
    ? 'updated ' + new Date(overview.updated_at).toLocaleTimeString('en-GB') : 'waiting for the first sample';
  const services = $('services'); services.replaceChildren();
  for (const [name, service] of Object.entries(overview.services || {})) {
    services.appendChild(element('span', name + ': ' + service.state + '  ',
      { up: 'outcome-delivered', down: 'outcome-failed' }[service.state] || 'hint'));
  }
  const body = $('partners').tBodies[0]; body.replaceChildren();
  for (const partner of overview.partners) {
    const dispatch = states[partner.id];
    const state = partnerState(partner, dispatch, dispatchUp);
    const tr = row([partner.id, state.text, fmt(partner.lag), fmt(partner.delivered),
      suppressedText(partner), fmt(partner.dead_lettered),
      dispatch ? fmt(dispatch.retrying_total !== undefined ? dispatch.retrying_total : (dispatch.retrying || []).length) : '–',
      ms(partner.p50_ms), ms(partner.p99_ms),
      dispatch && dispatch.last_error ? dispatch.last_error + (dispatch.last_error_at ? ' (' + dispatch.last_error_at + ')' : '') : '',
      controls(partner, state.state)], 'state-' + state.state);
    tr.id = 'partner-' + partner.id;
    tr.dataset.state = state.state;
    tr.children[1].className = 'state';
    body.appendChild(tr);
  }
  drawChart($('chart-lag'), overview.times, p => p.series.lag, overview.partners);
  drawChart($('chart-throughput'), overview.times, p => p.series.delivered_per_s, overview.partners);
  const legend = $('legend'); legend.replaceChildren();
  overview.partners.forEach((p, i) => {
    const key = element('span', '■ ' + p.id); key.style.color = colours[i % colours.length];
    legend.appendChild(key);
  });
  const intake = $('intake').tBodies[0]; intake.replaceChildren();
  for (const [name, counts] of [['ingest (HTTP)', overview.ingest], ['mllp (HL7 v2)', overview.mllp]]) {
    const text = Object.entries(counts || {}).map(([k, v]) => k + ' ' + fmt(v)).join(', ');
    intake.appendChild(row([name, text || 'nothing yet']));
  }
  const select = $('letters-partner');
  if (select.options.length === 1) {
    for (const p of overview.partners) { const o = element('option', p.id); o.value = p.id; select.appendChild(o); }
  }
}

async function loadOverview() {
  try { renderOverview(await api('/api/overview')); }
  catch (error) { notice('overview: ' + error.message, true); }
}

// ---- trace ---------------------------------------------------------------

let traceAsked = 0;

async function trace(eventId) {
  const asked = ++traceAsked;
  $('trace-error').textContent = '';
  const result = $('trace-result');
  try {
    const answer = await api('/api/trace?event_id=' + encodeURIComponent(eventId));
    if (asked !== traceAsked) return; // a later trace was asked for: it draws
    result.replaceChildren();
    result.appendChild(element('h3', 'Event ' + answer.event_id));
    if (answer.intake) {
      const i = answer.intake;
      result.appendChild(element('p', 'Intake: ' + i.topic + ' partition ' + i.partition + ' offset ' + i.offset +
        (i.accepted_at ? ', accepted ' + i.accepted_at : '') + (i.source_ods_code ? ', from ' + i.source_ods_code : '') +
        (i.error ? ' (' + i.error + ')' : ''), 'intake'));
    }
    if (answer.note) result.appendChild(element('p', answer.note, 'hint'));
    const table = element('table'); table.id = 'trace-outcomes';
    table.appendChild(row(['When', 'Partner', 'Outcome', 'Why / receipt', 'Agreement', 'Fields']));
    const outcomes = answer.outcomes.concat(answer.retrying.map(r => ({
      at: r.next_attempt_at, partner: r.partner, outcome: 'retrying',
      reason: 'attempt ' + r.attempt + ': ' + (r.last_error || '') + '; next attempt ' + r.next_attempt_at,
    })));
    for (const o of outcomes) {
      const tr = row([o.at, o.partner, o.outcome + (o.correction ? ' (' + o.correction + ')' : ''),
        [o.reason, o.via ? 'via ' + o.via + (o.by ? ' by ' + o.by : '') : ''].filter(Boolean).join('; '),
        o.agreement ? o.agreement + (o.agreement_version ? ' v' + o.agreement_version : '') : '',
        o.fields ? o.fields.join(', ') : '']);
      tr.children[2].className = 'outcome-' + o.outcome;
      tr.dataset.partner = o.partner; tr.dataset.outcome = o.outcome;
      table.appendChild(tr);
    }
    result.appendChild(table);
  } catch (error) {
    if (error.field) $('trace-error').textContent = error.message; else notice(error.message, true);
  }
}

async function loadRecent() {
  try {
    const answer = await api('/api/events/recent');
    const body = $('recent').tBodies[0]; body.replaceChildren();
    for (const e of answer.events) {
      const link = element('a', e.event_id); link.href = '#trace';
      link.addEventListener('click', () => { $('trace-id').value = e.event_id; trace(e.event_id); });
      const tr = row([e.at, link, e.event_type, e.partner, e.outcome]);
      tr.children[4].className = 'outcome-' + e.outcome;
      body.appendChild(tr);
    }
  } catch (error) { notice('latest events: ' + error.message, true); }
}

// ---- dead letters --------------------------------------------------------

async function loadLetters() {
  const partner = $('letters-partner').value;
  const query = '?partner=' + encodeURIComponent(partner) + ($('letters-all').checked ? '&all=1' : '');
  try {
    const answer = await api('/api/dead-letters' + query);
    const body = $('letters').tBodies[0];
    // A reload keeps what the user selected (a second answer must not undo it).
    const selected = new Set([...body.querySelectorAll('.letter-select:checked')].map(box => box.value));
    body.replaceChildren();
    for (const d of answer.dead_letters) {
      const box = element('input'); box.type = 'checkbox'; box.value = d.id; box.className = 'letter-select';
      box.checked = selected.has(d.id);
      const inspect = element('button', 'inspect'); inspect.type = 'button';
      inspect.addEventListener('click', () => showLetter(d.id));
      const tr = row([box, d.id, d.partner, d.event_type, d.event_id, d.dead_lettered_at, d.attempts,
        d.status, d.reason, d.state, inspect]);
      tr.dataset.id = d.id; tr.dataset.eventId = d.event_id;
      body.appendChild(tr);
    }
    if (!answer.dead_letters.length) body.appendChild(row(['', 'no dead letters outstanding']));
  } catch (error) { notice('dead letters: ' + error.message, true); }
}

async function showLetter(id) {
  const detail = $('letter-detail'); detail.replaceChildren();
  try {
    const letter = await api('/api/dead-letters/show?id=' + encodeURIComponent(id));
    detail.appendChild(element('h3', 'Dead letter ' + letter.id + ' for ' + letter.partner));
    detail.appendChild(element('p', 'Reason: ' + letter.reason + '. Partner answered: ' + (letter.response_excerpt || '–')));
    detail.appendChild(element('p', 'Person reference: ' + letter.person_ref));
    detail.appendChild(element('p', letter.event ? 'As the partner would receive it' +
      (session.role === 'operator' ? ' (values of personal fields are shown to auditors only):' : ':')
      : 'Its receipt is not in the console\'s ledger yet: the event is not shown.'));
    if (letter.event) { const pre = element('pre', JSON.stringify(letter.event, null, 2)); pre.id = 'letter-event'; detail.appendChild(pre); }
  } catch (error) { notice('dead letter ' + id + ': ' + error.message, true); }
}

function confirmThen(text) {
  return new Promise(resolve => {
    const dialog = $('confirm');
    $('confirm-text').textContent = text;
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
    dialog.showModal();
  });
}

async function redrive(body, text) {
  if (!await confirmThen(text)) return;
  try {
    const answer = await api('/api/dead-letters/redrive', { body });
    const delivered = answer.results.filter(r => r.outcome === 'delivered').length;
    notice(answer.all_delivered
      ? 'Redriven: all delivered (' + delivered + ').'
      : 'Redriven: ' + delivered + ' of ' + answer.results.length + ' delivered; the rest stay dead letters. ' + (answer.summary || ''),
      !answer.all_delivered);
    loadLetters();
  } catch (error) { notice('redrive: ' + error.message, true); }
}

// ---- subject access ------------------------------------------------------

async function subject() {
  $('subject-error').textContent = '';
  const body = $('subject').tBodies[0]; body.replaceChildren();
  const query = new URLSearchParams({ nhs: $('subject-nhs').value });
  if ($('subject-from').value) query.set('from', $('subject-from').value);
  if ($('subject-to').value) query.set('to', $('subject-to').value);
  try {
    const answer = await api('/api/subject-access?' + query.toString());
    let entries = 0;
    for (const report of answer.rows) {
      body.appendChild(row(['Person', report.nhs_number, 'reference ' + report.person_ref]));
      for (const r of report.entries || []) {
        entries++;
        const tr = row([r.at, r.what, r.partner || '', r.event_type || '', r.event_id || '',
          r.agreement ? r.agreement + (r.agreement_version ? ' v' + r.agreement_version : '') : '',
          r.reason || (r.fields ? r.fields.join(', ') : '')]);
        tr.className = 'entry';
        body.appendChild(tr);
      }
    }
    if (!entries) body.appendChild(row(['', 'nothing recorded about this person']));
  } catch (error) {
    if (error.field) $('subject-error').textContent = error.message; else $('subject-error').textContent = error.message;
  }
}

// ---- the frame -------------------------------------------------------------

function show() {
  const page = (location.hash || '#overview').slice(1);
  for (const section of document.querySelectorAll('.page'))
    section.classList.toggle('current', section.id === 'page-' + page);
  for (const link of document.querySelectorAll('header nav a'))
    link.classList.toggle('current', link.id === 'nav-' + page);
  clearInterval(overviewTimer);
  if (page === 'overview') { loadOverview(); overviewTimer = setInterval(loadOverview, 3000); }
  if (page === 'trace') loadRecent();
  if (page === 'dead-letters') { loadOverview(); loadLetters(); }
}

async function start() {
  try { session = await api('/api/session'); } catch (error) { return; }
  $('who').textContent = session.name + ' (' + session.role + ')';
  if (session.role !== 'auditor') $('nav-subject').classList.add('hidden');
  if (session.role !== 'operator') { $('redrive-selected').disabled = true; $('redrive-all').disabled = true; }
  $('logout').addEventListener('click', async () => {
    try { await api('/api/logout', { body: {} }); } finally { location.href = '/login'; }
  });
  $('trace-form').addEventListener('submit', event => { event.preventDefault(); trace($('trace-id').value.trim()); });
  $('letters-form').addEventListener('submit', event => { event.preventDefault(); loadLetters(); });
  $('redrive-selected').addEventListener('click', () => {
    const ids = [...document.querySelectorAll('.letter-select:checked')].map(box => box.value);
    if (!ids.length) { notice('Select dead letters to redrive first.', true); return; }
    redrive({ ids }, 'Send ' + ids.length + ' dead letter(s) again to their partner?');
  });
  $('redrive-all').addEventListener('click', () => {
    const partner = $('letters-partner').value;
    if (!partner) { notice('Choose a partner first: redrive all works on one partner at a time.', true); return; }
    redrive({ all: true, partner }, 'Send every outstanding dead letter of ' + partner + ' again?');
  });
  $('subject-form').addEventListener('submit', event => { event.preventDefault(); subject(); });
  window.addEventListener('hashchange', show);
  show();
}

document.addEventListener('DOMContentLoaded', start);
