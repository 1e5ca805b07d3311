// Drives mediakit's web console (/console/, pkg/console) in headless
// Chromium as a person would, and prints what it saw as one JSON object
// on stdout; the Go test (pkg/server/console_browser_test.go) judges it.
//
//   node console.mjs PLAN_JSON
//
// PLAN_JSON: { url, secret, wrongSecret, dir, views: { NAME: [texts] },
//   play: { key }, addProxy: { app, stream, url }, deleteProxy: KEY,
//   recording: NAME }
// Each view is opened from the menu and its text is waited for (up to
// 30 s each: the page polls every 2 s); screenshots of every view go to
// dir as desktop-NAME.png and phone-NAME.png. CHROMIUM overrides the
// browser (default /usr/bin/chromium).
import { openPage } from './chromium.mjs';

const plan = JSON.parse(process.argv[2] || '{}');
if (!plan.url) {
  console.error('usage: node console.mjs PLAN_JSON');
  process.exit(2);
}
const WAIT = 30000;
const result = {
  steps: [], errors: [], console: [], consoleErrors: [],
  login: {}, views: {}, phone: {}, player: null, recording: null, proxy: {}, logout: {}, cookie: null, timings: {},
};
const step = (s) => result.steps.push(s);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// waitFor polls fn in the page until it returns a truthy value or the
// deadline passes; it returns the last value either way.
async function waitFor(page, fn, arg, ms = WAIT) {
  const end = Date.now() + ms;
  let v;
  for (;;) {
    v = await page.evaluate(fn, arg).catch((e) => ({ evalError: String(e) }));
    if (v && !v.evalError) return v;
    if (Date.now() > end) return v;
    await sleep(200);
  }
}

// apiFromPage calls the API from the page's own origin, as its script
// does, with or without the console header.
function apiFromPage(page, name, header) {
  return page.evaluate(async ({ name, header }) => {
    const r = await fetch('/index/api/' + name, { method: 'POST', headers: header ? { 'X-Mediakit-Console': '1' } : {}, credentials: 'same-origin' });
    return r.json();
  }, { name, header });
}

// openView opens a view from the menu and waits for a poll of it to
// complete and for every expected text to be in it; it returns the view's
// text and the texts missing.
async function openView(page, name, expect) {
  const t0 = Date.now();
  const polls = await page.evaluate(() => window.mediakitConsole.polls);
  await page.click(`#nav a[data-view="${name}"]`);
  const seen = await waitFor(page, ({ name, expect, polls }) => {
    const v = document.getElementById('view-' + name);
    if (!v || v.hidden || window.mediakitConsole.polls <= polls) return null;
    const text = v.innerText;
    const missing = expect.filter((s) => !text.includes(s));
    return missing.length ? null : { text, missing };
  }, { name, expect, polls });
  if (seen && seen.text) return { text: seen.text.slice(0, 4000), missing: [], ms: Date.now() - t0 };
  const text = await page.evaluate((name) => document.getElementById('view-' + name).innerText, name).catch(() => '');
  return { text: text.slice(0, 4000), missing: expect.filter((s) => !text.includes(s)), ms: Date.now() - t0 };
}

