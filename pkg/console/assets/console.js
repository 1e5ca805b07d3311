// mediakit's web console. It talks to this server only: the HTTP API at
// /index/api/ (every call with the X-Mediakit-Console header, which makes
// the session cookie count), /healthz and /metrics for figures, recordings
// under /record/, and the player page /APP/STREAM/ in a frame.
// The view shown is refreshed every POLL_MS while the tab is visible.
// Everything from the server is put in the page as text, never as HTML:
// stream names and URLs come from publishers.
(function () {
  'use strict';
  const POLL_MS = 2000;
  const HEADER = { 'X-Mediakit-Console': '1' };
  const $ = (id) => document.getElementById(id);

  const state = {
    auth: '', // open | session | none
    view: '',
    config: null, // getServerConfig's data[0]
    configAt: 0,
    expanded: new Set(), // streams whose URLs are shown
    player: null, // { key, app, stream, vhost, mode }
    rec: { stream: '', day: '' },
    cpu: null, // last { seconds, at } of process_cpu_seconds_total
    cores: 0,
    armed: new Map(), // delete buttons waiting for their second click
    polls: 0, // polls that completed: tests wait for the next one
  };
  // For tests and the curious, as the player page's window.mediakit.
  window.mediakitConsole = state;

  // ---- DOM ----

  // h builds an element; children are nodes or strings (set as text).
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = v;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat(Infinity)) {
      if (c === undefined || c === null || c === false) continue;
      el.append(c instanceof Node ? c : String(c));
    }
    return el;
  }

  // table renders rows under columns { label, value(row) }, or a line
  // saying there are none. On a phone each row becomes a card whose
  // cells are labelled (data-label, see console.css).
  function table(cols, rows, empty, rowKey) {
    if (!rows.length) return h('p', { class: 'empty' }, empty);
    return h('table', { class: 'grid' },
      h('thead', {}, h('tr', {}, cols.map((c) => h('th', {}, c.label)))),
      h('tbody', {}, rows.map((r) => h('tr', { 'data-key': rowKey ? rowKey(r) : null },
        cols.map((c) => h('td', { 'data-label': c.label }, c.value(r)))))));
  }

  function button(label, act, data) {
    const attrs = { type: 'button', 'data-act': act };
    for (const [k, v] of Object.entries(data || {})) attrs['data-' + k] = v;
    return h('button', attrs, label);
  }

  // ---- formatting ----

  function duration(sec) {
    sec = Math.max(0, Math.floor(Number(sec) || 0));
    const d = Math.floor(sec / 86400), hr = Math.floor(sec / 3600) % 24, m = Math.floor(sec / 60) % 60, s = sec % 60;
    const two = (n) => String(n).padStart(2, '0');
    if (d) return d + 'd ' + hr + 'h ' + two(m) + 'm';
    if (hr) return hr + 'h ' + two(m) + 'm ' + two(s) + 's';
    if (m) return m + 'm ' + two(s) + 's';
    return s + 's';
  }
  function bitrate(bytesPerSecond) {
    const b = (Number(bytesPerSecond) || 0) * 8;
    if (b >= 1e6) return (b / 1e6).toFixed(2) + ' Mbit/s';
    return Math.round(b / 1e3) + ' kbit/s';
  }
  function bits(bps) { return bitrate((Number(bps) || 0) / 8); }
  function size(bytes) {
    const n = Number(bytes) || 0;
    if (n >= 1 << 30) return (n / (1 << 30)).toFixed(2) + ' GiB';
    if (n >= 1 << 20) return (n / (1 << 20)).toFixed(1) + ' MiB';
    if (n >= 1 << 10) return (n / (1 << 10)).toFixed(1) + ' KiB';
    return n + ' B';
  }
  function clock(d) { return d.toLocaleTimeString([], { hour12: false }); }
  function two(n) { return String(n).padStart(2, '0'); }

  // ---- talking to the server ----

  class AuthError extends Error {}

  // api calls /index/api/NAME with a form body and returns the reply; a
  // non-zero code is thrown as an Error naming the call.
  async function api(name, params, signal) {
    const body = new URLSearchParams();
    for (const [k, v] of Object.entries(params || {})) {
      if (v !== undefined && v !== null && v !== '') body.set(k, String(v));
    }
    const resp = await fetch('/index/api/' + name, { method: 'POST', headers: HEADER, body, signal, credentials: 'same-origin' });
    let reply;
    try {
      reply = await resp.json();
    } catch (e) {
      throw new Error(name + ': HTTP ' + resp.status + ', not JSON');
    }
    // A refusal for want of credentials: the session ended (expired,
    // logged out elsewhere, new secret).
    if (reply.code === -100 || (reply.code === -300 && /secret/.test(reply.msg || ''))) {
      if (state.auth !== 'open') {
        showLogin('Your session ended: log in again.');
        throw new AuthError(name + ': ' + reply.msg);
      }
    }
    if (reply.code !== 0) throw new Error(name + ': ' + (reply.msg || 'code ' + reply.code));
    return reply;
  }

  async function getJSON(path, signal) {
    const resp = await fetch(path, { headers: HEADER, signal, credentials: 'same-origin' });
    if (!resp.ok) throw new Error(path + ': HTTP ' + resp.status);
    return resp.json();
  }

  async function getText(path, signal) {
    const resp = await fetch(path, { signal, credentials: 'same-origin' });
    if (!resp.ok) throw new Error(path + ': HTTP ' + resp.status);
    return resp.text();
  }

  // config is getServerConfig's data[0], fetched again every minute:
  // the ports that the stream URLs use.
  async function config(signal) {
    if (!state.config || Date.now() - state.configAt > 60000) {
      const r = await api('getServerConfig', {}, signal);
      state.config = (r.data && r.data[0]) || {};
      state.configAt = Date.now();
    }
    return state.config;
  }

  // ---- errors and banners ----

  function showError(msg) {
    const el = $('error');
    el.textContent = msg || '';
    el.hidden = !msg;
  }
  function showBanner(msg) {
    const el = $('banner');
    el.textContent = msg || '';
    el.hidden = !msg;
  }

  // ---- login ----

  async function checkSession() {
    const s = await getJSON('/console/session');
    state.auth = s.auth;
    if (s.auth === 'none') {
      showLogin('');
      return;
    }
    $('who').textContent = s.auth === 'open' ? '' : 'logged in with ' + s.who;
    $('logout').hidden = s.auth !== 'session';
    showBanner(s.auth === 'open'
      ? 'No api.secret is set and this browser runs on the server\'s machine: the API, and so this console, is open without a login. Set api.secret to require one.'
      : '');
    $('login').hidden = true;
    $('nav').hidden = false;
    route();
  }

  function showLogin(msg) {
    state.auth = 'none';
    stopPolling();
    closePlayer();
    for (const v of document.querySelectorAll('.view')) v.hidden = true;
    $('nav').hidden = true;
    $('logout').hidden = true;
    $('who').textContent = '';
    $('updated').textContent = '';
    showBanner('');
    showError('');
    $('login').hidden = false;
    $('login-error').textContent = msg || '';
    const secret = $('login-secret');
    if (!secret.closest('[hidden]')) secret.focus();
  }

  $('login-form').addEventListener('change', (e) => {
    if (e.target.name !== 'with') return;
    const user = e.target.value === 'user';
    document.querySelector('.with-user').hidden = !user;
    document.querySelector('.with-secret').hidden = user;
  });

  $('login-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const f = e.currentTarget;
    const body = new URLSearchParams();
    if (f.elements.with.value === 'user') {
      body.set('user', f.elements.user.value);
      body.set('password', f.elements.password.value);
    } else {
      body.set('secret', f.elements.secret.value);
    }
    $('login-error').textContent = '';
    try {
      const resp = await fetch('/console/login', { method: 'POST', headers: HEADER, body, credentials: 'same-origin' });
      const r = await resp.json();
      if (r.code !== 0) {
        $('login-error').textContent = 'Refused: ' + (r.msg || 'code ' + r.code);
        return;
      }
      f.elements.secret.value = '';
      f.elements.password.value = '';
      await checkSession();
    } catch (err) {
      $('login-error').textContent = 'Login failed: ' + err.message;
    }
  });

  $('logout').addEventListener('click', async () => {
    try {
      await fetch('/console/logout', { method: 'POST', headers: HEADER, credentials: 'same-origin' });
    } finally {
      showLogin('Logged out.');
    }
  });

  // ---- polling ----

  let timer = null;
  let inflight = null;
  let generation = 0;

  function stopPolling() {
    generation++;
    clearTimeout(timer);
    timer = null;
    if (inflight) inflight.abort();
    inflight = null;
  }

  // refreshNow drops the poll under way and polls the current view at
  // once; each poll schedules the next only while it is the latest.
  function refreshNow() {
    stopPolling();
    poll(generation);
  }

  async function poll(gen) {
    if (gen !== generation || document.hidden || state.auth === 'none' || !views[state.view]) return;
    const ctl = new AbortController();
    inflight = ctl;
    try {
      await views[state.view](ctl.signal);
      if (gen === generation) {
        state.polls++;
        showError('');
        $('updated').textContent = 'updated ' + clock(new Date());
      }
    } catch (err) {
      if (err.name === 'AbortError' || err instanceof AuthError || gen !== generation) return;
      showError(err.message);
    } finally {
      if (inflight === ctl) inflight = null;
    }
    if (gen === generation && !document.hidden && state.auth !== 'none') {
      timer = setTimeout(() => poll(gen), POLL_MS);
    }
  }

  document.addEventListener('visibilitychange', () => {
    if (document.hidden) stopPolling();
    else if (state.auth && state.auth !== 'none') refreshNow();
  });

  // ---- routing ----

  const views = {};

  function route() {
    if (state.auth === 'none') return;
    let view = location.hash.replace(/^#/, '');
    if (!views[view]) view = 'streams';
    state.view = view;
    for (const v of document.querySelectorAll('.view')) v.hidden = v.id !== 'view-' + view;
    for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.view === view);
    if (view !== 'streams') closePlayer();
    if (view === 'recordings') recDirs.at = 0; // opened: look at the disk now
    refreshNow();
  }
  window.addEventListener('hashchange', route);

  // ---- actions shared by the lists ----

  // confirmFirst makes a destructive button ask for a second click within
  // 4 s (no dialog: it would block the page's polling).
  function confirmFirst(btn) {
    const id = btn.dataset.act + ':' + (btn.dataset.key || '');
    const until = state.armed.get(id);
    if (until && until > Date.now()) {
      state.armed.delete(id);
      return true;
    }
    state.armed.set(id, Date.now() + 4000);
    btn.textContent = 'Confirm';
    btn.classList.add('armed');
    return false;
  }
  function armedLabel(act, key, label) {
    const until = state.armed.get(act + ':' + key);
    return until && until > Date.now() ? 'Confirm' : label;
  }

  // formParams reads a form's named fields; unchecked boxes are left out.
  function formParams(form) {
    const out = {};
    for (const el of form.elements) {
      if (!el.name || (el.type === 'checkbox' && !el.checked)) continue;
      out[el.name] = el.value.trim();
    }
    return out;
  }

  function onForm(id, call) {
    const form = $(id);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const status = form.querySelector('.form-status');
      if (status) status.textContent = 'Working…';
      try {
        const msg = await call(formParams(form), form);
        if (status) status.textContent = msg || 'Done.';
        refreshNow();
      } catch (err) {
        if (status && !(err instanceof AuthError)) status.textContent = err.message;
      }
    });
  }

  function onClick(sectionId, handlers) {
    $(sectionId).addEventListener('click', async (e) => {
      const btn = e.target.closest('button[data-act]');
      if (!btn || !handlers[btn.dataset.act]) return;
      try {
        if (await handlers[btn.dataset.act](btn) !== false) refreshNow();
      } catch (err) {
        if (!(err instanceof AuthError)) showError(err.message);
      }
    });
  }

  // ---- streams ----

  // path is /APP/STREAM with each segment escaped (names may hold '/').
  function streamPath(app, stream) {
    return '/' + [app, ...stream.split('/')].map(encodeURIComponent).join('/');
  }

  // urls lists the URLs a stream plays at, by the schemas getMediaList
  // gives it, with the ports of getServerConfig and this page's host.
  function urls(s, schemas, cfg) {
    const host = location.hostname.includes(':') ? '[' + location.hostname + ']' : location.hostname;
    const path = streamPath(s.app, s.stream);
    const vq = s.vhost && s.vhost !== '__defaultVhost__' ? '?vhost=' + encodeURIComponent(s.vhost) : '';
    const http = location.origin;
    const ws = http.replace(/^http/, 'ws');
    const out = [];
    const has = (x) => schemas.includes(x);
    if (has('rtmp')) {
      if (cfg['rtmp.port'] && cfg['rtmp.port'] !== '0') out.push(['RTMP', 'rtmp://' + host + ':' + cfg['rtmp.port'] + path + vq]);
      out.push(['HTTP-FLV', http + path + '.live.flv' + vq], ['WebSocket-FLV', ws + path + '.live.flv' + vq]);
    }
    if (has('rtsp') && cfg['rtsp.port'] && cfg['rtsp.port'] !== '0') out.push(['RTSP', 'rtsp://' + host + ':' + cfg['rtsp.port'] + path + vq]);
    if (has('rtsp') && cfg['rtsp.sslport'] && cfg['rtsp.sslport'] !== '0') out.push(['RTSPS', 'rtsps://' + host + ':' + cfg['rtsp.sslport'] + path + vq]);
    if (has('ts')) out.push(['HTTP-TS', http + path + '.live.ts' + vq], ['WebSocket-TS', ws + path + '.live.ts' + vq]);
    if (has('fmp4')) out.push(['HTTP-fMP4', http + path + '.live.mp4' + vq], ['WebSocket-fMP4', ws + path + '.live.mp4' + vq]);
    // HLS is served on demand: offered whether or not a muxer runs yet.
    out.push(['HLS', http + path + '/hls.m3u8' + vq], ['LL-HLS (fMP4)', http + path + '/hls.fmp4.m3u8' + vq]);
    if (cfg['webrtc.addr']) out.push(['WebRTC (WHEP)', http + path + '/whep' + vq]);
    out.push(['Player page', http + path + '/' + vq]);
    return out;
  }

  function trackText(t) {
    if (t.codec_type === 0) {
      const parts = [t.codec_id_name];
      if (t.width && t.height) parts.push(t.width + '×' + t.height);
      if (t.fps) parts.push(Math.round(t.fps * 100) / 100 + ' fps');
      return parts.join(' ');
    }
    const parts = [t.codec_id_name];
    if (t.sample_rate) parts.push(t.sample_rate + ' Hz');
    if (t.channels) parts.push(t.channels + ' ch');
    return parts.join(' ');
  }

  function copyRow(label, url) {
    const input = h('input', { readonly: true, value: url, 'aria-label': label });
    return h('div', { class: 'url' }, h('span', { class: 'url-label' }, label), input, button('Copy', 'copy', { url }));
  }

  views.streams = async (signal) => {
    const [list, cfg] = await Promise.all([api('getMediaList', {}, signal), config(signal)]);
    const byKey = new Map();
    for (const item of list.data || []) {
      const key = item.vhost + '/' + item.app + '/' + item.stream;
      if (!byKey.has(key)) byKey.set(key, { item, schemas: [] });
      byKey.get(key).schemas.push(item.schema);
    }
    const cards = [...byKey.entries()].sort((a, b) => a[0].localeCompare(b[0])).map(([key, { item, schemas }]) => {
      const name = item.app + '/' + item.stream + (item.vhost !== '__defaultVhost__' ? ' (' + item.vhost + ')' : '');
      const details = h('details', { class: 'urls', open: state.expanded.has(key) },
        h('summary', {}, 'URLs'), urls(item, schemas, cfg).map(([l, u]) => copyRow(l, u)));
      details.addEventListener('toggle', () => {
        if (details.open) state.expanded.add(key); else state.expanded.delete(key);
      });
      const play = (mode, label) => button(label, 'play', { key, app: item.app, stream: item.stream, vhost: item.vhost, mode });
      return h('article', { class: 'card stream', 'data-key': key },
        h('header', {}, h('h3', {}, name), h('span', { class: 'tag' }, item.originTypeStr || '')),
        h('dl', { class: 'facts' },
          h('dt', {}, 'Uptime'), h('dd', {}, duration(item.aliveSecond)),
          h('dt', {}, 'Readers'), h('dd', { class: 'readers' }, String(item.totalReaderCount ?? item.readerCount ?? 0)),
          h('dt', {}, 'Bitrate'), h('dd', {}, bitrate(item.bytesSpeed)),
          h('dt', {}, 'Schemas'), h('dd', {}, schemas.join(' '))),
        h('ul', { class: 'tracks' }, (item.tracks || []).map((t) => h('li', { class: 'track' }, trackText(t)))),
        h('div', { class: 'actions' }, play('', 'Play'), play('webrtc', 'WebRTC'), play('llhls', 'LL-HLS'), play('flv', 'FLV')),
        details);
    });
    $('streams-list').replaceChildren(cards.length ? h('div', { class: 'cards' }, cards) : h('p', { class: 'empty' }, 'No live stream.'));
  };

  function openPlayer(p) {
    state.player = p;
    const q = new URLSearchParams();
    if (p.mode) q.set('mode', p.mode);
    if (p.vhost && p.vhost !== '__defaultVhost__') q.set('vhost', p.vhost);
    const src = streamPath(p.app, p.stream) + '/' + (q.toString() ? '?' + q : '');
    $('player-name').textContent = p.app + '/' + p.stream;
    $('player-mode').textContent = p.mode ? { webrtc: 'WebRTC', llhls: 'LL-HLS', flv: 'HTTP-FLV' }[p.mode] : 'WebRTC, else LL-HLS, else FLV';
    $('player-frame').src = src;
    $('player').hidden = false;
  }
  function closePlayer() {
    state.player = null;
    const frame = $('player-frame');
    // about:blank unloads the player page, which ends its session.
    if (frame.getAttribute('src')) frame.src = 'about:blank';
    frame.removeAttribute('src');
    $('player').hidden = true;
  }
  $('player-close').addEventListener('click', closePlayer);

  async function copy(btn) {
    const input = btn.parentElement.querySelector('input');
    try {
      await navigator.clipboard.writeText(btn.dataset.url);
    } catch (e) {
      // Plain HTTP on another host is not a secure context: select the
      // text so that the user copies it.
      input.select();
    }
    btn.textContent = 'Copied';
    return false;
  }

  onClick('view-streams', {
    play: (btn) => { openPlayer({ ...btn.dataset }); return false; },
    copy,
  });

  // ---- proxies ----

  views.proxies = async (signal) => {
    const r = await api('listStreamProxy', {}, signal);
    $('proxies-list').replaceChildren(table([
      { label: 'Key', value: (p) => h('code', {}, p.key) },
      { label: 'Source', value: (p) => h('span', { class: 'break' }, p.url) },
      { label: 'State', value: (p) => h('span', { class: 'state state-' + (p.status_str || p.state) }, p.status_str || p.state) },
      { label: 'Live', value: (p) => duration(p.liveSecs) },
      { label: 'Bitrate', value: (p) => bitrate(p.bytesSpeed) },
      { label: 'Readers', value: (p) => String(p.totalReaderCount ?? 0) },
      { label: 'Failures', value: (p) => String(p.failures ?? 0) },
      { label: 'Error', value: (p) => p.error || '' },
      { label: '', value: (p) => button(armedLabel('del-proxy', p.key, 'Delete'), 'del-proxy', { key: p.key }) },
    ], r.data || [], 'No pull proxy.', (p) => p.key));
  };
  onClick('view-proxies', {
    'del-proxy': async (btn) => {
      if (!confirmFirst(btn)) return false;
      await api('delStreamProxy', { key: btn.dataset.key });
    },
  });
  onForm('proxy-form', async (p) => {
    const r = await api('addStreamProxy', { vhost: '__defaultVhost__', ...p });
    return 'Added ' + ((r.data && r.data.key) || '') + '.';
  });

  // ---- pushers ----

  views.pushers = async (signal) => {
    const r = await api('listStreamPusherProxy', {}, signal);
    $('pushers-list').replaceChildren(table([
      { label: 'Stream', value: (p) => p.src ? p.src.app + '/' + p.src.stream : '' },
      { label: 'Destination', value: (p) => h('span', { class: 'break' }, p.url) },
      { label: 'State', value: (p) => h('span', { class: 'state state-' + p.state }, p.status_str || p.state) },
      { label: 'Live', value: (p) => duration(p.liveSecs) },
      { label: 'Bitrate', value: (p) => bitrate(p.bytesSpeed) },
      { label: 'Failures', value: (p) => String(p.failures ?? 0) },
      { label: 'Error', value: (p) => p.error || '' },
      { label: '', value: (p) => button(armedLabel('del-pusher', p.key, 'Delete'), 'del-pusher', { key: p.key }) },
    ], r.data || [], 'No push proxy.', (p) => p.key));
  };
  onClick('view-pushers', {
    'del-pusher': async (btn) => {
      if (!confirmFirst(btn)) return false;
      await api('delStreamPusherProxy', { key: btn.dataset.key });
    },
  });
  onForm('pusher-form', async (p) => {
    await api('addStreamPusherProxy', { vhost: '__defaultVhost__', ...p });
    return 'Added.';
  });

  // ---- FFmpeg sources ----

  views.ffmpeg = async (signal) => {
    const r = await api('listFFmpegSource', {}, signal);
    $('ffmpeg-list').replaceChildren(table([
      { label: 'Source', value: (p) => h('span', { class: 'break' }, p.src_url) },
      { label: 'Destination', value: (p) => h('span', { class: 'break' }, p.dst_url) },
      { label: 'State', value: (p) => h('span', { class: 'state state-' + p.status }, p.status) },
      { label: 'PID', value: (p) => p.pid ? String(p.pid) : '' },
      { label: 'Up', value: (p) => duration(p.uptime) },
      { label: 'Restarts', value: (p) => String(p.restarts ?? 0) },
      { label: 'Last exit', value: (p) => p.last_exit || '' },
      { label: '', value: (p) => button(armedLabel('del-ffmpeg', p.key, 'Delete'), 'del-ffmpeg', { key: p.key }) },
    ], r.data || [], 'No FFmpeg source.', (p) => p.key));
  };
  onClick('view-ffmpeg', {
    'del-ffmpeg': async (btn) => {
      if (!confirmFirst(btn)) return false;
      await api('delFFmpegSource', { key: btn.dataset.key });
    },
  });
  onForm('ffmpeg-form', async (p) => {
    const r = await api('addFFmpegSource', p);
    return 'Added ' + ((r.data && r.data.key) || '') + '.';
  });

  // ---- RTP servers ----

  const tcpModes = ['UDP', 'TCP passive', 'TCP active'];

  views.rtp = async (signal) => {
    const r = await api('listRtpServer', {}, signal);
    const servers = r.data || [];
    // What arrives, per server: peer, packets, loss, bitrate.
    const infos = await Promise.all(servers.map((s) =>
      api('getRtpInfo', { vhost: s.vhost, app: s.app, stream_id: s.stream_id }, signal).catch((e) => {
        if (e.name === 'AbortError' || e instanceof AuthError) throw e;
        return { exist: false, error: e.message };
      })));
    const rows = servers.map((s, i) => ({ ...s, info: infos[i] }));
    const got = (s, f) => (s.info && s.info.exist ? f(s.info) : '');
    $('rtp-list').replaceChildren(table([
      { label: 'Stream', value: (s) => s.app + '/' + s.stream_id },
      { label: 'Port', value: (s) => h('span', { class: 'port' }, String(s.port)) },
      { label: 'Transport', value: (s) => tcpModes[s.tcp_mode] || String(s.tcp_mode) },
      { label: 'SSRC', value: (s) => s.ssrc ? String(s.ssrc) : 'any' },
      { label: 'Receiving', value: (s) => s.info && s.info.exist ? 'from ' + s.info.peer_ip + ':' + s.info.peer_port : 'nothing yet' },
      { label: 'Payload', value: (s) => got(s, (i) => [i.payload, ...(i.codecs || [])].filter(Boolean).join(' ')) },
      { label: 'Packets', value: (s) => got(s, (i) => String(i.packets)) },
      { label: 'Lost', value: (s) => got(s, (i) => String(i.lost)) },
      { label: 'Bitrate', value: (s) => got(s, (i) => bits(i.bitrate)) },
      { label: '', value: (s) => button(armedLabel('close-rtp', s.stream_id, 'Close'), 'close-rtp', { key: s.stream_id, vhost: s.vhost, app: s.app }) },
    ], rows, 'No RTP server open.', (s) => s.app + '/' + s.stream_id));
  };
  onClick('view-rtp', {
    'close-rtp': async (btn) => {
      if (!confirmFirst(btn)) return false;
      await api('closeRtpServer', { vhost: btn.dataset.vhost, app: btn.dataset.app, stream_id: btn.dataset.key });
    },
  });
  onForm('rtp-form', async (p) => {
    const r = await api('openRtpServer', p);
    return 'Opened on port ' + r.port + '.';
  });

  // ---- recordings ----

  // dayBounds is the local midnight of YYYY-MM-DD and of the next day.
  function dayBounds(day) {
    const [y, m, d] = day.split('-').map(Number);
    return [new Date(y, m - 1, d), new Date(y, m - 1, d + 1)];
  }

  function fillSelect(sel, values, labels, want) {
    const cur = [...sel.options].map((o) => o.value).join('\n');
    if (cur !== values.join('\n')) {
      sel.replaceChildren(...values.map((v, i) => h('option', { value: v }, labels[i])));
    }
    sel.value = values.includes(want) ? want : (values[0] || '');
    return sel.value;
  }

  // The recorded streams and their days are walked from the disk: asked
  // again every RECORD_DIRS_MS (or on a change of selection), while the
  // day's files, from the index, are asked at every poll.
  const RECORD_DIRS_MS = 30000;
  let recDirs = { at: 0, streams: [], days: {} };

  views.recordings = async (signal) => {
    if (Date.now() - recDirs.at > RECORD_DIRS_MS) {
      const r = await api('getMP4RecordStreams', {}, signal);
      recDirs = { at: Date.now(), streams: r.data || [], days: {} };
    }
    const streams = recDirs.streams;
    const names = streams.map((s) => s.app + '/' + s.stream);
    state.rec.stream = fillSelect($('rec-stream'), names, names, state.rec.stream);
    if (!state.rec.stream) {
      $('rec-day').replaceChildren();
      $('rec-timeline').replaceChildren();
      $('rec-files').replaceChildren(h('p', { class: 'empty' }, 'No recording.'));
      return;
    }
    const s = streams[names.indexOf(state.rec.stream)];
    if (!recDirs.days[state.rec.stream]) {
      const files = await api('getMP4RecordFile', { vhost: s.vhost, app: s.app, stream: s.stream }, signal);
      recDirs.days[state.rec.stream] = ((files.data && files.data.paths) || []).slice().sort().reverse();
    }
    const days = recDirs.days[state.rec.stream];
    state.rec.day = fillSelect($('rec-day'), days, days, state.rec.day);
    if (!state.rec.day) return;
    const [from, to] = dayBounds(state.rec.day);
    const q = new URLSearchParams({ start: from.toISOString(), end: to.toISOString() });
    const list = await getJSON('/record' + streamPath(s.app, s.stream) + '/list?' + q, signal);
    if (list.code !== 0) throw new Error('recording list: ' + list.msg);
    renderTimeline(list, from, to);
    const listed = list.files || [];
    $('rec-files').replaceChildren(table([
      { label: 'File', value: (f) => h('span', { class: 'file' }, f.url ? f.url.split('/').pop() : f.file_path.split('/').pop()) },
      { label: 'Start', value: (f) => clock(new Date(f.start)) },
      { label: 'Duration', value: (f) => duration(f.duration) },
      { label: 'Size', value: (f) => size(f.size) },
      { label: '', value: (f) => h('span', { class: 'actions' },
        f.url ? button('Play', 'play-file', { url: f.url, name: f.url.split('/').pop() }) : null,
        h('a', { class: 'button', download: '', href: '/index/api/downloadFile?' + new URLSearchParams({ file_path: f.file_path, save_name: s.stream.replace(/\//g, '_') + '_' + state.rec.day + '_' + f.file_path.split('/').pop() }) }, 'Download')) },
    ], listed, 'Nothing recorded that day (a file being written is listed when it is finished).', (f) => f.file_path));
    const fromInput = $('rec-range').elements.from;
    if (!fromInput.value && listed.length) {
      const st = new Date(listed[0].start);
      fromInput.value = two(st.getHours()) + ':' + two(st.getMinutes()) + ':' + two(st.getSeconds());
    }
    updateRangeLink();
  };

  // renderTimeline draws the covered ranges of the day as bars over 24 h.
  function renderTimeline(list, from, to) {
    const span = to - from;
    const bars = (list.ranges || []).map((r) => {
      const a = Math.max(0, new Date(r.start) - from), b = Math.min(span, new Date(r.end) - from);
      const bar = h('div', { class: 'range', title: clock(new Date(r.start)) + ' – ' + clock(new Date(r.end)) });
      bar.style.left = (100 * a / span) + '%';
      bar.style.width = Math.max(0.2, 100 * (b - a) / span) + '%';
      return bar;
    });
    const ticks = [0, 6, 12, 18, 24].map((hr) => {
      const t = h('span', { class: 'tick' }, two(hr) + ':00');
      t.style.left = (100 * hr / 24) + '%';
      return t;
    });
    $('rec-timeline').replaceChildren(h('div', { class: 'bar' }, bars), h('div', { class: 'ticks' }, ticks));
  }

  // rangeURL is the recorded span as one MP4 (fragmented, cut at the
  // keyframe at or before its start).
  function rangeURL() {
    const f = $('rec-range').elements;
    if (!state.rec.stream || !state.rec.day || !f.from.value) return '';
    const [app, ...rest] = state.rec.stream.split('/');
    const [hh, mm, ss] = f.from.value.split(':').map(Number);
    const [y, m, d] = state.rec.day.split('-').map(Number);
    const start = new Date(y, m - 1, d, hh, mm, ss || 0);
    const q = new URLSearchParams({ start: start.toISOString(), duration: f.duration.value || '60' });
    return '/record' + streamPath(app, rest.join('/')) + '.mp4?' + q;
  }
  function updateRangeLink() {
    const a = $('rec-range-download');
    const u = rangeURL();
    if (u) a.href = u; else a.removeAttribute('href');
  }
  $('rec-range').addEventListener('input', updateRangeLink);
  $('rec-range').addEventListener('submit', (e) => {
    e.preventDefault();
    const u = rangeURL();
    if (u) playRecording(u, state.rec.stream + ' from ' + $('rec-range').elements.from.value);
  });

  function playRecording(src, label) {
    const v = $('rec-video');
    v.src = src;
    $('rec-playing').textContent = label;
    $('rec-player').hidden = false;
    v.play().catch(() => {}); // muted: allowed; a refusal leaves the controls
  }
  $('rec-close').addEventListener('click', () => {
    const v = $('rec-video');
    v.pause();
    v.removeAttribute('src');
    v.load(); // drops the connection
    $('rec-player').hidden = true;
  });
  for (const id of ['rec-stream', 'rec-day']) {
    $(id).addEventListener('change', () => {
      recDirs.at = 0; // a new look at the disk too
      state.rec.stream = $('rec-stream').value;
      state.rec.day = id === 'rec-day' ? $('rec-day').value : '';
      $('rec-range').elements.from.value = '';
      refreshNow();
    });
  }
  onClick('view-recordings', {
    'play-file': (btn) => { playRecording(btn.dataset.url, btn.dataset.name); return false; },
  });

  // ---- server ----

  // metric reads one unlabelled sample of a Prometheus text exposition.
  function metric(text, name) {
    const m = text.match(new RegExp('^' + name + ' ([0-9.eE+-]+)$', 'm'));
    return m ? Number(m[1]) : null;
  }

  views.server = async (signal) => {
    if (!state.cores) {
      const t = await api('getThreadsLoad', {}, signal);
      state.cores = (t.data || []).length;
    }
    const [ver, stat, sessions, logs, health, metrics, cfg] = await Promise.all([
      api('version', {}, signal), api('getStatistic', {}, signal), api('getAllSession', {}, signal),
      api('getRecentLogs', {}, signal), getJSON('/healthz', signal).catch(() => null),
      getText('/metrics', signal).catch(() => ''), config(signal)]);
    const st = stat.data || {};
    const cpuSeconds = metric(metrics, 'process_cpu_seconds_total');
    let cpu = '—';
    const now = performance.now();
    const cores = state.cores ? ' (' + state.cores + ' usable)' : '';
    if (cpuSeconds !== null && state.cpu && now > state.cpu.at) {
      const pct = 100 * (cpuSeconds - state.cpu.seconds) / ((now - state.cpu.at) / 1000);
      cpu = pct.toFixed(1) + ' % of one core' + cores;
    } else if (cpuSeconds !== null && health && health.uptime_seconds > 0) {
      // One sample so far: the average since the start, until the next.
      cpu = (100 * cpuSeconds / health.uptime_seconds).toFixed(1) + ' % of one core on average since the start' + cores;
    }
    if (cpuSeconds !== null) state.cpu = { seconds: cpuSeconds, at: now };
    const rss = metric(metrics, 'process_resident_memory_bytes');
    const v = ver.data || {};
    const facts = [
      ['Version', (health && health.version) || v.commitHash || ''],
      ['Build', [v.branchName, v.buildTime].filter(Boolean).join(' ')],
      ['Server ID', cfg['general.mediaServerId'] || ''],
      ['Uptime', health ? duration(health.uptime_seconds) : '—'],
      ['CPU', cpu],
      ['Memory', (rss ? size(rss) + ' resident, ' : '') + size(st.totalMemUsage) + ' from the Go runtime'],
      ['Streams', String(health ? health.streams : st.MultiMediaSourceMuxer ?? '')],
      ['Players', String(st.readers ?? '')],
      ['Connections', String(st.TcpSession ?? '')],
      ['RTP servers', String(st.UdpServer ?? '')],
      ['Goroutines', String(st.goroutines ?? '')],
      ['Ports', ['rtmp', 'rtsp', 'http'].map((p) => p.toUpperCase() + ' ' + (cfg[p + '.port'] || '0')).join(', ')],
    ];
    $('server-facts').replaceChildren(...facts.flatMap(([k, val]) => [h('dt', {}, k), h('dd', {}, val)]));
    const entries = (logs.data || []).slice().reverse().slice(0, 100);
    $('server-logs').replaceChildren(table([
      { label: 'Time', value: (e) => clock(new Date(e.time)) },
      { label: 'Level', value: (e) => h('span', { class: 'level level-' + e.level.toLowerCase() }, e.level) },
      { label: 'Message', value: (e) => e.msg },
      { label: 'Details', value: (e) => h('span', { class: 'break' }, e.attrs) },
    ], entries, 'No warning or error since the server started.'));
    const all = sessions.data || [];
    $('server-sessions').replaceChildren(table([
      { label: 'ID', value: (s) => s.id },
      { label: 'Type', value: (s) => String(s.typeid || '').replace(/^mediakit::/, '') },
      { label: 'Peer', value: (s) => s.peer_ip + ':' + s.peer_port },
      { label: 'Local', value: (s) => s.local_ip + ':' + s.local_port },
    ], all.slice(0, 200), 'No connection.'), all.length > 200 ? h('p', { class: 'muted' }, (all.length - 200) + ' more not shown.') : '');
  };

  // ---- start ----

  checkSession().catch((err) => showError('console: ' + err.message));
})();
