// Opens mediakit's player page (/APP/STREAM/, pkg/player) in headless
// Chromium with a fake camera and microphone, samples the page's
// window.mediakit state every 100 ms for SECONDS seconds, and prints
// what it saw as one JSON object on stdout; the Go test judges it.
//
//   node page.mjs PAGE_URL SECONDS
//
// firstFrameMs is the time from the start of navigation to the first
// sample with a presented frame. CHROMIUM overrides the browser (default
// /usr/bin/chromium).
import { openPage } from './chromium.mjs';

const [url, secondsArg] = process.argv.slice(2);
if (!url) {
  console.error('usage: node page.mjs PAGE_URL [SECONDS]');
  process.exit(2);
}
const seconds = Number(secondsArg || 5);
const result = { firstFrameMs: null, samples: [], errors: [], console: [] };

let browser;
try {
  browser = await openPage(result);
  const { page } = browser;
  const start = Date.now();
  await page.goto(url);
  const end = start + seconds * 1000;
  while (Date.now() < end) {
    const s = await page.evaluate(() => {
      const m = window.mediakit || {};
      const v = document.getElementById('video');
      return { timing: m.timing, mode: m.mode, frames: m.frames, latency: m.latency, errors: (m.errors || []).slice(), t: v.currentTime, w: v.videoWidth, h: v.videoHeight };
    });
    s.ms = Date.now() - start;
    if (result.firstFrameMs === null && s.frames > 0) result.firstFrameMs = s.ms;
    result.samples.push(s);
    await new Promise((r) => setTimeout(r, 100));
  }
} catch (e) {
  result.errors.push('runner: ' + (e && e.message ? e.message : String(e)));
} finally {
  if (browser) await browser.close();
}
process.stdout.write(JSON.stringify(result) + '\n');
