// test_dashboard_conflict_revert.mjs — two tablets set different statuses
// for the same check-in while offline, then sync: the dashboard shows the
// conflict in plain words (who set what when, what was kept), and one click
// reverts it. The revert is an op written by the server: the tablets get it
// by pull, and a tablet that is connected gets it live, and all converge on
// the reverted value.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withWorld, sessionCard } from './lib.mjs';

test('a conflict is explained and reverted from the page', async () => {
  await withWorld('revert', async (w) => {
    await w.enroll('zaal', 'Zaal 1');
    // A name that already says "Tablet" is not prefixed again.
    await w.enroll('entree', 'Tablet Entree');
    await w.enroll('kantoor', 'Kantoor');
    await w.tablet('zaal', 'checkin', 'dance', 'Fatima el Amrani');
    await w.tablet('zaal', 'sync');
    await w.tablet('entree', 'sync');
    await w.tablet('kantoor', 'sync');

    // Offline on both tablets: different statuses for the same check-in.
    await w.tablet('zaal', 'status', 'dance', 'Fatima el Amrani', 'absent');
    await w.tablet('entree', 'status', 'dance', 'Fatima el Amrani', 'excused');
    const page = await w.page();
    await w.tablet('zaal', 'sync');
    await w.tablet('entree', 'sync');

    const conflict = page.locator('#conflicts-body article.conflict').first();
    await conflict.waitFor();
    const [lost, kept, lostDevice] = (await w.sql(
      "select lost_value || '|' || kept_value || '|' || (select name from devices where id = lost_device) " +
      'from conflicts')).split('|');
    assert.notEqual(lost, kept);
    const dutch = { present: 'aanwezig', absent: 'afwezig', excused: 'afgemeld' };
    const words = await conflict.locator('.words').textContent();
    assert.match(words, /Fatima el Amrani/);
    const label = lostDevice.startsWith('Tablet ') ? lostDevice : 'Tablet ' + lostDevice;
    assert.match(words, new RegExp(label + ' (zette|had)'));
    assert.doesNotMatch(words, /Tablet Tablet/);
    assert.match(words, new RegExp('Bewaard: ' + dutch[kept] + '\\.$'));
    assert.match(words, /\d\d:\d\d/);
    assert.equal(await page.locator('#conflicts-count').textContent(), '1');
    const dance = sessionCard(page, 'Time to Dance');
    await dance.locator('li', { hasText: dutch[kept] }).waitFor();
    await w.shot(page, 'conflict');

    // A tablet that stays connected must get the server's op live.
    const watching = w.watch('kantoor', 6);
    await page.locator('#devices-body tr', { hasText: 'Kantoor' }).locator('.online', { hasText: /^online$/ }).waitFor();
    const revert = conflict.getByRole('button', { name: 'Terugzetten naar ' + dutch[lost] });
    await revert.click();
    await conflict.locator('.done', { hasText: 'Teruggezet' }).waitFor();
    /* What stands now is the value that had lost. */
    const after = await conflict.locator('.words').textContent();
    assert.match(after, new RegExp('Teruggezet naar: ' + dutch[lost] + '\\.$'));
    assert.doesNotMatch(after, /Bewaard/);
    await dance.locator('li', { hasText: 'Fatima el Amrani' }).filter({ hasText: dutch[lost] }).waitFor();
    assert.equal(await page.locator('#conflicts-count').textContent(), '');
    await w.shot(page, 'reverted');
    await watching;

    // The revert is the server's op: device "server", next device_seq.
    const [device, seqs, last] = (await w.sql(
      "select device || '|' || (select group_concat(seq) from (select seq from ops where device = 'server' order by seq)) " +
      "|| '|' || (select last_seq from devices where id = 'server') from ops order by server_seq desc limit 1")).split('|');
    assert.equal(device, 'server');
    const list = seqs.split(',').map(Number);
    assert.deepEqual(list, list.map((_, i) => i + 1), 'server device_seqs are contiguous');
    assert.equal(Number(last), list.length);

    // Every tablet converges on the reverted value; kantoor had it live
    // (its watch ended before it could pull again), the others pull it.
    const kantoorDump = await w.tablet('kantoor', 'dump');
    await w.tablet('zaal', 'sync');
    await w.tablet('entree', 'sync');
    const zaalDump = await w.tablet('zaal', 'dump');
    assert.equal(await w.tablet('entree', 'dump'), zaalDump);
    assert.equal(kantoorDump, zaalDump);
    for (const t of ['zaal', 'entree', 'kantoor'])
      assert.match(await w.tablet(t, 'attendance'), new RegExp('Fatima el Amrani\\t' + lost + '\\t'));
  });
});
