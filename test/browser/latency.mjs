// Glass-to-glass latency of mediakit's player page in headless Chromium.
//
//   node latency.mjs STREAM_URL [MODES] [WARMUP_S] [SECONDS] [SOURCE]
//
// STREAM_URL is http://HOST:PORT/APP/STREAM (no trailing slash); MODES a
// comma-separated list of the page's modes (default webrtc,llhls,flv);
// WARMUP_S (default 5) and SECONDS (default 20) the warm-up and the
// measurement window of each mode, counted from its first decoded frame;
// SOURCE whip (default: this script publishes) or none (the stream is
// published already, its frames carrying the same code; bench/latency's
// RTMP source).
//
// One browser, one clock. The publisher page, the player page with
// ?publish=1, publishes with its own WHIP code (H.264 first) a canvas
// instead of the camera: getUserMedia is replaced by canvas.captureStream,
// and every frame (30 a second, 640x360) carries the wall-clock time it
// was drawn (performance.timeOrigin + performance.now(), in ms) as 64
// black and white 20x20 blocks: 48 bits of time and a 16-bit Fletcher
// checksum, each bit drawn twice, once inverted, so that a bit is which
// of its two blocks is the brighter. One player page per mode, each in its
// own window (/APP/STREAM/?mode=MODE: the page's own hls.js and mpegts.js
// settings), draws each frame it presents (requestVideoFrameCallback) to
// a canvas, reads the blocks back, and records the time it has the
// pixels (after the frame went to the compositor, in the page's next
// rendering step, as a 60 Hz screen would show it within 17 ms) minus
// the time decoded. Pages are separate renderer
// processes, as a publisher and a viewer on two machines would be, on
// one clock.
//
// Prints one JSON object on stdout: per mode the distinct frames read
// back in the window (samples) and their latency's p50/p95/min/max/mean
// in ms, the frames that did not decode, the page's own latency estimate
// (its median over the window) and the first frame's time from
// navigation; the publisher's encoder stats; errors and console lines.
// CHROMIUM overrides the browser (default /usr/bin/chromium);
// LATENCY_PLAYER_CONFIG, JSON {"hls": {...}, "mpegts": {...}}, is merged
// into the page's hls.js and mpegts.js settings, to try a change without
// editing the page.
import { openPage } from './chromium.mjs';

const [streamArg, modesArg, warmupArg, secondsArg, sourceArg] = process.argv.slice(2);
const source = sourceArg || 'whip';
if (!streamArg || !/^https?:\/\/[^/]+\/[^/]+\/[^/]+$/.test(streamArg) || !['whip', 'none'].includes(source)) {
  console.error('usage: node latency.mjs http://HOST:PORT/APP/STREAM [MODES] [WARMUP_S] [SECONDS] [whip|none]');
  process.exit(2);
}
const stream = streamArg;
const modes = (modesArg || 'webrtc,llhls,flv').split(',').filter(Boolean);
const warmup = Number(warmupArg || 5) * 1000;
const seconds = Number(secondsArg || 20) * 1000;
const overrides = process.env.LATENCY_PLAYER_CONFIG ? JSON.parse(process.env.LATENCY_PLAYER_CONFIG) : null;
// Each mode's first frame must come within this of its page opening.
const startLimit = 40000;

const geometry = { width: 640, height: 360, fps: 30, block: 20, cols: 32 };
const result = { chromium: '', source, geometry, overrides, warmupMs: warmup, windowMs: seconds, publisher: null, modes: {}, errors: [], console: [] };

