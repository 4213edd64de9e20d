// test_tablet_plain_http.mjs — the tablet app reached over plain http by a
// name (as a tablet reaches http://192.168.1.10:7780): not a secure
// context, so no service worker. The app says so on screen, and still
// records offline into IndexedDB and sends it when turfd is back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withWorld } from './lib.mjs';
import { BrowserTablet, PORTRAIT } from './tablet_lib.mjs';

test('over plain http the app says it cannot start offline, and still records offline', async () => {
  await withWorld('plainhttp', async (w) => {
    /* turfd.test resolves to 127.0.0.1 in this browser only. */
    const t = await new BrowserTablet(w, 'http', PORTRAIT, ['--host-resolver-rules=MAP turfd.test 127.0.0.1']).launch();
    const link = w.enrolLink.replace('//127.0.0.1:', '//turfd.test:');
    await t.enrol(link, 'Tablet http');
    assert.equal(await t.page.evaluate(() => window.isSecureContext), false);
    await t.page.locator('#insecure').waitFor();
    assert.match(await t.page.locator('#insecure').textContent(), /https/);
    assert.equal(await t.page.evaluate(() => 'serviceWorker' in navigator && navigator.serviceWorker.controller), false);

    await w.stopTurfd();
    await t.waitState('offline');
    await t.openSession('Time to Dance');
    await t.checkIn('Priya Ramdin', 'priya');
    await t.waitOutbox(1);
    await t.shot('insecure-offline');

    await w.startTurfd();
    await t.networkBack();
    await t.waitOutbox(0);
    assert.equal(await w.sql("SELECT count(*) FROM checkins c JOIN participants p ON p.id = c.participant "
      + "WHERE p.name = 'Priya Ramdin' AND c.status = 'present'"), '1');
    await t.close();
  });
});
