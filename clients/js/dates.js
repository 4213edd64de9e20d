// dates.js — dates and times of an organisation: "YYYY-MM-DD" and "HH:MM"
// of an instant in its time zone (an IANA name, as the welcome's `tz`), and
// calendar arithmetic on dates. The device's own zone never decides what
// "today" is.

const formats = new Map(); // zone + what -> Intl.DateTimeFormat

function parts(zone, ms, what) {
  const key = `${zone} ${what}`;
  let f = formats.get(key);
  if (!f) {
    const options = what === 'date' ? { year: 'numeric', month: '2-digit', day: '2-digit' }
      : { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' };
    try {
      f = new Intl.DateTimeFormat('en-CA', { ...options, timeZone: zone });
    } catch { /* a zone this browser does not know: the device's own */
      f = new Intl.DateTimeFormat('en-CA', options);
    }
    formats.set(key, f);
  }
  return Object.fromEntries(f.formatToParts(ms).map((p) => [p.type, p.value]));
}

/** "YYYY-MM-DD" of ms (since the epoch) in zone. */
export function dateIn(zone, ms) {
  const p = parts(zone, ms, 'date');
  return `${p.year}-${p.month}-${p.day}`;
}

/** "HH:MM" of ms in zone. */
export function timeIn(zone, ms) {
  const p = parts(zone, ms, 'time');
  return `${p.hour}:${p.minute}`;
}

/** The date `days` before date ("YYYY-MM-DD"): calendar arithmetic. */
export function daysBefore(date, days) {
  const [y, m, d] = date.split('-').map(Number);
  return new Date(Date.UTC(y, m - 1, d - days)).toISOString().slice(0, 10);
}
