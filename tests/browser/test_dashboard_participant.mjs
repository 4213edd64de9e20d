// test_dashboard_participant.mjs — a coordinator finds a participant by
// typing part of her name without its accents, and opens her page: visits
// per activity as "2 van de 5 keer", first and last visit, who sent her, her
// phone number, every check-in newest first (a date opens that day). A name
// on a session card opens the same page. A viewer sees the page without the
// phone number. In English, at 390 px wide (no sideways scrolling) and by
// keyboard alone. Dates are named here (June 2025), not taken from today.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withWorld, sessionCard } from './lib.mjs';

const DATES = ['2025-06-04', '2025-06-11', '2025-06-18', '2025-06-25'];

test('a participant found by name, and her page', async () => {
  await withWorld('participant', async (w) => {
    await w.enroll('zaal', 'Zaal 1');
    await w.turfctlWith('wachtwoord van de kijker\n', 'coordinator', 'create', '--org', '1',
      '--login', 'kijker', '--role', 'viewer');
    const page = await w.page();
    await page.setViewportSize({ width: 1280, height: 900 });
    const dance = sessionCard(page, 'Time to Dance');
    await dance.waitFor();
    const past = await w.sessionsOf('Time to Dance', DATES);
    await w.tablet('zaal', 'sync');
    const elodie = (await w.tablet('zaal', 'walkin', past[0], 'Élodie Müller', '--referral', 'wijkteam',
      '--contact', '06 12345678')).trim();
    await w.tablet('zaal', 'status', past[1], elodie, 'excused');
    await w.tablet('zaal', 'checkin', past[3], elodie);
    await w.tablet('zaal', 'checkin', 'dance', elodie);
    await w.tablet('zaal', 'sync');

    // The search, by keyboard: no accents, part of each name.
    await page.locator('#nav a[href="#people"]').click();
    await page.waitForFunction(() => document.activeElement && document.activeElement.id === 'people');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'people-q');
    await page.keyboard.type('elodie mul');
    await page.keyboard.press('Enter');
    const found = page.locator(`#people-body[data-q="elodie mul"] li[data-person="${elodie}"]`);
    await found.waitFor();
    assert.match(await found.textContent(), /Élodie Müller\s*3 keer, laatst \d+ \S+ \d{4}/);
    assert.equal(await page.locator('#people-body li').count(), 1);
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');

    // Her page.
    const person = page.locator('#person');
    await person.locator('[data-testid="visits-of"]').waitFor();
    await page.waitForFunction(() => document.activeElement && document.activeElement.id === 'person');
    assert.match(await page.locator('#h-person').textContent(), /Deelnemer\s+Élodie Müller/);
    // Since 4 June: four sessions in June and today's; she came to three.
    assert.equal(await person.locator('[data-testid="visits-of"]').textContent(), '3 van de 5 keer');
    const facts = await person.locator('dl.facts').textContent();
    assert.match(facts, /Eerste keer\s*4 jun\.? 2025/);
    assert.match(facts, /Verwezen door\s*wijkteam/);
    assert.match(facts, /Contact\s*06 12345678/);
    const visits = person.locator('ol.attendance li');
    assert.equal(await visits.count(), 4);
    assert.match(await visits.nth(1).textContent(), /25 jun\.? 2025 10:00.*Time to Dance.*aanwezig/);
    assert.match(await visits.nth(2).textContent(), /11 jun\.? 2025.*afgemeld/);
    await w.shot(page, 'participant');

    // A visit opens its day.
    await visits.nth(3).locator('button').click();
    await page.locator(`#today-body article.session[data-session="${past[0]}"]`).waitFor();
    await page.locator('#day-today').click();

    // A name on today's card opens the same page.
    await person.locator('#person-close').click();
    assert.equal(await person.isVisible(), false);
    await dance.locator('li', { hasText: 'Élodie Müller' }).locator('button').click();
    await person.locator('[data-testid="visits-of"]').waitFor();

    // At a phone's width nothing needs scrolling sideways.
    await page.setViewportSize({ width: 390, height: 844 });
    assert.equal(await page.evaluate(() => document.documentElement.scrollWidth), 390);
    await person.scrollIntoViewIfNeeded();
    await w.shot(page, 'participant-phone');

    // In English.
    await page.locator('#lang').click();
    assert.equal(await person.locator('[data-testid="visits-of"]').textContent(), '3 of the 5 times');
    assert.match(await person.locator('dl.facts').textContent(), /Referred by\s*wijkteam/);
    await page.locator('#lang').click();
    await page.setViewportSize({ width: 1280, height: 900 });

    // Nobody by that name.
    await page.locator('#people-q').fill('zzz');
    await page.locator('#people-body[data-q="zzz"] p.empty').waitFor();
    assert.equal(await page.locator('#people-body').textContent(), 'Niemand gevonden met die naam.');

    // A viewer: her visits, not her phone number.
    await page.locator('#logout').click();
    await page.waitForURL(/\/login/);
    await w.logIn(page, 'kijker', 'wachtwoord van de kijker');
    await page.waitForSelector('body[data-live="1"]');
    await page.locator('#people-q').fill('MÜLLER');
    await page.locator(`#people-body li[data-person="${elodie}"] button`).click();
    await person.locator('[data-testid="visits-of"]').waitFor();
    const seen = await person.locator('dl.facts').textContent();
    assert.match(seen, /Verwezen door\s*wijkteam/);
    assert.doesNotMatch(seen, /Contact|12345678/);
    await w.shot(page, 'participant-viewer');
    assert.deepEqual(w.pageErrors, []);
  });
});
