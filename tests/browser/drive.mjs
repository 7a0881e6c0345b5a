// Drives Debian's headless Chromium through a browser call, for
// tests/tests/browser_call.rs (which starts the host and checks the
// numbers this prints). Chromium's fake microphone plays a WAV file.
//
// Steps: open the dashboard and give it the admin token; open the voice
// page and start a call; check the microphone is not silent; wait for the
// transcript, the answer, and the answer's audio (marks echoed); check the
// dashboard lists the call with both lines; screenshot both pages; hang up
// from the dashboard and check the page sees the call end.
//
// Input (environment): VG_BASE (http://127.0.0.1:PORT), VG_PAGE (path and
// query of the voice page), VG_ADMIN_TOKEN, VG_WAV, VG_OUT (folder for
// screenshots), VG_CHROMIUM (default /usr/bin/chromium), VG_TIMEOUT_MS.
// Output: one JSON line on stdout; exit 1 with {"error":…} on failure.
// Every wait is bounded.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const env = (name, fallback) => {
  const v = process.env[name] ?? fallback;
  if (v === undefined) throw new Error(`${name} is not set`);
  return v;
};

const base = env('VG_BASE');
const pagePath = env('VG_PAGE');
const adminToken = env('VG_ADMIN_TOKEN');
const wav = env('VG_WAV');
const out = env('VG_OUT');
const executablePath = env('VG_CHROMIUM', '/usr/bin/chromium');
const budgetMs = Number(env('VG_TIMEOUT_MS', '120000'));

const started = Date.now();
const timings = {};
const mark = (name) => {
  timings[name] = Date.now() - started;
};
const result = { console: [], pageErrors: [] };

// Fails the run if it is not over in time, whatever is stuck.
const watchdog = setTimeout(() => {
  console.log(JSON.stringify({ error: `driver budget of ${budgetMs} ms exhausted`, ...result, timings }));
  process.exit(1);
}, budgetMs);

function watch(page, name) {
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') result.console.push(`${name}: ${m.text()}`);
  });
  page.on('pageerror', (e) => result.pageErrors.push(`${name}: ${e.message}`));
}

const browser = await chromium.launch({
  executablePath,
  headless: true,
  // Flags measured in shared/docs/browser-testing.md: no sandbox (root),
  // fake media devices with the WAV played once as the microphone.
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--use-fake-device-for-media-stream',
    '--use-fake-ui-for-media-stream',
    `--use-file-for-fake-audio-capture=${wav}%noloop`,
    '--autoplay-policy=no-user-gesture-required',
  ],
  timeout: 30_000,
});