// pageInit runs in every page before its scripts (page.addInitScript):
// it keeps the page's RTCPeerConnections (for their stats) and, by role,
// replaces the camera with the timestamped canvas or reads the
// timestamps back from the page's <video>. Self-contained: it is
// serialized into the page.
function pageInit({ role, width, height, fps, block, cols, overrides }) {
  const PC = window.RTCPeerConnection;
  window.__pcs = [];
  if (PC) {
    window.RTCPeerConnection = class extends PC {
      constructor(...args) {
        super(...args);
        window.__pcs.push(this);
      }
    };
  }
  const rows = 2; // 64 bits: two rows of 32, then the same rows inverted
  const codeHeight = 2 * rows * block;

  // The 48-bit time in ms and a Fletcher-16 checksum of its 6 bytes.
  function bitsOf(ms) {
    const t = Math.floor(ms);
    const bytes = [];
    for (let i = 5; i >= 0; i--) bytes.push(Math.floor(t / 2 ** (8 * i)) % 256);
    let a = 0, b = 0;
    for (const x of bytes) { a = (a + x) % 255; b = (b + a) % 255; }
    bytes.push(b, a);
    const bits = [];
    for (const x of bytes) for (let i = 7; i >= 0; i--) bits.push((x >> i) & 1);
    return bits;
  }
  function timeOf(bits) {
    const bytes = [];
    for (let i = 0; i < 8; i++) {
      let x = 0;
      for (let j = 0; j < 8; j++) x = (x << 1) | bits[8 * i + j];
      bytes.push(x);
    }
    let a = 0, b = 0, t = 0;
    for (const x of bytes.slice(0, 6)) { a = (a + x) % 255; b = (b + a) % 255; t = t * 256 + x; }
    return bytes[6] === b && bytes[7] === a ? t : null;
  }

  if (role === 'publisher') {
    const state = window.__pub = { drawn: 0 };
    navigator.mediaDevices.getUserMedia = async () => {
      const canvas = document.createElement('canvas');
      canvas.width = width;
      canvas.height = height;
      canvas.style.width = '160px';
      document.body.appendChild(canvas);
      const ctx = canvas.getContext('2d');
      const media = canvas.captureStream(0); // a frame per requestFrame()
      const track = media.getVideoTracks()[0];
      // Keep the resolution under CPU pressure (fewer frames instead).
      track.contentHint = 'detail';
      const draw = () => {
        const now = performance.timeOrigin + performance.now();
        const n = state.drawn++;
        // Something moving, as a camera's picture would.
        ctx.fillStyle = '#446';
        ctx.fillRect(0, codeHeight, width, height - codeHeight);
        ctx.fillStyle = '#dd4';
        ctx.fillRect((n * 8) % width, codeHeight + 20, 60, height - codeHeight - 40);
        ctx.fillStyle = '#fff';
        ctx.font = '28px monospace';
        ctx.fillText(String(Math.floor(now)), 20, height - 20);
        const bits = bitsOf(now);
        for (let i = 0; i < bits.length; i++) {
          const x = (i % cols) * block, y = Math.floor(i / cols) * block;
          ctx.fillStyle = bits[i] ? '#fff' : '#000';
          ctx.fillRect(x, y, block, block);
          ctx.fillStyle = bits[i] ? '#000' : '#fff';
          ctx.fillRect(x, y + rows * block, block, block);
        }
        track.requestFrame();
      };
      draw();
      setInterval(draw, 1000 / fps);
      return media;
    };
    return;
  }

  // Player settings to try on top of the page's own, when asked:
  // window.Hls and window.mpegts, as their scripts define them, are
  // wrapped to merge overrides.hls into new Hls(config) and
  // overrides.mpegts into mpegts.createPlayer's config.
  const trap = (name, wrap) => {
    let value;
    Object.defineProperty(window, name, {
      configurable: true,
      get: () => value,
      set: (v) => { value = v ? wrap(v) : v; },
    });
  };
  // window.__hls: the page's hls.js, for its target latency.
  trap('Hls', (Hls) => class extends Hls {
    constructor(config) {
      super({ ...config, ...((overrides && overrides.hls) || {}) });
      window.__hls = this;
    }
  });
  if (overrides && overrides.mpegts) {
    trap('mpegts', (m) => {
      const create = m.createPlayer;
      m.createPlayer = (source, config) => create.call(m, source, { ...config, ...overrides.mpegts });
      return m;
    });
  }

  // A player: every presented frame drawn to a canvas and read back.
  const lat = window.__lat = { at: [], ms: [], rx: [], pt: [], fails: 0, failAt: [], frames: 0, presented: 0, raf: 0, repeats: 0, first: null, w: 0, h: 0 };
  const hook = () => {
    const video = document.getElementById('video');
    if (!video || !video.requestVideoFrameCallback) return;
    const canvas = document.createElement('canvas');
    canvas.width = width;
    canvas.height = codeHeight;
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    let last = null;
    const luma = (px, x0, y0) => {
      // The mean of the block's middle half, away from its edges.
      const q = Math.floor(block / 4);
      let sum = 0, n = 0;
      for (let y = y0 + q; y < y0 + block - q; y++) {
        for (let x = x0 + q; x < x0 + block - q; x++) {
          const i = 4 * (y * width + x);
          sum += px[i] + px[i + 1] + px[i + 2];
          n += 3;
        }
      }
      return sum / n;
    };
    const onFrame = (now, md) => {
      try {
        lat.frames++;
        lat.presented = md.presentedFrames;
        lat.w = video.videoWidth;
        lat.h = video.videoHeight;
        if (!lat.w || !lat.h) return;
        // The code rows, scaled back to the publisher's geometry whatever
        // size the encoder chose.
        ctx.drawImage(video, 0, 0, lat.w, (lat.h * codeHeight) / height, 0, 0, width, codeHeight);
        const px = ctx.getImageData(0, 0, width, codeHeight).data;
        // The frame's time on the glass: when the page has its pixels.
        // Not md.presentationTime or expectedDisplayTime: they are of the
        // frame presented when the callback was scheduled, and a newer one
        // can have replaced it before drawImage (a latency below zero);
        // and headless, expectedDisplayTime can precede presentationTime.
        const shown = performance.timeOrigin + performance.now();
        const bits = [];
        let ok = true;
        for (let i = 0; i < rows * cols; i++) {
          const x = (i % cols) * block, y = Math.floor(i / cols) * block;
          const d = luma(px, x, y) - luma(px, x, y + rows * block);
          if (Math.abs(d) < 48) ok = false; // neither block clearly brighter
          bits.push(d > 0 ? 1 : 0);
        }
        const t = ok ? timeOf(bits) : null;
        // Decoded, and within a minute of now: else a frame that did not
        // decode (a wrong checksum can still pass, 1 in 65025).
        if (t === null || Math.abs(shown - t) > 60000) {
          lat.fails++;
          lat.failAt.push(shown);
          return;
        }
        if (t === last) {
          lat.repeats++;
          return;
        }
        last = t;
        if (lat.first === null) lat.first = shown;
        lat.at.push(shown);
        lat.ms.push(shown - t);
        lat.pt.push(performance.timeOrigin + md.presentationTime - t);
        // WebRTC: when the frame's last packet arrived.
        if (md.receiveTime) lat.rx.push(performance.timeOrigin + md.receiveTime - t);
      } finally {
        video.requestVideoFrameCallback(onFrame);
      }
    };
    video.requestVideoFrameCallback(onFrame);
  };
  const tick = () => { lat.raf++; requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', hook);
  else hook();
}

// The stats of the video RTP stream of the page's peer connections.
function rtpStats(kind) {
  return (async () => {
    for (const pc of window.__pcs || []) {
      const stats = await pc.getStats();
      const out = {};
      const codecs = {};
      stats.forEach((s) => { if (s.type === 'codec') codecs[s.id] = s.mimeType; });
      let found = false;
      stats.forEach((s) => {
        if (s.type !== kind || s.kind !== 'video') return;
        found = true;
        out.codec = codecs[s.codecId] || '';
        for (const k of ['frameWidth', 'frameHeight', 'framesPerSecond', 'framesEncoded', 'keyFramesEncoded', 'totalEncodeTime',
          'encoderImplementation', 'qualityLimitationReason', 'framesDecoded', 'keyFramesDecoded', 'totalDecodeTime',
          'decoderImplementation', 'jitterBufferDelay', 'jitterBufferEmittedCount', 'framesDropped', 'nackCount', 'pliCount',
          'packetsLost', 'bytesSent', 'bytesReceived']) {
          if (s[k] !== undefined) out[k] = s[k];
        }
      });
      if (found) return out;
    }
    return null;
  })();
}

function summary(values) {
  const s = values.slice().sort((a, b) => a - b);
  const n = s.length;
  if (!n) return { samples: 0 };
  const rank = (p) => s[Math.min(n - 1, Math.max(0, Math.ceil(p * n) - 1))];
  const r = (x) => Math.round(x * 10) / 10;
  return { samples: n, p50: r(rank(0.5)), p95: r(rank(0.95)), min: r(s[0]), max: r(s[n - 1]), mean: r(s.reduce((a, b) => a + b, 0) / n) };
}

function median(values) {
  const s = values.slice().sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)] : null;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function watch(page, name) {
  page.on('console', (m) => { if (result.console.length < 80) result.console.push(name + ': ' + m.type() + ': ' + m.text()); });
  page.on('pageerror', (e) => result.errors.push(name + ': pageerror: ' + e.message));
}

