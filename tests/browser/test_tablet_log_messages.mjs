// test_tablet_log_messages.mjs — the session log and the group's messages
// on the tablet app: start and end times, headcount and notes reach the
// server; a message posted on one tablet shows on the other (which cannot
// change it), and its author edits and deletes it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withWorld } from './lib.mjs';
import { BrowserTablet, LANDSCAPE, SMALL } from './tablet_lib.mjs';

test('the session log and group messages', async () => {
  await withWorld('logmsg', async (w) => {
    const a = await new BrowserTablet(w, 'a', LANDSCAPE).launch();
    const b = await new BrowserTablet(w, 'b', SMALL).launch();
    await a.enrol(w.enrolLink, 'Tablet A');
    await b.enrol(w.enrolLink, 'Tablet B');
    await a.openSession('Time to Dance');
    await b.openSession('Time to Dance');

    // The log: started now, a headcount and notes.
    await a.page.getByRole('tab', { name: 'Logboek' }).click();
    await a.page.locator('#log-start-now').click();
    await a.page.locator('#log-started').filter({ hasText: /^\d\d:\d\d$/ }).waitFor();
    await a.page.getByLabel('Aantal aanwezigen (totaal)').fill('14');
    await a.page.getByLabel('Notities').fill('Nieuwe muziek; Joop had zijn knie bezeerd.');
    // A check-in from the other tablet arrives while A is typing: A's
    // page is redrawn and keeps what was typed.
    await b.checkIn('Anneke Bakker', 'anneke');
    await a.page.waitForFunction(() => window.turfClient.replica.list('checkin').length === 1);
    await a.page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    assert.equal(await a.page.getByLabel('Notities').inputValue(), 'Nieuwe muziek; Joop had zijn knie bezeerd.');
    assert.equal(await a.page.getByLabel('Aantal aanwezigen (totaal)').inputValue(), '14');
    await a.page.getByRole('button', { name: 'Opslaan' }).click();
    await a.page.getByRole('status').filter({ hasText: 'Opgeslagen' }).waitFor();
    await a.waitOutbox(0);
    await a.shot('log');
    const row = await w.sql("SELECT headcount || '|' || notes || '|' || (started > 0) FROM session_logs");
    assert.equal(row, '14|Nieuwe muziek; Joop had zijn knie bezeerd.|1');

    // Messages: posted on A, read on B.
    await a.page.getByRole('tab', { name: 'Berichten' }).click();
    await a.page.getByLabel('Schrijf een bericht aan de groep').fill('Volgende week geen les: de zaal is dicht.');
    await a.page.getByRole('button', { name: 'Versturen' }).click();
    const onA = a.page.locator('.messages li', { hasText: 'Volgende week geen les' });
    await onA.waitFor();
    assert.match(await onA.textContent(), /Deze tablet/);
    await b.page.getByRole('tab', { name: 'Berichten' }).click();
    const onB = b.page.locator('.messages li', { hasText: 'Volgende week geen les' });
    await onB.waitFor();
    assert.match(await onB.textContent(), /Andere tablet/);
    assert.equal(await onB.getByRole('button').count(), 0, 'only its author may change a message');
    await b.shot('message-other');

    // Its author edits it, then deletes it; B follows live.
    await onA.getByRole('button', { name: 'Wijzigen' }).click();
    await a.page.locator('#msg-edit-body').fill('Volgende week geen les: de zaal is dicht. Daarna weer gewoon.');
    await a.page.locator('#msg-edit-save').click();
    await b.page.locator('.messages li', { hasText: 'Daarna weer gewoon' }).waitFor();
    a.page.once('dialog', (d) => d.accept());
    await a.page.locator('.messages li', { hasText: 'Daarna weer gewoon' }).getByRole('button', { name: 'Verwijderen' }).click();
    await b.page.locator('.messages li').waitFor({ state: 'detached' });
    await a.waitOutbox(0);
    assert.equal(await w.sql('SELECT deleted FROM messages'), '1');
    await a.close();
    await b.close();
  });
});
