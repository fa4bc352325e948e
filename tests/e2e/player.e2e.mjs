// End-to-end test of fer-play's page in headless Debian Chromium (playwright-core, no browser download).
// Needs a running fer-web-fake (tests/e2e/run.sh starts one) whose script begins "happy,sad" and whose
// tracks are a few seconds long. Env: FER_E2E_URL (the server), FER_E2E_ARTIFACTS (folder for the
// screenshots), FER_CHROMIUM (default /usr/bin/chromium). Exits 0 on success, 1 on failure.
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const url = process.env.FER_E2E_URL;
const artifacts = process.env.FER_E2E_ARTIFACTS || join(process.cwd(), 'e2e-artifacts');
const executablePath = process.env.FER_CHROMIUM || '/usr/bin/chromium';
const STEP_MS = 15000;

if (!url) {
  console.error('player.e2e: set FER_E2E_URL to the server, e.g. http://127.0.0.1:8077/ (run.sh does)');
  process.exit(1);
}
mkdirSync(artifacts, { recursive: true });

function check(condition, message) {
  if (!condition) throw new Error(message);
  console.log(`ok - ${message}`);
}

// Resolves once the page's <audio> is playing the given track and its time has moved on.
async function waitForPlaying(page, trackId, what) {
  await page.waitForFunction(
    (id) => {
      const audio = document.getElementById('audio');
      return audio.src.endsWith(`/api/audio/${id}`) && !audio.paused && audio.currentTime > 0.25;
    },
    trackId,
    { timeout: STEP_MS },
  );
  const t0 = await page.evaluate(() => document.getElementById('audio').currentTime);
  await page.waitForTimeout(300);
  const t1 = await page.evaluate(() => document.getElementById('audio').currentTime);
  check(t1 > t0, `${what}: track ${trackId} is playing and its time advances (${t0.toFixed(2)} s -> ${t1.toFixed(2)} s)`);
}

const userDataDir = mkdtempSync(join(tmpdir(), 'fer-e2e-chromium-'));
let context;
let page;
const pageErrors = [];
const detects = [];
let failed = false;

try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    viewport: { width: 1200, height: 820 },
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      // The test starts music without a click on a play button, as the page does after a detect.
      '--autoplay-policy=no-user-gesture-required',
    ],
  });
  page = context.pages()[0] || (await context.newPage());
  page.on('pageerror', (error) => pageErrors.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error') pageErrors.push(`console: ${message.text()}`);
  });
  page.on('request', (request) => {
    if (request.method() === 'POST' && new URL(request.url()).pathname === '/api/detect') detects.push(Date.now());
  });

  await page.goto(url, { waitUntil: 'load', timeout: STEP_MS });
  await page.waitForSelector('#library li.track', { timeout: STEP_MS });
  const titles = await page.$$eval('#library li.track .title', (nodes) => nodes.map((n) => n.textContent));
  check(titles.length === 4, `the song list shows the 4 tracks (${titles.join(', ')})`);
  check(titles[0] === 'Sunny Morning' && titles[1] === 'Rainy Window', 'the songs are in library order');
  check((await page.$$('#library li.track button.play')).length === 4, 'every song has a play button');
  check((await page.$$('#library li.track button.add')).length === 4, "every song has a '+' button");
  check(!(await page.isChecked('#emotion-switch')), 'the Emotion switch starts off');

  // Emotion mode on: "looking..." while the fake engine looks, then the decision and its song.
  await page.click('label.switch');
  await page.waitForSelector('#emotion-panel[data-state="looking"]', { timeout: STEP_MS });
  check((await page.textContent('#emotion-status')).startsWith('looking'), 'the page says "looking..." during a detect');
  await page.waitForFunction(() => document.getElementById('emotion-label').textContent === 'happy', null, {
    timeout: STEP_MS,
  });
  check(true, 'the detected emotion (happy) appears');
  check((await page.$$('#probabilities li.bar')).length === 7, 'one probability bar per class');
  check((await page.textContent('#probabilities li.bar.chosen .bar-value')) === '64%', 'the chosen class shows 64%');
  await page.waitForFunction(() => {
    const face = document.getElementById('face');
    return !face.hidden && face.complete && face.naturalWidth === 48;
  }, null, { timeout: STEP_MS });
  check(true, 'the face crop (48x48 PNG) is shown');
  await waitForPlaying(page, 0, 'first decision');
  check((await page.textContent('#now-title')) === 'Sunny Morning', 'the player bar names the playing song');
  await page.screenshot({ path: join(artifacts, 'player-emotion.png') });
  check(detects.length === 1, 'exactly one detect so far');

  // The paper's step 7: when the song ends, the page looks again and plays the next song by itself.
  await page.waitForFunction(() => document.getElementById('emotion-label').textContent === 'sad', null, {
    timeout: STEP_MS,
  });
  check(detects.length === 2, 'the end of the song triggered a second detect without any click');
  await waitForPlaying(page, 1, 'second decision');
  const state = await page.evaluate(async () => (await fetch('/api/state')).json());
  check(state.emotion_mode === true && state.now_playing === 1, 'the server state has emotion mode on and track 1');

  // Emotion mode off: the queue plays normally.
  await page.click('label.switch');
  await page.waitForSelector('#emotion-panel[data-state="off"]', { timeout: STEP_MS });
  await page.click('#library li.track[data-id="3"] button.add');
  check((await page.$$('#queue li.track')).length === 1, "'+' puts the song in the queue");
  await page.click('#next');
  await waitForPlaying(page, 3, 'next with emotion mode off');
  check((await page.$$('#queue li.track')).length === 0, 'the queued song left the queue when it started');
  const offState = await page.evaluate(async () => (await fetch('/api/state')).json());
  check(offState.emotion_mode === false && offState.now_playing === 3, 'the server state follows the switch and the song');
  check(detects.length === 2, 'no detect happens with emotion mode off');
  await page.screenshot({ path: join(artifacts, 'player-queue.png') });
  check(pageErrors.length === 0, `no page errors${pageErrors.length ? `: ${pageErrors.join(' | ')}` : ''}`);
} catch (error) {
  failed = true;
  console.error(`not ok - ${error.message}`);
  if (pageErrors.length) console.error(`page errors: ${pageErrors.join(' | ')}`);
  if (page) await page.screenshot({ path: join(artifacts, 'player-failure.png') }).catch(() => {});
} finally {
  if (context) await context.close().catch(() => {});
  rmSync(userDataDir, { recursive: true, force: true });
}
console.log(`player.e2e: ${failed ? 'FAILED' : 'passed'}; screenshots in ${artifacts}`);
process.exit(failed ? 1 : 0);