let browser;
try {
  browser = await openPage({ console: [], errors: [] });
  const first = browser.page;
  const context = first.context();
  result.chromium = context.browser() ? context.browser().version() : '';

  let pub = null, pub0 = null, pub0At = 0;
  if (source === 'whip') {
    pub = first;
    watch(pub, 'publisher');
    await pub.addInitScript(pageInit, { role: 'publisher', ...geometry });
    await pub.goto(stream + '/?publish=1');
    // The publisher is on once its encoder has sent frames.
    const deadline = Date.now() + 20000;
    for (;;) {
      const s = await pub.evaluate(rtpStats, 'outbound-rtp');
      const page = await pub.evaluate(() => ({ mode: (window.mediakit || {}).mode, errors: (window.mediakit || {}).errors }));
      if (page.mode === 'publishing (WHIP)' && s && s.framesEncoded > 0) {
        pub0 = s;
        pub0At = Date.now();
        break;
      }
      if (Date.now() > deadline) {
        throw new Error('publishing: no frame sent within 20 s (page mode ' + JSON.stringify(page.mode) + ', errors ' + JSON.stringify(page.errors) + ')');
      }
      await sleep(200);
    }
  }

  // The players, each in its own window (as tabs of one window, those
  // behind the last one render a few frames a second under load), then
  // all opened at once.
  const cdp = await context.newCDPSession(first);
  const players = {};
  for (const mode of modes) {
    const opened = context.waitForEvent('page');
    await cdp.send('Target.createTarget', { url: 'about:blank', newWindow: true });
    const page = await opened;
    watch(page, mode);
    await page.addInitScript(pageInit, { role: 'player', ...geometry, overrides });
    players[mode] = { page, openedAt: 0, windowStart: null, windowEnd: null, estimates: [], mode: '', errors: [], errorsBefore: [], reloads: 0 };
  }
  await Promise.all(modes.map(async (mode) => {
    const p = players[mode];
    p.openedAt = Date.now();
    await p.page.goto(stream + '/?mode=' + mode);
  }));

  // Every 500 ms: each mode's window opens WARMUP_S after its first
  // decoded frame; the page's estimate is sampled inside it.
  const deadline = Date.now() + startLimit + warmup + seconds;
  for (;;) {
    let done = true;
    for (const mode of modes) {
      const p = players[mode];
      const s = await p.page.evaluate(() => {
        const m = window.mediakit || {};
        return { first: window.__lat.first, mode: m.mode, errors: (m.errors || []).slice(), estimate: m.latency };
      });
      p.mode = s.mode;
      p.errors = s.errors;
      // The page gives up on a mode that shows no frame in time (10 s for
      // LL-HLS and FLV, 4 s for WebRTC: a loaded machine can be slower):
      // open it again, twice at most.
      if (s.first === null && s.errors.length > 0 && p.reloads < 2) {
        p.reloads++;
        p.errorsBefore.push(...s.errors);
        await p.page.goto(stream + '/?mode=' + mode);
        done = false;
        continue;
      }
      if (s.first !== null && p.windowStart === null) {
        p.windowStart = s.first + warmup;
        p.windowEnd = p.windowStart + seconds;
      }
      const now = Date.now();
      if (p.windowStart !== null && now >= p.windowStart && now < p.windowEnd && typeof s.estimate === 'number') {
        p.estimates.push(s.estimate * 1000);
      }
      if (p.windowStart === null || now < p.windowEnd) done = false;
    }
    if (done || Date.now() > deadline) break;
    await sleep(500);
  }

  const r1 = (x) => Math.round(x * 10) / 10;
  for (const mode of modes) {
    const p = players[mode];
    const lat = await p.page.evaluate(() => window.__lat);
    const skew = await p.page.evaluate(() => performance.timeOrigin + performance.now() - Date.now());
    const inWindow = (t) => p.windowStart !== null && t >= p.windowStart && t < p.windowEnd;
    const values = lat.ms.filter((_, i) => inWindow(lat.at[i]));
    const received = lat.rx.length === lat.ms.length ? lat.rx.filter((_, i) => inWindow(lat.at[i])) : [];
    const presented = lat.pt.filter((_, i) => inWindow(lat.at[i]));
    const estimate = median(p.estimates);
    const out = {
      page: p.mode, ...summary(values), decodeFailures: lat.failAt.filter(inWindow).length,
      // From presentationTime instead of the read: lower, but it can be
      // of an older frame than the one read (then below zero).
      presented: summary(presented),
      windowComplete: p.windowStart !== null && Date.now() >= p.windowEnd,
      firstFrameMs: lat.first === null ? null : Math.round(lat.first - p.openedAt),
      pageEstimateMs: estimate === null ? null : Math.round(estimate),
      video: lat.w + 'x' + lat.h,
      // Callbacks run, frames the compositor presented (md.presentedFrames:
      // a callback may cover several), animation frames: how far the
      // page kept up.
      callbacks: lat.frames, presentedFrames: lat.presented, animationFrames: lat.raf,
      decodedTotal: lat.ms.length, failuresTotal: lat.fails, repeats: lat.repeats,
      clockSkewMs: Math.round(skew * 100) / 100,
      values: values.map(r1),
      pageErrors: p.errorsBefore.concat(p.errors), reloads: p.reloads,
    };
    if (mode === 'webrtc') {
      const s = await p.page.evaluate(rtpStats, 'inbound-rtp');
      out.rtp = s;
      if (received.length) out.receive = summary(received);
      if (s && s.jitterBufferEmittedCount > 0) out.jitterBufferMs = r1((1000 * s.jitterBufferDelay) / s.jitterBufferEmittedCount);
      if (s && s.framesDecoded > 0) out.decodeMsPerFrame = r1((1000 * s.totalDecodeTime) / s.framesDecoded);
    }
    if (mode === 'llhls') {
      // The media playlist's part target, hold-backs and segment target:
      // what hls.js aims at.
      out.playlist = await p.page.evaluate(async (base) => {
        const get = async (u) => (await fetch(u, { cache: 'no-store' })).text();
        const main = new URL(base + '/hls.fmp4.m3u8', location.href);
        const uri = (await get(main)).split('\n').find((l) => l && !l.startsWith('#'));
        if (!uri) return null;
        const media = await get(new URL(uri.trim(), main));
        return media.split('\n').filter((l) => /^#EXT-X-(TARGETDURATION|SERVER-CONTROL|PART-INF)/.test(l)).join(' ');
      }, new URL(stream).pathname).catch((e) => 'error: ' + e.message);
      out.hls = await p.page.evaluate(() => {
        const h = window.__hls;
        if (!h) return null;
        const lc = h.latencyController || {};
        return { targetLatency: h.targetLatency, latency: h.latency, stalls: lc.stallCount, playbackRate: h.media ? h.media.playbackRate : null };
      });
    }
    if (lat.first === null) {
      result.errors.push(mode + ': no frame decoded within ' + startLimit / 1000 + ' s (page mode ' + JSON.stringify(p.mode) + ', errors ' + JSON.stringify(p.errors) + ')');
    }
    result.modes[mode] = out;
  }

  if (pub) {
    const pub1 = await pub.evaluate(rtpStats, 'outbound-rtp');
    const secs = (Date.now() - pub0At) / 1000;
    const frames = pub1.framesEncoded - pub0.framesEncoded;
    result.publisher = {
      ...pub1,
      clockSkewMs: Math.round((await pub.evaluate(() => performance.timeOrigin + performance.now() - Date.now())) * 100) / 100,
      drawn: await pub.evaluate(() => window.__pub.drawn),
      fpsSent: r1(frames / secs),
      encodeMsPerFrame: frames > 0 ? r1((1000 * (pub1.totalEncodeTime - pub0.totalEncodeTime)) / frames) : null,
    };
  }
} catch (e) {
  result.errors.push('runner: ' + (e && e.message ? e.message : String(e)));
} finally {
  if (browser) await browser.close();
}
process.stdout.write(JSON.stringify(result) + '\n');
