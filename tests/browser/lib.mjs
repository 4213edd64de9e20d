// lib.mjs — shared helpers for the dashboard's browser tests: a real turfd
// on a free loopback port with its own SQLite file in a temporary directory
// (as tests/integration/lib.sh does), real turf-tablet processes, and
// Debian's chromium driven headless by playwright-core with a fresh profile.
// Screenshots go to tests/artifacts/ (gitignored); their paths are printed.
// The dashboard needs a coordinator's login: turfd --demo writes the demo
// coordinator's login and password to its ready file, and page() logs in
// through the login form as a person would.
import { spawn, execFile } from 'node:child_process';
import { mkdtemp, rm, readFile, mkdir, access } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';

const execFileP = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));

export const TURFD = process.env.TURFD;
export const TURF_TABLET = process.env.TURF_TABLET;
export const TURFCTL = process.env.TURFCTL;
export const CHROMIUM = process.env.TURF_CHROMIUM || '/usr/bin/chromium';
export const ARTIFACTS = process.env.TURF_ARTIFACTS || path.resolve(here, '..', 'artifacts');
/* Generous: these wait for conditions, they do not measure anything. */
export const WAIT_MS = 30000;

if (!TURFD || !TURF_TABLET) throw new Error('TURFD and TURF_TABLET must point to the binaries');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/* A test's world: its directory, its turfd, its tablets, its browser. */
export class World {
  constructor(name) {
    this.name = name;
    this.dir = null;
    this.turfd = null;
    this.exited = null;
    this.browser = null;
    this.shots = 0;
  }

  async start() {
    this.dir = await mkdtemp(path.join(process.env.TMPDIR || tmpdir(), 'turf-browser-'));
    await mkdir(ARTIFACTS, { recursive: true });
    await dayWithRoom(DAY_ROOM_S);
    return this.startTurfd();
  }

