// bench/tablet.mjs — the tablet app's speed in Chromium with its CPU
// throttled 4x (the DevTools protocol's Emulation.setCPUThrottlingRate), as
// on a cheap Android tablet. Run by bench/run (scenario "tablet") against a
// turfd holding the bootstrap scenario's organisation (10,000 participants,
// a year of history); prints one JSON object:
//
//   transfer_kb, transfer_gzip_kb  the app's files (what the service worker
//                                  precaches), raw and gzipped
//   first_sync_s                   enrol tap to the whole organisation in
//                                  IndexedDB and the app live
//   ops                            the cursor after the first sync (the
//                                  organisation's ops)
//   search_ms_p50 / _max           one keystroke in the search over every
//                                  participant, drawn
//   tap_ms_p50 / _p99              a tap on a name to its row showing the
//                                  check-in, which is after the op is
//                                  committed in IndexedDB
//   cold_start_ms                  reload with turfd stopped to the list
//                                  usable (from the service worker's cache
//                                  and IndexedDB)
//
// Usage: node bench/tablet.mjs --app URL --code CODE --stop-pid PID
//        [--chromium /usr/bin/chromium] [--throttle 4] [--taps 100]
//        [--profile DIR]   CPU profiles of the first sync, the taps and the
//                          cold start as DIR/*.cpuprofile (open them in
//                          Chromium's DevTools, Performance panel)
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { parseArgs } from 'node:util';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const { chromium } = await import(pathToFileURL(
  path.join(here, '..', 'tests', 'browser', 'node_modules', 'playwright-core', 'index.mjs')).href);

const { values: opt } = parseArgs({
  options: {
    app: { type: 'string' },
    code: { type: 'string' },
    'stop-pid': { type: 'string' },
    chromium: { type: 'string', default: '/usr/bin/chromium' },
    throttle: { type: 'string', default: '4' },
    taps: { type: 'string', default: '100' },
    profile: { type: 'string' },
  },
});
if (!opt.app || !opt.code || !opt['stop-pid']) throw new Error('usage: --app URL --code CODE --stop-pid PID');

const WAIT_MS = 600000;
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const round = (x) => Math.round(x * 10) / 10;

async function transfer(app) {
  const precache = await (await fetch(new URL('precache.js', app))).text();
  const urls = [...precache.matchAll(/'([^']+)'/g)].map((m) => m[1]).filter((u) => u.startsWith('/'));
  let raw = precache.length, gz = gzipSync(precache).length;
  for (const u of urls) {
    const body = Buffer.from(await (await fetch(new URL(u, app))).arrayBuffer());
    raw += body.length;
    gz += gzipSync(body).length;
  }
  return { files: urls.length, transfer_kb: round(raw / 1024), transfer_gzip_kb: round(gz / 1024) };
}

const out = { throttle: Number(opt.throttle), ...(await transfer(opt.app)) };
const profile = await mkdtemp(path.join(tmpdir(), 'turf-bench-tablet-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: opt.chromium,
  headless: true,
  viewport: { width: 800, height: 1280 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
});
try {
  const page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  const cdp = await context.newCDPSession(page);
  await cdp.send('Emulation.setCPUThrottlingRate', { rate: Number(opt.throttle) });
  /* Runs fn, recording a CPU profile of it when --profile asks for one. */
  const profiled = async (name, fn) => {
    if (!opt.profile) return fn();
    await cdp.send('Profiler.enable');
    await cdp.send('Profiler.start');
    try {
      return await fn();
    } finally {
      const { profile } = await cdp.send('Profiler.stop');
      await mkdir(opt.profile, { recursive: true });
      await writeFile(path.join(opt.profile, `${name}.cpuprofile`), JSON.stringify(profile));
    }
  };

  // First sync: enrol, then wait until the app is live with nothing left.
  await page.goto(new URL(`#enrol=${opt.code}`, opt.app).href);
  await page.waitForSelector('body[data-ready="1"]');
  await page.locator('#enrol-name').fill('Bench tablet');
  await profiled('first-sync', async () => {
    const t0 = Date.now();
    await page.locator('#enrol-submit').click();
    await page.locator('#conn[data-live="1"]').waitFor();
    out.first_sync_s = round((Date.now() - t0) / 1000);
  });
  out.ops = await page.evaluate(() => window.turfClient.status().cursor);
  await page.waitForFunction(() => navigator.serviceWorker && navigator.serviceWorker.controller !== null);

  // A session of today to check people in: started from the first activity.
  const activity = page.locator('button.activity').first();
  if (await activity.count()) await activity.click();
  else await page.locator('button.session').first().click();
  await page.waitForSelector('body[data-view="session"]');
  out.participants = await page.evaluate(() => window.turfClient.replica.list('participant').length);

  // Search: one keystroke at a time, typing a name that exists, each
  // measured from the input event to the list redrawn (synchronously).
  out.search_ms = await page.evaluate(async () => {
    const input = document.querySelector('#search');
    const times = [];
    for (const q of ['p', 'pa', 'par', 'part', 'parti', 'partic', 'particip', 'participant 1', 'participant 12', 'participant 123']) {
      input.value = q;
      const t = performance.now();
      input.dispatchEvent(new Event('input', { bubbles: true }));
      times.push(performance.now() - t);
      await new Promise((r) => setTimeout(r, 50));
    }
    input.value = '';
    input.dispatchEvent(new Event('input', { bubbles: true }));
    return times;
  });

  // Taps: each one a name not yet checked in, measured in the page from
  // the click to its row showing the check-in.
  const taps = Number(opt.taps);
  out.tap_ms = [];
  await profiled('taps', async () => {
    for (let i = 0; i < taps; i++) {
      out.tap_ms.push(await page.evaluate(async () => {
        const row = document.querySelector('button.person:not([data-status="present"])');
        const id = row.dataset.participant;
        const t = performance.now();
        row.click();
        await new Promise((resolve) => {
          const check = () => {
            const now = document.querySelector(`button.person[data-participant="${id}"]`);
            if (now && now.dataset.status === 'present') return resolve();
            requestAnimationFrame(check);
          };
          check();
        });
        return performance.now() - t;
      }));
    }
  });

  // Cold start offline: turfd stopped, the page reloaded.
  process.kill(Number(opt['stop-pid']), 'SIGTERM');
  await page.locator('#conn[data-state="offline"]').waitFor();
  await profiled('cold-start', async () => {
    await page.reload();
    await page.waitForSelector('body[data-ready="1"]');
    await page.waitForFunction(() => performance.getEntriesByName('turf:usable').length > 0);
  });
  out.cold_start_ms = round(await page.evaluate(() => performance.getEntriesByName('turf:usable')[0].startTime));
} finally {
  await context.close();
  await rm(profile, { recursive: true, force: true });
}

out.search_ms_p50 = round(pct(out.search_ms, 50));
out.search_ms_max = round(Math.max(...out.search_ms));
out.tap_ms_p50 = round(pct(out.tap_ms, 50));
out.tap_ms_p99 = round(pct(out.tap_ms, 99));
delete out.search_ms;
delete out.tap_ms;
console.log(JSON.stringify(out));
