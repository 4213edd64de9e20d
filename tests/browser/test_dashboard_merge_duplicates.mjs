// test_dashboard_merge_duplicates.mjs — two tablets each add the same
// walk-in while offline; the dashboard lists them as a probable duplicate,
// and one click merges them. Both tablets converge (identical dumps) with
// one participant left in the attendance, and the headcount counts her once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withWorld, sessionCard } from './lib.mjs';

test('duplicate walk-ins are merged from the page and converge', async () => {
  await withWorld('merge', async (w) => {
    await w.enroll('zaal', 'Zaal 1');
    await w.enroll('entree', 'Entree');
    await w.tablet('zaal', 'sync');
    await w.tablet('entree', 'sync');
    const page = await w.page();

    await w.tablet('zaal', 'walkin', 'dance', 'Nieuwe Buurvrouw');
    await w.tablet('entree', 'walkin', 'dance', 'nieuwe  buurvrouw');
    await w.tablet('zaal', 'sync');
    await w.tablet('entree', 'sync');
    await w.tablet('zaal', 'sync');

    const dance = sessionCard(page, 'Time to Dance');
    await dance.getByTestId('headcount').filter({ hasText: /^2$/ }).waitFor();
    const group = page.locator('#duplicates-body article.dup').first();
    await group.waitFor();
    assert.equal(await group.locator('li').count(), 2);
    assert.match(await group.textContent(), /Zaal 1/);
    assert.match(await group.textContent(), /Entree/);
    await w.shot(page, 'duplicates');

    const keepId = await group.locator('li').first().getAttribute('data-member');
    await group.locator('li').first().getByRole('button', { name: 'Samenvoegen in deze' }).click();
    await page.locator('#duplicates-body .empty').waitFor();
    await dance.getByTestId('headcount').filter({ hasText: /^1$/ }).waitFor();
    assert.equal(await dance.locator('li', { hasText: /buurvrouw/i }).count(), 1);
    await w.shot(page, 'merged');

    await w.tablet('zaal', 'sync');
    await w.tablet('entree', 'sync');
    const zaalDump = await w.tablet('zaal', 'dump');
    assert.equal(await w.tablet('entree', 'dump'), zaalDump);
    for (const t of ['zaal', 'entree']) {
      const att = await w.tablet(t, 'attendance');
      assert.equal(att.split('\n').filter((l) => /buurvrouw/i.test(l)).length, 1, att);
      assert.match(att, /Time to Dance headcount=1 /);
    }
    // The one left is the one kept; the other points at it.
    assert.equal(await w.sql("select count(*) from checkins where participant = '" + keepId + "'"), '1');
    assert.equal(await w.sql("select merged_into from participants where merged_into is not null"), keepId);
  });
});
