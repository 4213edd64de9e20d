/* Turf coordinator dashboard: the page's only script, no libraries.
 *
 * It opens a websocket to the turfd that served it (subprotocol
 * turf.dashboard.v1), receives JSON views of one organisation as they
 * change (docs/dashboard.md), and renders each part into its section. The
 * coordinator's revert, dismiss and merge buttons send small JSON commands
 * back. Everything the server sends is put on the page as text (never as
 * HTML), because names and messages come from tablets. */
'use strict';
(function () {
  const TEXT = {
    nl: {
      title: 'Turf — coördinatie', skip: 'Naar de inhoud', organisation: 'Organisatie',
      parts_label: 'Onderdelen', switch_lang: 'Switch to English', other_lang: 'EN',
      connecting: 'Verbinden…', connected: 'Live', disconnected: 'Verbinding weg — opnieuw verbinden…',
      nav_today: 'Vandaag', nav_arrivals: 'Binnenkomst', nav_devices: 'Tablets',
      nav_conflicts: 'Conflicten', nav_duplicates: 'Dubbelen', nav_messages: 'Berichten',
      today: 'Vandaag', arrivals: 'Binnenkomst', devices: 'Tablets', conflicts: 'Conflicten',
      duplicates: 'Mogelijk dubbele deelnemers', messages: 'Groepsberichten',
      no_sessions: 'Vandaag staan er geen bijeenkomsten gepland.', unknown_location: 'Locatie onbekend',
      no_sessions_day: 'Op deze dag waren er geen bijeenkomsten.', day: 'Dag',
      day_pick: 'Kies een dag', day_prev: '‹ Vorige dag', day_next: 'Volgende dag ›', day_today: 'Naar vandaag',
      history: 'Eerdere keren', history_of: 'Eerdere keren van {0}', close: 'Sluiten',
      history_none: 'Deze activiteit had nog geen bijeenkomsten.', history_row: '{0} aanwezig + {1} anoniem',
      log: 'Logboek', log_headcount: 'geteld: {0}', log_from: 'van {0}', log_to: 'tot {0}',
      new_people: 'Voor het eerst', via: 'via {0}',
      nav_people: 'Deelnemers', people: 'Deelnemers', people_search: 'Zoek op naam',
      people_hint: 'Hoofdletters en accenten maken niet uit.', people_none: 'Niemand gevonden met die naam.',
      people_more: 'De eerste {0} van {1}; typ meer van de naam.', people_row: '{0} keer, laatst {1}',
      people_never: 'nog niet geweest', person: 'Deelnemer', visits_of: '{0} van de {1} keer',
      first_visit: 'Eerste keer', last_visit: 'Laatste keer', referral: 'Verwezen door', contact: 'Contact',
      pseudonym: 'Schuilnaam', per_activity: 'Per activiteit', attendance: 'Aanwezigheid',
      person_none: 'Nog geen check-ins.', person_missing: 'Deze deelnemer bestaat niet (meer).',
      merged_into: 'Samengevoegd met', first_last: 'eerste keer {0} · laatste keer {1}',
      nav_report: 'Rapportage', report: 'Rapportage', report_period: 'Periode', report_from: 'Van',
      report_to: 'Tot en met', report_scope: 'Voor', report_show: 'Toon', preset_month: 'Deze maand',
      preset_last_month: 'Vorige maand', preset_quarter: 'Dit kwartaal', preset_last_quarter: 'Vorig kwartaal',
      preset_year: 'Dit jaar', preset_last_year: 'Vorig jaar', preset_custom: 'Zelf kiezen',
      scope_org: 'De hele organisatie', scope_locations: 'Locaties', scope_activities: 'Activiteiten',
      report_loading: 'Bezig met rekenen…', report_of: '{0} t/m {1}',
      fig_sessions: 'Bijeenkomsten', fig_visits: 'Bezoeken', fig_visits_note: '{0} met naam + {1} anoniem',
      fig_participants: 'Verschillende deelnemers', fig_new: 'Nieuw', fig_returning: 'Terugkerend',
      fig_average: 'Gemiddeld per bijeenkomst', fig_cancelled: '{0} afgelast',
      t_months: 'Per maand', t_activities: 'Per activiteit', t_frequency: 'Hoe vaak kwamen mensen?',
      t_referrals: 'Wie verwees de nieuwe deelnemers?', unknown_referral: '(niet ingevuld)',
      col_month: 'Maand', col_sessions: 'Bijeenkomsten', col_visits: 'Bezoeken', col_named: 'Met naam',
      col_anonymous: 'Anoniem', col_participants: 'Deelnemers', col_new: 'Nieuw', col_activity: 'Activiteit',
      col_location: 'Locatie', col_average: 'Gemiddeld', col_times: 'Aantal keer', col_referral: 'Verwezen door',
      times_1: '1 keer', times_n: '{0} keer',
      csv: 'CSV', csv_label: '{0} downloaden als CSV', json: 'JSON', json_label: '{0} als JSON',
      people_list: 'Deelnemerslijst (CSV)', people_names: 'met namen in plaats van schuilnamen',
      people_list_note: 'Elke download wordt vastgelegd met wie, wanneer en hoeveel rijen.',
      bars_label: 'Bezoeken per maand: {0}', downloads: 'Downloads', no_downloads: 'Nog niets gedownload.',
      download_row: '{0} · {1} · {2} · {3} rijen', with_names: 'met namen',
      cancelled: 'afgelast', headcount: 'aantal aanwezig', headcount_note: '{0} met naam + {1} anoniem',
      nobody: 'Nog niemand ingecheckt.', left: 'weg {0}',
      status_present: 'aanwezig', status_absent: 'afwezig', status_excused: 'afgemeld', status_none: 'niet ingecheckt',
      no_arrivals: 'Vandaag is nog niemand binnengekomen.', arrived: '{0} is binnen bij {1}',
      th_device: 'Tablet', th_status: 'Status', th_last: 'Laatste sync', th_outbox: 'Nog te versturen',
      th_clock: 'Klok', th_app: 'App', online: 'online', offline: 'offline', never: 'nooit',
      th_storage: 'Opslag', storage_kept: 'blijvend', storage_risk: 'kan door de browser gewist worden',
      storage_full: '{0}% vol',
      no_devices: 'Nog geen tablets aangemeld.', revoked: 'ingetrokken',
      clock_ok: 'klopt', clock_behind: '{0} achter', clock_ahead: '{0} voor',
      just_now: 'zojuist', min_ago: '{0} min geleden', hours_ago: '{0} uur geleden', days_ago: '{0} dagen geleden',
      tablet: 'Tablet {0}', server: 'De server',
      c_set_person: '{0} zette {1} op {2} om {3}', c_set_field: '{0} zette {1} van {2} op {3} om {4}',
      c_had: '{0} had {1} gezet om {2}', c_kept: 'Bewaard: {0}.',
      revert: 'Terugzetten naar {0}', dismiss: 'Zo laten',
      resolved_1: 'Teruggezet', resolved_2: 'Zo gelaten',
      no_conflicts: 'Geen conflicten: wat de tablets vastlegden, past bij elkaar.',
      empty_value: '(leeg)', yes: 'ja', no: 'nee', something: 'iets',
      dup_title: 'Mogelijk dezelfde persoon: {0}',
      dup_member: 'eerst gezien {0} door {1} · {2} check-in(s)', merge_into: 'Samenvoegen in deze',
      no_duplicates: 'Geen mogelijke dubbelen.',
      no_activities: 'Nog geen activiteiten.', no_messages: 'Nog geen berichten.', deleted: '(verwijderd)',
      done_revert: 'Teruggezet; de tablets krijgen het meteen.', done_dismiss: 'Conflict afgesloten.',
      done_merge: 'Samengevoegd; de tablets krijgen het meteen.', failed: 'Niet gelukt: {0}',
      logout: 'Uitloggen', signed_in: 'Ingelogd als {0}', read_only: '{0} (alleen lezen)',
      c_reverted: 'Teruggezet naar: {0}.',
      err_BAD_CREDENTIALS: 'deze login mag alleen kijken; vraag een beheerder',
      err_OUT_OF_SCOPE: 'dat is niet uw organisatie', err_BAD_FIELD: 'die bestaat niet (meer)',
      err_INVALID_OP: 'dat is al gebeurd, of zou in een kring samenvoegen',
      err_SHUTTING_DOWN: 'de server stopt even; probeer het zo weer', err_other: 'fout {0}',
      fields: {
        'location.name': 'naam', 'activity.name': 'naam', 'activity.location': 'locatie',
        'activity.weekday': 'weekdag', 'activity.start_time': 'begintijd', 'session.date': 'datum',
        'session.start_time': 'begintijd', 'session.cancelled': 'afgelast', 'session.activity': 'activiteit',
        'participant.name': 'naam', 'participant.pseudonym': 'schuilnaam', 'participant.contact': 'contact',
        'participant.referral': 'verwijzer', 'participant.merged_into': 'samengevoegd met',
        'checkin.status': 'status', 'message.body': 'tekst', 'message.deleted': 'verwijderd',
        'session_log.started': 'begin', 'session_log.ended': 'einde', 'session_log.headcount': 'aantal',
        'session_log.notes': 'notities',
      },
    },
    en: {
      title: 'Turf — coordination', skip: 'Skip to content', organisation: 'Organisation',
      parts_label: 'Sections', switch_lang: 'Schakel naar Nederlands', other_lang: 'NL',
      connecting: 'Connecting…', connected: 'Live', disconnected: 'Connection lost — reconnecting…',
      nav_today: 'Today', nav_arrivals: 'Arrivals', nav_devices: 'Tablets',
      nav_conflicts: 'Conflicts', nav_duplicates: 'Duplicates', nav_messages: 'Messages',
      today: 'Today', arrivals: 'Arrivals', devices: 'Tablets', conflicts: 'Conflicts',
      duplicates: 'Probable duplicate participants', messages: 'Group messages',
      no_sessions: 'No sessions are planned for today.', unknown_location: 'Unknown location',
      no_sessions_day: 'There were no sessions on this day.', day: 'Day',
      day_pick: 'Pick a day', day_prev: '‹ Previous day', day_next: 'Next day ›', day_today: 'Back to today',
      history: 'Earlier sessions', history_of: 'Earlier sessions of {0}', close: 'Close',
      history_none: 'This activity has had no sessions yet.', history_row: '{0} present + {1} anonymous',
      log: 'Log', log_headcount: 'counted: {0}', log_from: 'from {0}', log_to: 'until {0}',
      new_people: 'First time', via: 'via {0}',
      nav_people: 'Participants', people: 'Participants', people_search: 'Search by name',
      people_hint: 'Capitals and accents do not matter.', people_none: 'Nobody found by that name.',
      people_more: 'The first {0} of {1}; type more of the name.', people_row: '{0} visits, last {1}',
      people_never: 'not come yet', person: 'Participant', visits_of: '{0} of the {1} times',
      first_visit: 'First visit', last_visit: 'Last visit', referral: 'Referred by', contact: 'Contact',
      pseudonym: 'Pseudonym', per_activity: 'Per activity', attendance: 'Attendance',
      person_none: 'No check-ins yet.', person_missing: 'This participant does not exist (any more).',
      merged_into: 'Merged into', first_last: 'first visit {0} · last visit {1}',
      nav_report: 'Reports', report: 'Reports', report_period: 'Period', report_from: 'From',
      report_to: 'Up to and including', report_scope: 'For', report_show: 'Show', preset_month: 'This month',
      preset_last_month: 'Last month', preset_quarter: 'This quarter', preset_last_quarter: 'Last quarter',
      preset_year: 'This year', preset_last_year: 'Last year', preset_custom: 'Choose dates',
      scope_org: 'The whole organisation', scope_locations: 'Locations', scope_activities: 'Activities',
      report_loading: 'Counting…', report_of: '{0} to {1}',
      fig_sessions: 'Sessions', fig_visits: 'Visits', fig_visits_note: '{0} named + {1} anonymous',
      fig_participants: 'Different participants', fig_new: 'New', fig_returning: 'Returning',
      fig_average: 'Average per session', fig_cancelled: '{0} cancelled',
      t_months: 'Per month', t_activities: 'Per activity', t_frequency: 'How often did people come?',
      t_referrals: 'Who referred the new participants?', unknown_referral: '(not filled in)',
      col_month: 'Month', col_sessions: 'Sessions', col_visits: 'Visits', col_named: 'Named',
      col_anonymous: 'Anonymous', col_participants: 'Participants', col_new: 'New', col_activity: 'Activity',
      col_location: 'Location', col_average: 'Average', col_times: 'Times', col_referral: 'Referred by',
      times_1: 'once', times_n: '{0} times',
      csv: 'CSV', csv_label: 'Download {0} as CSV', json: 'JSON', json_label: '{0} as JSON',
      people_list: 'List of participants (CSV)', people_names: 'with names instead of pseudonyms',
      people_list_note: 'Every download is logged: who, when and how many rows.',
      bars_label: 'Visits per month: {0}', downloads: 'Downloads', no_downloads: 'Nothing downloaded yet.',
      download_row: '{0} · {1} · {2} · {3} rows', with_names: 'with names',
      cancelled: 'cancelled', headcount: 'headcount', headcount_note: '{0} named + {1} anonymous',
      nobody: 'Nobody checked in yet.', left: 'left {0}',
      status_present: 'present', status_absent: 'absent', status_excused: 'excused', status_none: 'not checked in',
      no_arrivals: 'Nobody has arrived today yet.', arrived: '{0} arrived at {1}',
      th_device: 'Tablet', th_status: 'Status', th_last: 'Last sync', th_outbox: 'Still to send',
      th_clock: 'Clock', th_app: 'App', online: 'online', offline: 'offline', never: 'never',
      th_storage: 'Storage', storage_kept: 'kept', storage_risk: 'the browser may clear it',
      storage_full: '{0}% full',
      no_devices: 'No tablets enrolled yet.', revoked: 'revoked',
      clock_ok: 'right', clock_behind: '{0} behind', clock_ahead: '{0} ahead',
      just_now: 'just now', min_ago: '{0} min ago', hours_ago: '{0} h ago', days_ago: '{0} days ago',
      tablet: 'Tablet {0}', server: 'The server',
      c_set_person: '{0} set {1} to {2} at {3}', c_set_field: '{0} set the {1} of {2} to {3} at {4}',
      c_had: '{0} had set {1} at {2}', c_kept: 'Kept: {0}.',
      revert: 'Revert to {0}', dismiss: 'Keep as is',
      resolved_1: 'Reverted', resolved_2: 'Kept as is',
      no_conflicts: 'No conflicts: what the tablets recorded fits together.',
      empty_value: '(empty)', yes: 'yes', no: 'no', something: 'something',
      dup_title: 'Possibly the same person: {0}',
      dup_member: 'first seen {0} by {1} · {2} check-in(s)', merge_into: 'Merge into this one',
      no_duplicates: 'No probable duplicates.',
      no_activities: 'No activities yet.', no_messages: 'No messages yet.', deleted: '(deleted)',
      done_revert: 'Reverted; the tablets get it at once.', done_dismiss: 'Conflict closed.',
      done_merge: 'Merged; the tablets get it at once.', failed: 'Did not work: {0}',
      logout: 'Log out', signed_in: 'Logged in as {0}', read_only: '{0} (read only)',
      c_reverted: 'Reverted to: {0}.',
      err_BAD_CREDENTIALS: 'this login may only look; ask an administrator',
      err_OUT_OF_SCOPE: 'that is not your organisation', err_BAD_FIELD: 'that does not exist (any more)',
      err_INVALID_OP: 'that was done already, or would merge in a circle',
      err_SHUTTING_DOWN: 'the server is stopping for a moment; try again shortly', err_other: 'error {0}',
      fields: {
        'location.name': 'name', 'activity.name': 'name', 'activity.location': 'location',
        'activity.weekday': 'weekday', 'activity.start_time': 'start time', 'session.date': 'date',
        'session.start_time': 'start time', 'session.cancelled': 'cancelled', 'session.activity': 'activity',
        'participant.name': 'name', 'participant.pseudonym': 'pseudonym', 'participant.contact': 'contact',
        'participant.referral': 'referral', 'participant.merged_into': 'merged into',
        'checkin.status': 'status', 'message.body': 'text', 'message.deleted': 'deleted',
        'session_log.started': 'start', 'session_log.ended': 'end', 'session_log.headcount': 'headcount',
        'session_log.notes': 'notes',
      },
    },
  };

  const params = new URLSearchParams(location.search);
  let lang = params.get('lang') || localStorage.getItem('turf.lang') || 'nl';
  if (!TEXT[lang]) lang = 'nl';

  const state = {
    org: 0, wantOrg: 0, orgs: [], today: null, devices: null, online: new Set(), conflicts: null,
    duplicates: null, messages: null, seenArrivals: null, freshArrivals: new Set(), seenPeople: null,
    day: null, dayData: null, history: null, historyData: null,
    search: '', peopleData: null, person: null, personData: null,
    report: null, reportAsked: null, exports: null,
  };
  let ws = null, retry = 0, reqNo = 0, me = null, leaving = false;
  const pending = new Map(); /* page request number -> kind of action */
  const decoder = new TextDecoder('utf-8'); /* broken UTF-8 becomes U+FFFD */

  /* ---- helpers ---- */
  function t(key, ...args) {
    const s = TEXT[lang][key] !== undefined ? TEXT[lang][key] : key;
    return String(s).replace(/\{(\d)\}/g, (_, i) => (args[i] !== undefined ? args[i] : ''));
  }
  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = v;
      else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    for (const kid of kids.flat()) {
      if (kid === null || kid === undefined || kid === false) continue;
      el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    }
    return el;
  }
  const locale = () => (lang === 'nl' ? 'nl-NL' : 'en-GB');
  /* Times are shown in the organisation's time zone, wherever the
   * coordinator's computer is. */
  function zone() {
    const org = state.orgs.find((o) => o.id === state.org);
    return (org && org.tz) || undefined;
  }
  function inZone(ms, options) {
    try {
      return new Date(ms).toLocaleString(locale(), { ...options, timeZone: zone() });
    } catch { /* a zone this browser does not know: its own */
      return new Date(ms).toLocaleString(locale(), options);
    }
  }
  function hhmm(ms) {
    if (ms === null || ms === undefined) return '—';
    return inZone(ms, { hour: '2-digit', minute: '2-digit' });
  }
  /* The clock in the header: the organisation's time. */
  function tick() { document.getElementById('clock').textContent = hhmm(Date.now()); }
  function dayTime(ms) {
    if (!ms) return t('never');
    const day = { year: 'numeric', month: 'numeric', day: 'numeric' };
    if (inZone(ms, day) === inZone(Date.now(), day)) return hhmm(ms);
    return inZone(ms, { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });
  }
  function ago(ms) {
    if (!ms) return t('never');
    const s = Math.max(0, (Date.now() - ms) / 1000);
    if (s < 60) return t('just_now');
    if (s < 3600) return t('min_ago', Math.floor(s / 60));
    if (s < 86400 * 2) return t('hours_ago', Math.floor(s / 3600));
    return t('days_ago', Math.floor(s / 86400));
  }
  function duration(ms) {
    const a = Math.abs(ms) / 1000;
    if (a < 60) return (Math.round(a * 10) / 10).toLocaleString(locale()) + ' s';
    if (a < 3600) return Math.round(a / 60) + ' min';
    if (a < 86400 * 2) return Math.round(a / 3600) + ' h';
    return Math.round(a / 86400) + (lang === 'nl' ? ' dagen' : ' days');
  }
  /* A nil status is a withdrawn check-in (undone on a tablet): not checked in. */
  function statusWord(s) { return s ? t('status_' + s) : t('status_none'); }
  function deviceLabel(id, name) {
    if (id === 'server' || (id && id.startsWith('server-'))) return t('server');
    // A tablet named "Tablet Wijkcentrum" is not called "Tablet Tablet …".
    if (name && /^tablet\b/i.test(name)) return name;
    return t('tablet', name || (id ? id.slice(0, 8) : '?'));
  }
  function valueWord(type, field, v) {
    if (type === 'checkin' && field === 'status') return statusWord(v);
    if (v === null || v === undefined) return t('empty_value');
    if (typeof v === 'number' && (field === 'cancelled' || field === 'deleted')) return v ? t('yes') : t('no');
    if (typeof v === 'number' && v > 1e11) return dayTime(v); /* a time in ms */
    return '“' + v + '”';
  }
  function announce(text) {
    const el = document.getElementById('announce');
    el.textContent = '';
    setTimeout(() => { el.textContent = text; }, 30);
  }
  let toastTimer = null;
  function toast(text) {
    const el = document.getElementById('toast');
    el.textContent = text;
    el.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { el.hidden = true; }, 4000);
  }
  /* Re-rendering replaces a section's nodes; a keyboard user's focus goes
   * back to the element with the same data-key, if it is still there. */
  function replaceBody(id, ...nodes) {
    const body = document.getElementById(id);
    const active = document.activeElement;
    const key = active && body.contains(active) ? active.getAttribute('data-key') : null;
    body.replaceChildren(...nodes.flat(Infinity).filter((n) => n !== null && n !== undefined && n !== false));
    if (key) {
      const again = body.querySelector('[data-key="' + CSS.escape(key) + '"]');
      if (again) again.focus();
      else body.closest('section').focus();
    }
  }
  function send(obj) {
    if (ws && ws.readyState === WebSocket.OPEN) { ws.send(JSON.stringify(obj)); return true; }
    return false;
  }
  function act(kind, fields, button) {
    const req = ++reqNo;
    if (!send(Object.assign({ t: kind, req }, fields))) { toast(t('failed', t('disconnected'))); return; }
    pending.set(req, kind);
    if (button) button.disabled = true;
  }

  /* ---- today, or another day ---- */
  function longDate(date, year) {
    return new Date(date + 'T12:00:00Z').toLocaleDateString(locale(),
      { weekday: 'long', day: 'numeric', month: 'long', year: year ? 'numeric' : undefined, timeZone: 'UTC' });
  }
  function addDays(date, n) {
    const [y, m, d] = date.split('-').map(Number);
    return new Date(Date.UTC(y, m - 1, d + n)).toISOString().slice(0, 10);
  }
  /* Another date than today, or today again: the server sends its
   * sessions as the part "day", and again after every change. */
  function pickDay(date) {
    const today = state.today && state.today.date;
    state.day = date && date !== today ? date : null;
    state.dayData = null;
    send({ t: 'day', req: ++reqNo, date: state.day || '' });
    renderToday();
  }
  function showHistory(activity) {
    state.history = activity;
    state.historyData = null;
    send({ t: 'history', req: ++reqNo, activity: activity || '' });
    renderHistory();
    if (activity) document.getElementById('history').focus();
  }

  function renderToday() {
    const other = state.day !== null;
    const view = other ? state.dayData : state.today;
    const shown = other ? state.day : state.today && state.today.date;
    document.getElementById('day-title').textContent = t(other ? 'day' : 'today');
    document.getElementById('today-date').textContent = shown ? longDate(shown, other) : '';
    document.getElementById('day-pick').value = shown || '';
    document.getElementById('day-today').hidden = !other;
    if (!view || (other && view.date !== state.day)) return;
    if (!view.sessions.length) {
      replaceBody('today-body', h('p', { class: 'empty', text: t(other ? 'no_sessions_day' : 'no_sessions') }));
      if (!other) renderArrivals();
      return;
    }
    const byLoc = new Map();
    for (const s of view.sessions) {
      const key = s.location || '';
      if (!byLoc.has(key)) byLoc.set(key, { name: s.location_name || t('unknown_location'), sessions: [] });
      byLoc.get(key).sessions.push(s);
    }
    /* New arrivals are marked in today's view only. */
    const seen = other ? null : state.seenPeople;
    const now = new Set();
    const out = [];
    for (const [locId, loc] of byLoc) {
      out.push(h('div', { class: 'location', 'data-location': locId },
        h('h3', { text: loc.name }),
        h('div', { class: 'sessions' }, loc.sessions.map((s) => {
          const headcount = s.present + s.tally;
          const people = s.checkins.map((c) => {
            const key = s.id + '/' + c.participant;
            now.add(key + '/' + c.status);
            const fresh = seen && !seen.has(key + '/' + c.status);
            return h('li', { 'data-participant': c.participant, class: fresh ? 'fresh' : null },
              h('button', { type: 'button', class: 'link name', 'data-key': 'person-' + key,
                onclick: () => showPerson(c.participant) }, c.name),
              h('span', {},
                h('span', { class: 'chip ' + (c.status || ''), text: statusWord(c.status) }), ' ',
                h('span', { class: 'time', text: c.departed ? t('left', hhmm(c.departed)) : hhmm(c.arrived) })));
          });
          const log = s.log || {};
          const logParts = [log.started ? t('log_from', hhmm(log.started)) : null,
            log.ended ? t('log_to', hhmm(log.ended)) : null,
            log.headcount !== null && log.headcount !== undefined ? t('log_headcount', log.headcount) : null].filter(Boolean);
          const fresh = s.new || [];
          return h('article', { class: 'session' + (s.cancelled ? ' cancelled' : ''), 'data-session': s.id,
            'aria-label': (s.activity_name || s.activity) + ' ' + (s.start || '') },
          h('header', {},
            h('h4', { text: s.activity_name || s.activity }),
            h('span', { class: 'time', text: (s.start || '') + (s.cancelled ? ' · ' + t('cancelled') : '') })),
          h('div', { class: 'headcount', 'data-testid': 'headcount', title: t('headcount'), text: String(headcount) }),
          h('div', { class: 'headcount-note', text: t('headcount_note', s.present, s.tally) }),
          people.length ? h('ul', { class: 'people' }, people) : h('p', { class: 'empty', text: t('nobody') }),
          fresh.length ? h('div', { class: 'new-people', 'data-testid': 'new-people' },
            h('strong', { text: t('new_people') + ': ' }),
            fresh.flatMap((p, i) => [i ? ', ' : '', p.name, p.referral ? ' (' + t('via', p.referral) + ')' : ''])) : null,
          logParts.length || log.notes ? h('div', { class: 'log', 'data-testid': 'log' },
            h('strong', { text: t('log') + ': ' }), logParts.join(', '),
            log.notes ? h('p', { class: 'notes', text: log.notes }) : null) : null,
          s.activity ? h('button', { type: 'button', class: 'link', 'data-key': 'history-' + s.id,
            onclick: () => showHistory(s.activity) }, t('history')) : null);
        }))));
    }
    if (!other) state.seenPeople = now;
    replaceBody('today-body', out);
    if (!other) renderArrivals();
  }

  /* The sessions of one activity, newest first; a date opens that day. */
  function renderHistory() {
    const section = document.getElementById('history');
    section.hidden = !state.history;
    const data = state.historyData;
    if (!state.history || !data || data.activity !== state.history) return;
    document.getElementById('h-history').firstElementChild.textContent = t('history');
    document.getElementById('history-name').textContent = data.name || '';
    if (!data.sessions.length) { replaceBody('history-body', h('p', { class: 'empty', text: t('history_none') })); return; }
    replaceBody('history-body', h('ol', { class: 'history' }, data.sessions.map((s) => h('li', {},
      h('button', { type: 'button', class: 'link', 'data-key': 'day-' + s.id,
        onclick: () => { pickDay(s.date); document.getElementById('today').focus(); } },
      longDate(s.date, true) + (s.start ? ' ' + s.start : '')),
      h('span', { class: 'muted', text: s.cancelled ? t('cancelled') : t('history_row', s.present, s.tally) })))));
  }

  /* ---- participants ---- */
  function shortDate(date) {
    return date ? new Date(date + 'T12:00:00Z').toLocaleDateString(locale(),
      { day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC' }) : '—';
  }
  /* A search the server answers as the part "people", again after every
   * change; "" stops it. */
  function search(q) {
    state.search = q;
    state.peopleData = null;
    send({ t: 'people', req: ++reqNo, q });
    renderPeople();
  }
  function showPerson(id) {
    state.person = id;
    state.personData = null;
    send({ t: 'person', req: ++reqNo, participant: id || '' });
    renderPerson();
    if (id) {
      const section = document.getElementById('person');
      section.scrollIntoView({ block: 'start' });
      section.focus({ preventScroll: true });
    }
  }

  function renderPeople() {
    const data = state.peopleData;
    if (!state.search) { replaceBody('people-body'); return; }
    if (!data || data.q !== state.search) return;
    /* Which search the list answers (typing on may have asked another). */
    document.getElementById('people-body').dataset.q = data.q;
    if (!data.people.length) { replaceBody('people-body', h('p', { class: 'empty', text: t('people_none') })); return; }
    replaceBody('people-body',
      h('ul', { class: 'found' }, data.people.map((p) => h('li', { 'data-person': p.id },
        h('button', { type: 'button', class: 'link', 'data-key': 'found-' + p.id, onclick: () => showPerson(p.id) }, p.name),
        h('span', { class: 'muted', text: p.visits ? t('people_row', p.visits, shortDate(p.last)) : t('people_never') })))),
      data.total > data.people.length ? h('p', { class: 'muted', text: t('people_more', data.people.length, data.total) }) : null);
  }

  function renderPerson() {
    const section = document.getElementById('person');
    section.hidden = !state.person;
    const p = state.personData;
    if (!state.person || !p || p.id !== state.person) return;
    document.getElementById('person-name').textContent = p.name || '';
    if (p.missing) { replaceBody('person-body', h('p', { class: 'empty', text: t('person_missing') })); return; }
    const facts = [
      [t('first_visit'), shortDate(p.first)], [t('last_visit'), shortDate(p.last)],
      p.referral ? [t('referral'), p.referral] : null,
      p.pseudonym ? [t('pseudonym'), p.pseudonym] : null,
      /* Never sent to a viewer's page. */
      p.contact ? [t('contact'), p.contact] : null,
    ].filter(Boolean);
    replaceBody('person-body',
      p.merged_into ? h('p', { class: 'merged' }, t('merged_into') + ' ',
        h('button', { type: 'button', class: 'link', 'data-key': 'merged-' + p.merged_into,
          onclick: () => showPerson(p.merged_into) }, p.merged_into_name || p.merged_into), '.') : null,
      h('dl', { class: 'facts' }, facts.flatMap(([k, v]) => [h('dt', { text: k }), h('dd', { text: v })])),
      p.activities.length ? [h('h3', { text: t('per_activity') }),
        h('ul', { class: 'visits' }, p.activities.map((a) => h('li', { 'data-activity': a.id },
          h('span', { class: 'name', text: a.name || a.id }),
          h('strong', { 'data-testid': 'visits-of', text: t('visits_of', a.visits, a.of) }),
          h('span', { class: 'muted', text: t('first_last', shortDate(a.first), shortDate(a.last)) }))))] : null,
      h('h3', { text: t('attendance') }),
      p.history.length
        ? h('ol', { class: 'attendance' }, p.history.map((v) => h('li', { 'data-session': v.session },
          h('button', { type: 'button', class: 'link', 'data-key': 'visit-' + v.session,
            onclick: () => { pickDay(v.date); document.getElementById('today').focus(); } },
          shortDate(v.date) + (v.start ? ' ' + v.start : '')),
          h('span', { text: v.activity_name || v.activity }),
          h('span', { class: 'chip ' + (v.status || ''), text: statusWord(v.status) }),
          v.arrived ? h('span', { class: 'muted time', text: hhmm(v.arrived) + (v.departed ? '–' + hhmm(v.departed) : '') }) : null)))
        : h('p', { class: 'empty', text: t('person_none') }));
  }

  /* ---- the funder report ---- */
  /* Periods are dates in the organisation's calendar, counted from its
   * today as the server gave it. */
  function presetPeriod(preset, today) {
    const [y, m] = today.split('-').map(Number);
    const iso = (yy, mm, dd) => new Date(Date.UTC(yy, mm - 1, dd)).toISOString().slice(0, 10);
    const q = Math.floor((m - 1) / 3) * 3 + 1;
    switch (preset) {
      case 'last_month': return [iso(y, m - 1, 1), iso(y, m, 0)];
      case 'quarter': return [iso(y, q, 1), iso(y, q + 3, 0)];
      case 'last_quarter': return [iso(y, q - 3, 1), iso(y, q, 0)];
      case 'year': return [iso(y, 1, 1), iso(y, 12, 31)];
      case 'last_year': return [iso(y - 1, 1, 1), iso(y - 1, 12, 31)];
      default: return [iso(y, m, 1), iso(y, m + 1, 0)];
    }
  }
  function applyPreset() {
    const preset = document.getElementById('report-preset').value;
    if (preset === 'custom' || !state.today) return;
    const [from, to] = presetPeriod(preset, state.today.date);
    document.getElementById('report-from').value = from;
    document.getElementById('report-to').value = to;
  }
  /* The scope menu: the organisation, each location, each activity. */
  function renderScopes() {
    const sel = document.getElementById('report-scope');
    const acts = state.messages || [];
    const keep = sel.value;
    const locs = new Map();
    for (const a of acts) if (a.location) locs.set(a.location, a.location_name || a.location);
    sel.replaceChildren(h('option', { value: '', text: t('scope_org') }),
      locs.size ? h('optgroup', { label: t('scope_locations') },
        [...locs].map(([id, name]) => h('option', { value: 'location:' + id, text: name }))) : null,
      acts.length ? h('optgroup', { label: t('scope_activities') },
        acts.map((a) => h('option', { value: 'activity:' + a.id, text: a.name }))) : null);
    if ([...sel.options].some((o) => o.value === keep)) sel.value = keep;
  }
  function reportParams() {
    const scope = document.getElementById('report-scope').value;
    return {
      from: document.getElementById('report-from').value, to: document.getElementById('report-to').value,
      location: scope.startsWith('location:') ? scope.slice(9) : '',
      activity: scope.startsWith('activity:') ? scope.slice(9) : '',
    };
  }
  function askReport() {
    const p = reportParams();
    if (!/^\d{4}-\d{2}-\d{2}$/.test(p.from) || !/^\d{4}-\d{2}-\d{2}$/.test(p.to)) return;
    state.reportAsked = p;
    send(Object.assign({ t: 'report', req: ++reqNo }, p));
    replaceBody('report-body', h('p', { class: 'empty', text: t('report_loading') }));
  }
  /* The download address of one table (the server logs every download). */
  function apiUrl(table, format, extra) {
    const p = state.reportAsked;
    const q = new URLSearchParams({ from: p.from, to: p.to, table, format, lang });
    if (p.location) q.set('location', p.location);
    if (p.activity) q.set('activity', p.activity);
    for (const [k, v] of Object.entries(extra || {})) q.set(k, v);
    return '/api/report?' + q.toString();
  }
  function rowsOf(r, name) {
    const tb = r.tables[name];
    return tb.rows.map((row) => Object.fromEntries(tb.columns.map((c, i) => [c, row[i]])));
  }
  const num = (n) => (n === null || n === undefined ? '—' : Number(n).toLocaleString(locale()));
  function monthName(month) {
    return new Date(month + '-15T12:00:00Z').toLocaleDateString(locale(), { month: 'short', year: 'numeric', timeZone: 'UTC' });
  }
  function downloads(name, title) {
    return h('p', { class: 'downloads' },
      h('a', { href: apiUrl(name, 'csv'), download: '', 'aria-label': t('csv_label', title), 'data-table': name }, t('csv')),
      ' · ',
      h('a', { href: apiUrl(name, 'json'), 'aria-label': t('json_label', title), target: '_blank' }, t('json')));
  }
  function reportTable(name, title, cols, rows, cell, before) {
    return h('section', { class: 'report-table', 'data-report-table': name, 'aria-label': title },
      h('h3', { text: title }), before || null,
      h('div', { class: 'scroll' }, h('table', {},
        h('thead', {}, h('tr', {}, cols.map(([, label, n]) => h('th', { scope: 'col', class: n ? 'num' : null, text: t(label) })))),
        h('tbody', {}, rows.map((r) => h('tr', {}, cols.map(([key, , n]) => h('td', { class: n ? 'num' : null, text: cell(key, r[key]) }))))))),
      downloads(name, title));
  }
  /* An SVG element (h() makes HTML ones). */
  function svg(tag, attrs, text) {
    const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
    if (text) el.textContent = text;
    return el;
  }
  /* Visits per month as bars: named below, anonymous on top. The table
   * below it has the same numbers for whoever cannot see it. */
  function monthBars(months) {
    const max = Math.max(1, ...months.map((m) => m.visits));
    const w = 40, gap = 10, hgt = 120;
    const chart = svg('svg', { viewBox: `0 -16 ${months.length * (w + gap) + gap} ${hgt + 40}`, role: 'img', class: 'bars',
      preserveAspectRatio: 'xMinYMid meet',
      'aria-label': t('bars_label', months.map((m) => monthName(m.month) + ' ' + m.visits).join(', ')) });
    months.forEach((m, i) => {
      const x = i * (w + gap) + gap, named = (m.named / max) * hgt, anon = (m.anonymous / max) * hgt;
      chart.append(
        svg('rect', { x, y: hgt - named, width: w, height: named, class: 'bar-named' }),
        svg('rect', { x, y: hgt - named - anon, width: w, height: anon, class: 'bar-anon' }),
        svg('text', { x: x + w / 2, y: hgt - named - anon - 4, 'text-anchor': 'middle', class: 'bar-value' }, m.visits ? num(m.visits) : ''),
        svg('text', { x: x + w / 2, y: hgt + 16, 'text-anchor': 'middle', class: 'bar-label' }, monthName(m.month).replace(/\s\d{4}$/, '')));
    });
    return chart;
  }

  function renderReport() {
    const r = state.report;
    if (!r || !state.reportAsked || r.from !== state.reportAsked.from || r.to !== state.reportAsked.to) return;
    const [s] = rowsOf(r, 'summary');
    const months = rowsOf(r, 'months');
    const figure = (key, label, value, note) => h('div', { class: 'figure', 'data-figure': key },
      h('div', { class: 'value', text: value }), h('div', { class: 'label', text: label }),
      note ? h('div', { class: 'note', text: note }) : null);
    const cell = (key, v) => key === 'month' ? monthName(v)
      : key === 'referral' ? (v || t('unknown_referral'))
      : key === 'visits' && typeof v === 'string' ? (v === '1' ? t('times_1') : t('times_n', v))
      : typeof v === 'number' ? num(v) : (v === null ? '—' : v);
    replaceBody('report-body',
      h('p', { class: 'muted', 'data-testid': 'report-period', text: t('report_of', longDate(r.from, true), longDate(r.to, true)) }),
      h('div', { class: 'figures' },
        figure('sessions', t('fig_sessions'), num(s.sessions), s.cancelled ? t('fig_cancelled', s.cancelled) : null),
        figure('visits', t('fig_visits'), num(s.visits), t('fig_visits_note', num(s.named), num(s.anonymous))),
        figure('participants', t('fig_participants'), num(s.participants)),
        figure('new', t('fig_new'), num(s.new)),
        figure('returning', t('fig_returning'), num(s.returning)),
        figure('average', t('fig_average'), num(s.average))),
      downloads('summary', t('report')),
      reportTable('months', t('t_months'), [['month', 'col_month'], ['sessions', 'col_sessions', 1], ['visits', 'col_visits', 1],
        ['named', 'col_named', 1], ['anonymous', 'col_anonymous', 1], ['participants', 'col_participants', 1], ['new', 'col_new', 1]], months, cell, monthBars(months)),
      reportTable('activities', t('t_activities'), [['activity', 'col_activity'], ['location', 'col_location'],
        ['sessions', 'col_sessions', 1], ['visits', 'col_visits', 1], ['participants', 'col_participants', 1],
        ['new', 'col_new', 1], ['average', 'col_average', 1]], rowsOf(r, 'activities'), cell),
      reportTable('frequency', t('t_frequency'), [['visits', 'col_times'], ['participants', 'col_participants', 1]], rowsOf(r, 'frequency'), cell),
      reportTable('referrals', t('t_referrals'), [['referral', 'col_referral'], ['new', 'col_new', 1]], rowsOf(r, 'referrals'), cell),
      /* One row per person: for coordinators, pseudonyms unless asked. */
      canWrite() ? h('section', { class: 'report-table people-export' },
        h('h3', { text: t('people_list') }),
        h('p', {}, h('a', { href: apiUrl('participants', 'csv'), download: '', id: 'people-csv', 'data-table': 'participants' }, t('people_list')),
          ' ', h('label', {}, h('input', { type: 'checkbox', id: 'people-names',
            onchange: (e) => { document.getElementById('people-csv').href = apiUrl('participants', 'csv', e.target.checked ? { names: '1' } : {}); } }),
          ' ' + t('people_names'))),
        h('p', { class: 'muted', text: t('people_list_note') })) : null);
  }

  function renderDownloads() {
    const list = state.exports;
    document.getElementById('downloads').hidden = !list || !canWrite();
    if (!list || !canWrite()) return;
    if (!list.length) { replaceBody('downloads-body', h('p', { class: 'empty', text: t('no_downloads') })); return; }
    replaceBody('downloads-body', h('ul', { class: 'found' }, list.slice(0, 30).map((e) => h('li', { 'data-export': e.at },
      h('span', { text: dayTime(e.at) }),
      h('span', { text: t('download_row', e.name || e.login, e.what, e.format.toUpperCase(), e.rows) + (e.names ? ' · ' + t('with_names') : '') })))));
  }

  function renderArrivals() {
    const today = state.today;
    if (!today) return;
    const all = [];
    for (const s of today.sessions)
      for (const c of s.checkins)
        if (c.arrived !== null && c.arrived !== undefined)
          all.push({ key: s.id + '/' + c.participant, name: c.name, at: c.arrived, where: s.activity_name || s.activity });
    all.sort((a, b) => b.at - a.at);
    const first = state.seenArrivals === null;
    const seen = state.seenArrivals || new Set();
    for (const a of all) {
      if (!first && !seen.has(a.key)) {
        state.freshArrivals.add(a.key);
        announce(t('arrived', a.name, a.where));
      }
      seen.add(a.key);
    }
    state.seenArrivals = seen;
    const items = all.slice(0, 15).map((a) => h('li', { class: state.freshArrivals.has(a.key) ? 'fresh' : null, 'data-arrival': a.key },
      h('span', { class: 'when', text: hhmm(a.at) }),
      h('span', {}, h('strong', { text: a.name }), ' · ', a.where)));
    state.freshArrivals.clear();
    replaceBody('arrivals-body', items.length ? items : [h('li', { class: 'empty', text: t('no_arrivals') })]);
  }

  /* ---- devices ---- */
  /* What a tablet said of its storage (hello.st, hello.su): one whose
   * browser may clear it, or that is nearly full, can lose its outbox. */
  const STORAGE_PERSISTENT = 1, STORAGE_BEST_EFFORT = 2;
  function storageAtRisk(d) {
    return d.storage === STORAGE_BEST_EFFORT || (d.storage !== 0 && d.storage_used >= 90);
  }
  function storageText(d) {
    if (d.storage !== STORAGE_PERSISTENT && d.storage !== STORAGE_BEST_EFFORT) return '—';
    const kept = t(d.storage === STORAGE_PERSISTENT ? 'storage_kept' : 'storage_risk');
    return d.storage_used ? kept + ', ' + t('storage_full', d.storage_used) : kept;
  }

  function renderDevices() {
    const devices = state.devices;
    if (!devices) return;
    if (!devices.length) { replaceBody('devices-body', h('p', { class: 'empty', text: t('no_devices') })); return; }
    const rows = devices.map((d) => {
      const on = state.online.has(d.id);
      const skewed = Math.abs(d.offset) > 60000;
      const clock = Math.abs(d.offset) < 1000 ? t('clock_ok')
        : d.offset > 0 ? t('clock_behind', duration(d.offset)) : t('clock_ahead', duration(d.offset));
      return h('tr', { 'data-device': d.id },
        h('td', {}, h('span', { class: 'dot' + (on ? ' on' : ''), 'aria-hidden': 'true' }), d.name || d.id.slice(0, 8),
          d.revoked ? h('span', { class: 'muted', text: ' (' + t('revoked') + ')' }) : null),
        /* data-label: what a narrow screen shows before each value, where
         * the table's columns become lines. */
        h('td', { class: 'online', 'data-label': t('th_status'), text: on ? t('online') : t('offline') }),
        h('td', { 'data-label': t('th_last'), title: dayTime(d.last_seen), text: ago(d.last_seen) }),
        h('td', { class: 'num outbox', 'data-label': t('th_outbox'), text: String(d.outbox) }),
        h('td', { class: skewed ? 'skew' : null, 'data-label': t('th_clock'), text: clock }),
        h('td', { class: 'storage' + (storageAtRisk(d) ? ' skew' : ''), 'data-label': t('th_storage'), text: storageText(d) }),
        h('td', { class: 'app', 'data-label': t('th_app'), text: d.app || '—' }));
    });
    replaceBody('devices-body', h('table', {},
      h('thead', {}, h('tr', {}, ['th_device', 'th_status', 'th_last', 'th_outbox', 'th_clock', 'th_storage', 'th_app'].map((k) => h('th', { scope: 'col', text: t(k) })))),
      h('tbody', {}, rows)));
  }

  /* ---- conflicts ---- */
  function conflictWords(c) {
    const fieldKey = (c.type || '') + '.' + (c.field || '');
    const fieldName = TEXT[lang].fields[fieldKey] || c.field || '?';
    const subject = c.subject || t('something');
    const lost = { dev: deviceLabel(c.lost_device, c.lost_device_name), v: valueWord(c.type, c.field, c.lost_value), at: hhmm(c.lost_ms) };
    const kept = { dev: deviceLabel(c.kept_device, c.kept_device_name), v: valueWord(c.type, c.field, c.kept_value), at: hhmm(c.kept_ms) };
    const [later, earlier] = c.lost_ms >= c.kept_ms ? [lost, kept] : [kept, lost];
    const set = c.type === 'checkin' && c.field === 'status'
      ? t('c_set_person', later.dev, subject, later.v, later.at)
      : t('c_set_field', later.dev, fieldName, subject, later.v, later.at);
    /* A reverted conflict: the value that lost is what stands now. */
    const now = c.resolved === 1 ? t('c_reverted', lost.v) : t('c_kept', kept.v);
    return set + '; ' + t('c_had', earlier.dev, earlier.v, earlier.at) + '. ' + now;
  }

  function renderConflicts() {
    const list = state.conflicts;
    if (!list) return;
    const open = list.filter((c) => !c.resolved);
    document.getElementById('conflicts-count').textContent = open.length ? String(open.length) : '';
    if (!list.length) { replaceBody('conflicts-body', h('p', { class: 'empty', text: t('no_conflicts') })); return; }
    replaceBody('conflicts-body', list.map((c) => h('article', { class: 'conflict' + (c.resolved ? ' resolved' : ''), 'data-conflict': c.id },
      h('p', { class: 'words', text: conflictWords(c) }),
      c.context ? h('p', { class: 'context', text: c.context }) : null,
      c.resolved
        ? h('p', { class: 'done', text: t('resolved_' + c.resolved) })
        : !canWrite() ? null : h('div', { class: 'actions' },
          h('button', { type: 'button', class: 'revert', 'data-key': 'revert-' + c.id,
            onclick: (e) => act('revert', { id: c.id }, e.currentTarget),
            text: t('revert', valueWord(c.type, c.field, c.lost_value)) }),
          h('button', { type: 'button', class: 'secondary dismiss', 'data-key': 'dismiss-' + c.id,
            onclick: (e) => act('dismiss', { id: c.id }, e.currentTarget), text: t('dismiss') })))));
  }

  /* ---- duplicates ---- */
  function renderDuplicates() {
    const groups = state.duplicates;
    if (!groups) return;
    document.getElementById('duplicates-count').textContent = groups.length ? String(groups.length) : '';
    if (!groups.length) { replaceBody('duplicates-body', h('p', { class: 'empty', text: t('no_duplicates') })); return; }
    replaceBody('duplicates-body', groups.map((g) => h('article', { class: 'dup', 'data-dup': g.norm },
      h('strong', { text: t('dup_title', g.members[0].name) }),
      h('ul', {}, g.members.map((m) => h('li', { 'data-member': m.id },
        h('span', {}, h('span', { class: 'name', text: m.name }), h('br'),
          h('span', { class: 'who', text: t('dup_member', dayTime(m.first_seen), deviceLabel(m.creator, m.creator_name), m.checkins) })),
        !canWrite() ? null : h('button', { type: 'button', class: 'merge', 'data-key': 'merge-' + m.id,
          onclick: (e) => {
            for (const other of g.members) if (other.id !== m.id) act('merge', { keep: m.id, drop: other.id }, null);
            e.currentTarget.disabled = true;
          },
          text: t('merge_into') })))))));
  }

  /* ---- messages ---- */
  function renderMessages() {
    const acts = state.messages;
    if (!acts) return;
    if (!acts.length) { replaceBody('messages-body', h('p', { class: 'empty', text: t('no_activities') })); return; }
    replaceBody('messages-body', acts.map((a) => h('section', { class: 'activity', 'data-activity': a.id, 'aria-label': a.name },
      h('h3', { text: a.name + (a.location_name ? ' · ' + a.location_name : '') }),
      a.messages.length
        ? h('ul', { class: 'msgs' }, a.messages.map((m) => h('li', { 'data-message': m.id },
          h('div', { class: 'meta', text: dayTime(m.posted) + ' · ' + deviceLabel(m.author, m.author_name) }),
          m.deleted ? h('div', { class: 'deleted', text: t('deleted') }) : h('div', { class: 'body', text: m.body }))))
        : h('p', { class: 'empty', text: t('no_messages') }))));
    for (const ul of document.querySelectorAll('#messages-body .msgs')) ul.scrollTop = ul.scrollHeight;
  }

  /* ---- organisation, language, connection ---- */
  function renderOrgs() {
    const pick = document.getElementById('org-pick');
    const sel = document.getElementById('org-select');
    const cur = state.orgs.find((o) => o.id === state.org);
    document.getElementById('org-name').textContent = cur ? '· ' + cur.name : '';
    pick.hidden = state.orgs.length < 2;
    sel.replaceChildren(...state.orgs.map((o) => h('option', { value: o.id, selected: o.id === state.org, text: o.name })));
  }

  function applyLanguage() {
    document.documentElement.lang = lang;
    document.title = t('title');
    for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.getAttribute('data-i18n'));
    document.getElementById('nav').setAttribute('aria-label', t('parts_label'));
    const btn = document.getElementById('lang');
    btn.textContent = t('other_lang');
    btn.setAttribute('aria-label', t('switch_lang'));
    setConn(ws && ws.readyState === WebSocket.OPEN);
    renderMe();
    renderAll();
  }

  /* ---- who is logged in ---- */
  function renderMe() {
    const el = document.getElementById('who');
    const who = me && t('signed_in', me.name || me.login);
    el.textContent = me ? (me.role === 'viewer' ? t('read_only', who) : who) : '';
  }
  /* A viewer's page has no buttons that change anything (the server
   * refuses them anyway); until the page knows, it shows none. */
  function canWrite() { return !!me && me.role === 'coordinator'; }
  /* Asks the server who this page's cookie is; without a session the page
   * goes to the login form. Returns whether someone is logged in. */
  async function whoAmI() {
    try {
      const res = await fetch('/auth/me', { headers: { Accept: 'application/json' }, credentials: 'same-origin', cache: 'no-store' });
      if (res.status === 401) { leaving = true; location.assign('/login'); return false; }
      if (res.ok) { me = await res.json(); renderMe(); renderConflicts(); renderDuplicates(); renderReport(); renderDownloads(); }
    } catch (e) { /* the server is away: the feed reconnects */ }
    return true;
  }
  async function logout() {
    leaving = true;
    if (ws) ws.close();
    try {
      await fetch('/auth/logout', { method: 'POST', headers: { Accept: 'application/json' }, credentials: 'same-origin' });
    } catch (e) { /* the session ends with the server anyway */ }
    location.assign('/login');
  }

  function renderAll() {
    renderOrgs(); renderToday(); renderHistory(); renderPeople(); renderPerson(); renderScopes(); renderReport();
    renderDownloads(); renderDevices(); renderConflicts(); renderDuplicates(); renderMessages();
  }

  function setConn(on) {
    const el = document.getElementById('conn');
    el.className = 'conn ' + (on ? 'conn-on' : 'conn-off');
    el.textContent = on ? t('connected') : (ws ? t('disconnected') : t('connecting'));
    document.body.dataset.live = on ? '1' : '0';
  }

  function handle(msg) {
    if (msg.org !== undefined) state.org = msg.org;
    switch (msg.t) {
      case 'hello': break;
      case 'orgs': state.orgs = msg.data; renderOrgs(); tick(); break;
      case 'today': state.today = msg.data; renderToday(); if (!document.getElementById('report-from').value) applyPreset(); break;
      case 'day': state.dayData = msg.data; renderToday(); break;
      case 'history': state.historyData = msg.data; renderHistory(); break;
      case 'people': state.peopleData = msg.data; renderPeople(); break;
      case 'person': state.personData = msg.data; renderPerson(); break;
      case 'devices': state.devices = msg.data; state.online = new Set(msg.online || []); renderDevices(); break;
      case 'conflicts': state.conflicts = msg.data; renderConflicts(); break;
      case 'duplicates': state.duplicates = msg.data; renderDuplicates(); break;
      case 'messages': state.messages = msg.data; renderMessages(); renderScopes(); break;
      case 'report': state.report = msg.data; renderReport(); break;
      case 'exports': state.exports = msg.data; renderDownloads(); break;
      case 'result': {
        const kind = pending.get(msg.req);
        pending.delete(msg.req);
        if (!kind && msg.ok) break; /* a day or a history asked for: its part follows */
        if (msg.ok) toast(t('done_' + (kind || 'revert')));
        else toast(t('failed', TEXT[lang]['err_' + msg.code] ? t('err_' + msg.code) : t('err_other', msg.code)));
        announce(document.getElementById('toast').textContent);
        break;
      }
      default: break;
    }
    document.body.dataset.lastUpdate = String(Date.now());
  }

  function connect() {
    const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/';
    ws = new WebSocket(url, 'turf.dashboard.v1');
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => {
      retry = 0;
      document.body.dataset.feed = 'open';
      setConn(true);
      if (state.wantOrg) send({ t: 'org', org: state.wantOrg });
      /* What the page looked at before the connection dropped. */
      if (state.day) send({ t: 'day', req: ++reqNo, date: state.day });
      if (state.history) send({ t: 'history', req: ++reqNo, activity: state.history });
      if (state.search) send({ t: 'people', req: ++reqNo, q: state.search });
      if (state.person) send({ t: 'person', req: ++reqNo, participant: state.person });
    };
    ws.onmessage = (ev) => {
      const text = typeof ev.data === 'string' ? ev.data : decoder.decode(ev.data);
      handle(JSON.parse(text));
    };
    ws.onclose = () => {
      setConn(false);
      document.body.dataset.feed = 'closed';
      if (leaving) return;
      /* A feed closed because the session ended sends the page to the
       * login form; any other close reconnects. */
      setTimeout(async () => { if (await whoAmI() && !leaving) connect(); },
        Math.min(10000, 500 * 2 ** retry++));
    };
  }

  document.addEventListener('DOMContentLoaded', () => {
    document.getElementById('lang').addEventListener('click', () => {
      lang = lang === 'nl' ? 'en' : 'nl';
      localStorage.setItem('turf.lang', lang);
      applyLanguage();
    });
    document.getElementById('day-pick').addEventListener('change', (e) => {
      if (/^\d{4}-\d{2}-\d{2}$/.test(e.target.value)) pickDay(e.target.value);
    });
    const shownDay = () => state.day || (state.today && state.today.date);
    document.getElementById('day-prev').addEventListener('click', () => { if (shownDay()) pickDay(addDays(shownDay(), -1)); });
    document.getElementById('day-next').addEventListener('click', () => { if (shownDay()) pickDay(addDays(shownDay(), 1)); });
    document.getElementById('day-today').addEventListener('click', () => pickDay(null));
    document.getElementById('history-close').addEventListener('click', () => {
      showHistory(null);
      document.getElementById('today').focus();
    });
    /* Typing searches after a short pause, not on every key. */
    let searchTimer = null;
    const q = document.getElementById('people-q');
    q.addEventListener('input', () => {
      clearTimeout(searchTimer);
      searchTimer = setTimeout(() => search(q.value.trim()), 250);
    });
    document.getElementById('people-form').addEventListener('submit', (e) => {
      e.preventDefault();
      clearTimeout(searchTimer);
      search(q.value.trim());
    });
    document.getElementById('report-preset').addEventListener('change', applyPreset);
    for (const id of ['report-from', 'report-to'])
      document.getElementById(id).addEventListener('input', () => { document.getElementById('report-preset').value = 'custom'; });
    document.getElementById('report-form').addEventListener('submit', (e) => { e.preventDefault(); askReport(); });
    document.getElementById('person-close').addEventListener('click', () => {
      showPerson(null);
      document.getElementById('people').focus();
    });
    document.getElementById('org-select').addEventListener('change', (e) => {
      state.wantOrg = Number(e.target.value);
      state.seenArrivals = null;
      state.seenPeople = null;
      send({ t: 'org', org: state.wantOrg });
    });
    /* Section links move keyboard focus to the section, not just the view. */
    for (const a of document.querySelectorAll('#nav a')) {
      a.addEventListener('click', () => {
        const target = document.querySelector(a.getAttribute('href'));
        if (target) setTimeout(() => target.focus(), 0);
      });
    }
    tick();
    setInterval(() => { tick(); renderDevices(); }, 30000);
    document.getElementById('logout').addEventListener('click', logout);
    applyLanguage();
    whoAmI();
    connect();
  });
})();