  /* Starts turfd: on a free port the first time, on the same port and
   * database after stopTurfd() (a server that was away comes back). */
  async startTurfd() {
    const ready = path.join(this.dir, 'ready');
    await rm(ready, { force: true });
    const log = (await import('node:fs')).openSync(path.join(this.dir, 'turfd.log'), 'a');
    this.turfd = spawn(TURFD, ['--listen', '127.0.0.1', '--port', String(this.port || 0),
      '--db', path.join(this.dir, 'server.db'),
      '--demo', '--demo-uses', '100', '--ready-file', ready, '--log-level', 'info'],
    { stdio: ['ignore', log, log] });
    this.exited = new Promise((resolve) => this.turfd.on('exit', (code, signal) => resolve({ code, signal })));
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      try {
        const text = await readFile(ready, 'utf8');
        const get = (k) => (text.match(new RegExp('^' + k + ' (\\S+)$', 'm')) || [])[1];
        this.url = get('url');
        this.code = get('code');
        this.dashboard = get('dashboard');
        this.login = get('login');
        this.password = get('password');
        this.tabletApp = get('tablet');
        this.enrolLink = get('enrol');
        if (this.url && this.dashboard && this.login && this.password) break;
      } catch { /* not written yet */ }
      if (this.turfd.exitCode !== null) throw new Error('turfd exited during start');
      if (Date.now() > deadline) throw new Error('turfd did not become ready');
      await sleep(50);
    }
    this.port = Number(new URL(this.dashboard).port);
    return this;
  }

  /* Stops turfd (SIGTERM) and waits until it has exited. */
  async stopTurfd() {
    if (!this.turfd || this.turfd.exitCode !== null) return;
    this.turfd.kill('SIGTERM');
    const result = await this.exited;
    if (result.code !== 0) throw new Error('turfd exited with ' + JSON.stringify(result));
  }

  /* turf-tablet --db <dir>/<tablet>.db args...; returns stdout. */
  async tablet(tablet, ...args) {
    const { stdout } = await execFileP(TURF_TABLET, ['--db', path.join(this.dir, tablet + '.db'), ...args],
      { timeout: WAIT_MS });
    return stdout;
  }

  /* turfctl --db <the server's database> args...; returns stdout. */
  async turfctl(...args) {
    return this.turfctlWith(null, ...args);
  }

  /* The same with `input` on its stdin (a new coordinator's password). */
  async turfctlWith(input, ...args) {
    if (!TURFCTL) throw new Error('TURFCTL must point to the binary');
    const run = execFileP(TURFCTL, ['--db', path.join(this.dir, 'server.db'), ...args], { timeout: WAIT_MS });
    run.child.stdin.end(input === null ? '' : input);
    const { stdout } = await run;
    return stdout;
  }

  /* The demo organisation's sessions of `activity` (its name) on each of
   * `dates`, at 10:00; returns their ids in that order. */
  async sessionsOf(activity, dates) {
    const id = (await this.turfctl('activity', 'list', '--org', '1')).split('\n')
      .find((l) => l.includes(activity)).split('\t')[0];
    const ids = [];
    for (const date of dates)
      ids.push((await this.turfctl('session', 'create', '--org', '1', '--activity', id, '--date', date, '--start', '10:00')).trim());
    return ids;
  }

  async enroll(tablet, name) {
    await this.tablet(tablet, 'enroll', '--server', this.url, '--code', this.code, '--name', name);
  }

  /* A tablet that stays connected for `seconds` (turf-tablet watch). */
  watch(tablet, seconds) {
    const p = spawn(TURF_TABLET, ['--db', path.join(this.dir, tablet + '.db'), 'watch', '--for', String(seconds)],
      { stdio: 'ignore' });
    return new Promise((resolve, reject) => {
      p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error('watch exited ' + code))));
    });
  }

  async sql(query) {
    const { stdout } = await execFileP('sqlite3', ['-batch', '-noheader', path.join(this.dir, 'server.db'), query]);
    return stdout.trim();
  }

  /* Debian's chromium, headless, with a fresh profile and nothing that
   * would reach beyond this machine; on the login form the dashboard sends
   * it to. */
  async loginPage(query = '') {
    const profile = path.join(this.dir, 'chromium-profile');
    this.browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1024, height: 768 }, /* a tablet on its side */
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const page = this.browser.pages()[0] || await this.browser.newPage();
    page.setDefaultTimeout(WAIT_MS);
    this.pageErrors = [];
    page.on('pageerror', (e) => this.pageErrors.push(String(e)));
    await page.goto(this.dashboard + query);
    await page.waitForURL(/\/login(\?|$)/);
    await page.waitForSelector('body[data-ready="1"]');
    return page;
  }

  /* Fills in and sends the login form (the demo coordinator by default). */
  async logIn(page, login = this.login, password = this.password) {
    await page.locator('#login').fill(login);
    await page.locator('#password').fill(password);
    await page.locator('#login-submit').click();
  }

  /* The dashboard, logged in through the form, live. */
  async page(query = '') {
    const page = await this.loginPage(query);
    await this.logIn(page);
    await page.waitForSelector('body[data-live="1"]');
    await page.waitForSelector('#today-body .session, #today-body .empty');
    return page;
  }

  async shot(page, step) {
    const file = path.join(ARTIFACTS, `${this.name}-${String(++this.shots).padStart(2, '0')}-${step}.png`);
    /* From the top: a full-page shot of a scrolled page would show the
     * sticky header over the middle of it. */
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: file, fullPage: true });
    console.log('screenshot: ' + file);
    return file;
  }

  async stop() {
    if (this.browser) await this.browser.close().catch(() => {});
    if (this.turfd && this.turfd.exitCode === null) {
      this.turfd.kill('SIGTERM');
      let timer;
      const result = await Promise.race([this.exited,
        new Promise((resolve) => { timer = setTimeout(() => resolve(null), WAIT_MS); })]);
      clearTimeout(timer);
      if (!result) {
        this.turfd.kill('SIGKILL');
        throw new Error('turfd did not stop on SIGTERM');
      }
      if (result.code !== 0) throw new Error('turfd exited with ' + JSON.stringify(result));
    }
    if (this.pageErrors && this.pageErrors.length) throw new Error('page errors: ' + this.pageErrors.join('; '));
  }

  async cleanup(failed) {
    if (failed && this.dir) {
      try {
        const log = await readFile(path.join(this.dir, 'turfd.log'), 'utf8');
        console.error('---- last lines of turfd.log ----\n' + log.split('\n').slice(-40).join('\n'));
      } catch { /* no log */ }
    }
    if (this.browser) await this.browser.close().catch(() => {});
    for (const t of this.tablets || []) await t.close().catch(() => {});
    if (this.turfd && this.turfd.exitCode === null) this.turfd.kill('SIGKILL');
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
  }
}

/* Runs body(world) with a started world and cleans up whatever happens. */
/* A test lasts well under this; the demo's sessions are today's (the
 * organisation's, Europe/Amsterdam) on the programs' clock, which
 * scripts/test-clocks may set to just before midnight. */
const DAY_ROOM_S = 120;
const WITH_CLOCK = path.resolve(here, '..', 'with-clock');

/* Waits for the next day when the programs' day ends within `seconds`:
 * a test that opens today's sessions does so on the day they were made. */
async function dayWithRoom(seconds) {
  const { stdout } = await execFileP(WITH_CLOCK, ['date', '+%s%3N']);
  const now = Number(stdout.trim());
  const p = Object.fromEntries(new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Amsterdam', hourCycle: 'h23',
    hour: 'numeric', minute: 'numeric', second: 'numeric' }).formatToParts(now).map((x) => [x.type, Number(x.value)]));
  const left = (24 * 3600 - (p.hour * 3600 + p.minute * 60 + p.second)) * 1000;
  if (left < seconds * 1000) await new Promise((resolve) => setTimeout(resolve, left + 2000));
}

export async function withWorld(name, body) {
  const world = new World(name);
  let failed = true;
  try {
    await world.start();
    await body(world);
    await world.stop();
    failed = false;
  } finally {
    await world.cleanup(failed);
  }
}

/* The session card of today's activity whose name starts with prefix. */
export function sessionCard(page, prefix) {
  return page.locator('#today-body article.session', { hasText: prefix }).first();
}

export async function exists(file) {
  try { await access(file); return true; } catch { return false; }
}
