// test_dashboard_report.mjs — a coordinator makes the funder report of a
// quarter: the key figures, visits per month as bars and as a table, per
// activity, how often people came and who referred the new ones; downloads
// a table as CSV (opened and checked: byte order mark, Dutch headers, ';')
// and the participants' list with pseudonyms, then with names; each
// download appears in the list of downloads. Presets fill the period. By
// keyboard, at 390 px wide (no sideways scrolling) and in English. Dates
// are named here (January to March 2025), not taken from today.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { withWorld, sessionCard } from './lib.mjs';

const JAN8 = '2025-01-08', JAN15 = '2025-01-15', FEB5 = '2025-02-05', MAR5 = '2025-03-05';

async function download(page, locator) {
  const [file] = await Promise.all([page.waitForEvent('download'), locator.click()]);
  return { name: file.suggestedFilename(), text: await readFile(await file.path(), 'utf8') };
}

test('the funder report of a quarter, and its downloads', async () => {
  await withWorld('report', async (w) => {
    await w.enroll('zaal', 'Zaal 1');
    const page = await w.page();
    await page.setViewportSize({ width: 1280, height: 900 });
    await sessionCard(page, 'Time to Dance').waitFor();
    const dates = [JAN8, JAN15, FEB5, MAR5];
    const ids = Object.fromEntries((await w.sessionsOf('Time to Dance', dates)).map((id, i) => [dates[i], id]));
    for (const args of [['sync'], ['checkin', ids[JAN8], 'Fatima el Amrani'], ['checkin', ids[JAN8], 'Joop de Vries'],
      ['walkin', ids[JAN8], 'Noor Haddad', '--referral', 'buurtcoach'], ['tally', ids[JAN8], '2'],
      ['checkin', ids[JAN15], 'Fatima el Amrani'], ['checkin', ids[FEB5], 'Fatima el Amrani'],
      ['checkin', ids[FEB5], 'Joop de Vries'], ['walkin', ids[FEB5], 'Zeynep Kaya', '--referral', 'wijkteam'],
      ['tally', ids[FEB5], '1'], ['checkin', ids[MAR5], 'Fatima el Amrani'], ['sync']]) await w.tablet('zaal', ...args);

    // A preset fills the period from the organisation's today.
    await page.locator('#nav a[href="#report"]').click();
    await page.locator('#report-preset').selectOption('last_year');
    const [from, to] = [await page.locator('#report-from').inputValue(), await page.locator('#report-to').inputValue()];
    assert.match(from, /^\d{4}-01-01$/);
    assert.equal(to, from.slice(0, 4) + '-12-31');

    // The quarter, chosen and shown by keyboard.
    await page.locator('#report-from').fill('2025-01-01');
    await page.locator('#report-to').fill('2025-03-31');
    assert.equal(await page.locator('#report-preset').inputValue(), 'custom');
    await page.locator('#report-scope').focus();
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'report-show');
    await page.keyboard.press('Enter');
    const body = page.locator('#report-body');
    await body.locator('[data-figure="visits"]').waitFor();
    const figure = async (k) => (await body.locator(`[data-figure="${k}"] .value`).textContent());
    assert.equal(await figure('sessions'), '4');
    assert.equal(await figure('visits'), '11');
    assert.match(await body.locator('[data-figure="visits"] .note').textContent(), /8 met naam \+ 3 anoniem/);
    assert.equal(await figure('participants'), '4');
    assert.equal(await figure('new'), '4');
    assert.equal(await figure('average'), '2,8');
    assert.match(await body.getByTestId('report-period').textContent(), /1 januari 2025 t\/m .*31 maart 2025/);
    assert.equal(await body.locator('svg.bars rect.bar-named').count(), 3);
    const months = body.locator('[data-report-table="months"] tbody tr');
    assert.equal(await months.count(), 3);
    assert.match(await months.first().textContent(), /jan\.? 2025\s*2\s*6\s*4\s*2\s*3\s*3/);
    assert.match(await body.locator('[data-report-table="frequency"] tbody').textContent(), /1 keer\s*2.*4–9 keer\s*1/);
    assert.match(await body.locator('[data-report-table="referrals"] tbody').textContent(), /buurtcoach\s*1/);
    await w.shot(page, 'report');

    // A table as CSV, for a Dutch spreadsheet.
    const csv = await download(page, body.locator('[data-report-table="months"] a[data-table="months"]'));
    assert.equal(csv.name, 'turf-months-2025-01-01-2025-03-31.csv');
    assert.ok(csv.text.startsWith('\ufeffMaand;Bijeenkomsten;Bezoeken;Met naam;Anoniem;Deelnemers;Nieuw\r\n'), csv.text);
    assert.match(csv.text, /\r\n2025-02;1;4;3;1;3;1\r\n/);

    // The participants: pseudonyms, then (deliberately) names.
    let people = await download(page, body.locator('#people-csv'));
    assert.doesNotMatch(people.text, /Fatima|Zeynep/);
    assert.equal(people.text.trim().split('\r\n').length, 5);
    await body.locator('#people-names').check();
    people = await download(page, body.locator('#people-csv'));
    assert.match(people.text, /Fatima el Amrani;4;2025-01-08;2025-03-05;1;huisarts/);

    // Each download is listed, newest first, with who and how many rows.
    const list = page.locator('#downloads-body li');
    await page.waitForFunction(() => document.querySelectorAll('#downloads-body li').length === 3);
    assert.match(await list.first().textContent(), /Demo coordinator · participants 2025-01-01\.\.2025-03-31 · CSV · 4 rijen · met namen/);
    assert.match(await list.nth(2).textContent(), /months .* · CSV · 3 rijen/);

    // One activity only.
    await page.locator('#report-scope').selectOption({ label: 'Koffieochtend' });
    await page.locator('#report-show').click();
    await page.waitForFunction(() => document.querySelector('#report-body [data-figure="sessions"] .value')?.textContent === '0');

    // At a phone's width nothing needs scrolling sideways; in English.
    await page.locator('#report-scope').selectOption('');
    await page.locator('#report-show').click();
    await page.waitForFunction(() => document.querySelector('#report-body [data-figure="sessions"] .value')?.textContent === '4');
    await page.setViewportSize({ width: 390, height: 844 });
    assert.equal(await page.evaluate(() => document.documentElement.scrollWidth), 390);
    await w.shot(page, 'report-phone');
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.locator('#lang').click();
    assert.match(await body.locator('[data-figure="average"] .label').textContent(), /Average per session/);
    assert.equal(await figure('average'), '2.8');
    await page.locator('#lang').click();
    assert.deepEqual(w.pageErrors, []);
  });
});
