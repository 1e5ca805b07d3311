// Plays a page with hls.js in headless Chromium and reports what the
// player did, as one JSON object on stdout; the Go test judges it.
//
//   node hlsjs.mjs PAGE_URL SECONDS
//
// The page (served by the Go test) plays its stream with hls.js and keeps
// window.state (errors, fatal) and window.sample() (currentTime,
// readyState, hls.latency, ...). This script waits for playback to start
// (up to 40 s), then samples every 250 ms for SECONDS seconds.
// CHROMIUM overrides the browser (default /usr/bin/chromium).
import { openPage } from './chromium.mjs';

const [url, secondsArg] = process.argv.slice(2);
if (!url) {
  console.error('usage: node hlsjs.mjs PAGE_URL [SECONDS]');
  process.exit(2);
}
const seconds = Number(secondsArg || 8);
const result = { started: false, samples: [], errors: [], fatal: null, console: [], support: null };

let browser;
try {
  browser = await openPage(result);
  const { page } = browser;
  await page.goto(url);
  result.support = await page.evaluate(() => ({
    mse: typeof MediaSource !== 'undefined',
    avc: typeof MediaSource !== 'undefined' && MediaSource.isTypeSupported('video/mp4; codecs="avc1.42c00d"'),
    aac: typeof MediaSource !== 'undefined' && MediaSource.isTypeSupported('audio/mp4; codecs="mp4a.40.2"'),
  }));
  const startBy = Date.now() + 40000;
  while (Date.now() < startBy) {
    const s = await page.evaluate(() => window.sample());
    if (s.fatal) break;
    if (s.t > 0 && s.rs >= 2) { result.started = true; break; }
    await new Promise((r) => setTimeout(r, 200));
  }
  if (result.started) {
    const end = Date.now() + seconds * 1000;
    while (Date.now() < end) {
      result.samples.push(await page.evaluate(() => window.sample()));
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  const st = await page.evaluate(() => window.state);
  result.errors.push(...st.errors);
  result.fatal = st.fatal;
} catch (e) {
  result.errors.push('runner: ' + (e && e.message ? e.message : String(e)));
} finally {
  if (browser) await browser.close();
}
process.stdout.write(JSON.stringify(result) + '\n');
