// test_tablet_undo.mjs — a tap on the wrong name is taken back: the change
// sheet's "Ongedaan maken" withdraws the check-in (status nil), the person
// shows as not checked in (not as absent) on the tablet and leaves the
// coordinator's dashboard, the server holds status NULL for them, and one
// tap checks them in again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withWorld, sessionCard } from './lib.mjs';
import { BrowserTablet, PORTRAIT } from './tablet_lib.mjs';

const PERSON = 'Fatima el Amrani';
const STATUS = "SELECT quote(c.status) FROM checkins c JOIN participants p ON p.org = c.org "
  + "AND p.id = c.participant JOIN sessions s ON s.org = c.org AND s.id = c.session "
  + `JOIN activities a ON a.org = s.org AND a.id = s.activity WHERE a.name = 'Time to Dance' AND p.name = '${PERSON}'`;

test('undo on the tablet withdraws a check-in everywhere, and a tap redoes it', async () => {
  await withWorld('undo', async (w) => {
    const t = await new BrowserTablet(w, 'undo', PORTRAIT).launch();
    await t.enrol(w.enrolLink, 'Tablet Zaal');
    await t.waitState('online');
    await t.openSession('Time to Dance');
    const page = t.page;
    const dash = await w.page();
    const dance = sessionCard(dash, 'Time to Dance');

    await t.checkIn(PERSON, 'fatima');
    await t.waitOutbox(0);
    assert.equal(await w.sql(STATUS), "'present'");
    await dance.locator('li', { hasText: PERSON }).waitFor();
    await dance.getByTestId('headcount').filter({ hasText: /^1$/ }).waitFor();

    // The wrong name was tapped: the sheet offers undo next to the states.
    await t.person(PERSON).click();
    const sheet = page.getByRole('dialog');
    await sheet.locator('#set-undo').waitFor();
    assert.equal(await sheet.locator('#set-undo').textContent(), 'Ongedaan maken');
    await t.shot('sheet');
    await sheet.locator('#set-undo').click();

    // Not checked in: no status, no chip, no mark, not "absent".
    const row = t.person(PERSON);
    await row.and(page.locator('[data-status=""]')).waitFor();
    assert.equal(await row.locator('.chip').count(), 0);
    assert.equal((await row.locator('.mark').textContent()).trim(), '');
    assert.doesNotMatch(await row.textContent(), /afwezig|null|binnen om/);
    assert.match(await row.getAttribute('aria-label'), /inchecken/);
    await t.waitOutbox(0);
    await t.shot('undone');
    assert.equal(await w.sql(STATUS), 'NULL');
    // Its arrival stays in the row (MIN-merged), unread while withdrawn.
    assert.equal(await w.sql(STATUS.replace('quote(c.status)', 'c.arrived IS NOT NULL')), '1');

    // The dashboard no longer lists or counts the person.
    await dance.getByTestId('headcount').filter({ hasText: /^0$/ }).waitFor();
    await dance.locator('li', { hasText: PERSON }).waitFor({ state: 'detached' });
    assert.doesNotMatch(await dance.textContent(), /null/);

    // One tap checks them in again, as anyone not checked in.
    await t.checkIn(PERSON, 'fatima');
    await t.waitOutbox(0);
    assert.equal(await w.sql(STATUS), "'present'");
    await dance.locator('li', { hasText: PERSON }).waitFor();
    await t.shot('again');
    await dash.close();
    await t.close();
  });
});