let callPage;
let dashboard;
try {
  mark('launched');
  const context = await browser.newContext({
    viewport: { width: 1100, height: 820 },
    colorScheme: 'light',
    permissions: ['microphone'],
  });

  dashboard = await context.newPage();
  watch(dashboard, 'dashboard');
  await dashboard.goto(`${base}/dashboard/`, { timeout: 15_000 });
  await dashboard.fill('#token', adminToken);
  await dashboard.click('#token-form button[type=submit]');
  await dashboard.waitForSelector('#conn-state[data-state="live"]', { timeout: 15_000 });
  mark('dashboard_live');

  callPage = await context.newPage();
  watch(callPage, 'call');
  await callPage.goto(`${base}${pagePath}`, { timeout: 15_000 });
  await callPage.waitForSelector('#start:not([disabled])', { timeout: 15_000 });
  result.identity = await callPage.evaluate(() => window.voicegate.identity);
  await callPage.click('#start');
  await callPage.waitForFunction(() => window.voicegate.state === 'live', null, { timeout: 20_000 });
  result.sessionId = await callPage.evaluate(() => window.voicegate.sessionId);
  mark('call_live');

  // A wrong path or an unreadable WAV plays silence without an error.
  await callPage.waitForFunction(() => window.voicegate.micMaxPeakDbfs > -50, null, { timeout: 10_000 });
  result.micMaxPeakDbfs = await callPage.evaluate(() => window.voicegate.micMaxPeakDbfs);
  mark('mic_heard');

  await callPage.waitForSelector('#log [data-kind="transcript"]', { timeout: 60_000 });
  mark('transcript');
  await callPage.waitForSelector('#log [data-kind="answer"]', { timeout: 30_000 });
  mark('answer');
  const texts = async (kind) =>
    callPage.$$eval(`#log [data-kind="${kind}"] p`, (ps) => ps.map((p) => p.textContent));
  result.transcripts = await texts('transcript');
  result.answers = await texts('answer');

  // The answer is spoken back: frames arrive and their marks come back
  // once played.
  await callPage.waitForFunction(
    () => window.voicegate.framesReceived > 0 && window.voicegate.marksEchoed > 0,
    null,
    { timeout: 30_000 },
  );
  mark('answer_played');
  await callPage.screenshot({ path: join(out, 'browser.png'), fullPage: true });

  // The dashboard lists the call with what was said and answered.
  const card = `#calls li[data-session="${result.sessionId}"]`;
  await dashboard.waitForSelector(`${card} .line.caller`, { timeout: 15_000 });
  await dashboard.waitForSelector(`${card} .line.agent`, { timeout: 15_000 });
  // The next poll shows the marks the page echoed.
  await dashboard.waitForFunction(
    (sel) => Number(document.querySelector(`${sel} [data-stat="marks_in"]`)?.textContent) > 0,
    card,
    { timeout: 10_000 },
  );
  result.dashboard = await dashboard.$eval(card, (li) => ({
    state: li.dataset.state,
    from: li.querySelector('.from').textContent,
    transport: li.querySelector('.transport').textContent,
    caller: [...li.querySelectorAll('.line.caller .text')].map((e) => e.textContent),
    agent: [...li.querySelectorAll('.line.agent .text')].map((e) => e.textContent),
    marksIn: Number(li.querySelector('[data-stat="marks_in"]').textContent),
  }));
  await dashboard.bringToFront();
  await dashboard.screenshot({ path: join(out, 'dashboard.png'), fullPage: true });
  mark('dashboard_checked');

  // Hang up from the dashboard; the page sees its socket close.
  await dashboard.click(`${card} button.hangup`);
  await callPage.waitForFunction(() => window.voicegate.closeCode !== null, null, { timeout: 15_000 });
  await dashboard.waitForSelector(`#ended tr[data-session="${result.sessionId}"]`, { timeout: 15_000 });
  result.afterHangup = await callPage.evaluate(() => ({
    state: window.voicegate.state,
    closeCode: window.voicegate.closeCode,
    closeReason: window.voicegate.closeReason,
    framesSent: window.voicegate.framesSent,
    framesReceived: window.voicegate.framesReceived,
    marksEchoed: window.voicegate.marksEchoed,
    micMaxPeakDbfs: window.voicegate.micMaxPeakDbfs,
    errors: window.voicegate.errors,
  }));
  result.endedReason = await dashboard.$eval(
    `#ended tr[data-session="${result.sessionId}"] td:last-child`,
    (td) => td.textContent,
  );
  mark('hung_up');
  clearTimeout(watchdog);
  console.log(JSON.stringify({ ...result, timings }));
  await browser.close();
} catch (err) {
  clearTimeout(watchdog);
  // Whatever the pages showed when it failed helps more than the message.
  for (const [page, name] of [[callPage, 'failure-browser.png'], [dashboard, 'failure-dashboard.png']]) {
    if (page) await page.screenshot({ path: join(out, name), fullPage: true }).catch(() => {});
  }
  if (callPage) {
    result.pageState = await callPage.evaluate(() => window.voicegate).catch(() => null);
  }
  try {
    writeFileSync(join(out, 'failure.json'), JSON.stringify({ ...result, timings }, null, 2));
  } catch (_) {
    /* the message below is what matters */
  }
  console.log(JSON.stringify({ error: String(err && err.message ? err.message : err), ...result, timings }));
  await browser.close().catch(() => {});
  process.exit(1);
}
