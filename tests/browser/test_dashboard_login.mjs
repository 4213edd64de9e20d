// test_dashboard_login.mjs — the dashboard asks a coordinator to log in:
// opening it without a session shows the login form (Dutch, with the
// English switch); a wrong password is refused on the form with a clear
// message and no cookie; the right one opens the live dashboard with a
// session cookie the page's scripts cannot read (HttpOnly) and that no
// other site's request carries (SameSite=Strict); logging out returns to
// the form, and the feed closes — also the one of a second tab, which the
// server closes when the session ends.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withWorld } from './lib.mjs';

const sessionCookies = async (w) => (await w.browser.cookies()).filter((c) => /turf_session$/.test(c.name));

test('login form, refusal, cookie flags and logout', async () => {
  await withWorld('login', async (w) => {
    const page = await w.loginPage();
    assert.equal(await page.getAttribute('html', 'lang'), 'nl');
    await page.getByRole('heading', { name: 'Inloggen voor coördinatoren' }).waitFor();
    assert.equal(await page.locator('#login-error').isVisible(), false);
    await w.shot(page, 'form');

    await page.locator('#lang').click();
    await page.getByRole('heading', { name: 'Coordinator login' }).waitFor();
    assert.equal(await page.getAttribute('html', 'lang'), 'en');
    await w.shot(page, 'form-english');
    await page.locator('#lang').click();
    await page.getByRole('heading', { name: 'Inloggen voor coördinatoren' }).waitFor();

    // A wrong password: a clear message on the form, no session.
    await w.logIn(page, w.login, 'niet het goede wachtwoord');
    const error = page.locator('#login-error');
    await error.waitFor({ state: 'visible' });
    assert.match(await error.textContent(), /Gebruikersnaam of wachtwoord klopt niet/);
    assert.match(new URL(page.url()).pathname, /^\/login$/);
    assert.equal((await sessionCookies(w)).length, 0);
    assert.equal(await page.locator('#password').inputValue(), '');
    await w.shot(page, 'wrong-password');

    // The right one: the live dashboard.
    await w.logIn(page);
    await page.waitForSelector('body[data-live="1"]');
    assert.equal(new URL(page.url()).pathname, '/');
    await page.locator('#who', { hasText: w.login }).waitFor();
    const cookies = await sessionCookies(w);
    assert.equal(cookies.length, 1, JSON.stringify(cookies));
    assert.equal(cookies[0].name, 'turf_session');
    assert.match(cookies[0].value, /^[0-9a-f]{64}$/);
    assert.equal(cookies[0].httpOnly, true);
    assert.equal(cookies[0].sameSite, 'Strict');
    assert.equal(cookies[0].secure, false); /* plain http here; Secure under TLS */
    assert.equal(cookies[0].path, '/');
    assert.equal(await page.evaluate(() => document.cookie.includes('turf_session')), false);
    await w.shot(page, 'dashboard');

    // A second tab of the same browser shares the session.
    const other = await w.browser.newPage();
    const otherFeedClosed = new Promise((resolve) => {
      other.on('websocket', (ws) => { if (ws.url().startsWith('ws')) ws.on('close', resolve); });
    });
    await other.goto(w.dashboard);
    await other.waitForSelector('body[data-live="1"]');

    // Logging out: back to the form, the session gone, the feeds closed.
    await page.locator('#logout').click();
    await page.waitForURL(/\/login$/);
    await page.waitForSelector('body[data-ready="1"]');
    await page.getByRole('heading', { name: 'Inloggen voor coördinatoren' }).waitFor();
    assert.equal((await sessionCookies(w)).length, 0);
    await otherFeedClosed; /* the server closed it: its session ended */
    await other.waitForURL(/\/login$/);
    await w.shot(page, 'logged-out');

    // The dashboard does not open again without logging in.
    await page.goto(w.dashboard);
    await page.waitForURL(/\/login$/);
    await other.close();
  });
});
