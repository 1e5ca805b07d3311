// mediakit's player page: plays /APP/STREAM with WebRTC (WHEP) first,
// then low-latency HLS (hls.js, or the browser's own HLS), then HTTP-FLV
// (mpegts.js), by what the browser supports and what plays; shows the
// mode and the latency. ?mode=webrtc|llhls|flv forces one; ?publish=1
// publishes the camera and microphone with WHIP instead. The query's other
// parameters (credentials for on_play, a vhost) go with every request.
// window.mediakit is the page's state, for tests and the curious.
(function () {
  'use strict';
  const video = document.getElementById('video');
  const modeEl = document.getElementById('mode');
  const latencyEl = document.getElementById('latency');
  const errorEl = document.getElementById('error');
  const base = location.pathname.replace(/\/+$/, ''); // /APP/STREAM
  const assets = document.currentScript.src.replace(/[^/]*$/, '');
  const params = new URLSearchParams(location.search);
  const forced = params.get('mode');
  const publishing = params.get('publish') === '1';
  for (const k of ['mode', 'publish']) params.delete(k);
  const query = params.toString() ? '?' + params.toString() : '';
  const state = window.mediakit = { mode: '', frames: 0, errors: [], latency: null, session: '', timing: { script: performance.now() } };

  function fail(msg) {
    state.errors.push(msg);
    errorEl.textContent = msg;
  }
  function setMode(m) {
    state.mode = m;
    modeEl.textContent = m;
  }
  // Decoded frames, counted as the browser presents them.
  if ('requestVideoFrameCallback' in HTMLVideoElement.prototype) {
    const count = () => {
      if (!state.frames) state.timing.firstFrame = performance.now();
      state.frames++;
      video.requestVideoFrameCallback(count);
    };
    video.requestVideoFrameCallback(count);
  }

  // waitGathering resolves when the peer connection has its candidates,
  // or after 300 ms: the server takes no trickled ones (a WHEP/WHIP
  // PATCH), but it needs none either, learning the browser's address
  // from its connectivity checks; the wait only adds them when quick.
  function waitGathering(pc) {
    return new Promise((resolve) => {
      if (pc.iceGatheringState === 'complete') return resolve();
      const t = setTimeout(resolve, 300);
      pc.addEventListener('icegatheringstatechange', () => {
        if (pc.iceGatheringState === 'complete') { clearTimeout(t); resolve(); }
      });
    });
  }

  async function signal(pc, endpoint) {
    await pc.setLocalDescription(await pc.createOffer());
    await waitGathering(pc);
    state.timing.offer = performance.now();
    const resp = await fetch(base + endpoint + query, {
      method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: pc.localDescription.sdp,
    });
    if (resp.status !== 201) throw new Error(endpoint + ': ' + resp.status + ' ' + (await resp.text()).trim());
    state.session = resp.headers.get('Location') || '';
    await pc.setRemoteDescription({ type: 'answer', sdp: await resp.text() });
    state.timing.answer = performance.now();
    window.addEventListener('pagehide', () => {
      if (state.session) fetch(state.session, { method: 'DELETE', keepalive: true });
    });
  }

  // WebRTC latency: what the jitter buffer holds plus half the round trip.
  async function webrtcLatency(pc) {
    const stats = await pc.getStats();
    let jitter = null, rtt = 0;
    stats.forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video' && s.jitterBufferEmittedCount > 0) {
        jitter = s.jitterBufferDelay / s.jitterBufferEmittedCount;
      }
      if (s.type === 'candidate-pair' && s.nominated && s.currentRoundTripTime) rtt = s.currentRoundTripTime;
    });
    return jitter === null ? null : jitter + rtt / 2;
  }

  async function playWebRTC() {
    if (!window.RTCPeerConnection) throw new Error('no WebRTC in this browser');
    const pc = new RTCPeerConnection();
    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.addTransceiver('audio', { direction: 'recvonly' });
    const stream = new MediaStream();
    pc.ontrack = (e) => { stream.addTrack(e.track); video.srcObject = stream; };
    pc.onconnectionstatechange = () => { if (pc.connectionState === 'connected') state.timing.connected = performance.now(); };
    try {
      await signal(pc, '/whep');
      // An answer without video (the stream's codec is not one WebRTC
      // carries here, H.265 say): another mode may show it.
      if (!/^m=video [1-9]/m.test(pc.remoteDescription.sdp)) throw new Error('no video over WebRTC for this stream');
    } catch (err) {
      pc.close();
      if (state.session) fetch(state.session, { method: 'DELETE' });
      state.session = '';
      throw err;
    }
    setMode('WebRTC');
    const timer = setInterval(async () => { state.latency = await webrtcLatency(pc); }, 1000);
    return () => {
      clearInterval(timer);
      pc.close();
      if (state.session) fetch(state.session, { method: 'DELETE' });
      state.session = '';
      video.srcObject = null;
    };
  }

  // load fetches a vendored script when a mode needs it: WebRTC, the
  // first choice, needs none, and the page starts faster without them.
  function load(name) {
    return new Promise((resolve, reject) => {
      const el = document.createElement('script');
      el.src = assets + name;
      el.onload = resolve;
      el.onerror = () => reject(new Error('cannot load ' + name));
      document.head.appendChild(el);
    });
  }

  async function playLLHLS() {
    const src = base + '/hls.fmp4.m3u8' + query;
    if (!window.Hls && window.MediaSource) await load('hls.light.min.js');
    if (window.Hls && Hls.isSupported()) {
      const hls = new Hls({ lowLatencyMode: true, maxLiveSyncPlaybackRate: 1.5 });
      hls.on(Hls.Events.ERROR, (e, d) => { if (d.fatal) fail('LL-HLS: ' + d.details); });
      hls.loadSource(src);
      hls.attachMedia(video);
      setMode('LL-HLS (hls.js)');
      const timer = setInterval(() => { state.latency = hls.latency || null; }, 1000);
      return () => { clearInterval(timer); hls.destroy(); };
    } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
      video.src = src;
      setMode('LL-HLS (native)');
      return () => { video.removeAttribute('src'); video.load(); };
    } else {
      throw new Error('no HLS in this browser');
    }
  }

  async function playFLV() {
    if (!window.mpegts && window.MediaSource) await load('mpegts.js');
    if (!window.mpegts || !mpegts.isSupported()) throw new Error('no MSE for HTTP-FLV in this browser');
    const p = mpegts.createPlayer({ type: 'flv', isLive: true, url: base + '.live.flv' + query },
      { enableStashBuffer: false, liveBufferLatencyChasing: true,
        // Jump to the live edge rather than play the GOP cache from its
        // keyframe at whatever delay the join left (BENCHMARKS.md,
        // glass-to-glass: 0.3-0.5 s instead of 0.24-1.44 s).
        liveSync: true, liveSyncMaxLatency: 0.5, liveSyncTargetLatency: 0.3 });
    p.on(mpegts.Events.ERROR, (type, detail) => fail('HTTP-FLV: ' + type + ' ' + detail));
    p.attachMediaElement(video);
    p.load();
    setMode('HTTP-FLV (mpegts.js)');
    const timer = setInterval(() => {
      const b = video.buffered;
      state.latency = b.length ? b.end(b.length - 1) - video.currentTime : null;
    }, 1000);
    return () => { clearInterval(timer); p.destroy(); };
  }

  // playing resolves once frames are presented, or rejects after ms.
  function playing(ms) {
    const start = state.frames;
    return new Promise((resolve, reject) => {
      const t0 = Date.now();
      // Presented frames where the browser counts them: a player moves
      // currentTime to the live edge before anything decodes.
      const counts = 'requestVideoFrameCallback' in HTMLVideoElement.prototype;
      const check = () => {
        if (state.frames > start || (!counts && video.currentTime > 0)) return resolve();
        if (Date.now() - t0 > ms) return reject(new Error('no frames within ' + ms / 1000 + ' s'));
        setTimeout(check, 100);
      };
      check();
    });
  }

  async function publish() {
    const media = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
    video.srcObject = media;
    const pc = new RTCPeerConnection();
    for (const track of media.getTracks()) {
      const tr = pc.addTransceiver(track, { direction: 'sendonly' });
      // H.264 first: mediakit ingests H.264 (and Opus, G.711).
      if (track.kind === 'video' && RTCRtpSender.getCapabilities) {
        const codecs = RTCRtpSender.getCapabilities('video').codecs;
        const h264 = codecs.filter((c) => c.mimeType === 'video/H264' && /packetization-mode=1/.test(c.sdpFmtpLine || ''));
        if (h264.length && tr.setCodecPreferences) tr.setCodecPreferences(h264.concat(codecs.filter((c) => !h264.includes(c))));
      }
    }
    await signal(pc, '/whip');
    setMode('publishing (WHIP)');
  }

  const players = { webrtc: playWebRTC, llhls: playLLHLS, flv: playFLV };
  async function run() {
    if (publishing) return publish();
    const order = forced ? [forced] : ['webrtc', 'llhls', 'flv'];
    for (const name of order) {
      const play = players[name];
      if (!play) return fail('unknown mode ' + name);
      let stop = null;
      try {
        stop = await play();
        await playing(name === 'webrtc' ? 4000 : 10000);
        errorEl.textContent = '';
        return;
      } catch (err) {
        fail(name + ': ' + err.message);
        if (stop) stop();
        state.latency = null;
      }
    }
  }
  setInterval(() => {
    latencyEl.textContent = state.latency === null ? '' : 'latency ≈ ' + Math.round(state.latency * 1000) + ' ms';
  }, 1000);
  run().catch((err) => fail(err.message));
})();
