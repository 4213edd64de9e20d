// test_dashboard_any_day.mjs — a coordinator goes back to a past session:
// the day picker (and the previous/next day buttons) shows the sessions of
// any date with who came, their arrival and departure, the tally, the
// teacher's log and who came for the first time with who sent them; "Eerdere
// keren" lists an activity's sessions and opens one; "Naar vandaag" comes
// back. Dates are named here (June 2025), not taken from today. Checked at
// 1280 and at 390 px wide (no sideways scrolling), by keyboard as well.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withWorld, sessionCard } from './lib.mjs';

/* Named, not taken from the clock: days before any day this test runs (the
 * suite's clocks too), so today's sessions are newer. */
const FIRST = '2025-06-04', SECOND = '2025-06-11';

test('any day, and an activity\'s earlier sessions', async () => {
  await withWorld('anyday', async (w) => {
    await w.enroll('zaal', 'Zaal 1');
    const page = await w.page();
    await page.setViewportSize({ width: 1280, height: 900 });
    const dance = sessionCard(page, 'Time to Dance');
    await dance.waitFor();
    const [first, second] = await w.sessionsOf('Time to Dance', [FIRST, SECOND]);
    for (const args of [['sync'], ['checkin', first, 'Fatima el Amrani'], ['checkin', first, 'Joop de Vries'],
      ['checkout', first, 'Joop de Vries'], ['status', first, 'Mehmet Yilmaz', 'excused'],
      ['walkin', first, 'Noor Haddad', '--referral', 'buurtcoach'], ['tally', first, '2'],
      ['log', first, '--headcount', '8', '--notes', 'Zaal was te warm'],
      ['checkin', second, 'Priya Ramdin'], ['sync']]) await w.tablet('zaal', ...args);

    // The date picker: the first Wednesday in June 2025.
    await page.locator('#day-pick').fill(FIRST);
    await page.locator('#day-pick').dispatchEvent('change');
    const card = page.locator(`#today-body article.session[data-session="${first}"]`);
    await card.waitFor();
    assert.match(await page.locator('#h-today').textContent(), /Dag\s+woensdag 4 juni 2025/);
    assert.equal(await page.locator('#day-today').isVisible(), true);
    assert.equal(await card.getByTestId('headcount').textContent(), '5');
    assert.match(await card.locator('li', { hasText: 'Mehmet Yilmaz' }).textContent(), /afgemeld/);
    assert.match(await card.locator('li', { hasText: 'Joop de Vries' }).textContent(), /weg \d\d:\d\d/);
    assert.match(await card.getByTestId('new-people').textContent(), /Voor het eerst: .*Noor Haddad \(via buurtcoach\)/);
    assert.match(await card.getByTestId('log').textContent(), /Logboek: geteld: 8\s*Zaal was te warm/);
    await w.shot(page, 'past-day');

    // A week on, by the next-day button seven times (by keyboard).
    await page.locator('#day-next').focus();
    for (let i = 0; i < 7; i++) await page.keyboard.press('Enter');
    await page.locator(`#today-body article.session[data-session="${second}"]`).waitFor();
    assert.match(await page.locator('#today-date').textContent(), /11 juni 2025/);

    // The activity's earlier sessions; one of them opens its day.
    await page.locator(`#today-body article.session[data-session="${second}"] button`, { hasText: 'Eerdere keren' }).click();
    const history = page.locator('#history');
    await history.locator('li', { hasText: '4 juni 2025' }).waitFor();
    assert.match(await history.locator('li', { hasText: '4 juni 2025' }).textContent(), /3 aanwezig \+ 2 anoniem/);
    await w.shot(page, 'history');
    await history.locator('li', { hasText: '4 juni 2025' }).locator('button').click();
    await card.waitFor();

    // At a phone's width nothing needs scrolling sideways.
    await page.setViewportSize({ width: 390, height: 844 });
    assert.equal(await page.evaluate(() => document.documentElement.scrollWidth), 390);
    await w.shot(page, 'past-day-phone');
    await page.setViewportSize({ width: 1280, height: 900 });

    // Back to today, where today's sessions are.
    await page.locator('#day-today').click();
    await dance.waitFor();
    assert.match(await page.locator('#h-today').textContent(), /Vandaag/);
    assert.equal(await page.locator('#day-today').isVisible(), false);
    await history.locator('#history-close').click();
    assert.equal(await history.isVisible(), false);
    assert.deepEqual(w.pageErrors, []);
  });
});
