// test_dashboard_viewer_and_phone.mjs — the page greets a coordinator by
// name; a viewer (read-only login) sees the conflict and the possible
// duplicates but no button that would change anything; at a phone's width
// (390x844) nothing scrolls sideways and a jump to a section shows its
// heading below the header; ?lang=en stays English on the way to the login
// form; and session-log conflicts name their session.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withWorld } from './lib.mjs';

test('names, a read-only page, a phone, and the language on the way in', async () => {
  await withWorld('viewer', async (w) => {
    await w.turfctlWith('geheim wachtwoord 1\n', 'coordinator', 'create', '--org', '1', '--login', 'anna',
      '--name', 'Anna de Vries');
    await w.turfctlWith('geheim wachtwoord 2\n', 'coordinator', 'create', '--org', '1', '--login', 'kees',
      '--name', 'Kees "de kijker" Jansen', '--role', 'viewer');
    // A conflict on a check-in and one on the session's log: two tablets
    // offline, each with its own idea.
    await w.enroll('zaal', 'Zaal 1');
    await w.enroll('entree', 'Entree');
    await w.tablet('zaal', 'checkin', 'dance', 'Fatima el Amrani');
    await w.tablet('zaal', 'sync');
    await w.tablet('entree', 'sync');
    await w.tablet('zaal', 'status', 'dance', 'Fatima el Amrani', 'absent');
    await w.tablet('entree', 'status', 'dance', 'Fatima el Amrani', 'excused');
    await w.tablet('zaal', 'log', 'dance', '--headcount', '5');
    await w.tablet('entree', 'log', 'dance', '--headcount', '7');
    await w.tablet('zaal', 'sync');
    await w.tablet('entree', 'sync');

    // The viewer: everything to see, nothing to press.
    const page = await w.loginPage();
    await w.logIn(page, 'kees', 'geheim wachtwoord 2');
    await page.waitForSelector('body[data-live="1"]');
    await page.locator('#who', { hasText: 'Kees "de kijker" Jansen' }).waitFor();
    assert.equal(await page.locator('#who').textContent(), 'Ingelogd als Kees "de kijker" Jansen (alleen lezen)');
    const conflicts = page.locator('#conflicts-body article.conflict');
    await conflicts.nth(1).waitFor();
    assert.equal(await page.locator('#conflicts-body button').count(), 0);
    assert.equal(await page.locator('#duplicates-body button').count(), 0);
    const logConflict = conflicts.filter({ hasText: 'aantal' });
    assert.match(await logConflict.locator('.words').textContent(), /zette aantal van Time to Dance \d{4}-\d\d-\d\d op/);
    assert.doesNotMatch(await page.locator('#conflicts-body').textContent(), /\biets\b/);
    await w.shot(page, 'viewer');
    await page.locator('#logout').click();
    await page.waitForURL(/\/login/);

    // A coordinator on a phone.
    await page.setViewportSize({ width: 390, height: 844 });
    await w.logIn(page, 'anna', 'geheim wachtwoord 1');
    await page.waitForSelector('body[data-live="1"]');
    await page.locator('#who', { hasText: 'Anna de Vries' }).waitFor();
    await page.locator('#conflicts-body button.revert').first().waitFor();
    assert.equal(await page.evaluate(() => document.documentElement.scrollWidth), 390);
    for (const section of ['devices', 'messages', 'conflicts']) {
      await page.locator(`#nav a[href="#${section}"]`).click();
      await page.waitForFunction((id) => document.activeElement && document.activeElement.id === id, section);
      const [heading, header] = await page.evaluate((id) => [
        document.querySelector(`#${id} h2`).getBoundingClientRect().top,
        document.querySelector('header.top').getBoundingClientRect().bottom], section);
      assert.ok(heading >= header, `${section}: its heading (${heading}) is under the header (${header})`);
    }
    await w.shot(page, 'phone');
    await page.locator('#logout').click();
    await page.waitForURL(/\/login/);

    // English asked for in the address stays English at the login form.
    await page.goto(new URL('/?lang=en', w.dashboard).href);
    await page.waitForURL(/\/login\?lang=en$/);
    await page.waitForSelector('body[data-ready="1"]');
    assert.equal(await page.getAttribute('html', 'lang'), 'en');
    assert.deepEqual(w.pageErrors, []);
  });
});