let browser;
try {
  browser = await openPage(result);
  const { page } = browser;
  page.on('console', (m) => {
    if (m.type() === 'error' && result.consoleErrors.length < 50) result.consoleErrors.push(m.text() + ' @ ' + (m.location().url || ''));
  });
  await page.setViewportSize({ width: 1280, height: 860 });

  step('open');
  await page.goto(plan.url);
  await page.waitForSelector('#login:not([hidden])', { timeout: WAIT });
  result.login.formShown = true;
  result.login.navHidden = await page.evaluate(() => document.getElementById('nav').hidden);
  result.login.apiWithoutSession = await apiFromPage(page, 'getServerConfig', true);
  await page.screenshot({ path: plan.dir + '/desktop-login.png' });

  step('wrong secret');
  await page.fill('#login-secret', plan.wrongSecret);
  await page.click('#login-form button[type=submit]');
  await page.waitForFunction(() => document.getElementById('login-error').textContent !== '', null, { timeout: WAIT });
  result.login.wrongError = await page.textContent('#login-error');
  result.login.wrongStillOut = await page.evaluate(() => !document.getElementById('login').hidden && document.getElementById('nav').hidden);

  step('login');
  await page.fill('#login-secret', plan.secret);
  await page.click('#login-form button[type=submit]');
  await page.waitForSelector('#nav:not([hidden])', { timeout: WAIT });
  result.login.who = await page.textContent('#who');
  const cookies = await page.context().cookies();
  result.cookie = cookies.find((c) => c.name === 'mediakit_console') || null;
  if (result.cookie) result.cookie.value = result.cookie.value.length + ' chars';
  result.login.apiWithSession = await apiFromPage(page, 'version', true);
  result.login.apiCookieNoHeader = await apiFromPage(page, 'version', false);

  for (const [name, expect] of Object.entries(plan.views)) {
    step('view ' + name);
    result.views[name] = await openView(page, name, expect);
    await page.screenshot({ path: `${plan.dir}/desktop-${name}.png`, fullPage: true });
  }

  step('player');
  await openView(page, 'streams', []);
  const t0 = Date.now();
  await page.click(`#streams-list article[data-key="${plan.play.key}"] button[data-act=play][data-mode=""]`);
  const frame = await (await page.waitForSelector('#player-frame[src]', { timeout: WAIT })).contentFrame();
  let sample = null;
  for (const end = Date.now() + WAIT; Date.now() < end;) {
    sample = await frame.evaluate(() => {
      const m = window.mediakit || {};
      const v = document.getElementById('video');
      return { mode: m.mode, frames: m.frames, errors: (m.errors || []).slice(), w: v && v.videoWidth, h: v && v.videoHeight };
    }).catch((e) => ({ evalError: String(e) }));
    if (sample && sample.frames >= 25) break;
    await sleep(250);
  }
  result.player = { ...sample, ms: Date.now() - t0, src: await page.getAttribute('#player-frame', 'src') };
  await page.screenshot({ path: `${plan.dir}/desktop-player.png`, fullPage: true });
  await page.click('#player-close');

  step('recording playback');
  await openView(page, 'recordings', [plan.recording]);
  await page.click(`#rec-files button[data-act=play-file][data-name="${plan.recording}"]`);
  const rec = await waitFor(page, () => {
    const v = document.getElementById('rec-video');
    const q = v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality() : {};
    return q.totalVideoFrames >= 10 ? { frames: q.totalVideoFrames, w: v.videoWidth, h: v.videoHeight, t: v.currentTime, src: v.getAttribute('src') } : null;
  });
  const links = await page.evaluate(async (name) => {
    const row = [...document.querySelectorAll('#rec-files tr')].find((tr) => tr.innerText.includes(name));
    const dl = row && row.querySelector('a[download]');
    const range = document.getElementById('rec-range-download');
    const get = async (href) => {
      if (!href) return null;
      const r = await fetch(href, { credentials: 'same-origin' });
      const b = await r.arrayBuffer();
      return { status: r.status, type: r.headers.get('Content-Type'), bytes: b.byteLength, href };
    };
    return { file: await get(dl && dl.getAttribute('href')), range: await get(range.getAttribute('href')) };
  }, plan.recording);
  result.recording = { playback: rec, ...links };
  await page.screenshot({ path: `${plan.dir}/desktop-recording-playback.png`, fullPage: true });
  await page.click('#rec-close');

  step('add and delete proxies');
  await openView(page, 'proxies', [plan.deleteProxy]);
  await page.fill('#proxy-form input[name=app]', plan.addProxy.app);
  await page.fill('#proxy-form input[name=stream]', plan.addProxy.stream);
  await page.fill('#proxy-form input[name=url]', plan.addProxy.url);
  await page.click('#proxy-form button[type=submit]');
  const addedKey = '__defaultVhost__/' + plan.addProxy.app + '/' + plan.addProxy.stream;
  result.proxy.added = await waitFor(page, (key) => !!document.querySelector(`#proxies-list tr[data-key="${key}"]`), addedKey);
  result.proxy.addStatus = await page.textContent('#proxy-form .form-status');
  const del = `#proxies-list tr[data-key="${plan.deleteProxy}"] button[data-act=del-proxy]`;
  await page.click(del);
  result.proxy.armedLabel = await page.textContent(del);
  await page.click(del);
  result.proxy.deleted = await waitFor(page, (key) => !document.querySelector(`#proxies-list tr[data-key="${key}"]`), plan.deleteProxy);

  step('phone');
  await page.setViewportSize({ width: 390, height: 844 });
  for (const name of Object.keys(plan.views)) {
    await openView(page, name, []);
    result.phone[name] = await page.evaluate(() => ({
      scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
      // Anything wider than the screen: what would make a phone scroll sideways.
      wide: [...document.querySelectorAll('main *')].filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1 && e.offsetParent !== null)
        .slice(0, 5).map((e) => e.tagName + (e.id ? '#' + e.id : '') + '.' + e.className),
    }));
    await page.screenshot({ path: `${plan.dir}/phone-${name}.png`, fullPage: true });
  }

  step('logout');
  await page.setViewportSize({ width: 1280, height: 860 });
  await page.click('#logout');
  await page.waitForSelector('#login:not([hidden])', { timeout: WAIT });
  result.logout.loginShown = true;
  result.logout.apiAfter = await apiFromPage(page, 'version', true);
  result.logout.cookieLeft = (await page.context().cookies()).some((c) => c.name === 'mediakit_console');
  // The page stays quiet once logged out: no poll runs.
  await page.evaluate(() => performance.clearResourceTimings());
  await sleep(2500);
  result.logout.requestsAfter = await page.evaluate(() => performance.getEntriesByType('resource').map((e) => e.name));
  step('done');
} catch (e) {
  result.errors.push('runner: ' + (e && e.message ? e.message : String(e)));
} finally {
  if (browser) await browser.close();
}
process.stdout.write(JSON.stringify(result) + '\n');
