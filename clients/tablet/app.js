// app.js — the tablet app: enrolment, today's sessions, check-in, walk-ins,
// the tally, the session log and the group's messages, on the client
// library (js/client.js) that keeps everything in IndexedDB and syncs it.
//
// Owns the page. Views are drawn from the replica every time something
// changes (the library's 'change' event); nothing here keeps its own copy
// of records. Text from records only ever goes into textContent, never
// into markup.
import { TurfClient, TurfError } from './js/client.js';
import { fold, queryWords, matches } from './fold.js';
import { t, lang, setLang } from './i18n.js';
import { timeIn, daysBefore } from './js/dates.js';

const MAX_ROWS = 60;              /* rows drawn per list; typing narrows the rest */
const REGULAR_DAYS = 56;          /* "lately": the last eight weeks */
const CLOCK_WARN_MS = 2 * 60000;  /* an offset worth telling the teacher about */

const wsUrl = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/`;
const ui = {
  view: 'enrol',    /* enrol | today | session | revoked | refused */
  session: null,    /* the open session's id */
  tab: 'checkin',   /* checkin | tally | log | messages */
  query: '',
  enrolCode: '',    /* from the QR code's link */
  enrolTyped: '',   /* typed by hand */
  enrolName: '',
  enrolError: '',
  enrolBusy: false,
  dialog: null,     /* a function drawing the open dialog, or null */
  notice: '',
};
let client;
let catchUpTimer = null;

/* --- small DOM helpers ------------------------------------------------- */

/* h('button.big', {onclick}, 'text', child...) */
function h(tag, props = {}, ...children) {
  const [name, ...classes] = tag.split('.');
  const el = document.createElement(name);
  if (classes.length) el.className = classes.join(' ');
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k in el && k !== 'list' && k !== 'form') el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const $ = (sel) => document.querySelector(sel);

/* "HH:MM" of a time (ms): the organisation's, whatever zone the tablet is
 * set to. */
const clock = (ms) => timeIn(client.timeZone, ms);

/* A session id two tablets starting the same activity on the same day
 * offline both arrive at, so they make one session: the activity's id and
 * the date, as turfd's demo names its sessions. */
function adHocSessionId(activity, date) {
  const id = `${activity}-${date}`;
  if (id.length <= 64) return id;
  let a = 0x811c9dc5, b = 0x01000193; /* FNV-1a, twice: only to shorten a long id */
  for (let i = 0; i < activity.length; i++) {
    a = Math.imul(a ^ activity.charCodeAt(i), 0x01000193) >>> 0;
    b = Math.imul(b ^ activity.charCodeAt(i), 0x811c9dc5) >>> 0;
  }
  return `${a.toString(16).padStart(8, '0')}${b.toString(16).padStart(8, '0')}-${date}`;
}

/* --- reading the replica ----------------------------------------------- */

/* What is derived from the replica is computed once per change of what it
 * depends on, not once per keystroke or tap: an organisation may hold
 * 10,000 people and a year of check-ins. Versions per record type, and
 * per session for its check-ins and tally ('checkin SESSION'), so that a
 * tap in today's session does not recount the weeks before; a change that
 * names no ops (a resync, a wipe, the history loaded) changes them all
 * (what depends on a session's check-ins also depends on 'participant'). */
const TYPE_NAMES = ['', 'location', 'activity', 'session', 'participant', 'checkin', 'tally', 'message',
  'session_log', 'erasure'];
const versions = new Map();
const bump = (n) => versions.set(n, (versions.get(n) || 0) + 1);
function changed(ops) {
  if (!ops || !ops.length) return TYPE_NAMES.forEach(bump);
  for (const op of ops) {
    const name = TYPE_NAMES[op.y] || '';
    bump(name);
    if (name === 'checkin' || name === 'tally') bump(`checkin ${op.k}`);
    /* A merge (merged_into) or an erasure changes whose check-in is whose. */
    if (name === 'erasure') bump('participant');
  }
  return undefined;
}
const memos = new Map();
function memo(key, types, fn) {
  const version = types.map((n) => versions.get(n) || 0).join('.');
  let m = memos.get(key);
  if (!m || m.version !== version) memos.set(key, m = { version, value: fn() });
  return m.value;
}

function byId(type) {
  return memo(`byId:${type}`, [type], () => {
    const m = new Map();
    for (const r of client.replica.list(type, false)) m.set(r.id, r);
    return m;
  });
}

/* One session's check-ins: participant id -> check-in. */
function sessionCheckins(session) {
  return memo(`checkins:${session}`, [`checkin ${session}`, 'participant'],
    () => new Map(client.replica.checkinsOf(session).map((c) => [c.participant, c])));
}

/* Whether the participants, every session and these sessions' check-ins
 * are loaded (a start reads only what today's screen shows; the rest
 * follows in the background); if not, they are loaded now and the page
 * drawn again. */
const loading = new Set();
function need(ids) {
  if (client.coreComplete && client.sessionsLoaded(ids)) return true;
  const key = ids.join(' ');
  if (!loading.has(key)) {
    loading.add(key);
    client.coreLoaded.then(() => client.loadSessions(ids)).then(() => {
      ids.forEach((id) => bump(`checkin ${id}`));
      render();
    }, (e) => showToast(String(e && e.message ? e.message : e))).finally(() => loading.delete(key));
  }
  return false;
}

/* What a session's view reads: its check-ins, and those of the activity's
 * recent sessions (the regulars). */
function sessionNeeds(s) {
  return [s.id, ...recentSessions(s.activity, client.today())];
}

function presentCount(session) {
  let n = 0;
  for (const c of sessionCheckins(session).values()) if (c.status === 'present') n++;
  return n;
}

function todaysSessions() {
  const today = client.today();
  const activities = byId('activity');
  const locations = byId('location');
  const sessions = byId('session');
  return sessionsOn(today).map((id) => sessions.get(id))
    .map((s) => {
      const a = activities.get(s.activity) || {};
      return { ...s, activityName: a.name || '', locationName: (locations.get(a.location) || {}).name || '',
        start: s.start_time || a.start_time || '', present: client.sessionsLoaded([s.id]) ? presentCount(s.id) : 0 };
    })
    .sort((x, y) => (x.start || '99').localeCompare(y.start || '99') || x.activityName.localeCompare(y.activityName));
}

/* Participants one can check in (not merged into someone else), with
 * their folded names, by name. */
function people() {
  return memo(`people:${lang}`, ['participant'], () => {
    const collator = new Intl.Collator(lang);
    return client.replica.list('participant', false).filter((p) => !p.merged_into)
      .map((p) => ({ ...p, folded: fold(p.name) }))
      .sort((x, y) => collator.compare(x.name, y.name));
  });
}

/* The ids of the sessions of a date. */
function sessionsOn(date) {
  return memo(`on:${date}`, ['session'], () => [...byId('session').values()].filter((s) => s.date === date).map((s) => s.id));
}

/* The activity's sessions "lately", before today: whose check-ins say who
 * the regulars are. */
function recentSessions(activity, today) {
  return memo(`recent:${activity}:${today}`, ['session'], () => {
    const since = daysBefore(today, REGULAR_DAYS);
    return [...byId('session').values()]
      .filter((s) => s.activity === activity && s.date >= since && s.date < today).map((s) => s.id);
  });
}

/* What the regulars of an activity depend on. */
const regularDeps = (activity, today) =>
  ['session', 'participant', ...recentSessions(activity, today).map((id) => `checkin ${id}`)];

/* How often each participant came to this activity lately (present). */
function regularity(activity, today) {
  return memo(`regular:${activity}:${today}`, regularDeps(activity, today), () => {
    const count = new Map();
    for (const id of recentSessions(activity, today)) {
      for (const c of sessionCheckins(id).values()) {
        if (c.status === 'present') count.set(c.participant, (count.get(c.participant) || 0) + 1);
      }
    }
    return count;
  });
}

/* The session's list: the regulars (most often first), then everyone else
 * by name. */
function sortedPeople(activity, today) {
  return memo(`sorted:${activity}:${today}:${lang}`, regularDeps(activity, today), () => {
    const regular = regularity(activity, today);
    const all = people();
    const regulars = all.filter((p) => regular.has(p.id))
      .sort((x, y) => regular.get(y.id) - regular.get(x.id));
    return regulars.concat(all.filter((p) => !regular.has(p.id)));
  });
}

/* --- drawing --------------------------------------------------------- */

let renderQueued = false;
function render() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    draw();
  });
}

function draw() {
  document.documentElement.lang = lang;
  drawStatus();
  const main = $('#main');
  const focus = document.activeElement && document.activeElement.id;
  const views = { enrol: viewEnrol, today: viewToday, session: viewSession, revoked: viewRevoked, refused: viewRefused };
  main.replaceChildren(views[ui.view]());
  const dialog = $('#dialog');
  dialog.replaceChildren(...(ui.dialog ? [ui.dialog()] : []));
  dialog.hidden = !ui.dialog;
  if (focus && document.getElementById(focus)) {
    const el = document.getElementById(focus);
    el.focus();
    /* The caret back at the end; a number input has no caret to set. */
    if (el.tagName === 'TEXTAREA' || ['text', 'search'].includes(el.type)) el.setSelectionRange(el.value.length, el.value.length);
  }
  document.body.dataset.view = ui.view;
  document.body.dataset.ready = '1';
  /* When the app is first usable, for bench/tablet.mjs. */
  if (ui.view !== 'enrol' && !performance.getEntriesByName('turf:usable').length) performance.mark('turf:usable');
}

/* ms as a person says it: minutes, hours or days. */
function duration(ms) {
  const min = Math.round(ms / 60000);
  if (min < 120) return t('minutes', min);
  if (min < 48 * 60) return t('hours', Math.round(min / 60));
  return t('days', Math.round(min / 1440));
}

function drawStatus() {
  $('#lang').textContent = t('lang_switch');
  $('#insecure').textContent = t('insecure');
  const bar = $('#status');
  if (!client || ui.view === 'enrol' || ui.view === 'revoked') {
    bar.replaceChildren();
    bar.hidden = true;
    return;
  }
  const s = client.status();
  const state = s.state === 'online' ? 'online' : s.state === 'connecting' ? 'connecting' : 'offline';
  const items = [
    h(`span.conn.${state}`, { id: 'conn', dataset: { state, live: s.live ? '1' : '0' } }, t(state)),
    h('span', { id: 'outbox', dataset: { count: String(s.outbox) } }, s.outbox ? t('waiting', s.outbox) : t('all_sent')),
    s.state === 'online' && !s.live && s.head > s.cursor
      ? h('span', { id: 'catching-up' }, t('catching_up', Math.floor((100 * s.cursor) / s.head)))
      : h('span', { id: 'last-sync' }, s.lastSync ? t('last_sync', clock(s.lastSync)) : t('never_synced')),
  ];
  if (Math.abs(s.offset) > CLOCK_WARN_MS) {
    items.push(h('span.warn', { id: 'clock-warning' }, t('clock_off', duration(Math.abs(s.offset)), s.offset < 0)));
  }
  if (s.attention) items.push(h('span.warn', { id: 'refused' }, t('refused_ops', s.attention)));
  bar.replaceChildren(...items);
  bar.hidden = false;
}

function viewEnrol() {
  const codeFromLink = ui.enrolCode;
  const form = h('form.card', {
    id: 'enrol-form',
    onsubmit: async (ev) => {
      ev.preventDefault();
      const code = (codeFromLink || ui.enrolTyped).trim().toUpperCase();
      const name = ui.enrolName.trim();
      if (!code || !name) return;
      ui.enrolBusy = true;
      ui.enrolError = '';
      render();
      try {
        await client.enrol(code, name);
        askPersistence();
        ui.view = 'today';
        ui.enrolCode = '';
      } catch (e) {
        ui.enrolError = e instanceof TurfError ? t('enrol_bad_code') : String(e.message || e);
        ui.enrolCode = ''; /* a spent code from a link: let a new one be typed */
      }
      ui.enrolBusy = false;
      render();
    },
  },
  h('h1', {}, t('enrol_title')),
  h('p', {}, t('enrol_intro')),
  codeFromLink ? null : h('label', { for: 'enrol-code' }, t('enrol_code')),
  codeFromLink ? null : h('input', { id: 'enrol-code', name: 'code', autocomplete: 'off', autocapitalize: 'characters',
    spellcheck: false, required: true, value: ui.enrolTyped, oninput: (ev) => { ui.enrolTyped = ev.target.value; } }),
  codeFromLink ? null : h('p.help', {}, t('enrol_code_help')),
  h('label', { for: 'enrol-name' }, t('enrol_name')),
  h('input', { id: 'enrol-name', name: 'name', maxLength: 64, required: true, autocomplete: 'off',
    value: ui.enrolName, oninput: (ev) => { ui.enrolName = ev.target.value; } }),
  h('p.help', {}, t('enrol_name_help')),
  ui.enrolError ? h('p.error', { id: 'enrol-error', role: 'alert' }, ui.enrolError) : null,
  ui.enrolBusy ? h('p.help', { id: 'enrol-waiting' }, t('enrol_waiting')) : null,
  h('button.primary', { type: 'submit', id: 'enrol-submit', disabled: ui.enrolBusy }, t('enrol_submit')));
  return form;
}

function viewRevoked() {
  return h('section.card', { id: 'revoked' },
    h('h1', {}, t('revoked_title')),
    h('p', {}, t('revoked_text')),
    h('button.primary', { onclick: () => location.reload() }, t('revoked_again')));
}

function viewRefused() {
  return h('section.card', { id: 'refused-view' }, h('h1', {}, t('refused_text')));
}

function viewToday() {
  const today = client.today();
  const sessions = todaysSessions();
  const counted = need(sessions.map((s) => s.id));
  const started = new Set(sessions.map((s) => s.activity));
  const activities = client.replica.list('activity').filter((a) => !started.has(a.id))
    .sort((x, y) => (x.start_time || '99').localeCompare(y.start_time || '99') || x.name.localeCompare(y.name));
  const known = client.replica.list('activity').length;
  const locations = byId('location');
  return h('section', { id: 'today' },
    h('h1', {}, `${t('today')} · ${new Date(`${today}T12:00:00Z`).toLocaleDateString(lang === 'en' ? 'en-GB' : 'nl-NL',
      { weekday: 'long', day: 'numeric', month: 'long', timeZone: 'UTC' })}`),
    client.orgName ? h('p.org', {}, client.orgName) : null,
    sessions.length ? h('ul.sessions', {}, sessions.map((s) => h('li', {},
      h('button.session', { onclick: () => openSession(s.id), dataset: { session: s.id } },
        h('span.time', {}, s.start || '–'),
        h('span.what', {}, h('strong', {}, s.activityName || s.id), h('small', {}, s.locationName)),
        s.cancelled ? h('span.chip.cancelled', {}, t('cancelled'))
          : counted ? h('span.chip', {}, t('present_count', s.present)) : null))))
      : h('p.empty', {}, t('today_none')),
    /* Activities that have no session today yet can be started. */
    activities.length || !known ? h('h2', {}, t('start_title')) : null,
    activities.length ? h('p.help', {}, t('start_help')) : known ? null : h('p.help', {}, t('start_none')),
    h('ul.activities', {}, activities.map((a) => h('li', {},
      h('button.activity', { onclick: () => startSession(a), dataset: { activity: a.id } },
        h('span.time', {}, a.start_time || ''),
        h('span.what', {}, h('strong', {}, a.name), h('small', {}, (locations.get(a.location) || {}).name || '')),
        h('span.chip.go', {}, t('start_button')))))));
}

/* Today's session of an activity, started now: today is the day of the
 * tap, not of when the list was drawn (a tablet left on over night). */
async function startSession(activity) {
  const today = client.today();
  const id = adHocSessionId(activity.id, today);
  if (!client.replica.get('session', id)) {
    const fields = { activity: activity.id, date: today };
    fields.start_time = activity.start_time || clock(client.now());
    await save(() => client.record('session', id, '', fields));
  }
  openSession(id);
}

async function openSession(id) {
  const s = client.replica.get('session', id);
  /* Drawn at once with its people and check-ins; should a read fail, the
   * view tries again. */
  if (s) await client.coreLoaded.then(() => client.loadSessions(sessionNeeds(s))).catch(() => {});
  ui.view = 'session';
  ui.session = id;
  ui.tab = 'checkin';
  ui.query = '';
  history.pushState({ session: id }, '');
  render();
}

function viewSession() {
  const s = client.replica.get('session', ui.session);
  if (!s) {
    ui.view = 'today';
    return viewToday();
  }
  const a = client.replica.get('activity', s.activity) || {};
  const tabs = ['checkin', 'tally', 'log', 'messages'];
  const body = { checkin: tabCheckin, tally: tabTally, log: tabLog, messages: tabMessages }[ui.tab];
  return h('section', { id: 'session', dataset: { session: ui.session } },
    h('div.session-head', {},
      h('button.back', { onclick: () => history.back(), 'aria-label': t('back') }, '‹ ' + t('back')),
      h('h1', {}, a.name || ui.session, h('small', {}, ` ${s.start_time || ''}`))),
    h('nav.tabs', { role: 'tablist' }, tabs.map((tab) => h('button', {
      role: 'tab', id: `tab-${tab}`, 'aria-selected': String(ui.tab === tab),
      onclick: () => { ui.tab = tab; ui.notice = ''; render(); },
    }, t(`tab_${tab}`)))),
    body(s, a));
}

/* One person in the check-in list, with their check-in c (or none). */
function personRow(p, c) {
  /* A null status is a withdrawn check-in (undo): not checked in, and the
   * times that stay in its row mean nothing until someone checks in again. */
  const status = (c && c.status) || '';
  const detail = status && c.departed ? t('departed_at', clock(c.departed))
    : status === 'present' && c.arrived ? t('arrived_at', clock(c.arrived)) : '';
  return h('li', {}, h('button.person', {
    dataset: { participant: p.id, status },
    'aria-label': status ? `${p.name}: ${t(`status_${status}`)}` : t('check_in', p.name),
    onclick: () => (status ? openChange(p, c) : checkIn(p)),
  },
  h('span.mark', { 'aria-hidden': 'true' }, status === 'present' ? '✓' : status === 'excused' ? '–' : status === 'absent' ? '×' : ''),
  h('span.name', {}, p.name, detail ? h('small', {}, detail) : null),
  status ? h(`span.chip.${status}`, {}, t(`status_${status}`)) : null));
}

/* A check-in in the open session (a tap here, or another tablet's)
 * redraws only its row, not the list around it: today's check-ins do not
 * change who the regulars are, nor the order. False when more than that
 * must be drawn. */
function patchRows(ops) {
  if (ui.view !== 'session' || ui.tab !== 'checkin' || ui.dialog || !$('#dialog').hidden) return false;
  const rows = [];
  for (const op of ops) {
    if (TYPE_NAMES[op.y] !== 'checkin' || op.k !== ui.session) return false;
    const p = byId('participant').get(op.k2);
    /* Someone unknown yet, or merged into someone else: their row is not theirs. */
    if (!p || p.merged_into) return false;
    const li = document.querySelector(`button.person[data-participant="${CSS.escape(op.k2)}"]`)?.parentElement;
    if (li) rows.push([li, p]); /* else not among the rows drawn */
  }
  const checkins = sessionCheckins(ui.session);
  for (const [li, p] of rows) {
    const focused = li.contains(document.activeElement);
    const fresh = personRow(p, checkins.get(p.id));
    li.replaceWith(fresh);
    if (focused) fresh.firstChild.focus(); /* a keyboard user stays where they were */
  }
  return true;
}

/* A tab whose session is still being read from storage. */
function loadingTab(id) {
  return h('div.tab', { id }, h('p.help', { id: 'loading', role: 'status' }, t('loading')));
}

/* Check-in: regulars first, then everyone; one tap checks in. */
function tabCheckin(s) {
  if (!need(sessionNeeds(s))) return loadingTab('checkin');
  const today = client.today();
  const checkins = sessionCheckins(ui.session);
  const words = queryWords(ui.query);
  const regular = regularity(s.activity, today);
  const all = sortedPeople(s.activity, today).filter((p) => matches(p.folded, words));
  const regulars = words.length ? [] : all.filter((p) => regular.get(p.id));
  const rest = words.length ? all : all.filter((p) => !regular.get(p.id));
  const row = (p) => personRow(p, checkins.get(p.id));
  const list = (title, ps) => (ps.length ? [h('h2', {}, title),
    h('ul.people', {}, ps.slice(0, MAX_ROWS).map(row)),
    ps.length > MAX_ROWS ? h('p.help', {}, t('more', ps.length - MAX_ROWS)) : null] : []);
  return h('div.tab', { id: 'checkin' },
    h('div.searchbar', {},
      h('input', { id: 'search', type: 'search', placeholder: t('search'), 'aria-label': t('search'),
        value: ui.query, autocomplete: 'off', spellcheck: false,
        oninput: (ev) => { ui.query = ev.target.value; drawCheckinList(); } }),
      h('button.primary', { id: 'walk-in', onclick: () => openWalkIn() }, '+ ' + t('walk_in'))),
    h('div', { id: 'people' },
      ...list(t('regulars'), regulars),
      ...list(regulars.length ? t('everyone') : '', rest),
      all.length ? null : h('p.empty', { id: 'no-match' }, t('no_match'))));
}

/* Typing redraws only the list, so the keyboard and the caret stay put. */
function drawCheckinList() {
  const s = client.replica.get('session', ui.session);
  const fresh = tabCheckin(s).querySelector('#people');
  if (fresh && $('#people')) $('#people').replaceWith(fresh);
}

async function checkIn(p) {
  await save(() => client.record('checkin', ui.session, p.id, { status: 'present', arrived: client.now() }));
}

function openChange(p, c) {
  const set = (fields) => async () => {
    ui.dialog = null;
    await save(() => client.record('checkin', ui.session, p.id, fields));
  };
  ui.dialog = () => h('div.sheet', { role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': 'change-title', id: 'change' },
    h('h2', { id: 'change-title' }, t('change_title', p.name)),
    h('div.choices', {},
      h('button', { id: 'set-present', onclick: set({ status: 'present', arrived: client.now() }),
        'aria-pressed': String(c.status === 'present') }, t('set_present')),
      h('button', { id: 'set-absent', onclick: set({ status: 'absent' }), 'aria-pressed': String(c.status === 'absent') },
        t('set_absent')),
      h('button', { id: 'set-excused', onclick: set({ status: 'excused' }), 'aria-pressed': String(c.status === 'excused') },
        t('set_excused')),
      c.status === 'present' ? h('button', { id: 'set-departed', onclick: set({ departed: client.now() }) },
        t('set_departed')) : null,
      /* A tap on the wrong name is taken back: never checked in, which is
       * not "absent" (expected, did not come; reports count it). */
      h('button', { id: 'set-undo', onclick: set({ status: null }) }, t('set_undo'))),
    h('button.secondary', { id: 'change-close', onclick: () => { ui.dialog = null; render(); } }, t('close')));
  render();
  requestAnimationFrame(() => $('#change-close') && $('#change-close').focus());
}

/* A walk-in: probable matches (same folding) come first, so a second
 * "Kees van Dijk" is not made by accident. */
function openWalkIn() {
  const walkin = { name: ui.query, contact: '', referral: '', error: '' };
  const sheet = () => {
    const words = queryWords(walkin.name);
    const likely = words.length ? people().filter((p) => matches(p.folded, words)).slice(0, 5) : [];
    return h('form.sheet', {
      role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': 'walkin-title', id: 'walkin',
      onsubmit: async (ev) => {
        ev.preventDefault();
        const name = walkin.name.trim();
        if (!name) {
          walkin.error = t('walkin_name_needed');
          render();
          return;
        }
        const id = client.newId();
        const fields = { name, first_seen: client.now() };
        if (walkin.contact.trim()) fields.contact = walkin.contact.trim();
        if (walkin.referral.trim()) fields.referral = walkin.referral.trim();
        ui.dialog = null;
        ui.query = '';
        if (await save(() => client.record('participant', id, '', fields)))
          await save(() => client.record('checkin', ui.session, id, { status: 'present', arrived: client.now() }));
      },
    },
    h('h2', { id: 'walkin-title' }, t('walkin_title')),
    h('label', { for: 'walkin-name' }, t('walkin_name')),
    h('input', { id: 'walkin-name', value: walkin.name, maxLength: 200, autocomplete: 'off',
      oninput: (ev) => { walkin.name = ev.target.value; render(); } }),
    likely.length ? h('div.matches', { id: 'walkin-matches' },
      h('p', {}, t('walkin_matches')),
      likely.map((p) => h('button.secondary', { type: 'button', dataset: { participant: p.id },
        onclick: async () => { ui.dialog = null; ui.query = ''; await checkIn(p); } }, t('walkin_is', p.name)))) : null,
    h('label', { for: 'walkin-contact' }, t('walkin_contact')),
    h('input', { id: 'walkin-contact', value: walkin.contact, maxLength: 200, autocomplete: 'off',
      oninput: (ev) => { walkin.contact = ev.target.value; } }),
    h('label', { for: 'walkin-referral' }, t('walkin_referral')),
    h('input', { id: 'walkin-referral', value: walkin.referral, maxLength: 100, list: 'referrals', autocomplete: 'off',
      oninput: (ev) => { walkin.referral = ev.target.value; } }),
    h('datalist', { id: 'referrals' }, t('walkin_referral_options').map((o) => h('option', { value: o }))),
    walkin.error ? h('p.error', { role: 'alert' }, walkin.error) : null,
    h('div.row', {},
      h('button.secondary', { type: 'button', id: 'walkin-cancel', onclick: () => { ui.dialog = null; render(); } },
        t('walkin_cancel')),
      h('button.primary', { type: 'submit', id: 'walkin-add' }, t('walkin_add'))));
  };
  ui.dialog = sheet;
  render();
  requestAnimationFrame(() => $('#walkin-name') && $('#walkin-name').focus());
}

function tabTally(s) {
  /* The next op carries this tablet's running total: it must be known. */
  if (!need([s.id])) return loadingTab('tally');
  const tally = client.replica.get('tally', ui.session) || { total: 0 };
  /* An op carries this tablet's own running total, not a delta. */
  const mine = client.replica.tallySlot(ui.session, client.deviceId);
  const set = (n) => save(() => client.record('tally', ui.session, '', { count: Math.max(0, n) }));
  return h('div.tab', { id: 'tally' },
    h('h2', {}, t('tally_title')),
    h('p.help', {}, t('tally_help')),
    h('div.tally', {},
      h('button.round', { id: 'tally-minus', 'aria-label': '−1', disabled: mine <= 0, onclick: () => set(mine - 1) }, '−'),
      h('output', { id: 'tally-total', 'aria-live': 'polite' }, String(tally.total || 0)),
      h('button.round', { id: 'tally-plus', 'aria-label': '+1', onclick: () => set(mine + 1) }, '+')),
    h('p.help', {}, `${t('tally_mine')}: `, h('span', { id: 'tally-mine' }, String(mine))));
}

/* What is being typed, kept across redraws (a change arriving from another
 * tablet redraws the page): by input id, for the open session. */
const drafts = new Map();
function draft(id, stored) {
  const key = `${ui.session}:${id}`;
  return drafts.has(key) ? drafts.get(key) : stored;
}
function typing(id) {
  return (ev) => drafts.set(`${ui.session}:${id}`, ev.target.value);
}
function typed(...ids) {
  for (const id of ids) drafts.delete(`${ui.session}:${id}`);
}

function tabLog(s) {
  const log = client.replica.get('session_log', ui.session) || {};
  const stamp = (field) => save(() => client.record('session_log', ui.session, '', { [field]: client.now() }));
  return h('form.tab', {
    id: 'log',
    onsubmit: async (ev) => {
      ev.preventDefault();
      const fields = {};
      const hc = $('#log-headcount').value.trim();
      fields.headcount = hc === '' ? null : Math.max(0, Math.min(100000, Math.floor(Number(hc)) || 0));
      fields.notes = $('#log-notes').value;
      if (await save(() => client.record('session_log', ui.session, '', fields))) {
        typed('log-headcount', 'log-notes');
        ui.notice = t('log_saved');
      }
      render();
    },
  },
  h('div.times', {},
    h('div', {}, h('span', {}, t('log_started')), h('strong', { id: 'log-started' }, log.started ? clock(log.started) : '–'),
      h('button.secondary', { type: 'button', id: 'log-start-now', onclick: () => stamp('started') }, t('log_now'))),
    h('div', {}, h('span', {}, t('log_ended')), h('strong', { id: 'log-ended' }, log.ended ? clock(log.ended) : '–'),
      h('button.secondary', { type: 'button', id: 'log-end-now', onclick: () => stamp('ended') }, t('log_now')))),
  h('label', { for: 'log-headcount' }, t('log_headcount')),
  h('input', { id: 'log-headcount', type: 'number', inputMode: 'numeric', min: 0, max: 100000,
    value: draft('log-headcount', log.headcount ?? ''), oninput: typing('log-headcount') }),
  h('label', { for: 'log-notes' }, t('log_notes')),
  h('textarea', { id: 'log-notes', rows: 5, maxLength: 4096, value: draft('log-notes', log.notes ?? ''),
    oninput: typing('log-notes') }),
  ui.notice ? h('p.notice', { role: 'status' }, ui.notice) : null,
  h('button.primary', { type: 'submit', id: 'log-save' }, t('log_save')));
}

function tabMessages(s) {
  const messages = client.replica.list('message')
    .filter((m) => m.activity === s.activity && !m.deleted)
    .sort((x, y) => (x.posted || 0) - (y.posted || 0) || x.id.localeCompare(y.id));
  const mine = (m) => m.author === client.deviceId;
  const edit = (m) => {
    ui.dialog = () => h('form.sheet', {
      role: 'dialog', 'aria-modal': 'true', id: 'msg-edit',
      onsubmit: async (ev) => {
        ev.preventDefault();
        const body = $('#msg-edit-body').value;
        ui.dialog = null;
        if (await save(() => client.record('message', m.id, '', { body }))) typed(`edit-${m.id}`);
      },
    },
    h('label', { for: 'msg-edit-body' }, t('msg_edit')),
    h('textarea', { id: 'msg-edit-body', rows: 4, maxLength: 4096, value: draft(`edit-${m.id}`, m.body),
      oninput: typing(`edit-${m.id}`) }),
    h('div.row', {},
      h('button.secondary', { type: 'button', onclick: () => { ui.dialog = null; render(); } }, t('walkin_cancel')),
      h('button.primary', { type: 'submit', id: 'msg-edit-save' }, t('msg_save'))));
    render();
  };
  return h('div.tab', { id: 'messages' },
    messages.length ? h('ul.messages', {}, messages.map((m) => h('li', { dataset: { message: m.id } },
      h('p.meta', {}, mine(m) ? t('msg_mine') : t('msg_other'), m.posted ? ` · ${clock(m.posted)}` : ''),
      h('p.body', {}, m.body),
      mine(m) ? h('div.row', {},
        h('button.secondary', { onclick: () => edit(m) }, t('msg_edit')),
        h('button.secondary', { onclick: async () => {
          if (confirm(t('msg_delete_confirm'))) await save(() => client.record('message', m.id, '', { deleted: true }));
        } }, t('msg_delete'))) : null)))
      : h('p.empty', {}, t('msg_none')),
    h('form.compose', {
      onsubmit: async (ev) => {
        ev.preventDefault();
        const body = $('#msg-body').value.trim();
        if (!body) return;
        if (await save(() => client.record('message', client.newId(), '', { activity: s.activity, body }))) {
          typed('msg-body');
          $('#msg-body').value = '';
        }
      },
    },
    h('label', { for: 'msg-body' }, t('msg_write')),
    h('textarea', { id: 'msg-body', rows: 3, maxLength: 4096, value: draft('msg-body', ''), oninput: typing('msg-body') }),
    h('button.primary', { type: 'submit', id: 'msg-send' }, t('msg_send'))));
}

/* Runs a record; true once it is durable. A refusal is shown, not lost. */
async function save(fn) {
  try {
    await fn();
    /* What was recorded is drawn on the library's 'change' event. */
    if (ui.notice) {
      ui.notice = '';
      render();
    }
    return true;
  } catch (e) {
    ui.notice = t('saved_error') + (e.message || e);
    showToast(ui.notice);
    render();
    return false;
  }
}

function showToast(text) {
  const el = $('#toast');
  el.textContent = text;
  el.hidden = false;
  clearTimeout(showToast.timer);
  showToast.timer = setTimeout(() => { el.hidden = true; }, 6000);
}

/* Storage the browser will not clear under pressure, asked for once the
 * tablet is enrolled (a browser may grant it only for an installed app). */
async function askPersistence() {
  if (navigator.storage && navigator.storage.persist) {
    try { await navigator.storage.persist(); } catch { /* reported as not persistent */ }
  }
}

/* --- start ----------------------------------------------------------- */

async function boot() {
  $('#lang').addEventListener('click', () => {
    setLang(lang === 'en' ? 'nl' : 'en');
    render();
  });
  if (!window.isSecureContext) $('#insecure').hidden = false;
  if ('serviceWorker' in navigator && window.isSecureContext) {
    navigator.serviceWorker.register('sw.js').catch(() => { /* the app still works online */ });
  }
  const fromLink = new URLSearchParams(location.hash.slice(1)).get('enrol');
  if (fromLink) history.replaceState(null, '', location.pathname + location.search); /* the code is spent once used */

  client = await TurfClient.open({ url: wsUrl });
  window.turfClient = client; /* for a look from the browser's console (and bench/tablet.mjs) */
  /* The status bar alone: the page is redrawn when data changes. */
  client.addEventListener('status', (ev) => {
    if (ev.detail.state === 'refused' && client.enrolled && ui.view !== 'refused') {
      ui.view = 'refused'; /* its token no longer opens the server */
      render();
    } else {
      requestAnimationFrame(drawStatus);
    }
  });
  client.addEventListener('change', (ev) => {
    changed(ev.detail.ops);
    if (ev.detail.ops.length && patchRows(ev.detail.ops)) return;
    /* Catching up (a first sync brings a whole organisation, page after
     * page): redraw every few seconds, not once a page. */
    if (client.status().live) render();
    else if (!catchUpTimer) catchUpTimer = setTimeout(() => { catchUpTimer = null; render(); }, 3000);
  });
  client.addEventListener('attention', render);
  client.addEventListener('revoked', () => {
    changed();
    ui.view = 'revoked';
    ui.dialog = null;
    render();
  });
  window.addEventListener('online', () => client.start(true));
  /* At midnight (the organisation's) today's screen is another day's. */
  let shownDay = client.today();
  setInterval(() => {
    if (client.enrolled && client.today() !== shownDay) {
      shownDay = client.today();
      changed();
      render();
    }
  }, 30000);
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') client.start(true);
  });
  window.addEventListener('popstate', (ev) => {
    ui.dialog = null;
    if (ev.state && ev.state.session) {
      ui.view = 'session';
      ui.session = ev.state.session;
    } else if (ui.view === 'session') {
      ui.view = 'today';
    }
    render();
  });
  if (client.enrolled) {
    ui.view = 'today';
    /* Today's check-ins first; the rest of the history follows. */
    await client.loadSessions(sessionsOn(client.today()));
    if (fromLink) showToast(t('enrol_already'));
    client.start();
  } else {
    ui.view = 'enrol';
    ui.enrolCode = fromLink || '';
  }
  draw();
}

boot().catch((e) => {
  document.body.dataset.ready = 'error';
  $('#main').replaceChildren(h('p.error', { role: 'alert' }, String(e && e.message ? e.message : e)));
});
