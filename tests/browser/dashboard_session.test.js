'use strict';
// The realtime session as the host page shows it, against a real relay with
// max_session_s = 10 and a real agent: the page says when the session hit its
// cap and Continue starts a new one; Pause freezes the page while samples
// keep coming; Stop (leaving) lets the relay end the stream after its grace;
// a relay restart shows "reconnecting" and the page recovers.
const { test, before, after } = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const path = require('node:path');
const { OUT, HOST, startStack, launchBrowser, login, livePoints, waitLivePoints } =
  require('./harness');
const { signedRequest } = require('../integration/lib/http');

let stack, context, page;

const pillState = () => page.getAttribute('.pill.state', 'data-state');
const sampleTime = () => page.innerText('[data-tile="uptime"] .tile-sub');
const liveSeq = () => page.getAttribute('[data-chart="cpu"]', 'data-live-seq').then(Number);

before(async () => {
  fs.mkdirSync(OUT, { recursive: true });
  stack = await startStack({ max_session_s: 10 });
  ({ context, page } = await launchBrowser(stack.tmp));
  await login(page, stack, 'alice');
  await page.click(`tr[data-host="${HOST}"] a.btn`);
  await page.waitForSelector(`.host-page[data-host="${HOST}"]`);
});

after(async () => {
  if (context) await context.close().catch(() => {});
  if (stack) await stack.stop();
});

test('session_that_reaches_its_cap_says_so_and_continue_starts_a_new_one', async () => {
  await page.click('button.realtime');
  await waitLivePoints(page, 3, 9000);
  // The countdown to the cap is shown while streaming.
  assert.match(await page.innerText('.host-head .ends'), /session ends in 0:0\d/);
  await page.waitForSelector('.banner:has-text("reached its time limit")', { timeout: 30000 })
    .catch((e) => assert.fail(`no cap banner: ${e.message}\n${stack.logs()}`));
  assert.strictEqual(await pillState(), 'stopped');
  // The relay publishes every sample the agent posts, also the one taken
  // just before the relay's tick stopped the session at its cap, so a sample
  // often comes after the "stopped" event. Send such a late sample the way
  // the relay does (a `sample` on the host channel, here through the Pusher
  // HTTP API) so every run has one: the pill must stay stopped.
  const hist = await page.evaluate((h) => fetch(
    `/api/v1/hosts/${encodeURIComponent(h)}/history?since=0`).then((r) => r.json()), HOST);
  const last = hist.samples[hist.samples.length - 1];
  const late = { ...last, seq: Math.max(last.seq, await liveSeq()) + 1, ts_ms: last.ts_ms + 1000 };
  const pub = await signedRequest(stack, 'POST', `/apps/${stack.app.id}/events`,
    { name: 'sample', channel: `private-host-${HOST}`, data: JSON.stringify(late) });
  assert.strictEqual(pub.status, 200, pub.body);
  await page.waitForFunction((k) =>
    Number(document.querySelector('[data-chart="cpu"]').dataset.liveSeq) >= k,
  late.seq, { timeout: 10000, polling: 100 });
  assert.strictEqual(await pillState(), 'stopped');
  assert.match(await page.innerText('.pill.state'), /limit reached/);
  await page.screenshot({ path: path.join(OUT, 'session-cap.png') });

  const before = await livePoints(page);
  await page.click('.banner button:has-text("Continue")');
  await page.waitForSelector('.banner', { state: 'hidden', timeout: 5000 });
  // The agent's next seq may be the late one's (a duplicate, not counted).
  await waitLivePoints(page, before + 3, 20000)
    .catch((e) => assert.fail(`no samples after Continue: ${e.message}\n${stack.logs()}`));
  assert.strictEqual(await pillState(), 'live');
});

test('pause_freezes_the_page_and_resume_catches_up', async () => {
  await waitLivePoints(page, (await livePoints(page)) + 1, 15000);
  await page.click('.host-head button:has-text("Pause")');
  const frozen = await sampleTime();
  const n = await livePoints(page);
  await waitLivePoints(page, n + 2, 15000); // samples still arrive...
  assert.strictEqual(await sampleTime(), frozen); // ...but are not drawn
  assert.match(await page.innerText('.pill.state'), /paused/);
  await page.click('.host-head button:has-text("Resume")');
  await page.waitForFunction((t) =>
    document.querySelector('[data-tile="uptime"] .tile-sub').textContent !== t,
  frozen, { timeout: 10000 });
});

test('window_buttons_switch_between_1_5_and_10_minutes', async () => {
  for (const label of ['10 min', '5 min', '1 min']) {
    await page.click(`.segmented button:has-text("${label}")`);
    assert.strictEqual(
      await page.getAttribute(`.segmented button:has-text("${label}")`, 'aria-pressed'), 'true');
  }
});

test('stop_ends_the_stream_after_the_grace_period', async () => {
  await page.click('button.realtime'); // Stop
  assert.strictEqual(await pillState(), 'stopped');
  await page.click('.topbar a:has-text("Hosts")');
  const row = `tr[data-host="${HOST}"]`;
  await page.waitForSelector(row);
  // session_grace_s = 5, then the next sample post is told to stop; the
  // list refreshes every 5 s.
  await page.waitForFunction((sel) => /idle/.test(document.querySelector(sel).innerText),
    row, { timeout: 20000 })
    .catch((e) => assert.fail(`still streaming after Stop: ${e.message}\n${stack.logs()}`));
});

test('a_relay_restart_shows_reconnecting_and_the_page_recovers', async () => {
  await page.click(`tr[data-host="${HOST}"] a.btn`);
  await page.click('button.realtime');
  await waitLivePoints(page, 2, 15000);
  await stack.stopRelay();
  await page.waitForSelector('.pill.state[data-state="reconnecting"]', { timeout: 10000 });
  await page.screenshot({ path: path.join(OUT, 'session-reconnecting.png') });
  await stack.startRelay();
  // Logins live in the relay's memory: after a restart the page either asks
  // to sign in again or, if the login survived, is live again.
  await page.waitForSelector('#login-user, .pill.state[data-state="live"]', { timeout: 30000 })
    .catch((e) => assert.fail(`page did not recover: ${e.message}\n${stack.logs()}`));
  if (await page.locator('#login-user').count()) {
    await page.fill('#login-user', 'alice');
    await page.fill('#login-password', stack.pw.alice);
    await page.click('.login-card button[type=submit]');
    await page.waitForSelector(`.host-page[data-host="${HOST}"]`, { timeout: 10000 });
    await page.click('button.realtime');
  }
  const n = await livePoints(page);
  await waitLivePoints(page, n + 2, 10000)
    .catch((e) => assert.fail(`no samples after the restart: ${e.message}\n${stack.logs()}`));
  assert.strictEqual(await pillState(), 'live');
});
