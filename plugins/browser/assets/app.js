// The voice page: microphone → AudioWorklet (16 kHz, 16-bit, 20 ms
// frames) → WebSocket; the agent's speech back through a scheduled
// AudioContext queue; the call's events shown as they come.
// Protocol: docs/transports/browser.md (version 1). No framework, no
// external resource: everything is served by the plugin.

const PROTOCOL_VERSION = 1;
const RATE = 16000;
const FRAME_MS = 20;
// Frames kept while the call is being admitted (1 s), sent once it is.
const MAX_EARLY_FRAMES = 50;

const $ = (id) => document.getElementById(id);
const query = new URLSearchParams(location.search);
const token = query.get('token');

// A read-only view of the call for people debugging and for the
// end-to-end test (tests/browser/drive.mjs).
const stats = {
  state: 'idle',
  identity: null,
  sessionId: null,
  micPeakDbfs: -120,
  micMaxPeakDbfs: -120,
  framesSent: 0,
  framesReceived: 0,
  marksEchoed: 0,
  transcripts: [],
  answers: [],
  errors: [],
  closeCode: null,
  closeReason: null,
};
window.voicegate = stats;

let call = null;

function setState(state, text) {
  stats.state = state;
  const el = $('state');
  el.dataset.state = state;
  el.textContent = text;
}

function addEntry(kind, who, text) {
  $('empty').hidden = true;
  const li = document.createElement('li');
  li.className = `entry ${kind}`;
  li.dataset.kind = kind;
  if (who) {
    const name = document.createElement('span');
    name.className = 'who';
    name.textContent = who;
    li.append(name);
  }
  const p = document.createElement('p');
  p.textContent = text;
  li.append(p);
  const time = document.createElement('time');
  time.dateTime = new Date().toISOString();
  time.textContent = new Date().toLocaleTimeString();
  li.append(time);
  $('log').append(li);
  li.scrollIntoView({ block: 'nearest' });
}

function showError(text) {
  stats.errors.push(text);
  $('errors').hidden = false;
  const li = document.createElement('li');
  li.textContent = text;
  $('error-list').append(li);
}

function showCounters() {
  $('sent').textContent = `${stats.framesSent} frames`;
  $('received').textContent = `${stats.framesReceived} frames`;
}

// Plays 16 kHz PCM frames back to back, echoes marks once the audio
// before them has played, and drops everything on `clear`.
class Player {
  constructor(ctx) {
    this.ctx = ctx;
    this.out = ctx.createGain();
    this.out.connect(ctx.destination);
    this.next = 0;
    this.sources = new Set();
    this.marks = [];
    this.timer = null;
  }

  play(bytes) {
    const pcm = new Int16Array(bytes);
    if (pcm.length === 0) return;
    const buffer = this.ctx.createBuffer(1, pcm.length, RATE);
    const ch = buffer.getChannelData(0);
    for (let i = 0; i < pcm.length; i++) ch[i] = pcm[i] / 32768;
    const src = this.ctx.createBufferSource();
    src.buffer = buffer;
    src.connect(this.out);
    const now = this.ctx.currentTime;
    // After a gap, start again a little ahead so the frames that follow
    // queue up behind this one instead of each arriving late.
    if (this.next < now + 0.01) this.next = now + 0.05;
    src.start(this.next);
    this.next += buffer.duration;
    this.sources.add(src);
    src.onended = () => this.sources.delete(src);
  }

  mark(name) {
    this.marks.push({ name, at: Math.max(this.next, this.ctx.currentTime) });
    if (!this.timer) this.timer = setInterval(() => this.poll(), FRAME_MS);
  }

  poll() {
    const heard = this.ctx.currentTime - (this.ctx.outputLatency || 0);
    while (this.marks.length && this.marks[0].at <= heard) this.echo(this.marks.shift().name);
    if (!this.marks.length) this.stopTimer();
  }

  echo(name) {
    if (call) call.send({ type: 'mark', name });
    stats.marksEchoed++;
  }

  clear() {
    for (const src of this.sources) {
      try { src.stop(); } catch (_) { /* not started yet */ }
    }
    this.sources.clear();
    this.next = 0;
    // Like a phone carrier: pending marks come back at once, and the host
    // knows from their names how much was heard.
    for (const m of this.marks.splice(0)) this.echo(m.name);
    this.stopTimer();
  }

  stopTimer() {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}

class Call {
  constructor(media, ctx, node) {
    this.media = media;
    this.ctx = ctx;
    this.node = node;
    this.player = new Player(ctx);
    this.ready = false;
    this.hungUp = null;
    this.early = [];
    this.ended = false;
    const url = new URL('ws', location.href);
    url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    if (token) url.searchParams.set('token', token);
    this.ws = new WebSocket(url);
    this.ws.binaryType = 'arraybuffer';
    this.ws.onopen = () => this.onOpen();
    this.ws.onmessage = (e) => this.onMessage(e);
    this.ws.onclose = (e) => this.onClose(e);
    node.port.onmessage = (e) => this.onMicFrame(e.data);
    this.counters = setInterval(showCounters, 250);
  }

  send(msg) {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  onOpen() {
    setState('connecting', 'Connecting the call…');
    this.send({
      type: 'hello',
      version: PROTOCOL_VERSION,
      sample_rate: RATE,
      encoding: 's16le',
      channels: 1,
      client: 'voicegate-web/1',
    });
  }

  onMicFrame({ pcm, peakDbfs }) {
    stats.micPeakDbfs = peakDbfs;
    if (peakDbfs > stats.micMaxPeakDbfs) stats.micMaxPeakDbfs = peakDbfs;
    const level = Math.max(0, Math.min(100, ((peakDbfs + 60) / 60) * 100));
    $('level').style.width = `${level}%`;
    $('meter').setAttribute('aria-valuenow', String(Math.round(Math.max(-60, peakDbfs))));
    if (this.ws.readyState !== WebSocket.OPEN) return;
    if (!this.ready) {
      this.early.push(pcm);
      if (this.early.length > MAX_EARLY_FRAMES) this.early.shift();
      return;
    }
    this.ws.send(pcm);
    stats.framesSent++;
  }

  onMessage(e) {
    if (typeof e.data !== 'string') {
      stats.framesReceived++;
      this.player.play(e.data);
      return;
    }
    let msg;
    try {
      msg = JSON.parse(e.data);
    } catch (_) {
      showError('The server sent a message that is not JSON.');
      return;
    }
    switch (msg.type) {
      case 'ready':
        this.ready = true;
        stats.sessionId = msg.session_id;
        $('session').textContent = msg.session_id;
        setState('live', 'In call: speak now');
        for (const pcm of this.early.splice(0)) {
          this.ws.send(pcm);
          stats.framesSent++;
        }
        break;
      case 'event':
        this.onEvent(msg.event || {});
        break;
      case 'mark':
        this.player.mark(msg.name);
        break;
      case 'clear':
        this.player.clear();
        break;
      case 'hangup':
        this.hungUp = msg.reason || 'hangup';
        addEntry('note', null, `The call was ended (${this.hungUp}).`);
        break;
      case 'error':
        showError(`${msg.code}: ${msg.message}`);
        break;
      default:
        // Newer servers may send more; version 1 clients ignore it.
        break;
    }
  }

  onEvent(ev) {
    switch (ev.type) {
      case 'voice.stt.final':
        stats.transcripts.push(ev.text);
        addEntry('transcript', 'You', ev.text);
        break;
      case 'voice.assistant.text':
        stats.answers.push(ev.text);
        addEntry('answer', 'Agent', ev.text);
        break;
      case 'voice.assistant.interrupted':
        addEntry('note', null, 'You interrupted the agent.');
        break;
      case 'error':
        showError(ev.stage ? `${ev.stage}: ${ev.error}` : String(ev.error));
        break;
      case 'call.ended':
        setState('ended', `Call ended (${ev.reason})`);
        break;
      default:
        break;
    }
  }

  onClose(e) {
    stats.closeCode = e.code;
    stats.closeReason = e.reason;
    const why = e.reason ? `: ${e.reason}` : '';
    if (this.hungUp && e.code === 1006) {
      // The server said the call is over; the socket then went without a
      // clean close (some servers drop the connection with audio from us
      // still unread). The call ended all the same.
      setState('ended', `Call ended (${this.hungUp})`);
    } else if (e.code === 1000 || e.code === 1001) {
      setState('ended', `Call ended${why}`);
    } else if (e.code === 1008) {
      setState('refused', `Call refused${why}`);
      showError(`The gateway refused the call${why}.`);
    } else {
      setState('failed', `Connection lost (${e.code})${why}`);
      if (!this.ready) showError('Could not reach the gateway, or it refused the connection.');
    }
    this.finish();
  }

  hangup() {
    this.send({ type: 'hangup', reason: 'user' });
    setState('ending', 'Hanging up…');
  }

  finish() {
    if (this.ended) return;
    this.ended = true;
    this.player.stopTimer();
    clearInterval(this.counters);
    this.node.port.onmessage = null;
    for (const track of this.media.getTracks()) track.stop();
    this.ctx.close().catch(() => {});
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close(1000, 'page closed');
    showCounters();
    call = null;
    $('start').disabled = false;
    $('hangup').disabled = true;
    $('processing').disabled = false;
  }
}

async function startCall() {
  $('start').disabled = true;
  $('processing').disabled = true;
  $('errors').hidden = true;
  $('error-list').replaceChildren();
  setState('starting', 'Asking for the microphone…');
  const processing = $('processing').checked;
  let media;
  try {
    media = await navigator.mediaDevices.getUserMedia({
      audio: {
        echoCancellation: processing,
        noiseSuppression: processing,
        autoGainControl: processing,
        channelCount: 1,
      },
    });
  } catch (err) {
    setState('failed', 'No microphone');
    showError(`Microphone: ${err.message || err.name}`);
    $('start').disabled = false;
    $('processing').disabled = false;
    return;
  }
  // Created after getUserMedia, so autoplay rules let it run.
  let ctx = new AudioContext({ sampleRate: RATE });
  let source;
  try {
    source = ctx.createMediaStreamSource(media);
  } catch (_) {
    // Some browsers only connect a microphone at the device's rate; the
    // worklet then resamples to 16 kHz itself.
    await ctx.close();
    ctx = new AudioContext();
    source = ctx.createMediaStreamSource(media);
  }
  try {
    await ctx.resume();
    await ctx.audioWorklet.addModule('worklet.js');
  } catch (err) {
    setState('failed', 'Audio unavailable');
    showError(`Audio: ${err.message || err.name}`);
    for (const track of media.getTracks()) track.stop();
    ctx.close().catch(() => {});
    $('start').disabled = false;
    $('processing').disabled = false;
    return;
  }
  const node = new AudioWorkletNode(ctx, 'pcm-capture', {
    numberOfInputs: 1,
    numberOfOutputs: 1,
    outputChannelCount: [1],
    processorOptions: { targetRate: RATE, frameMs: FRAME_MS },
  });
  // The worklet only runs while something pulls on it: a silent path to
  // the speakers.
  const mute = ctx.createGain();
  mute.gain.value = 0;
  source.connect(node).connect(mute).connect(ctx.destination);
  stats.transcripts = [];
  stats.answers = [];
  stats.framesSent = 0;
  stats.framesReceived = 0;
  $('session').textContent = '–';
  call = new Call(media, ctx, node);
  $('hangup').disabled = false;
}

async function whoami() {
  const url = new URL('whoami', location.href);
  if (token) url.searchParams.set('token', token);
  try {
    const resp = await fetch(url, { cache: 'no-store' });
    const body = await resp.json();
    if (!resp.ok) {
      setState('refused', 'Not allowed to call');
      showError(body.error || `HTTP ${resp.status}`);
      return;
    }
    stats.identity = body.identity;
    $('identity').textContent = `as ${body.identity}`;
    setState('idle', 'Ready to call');
    $('start').disabled = false;
  } catch (err) {
    setState('failed', 'Gateway unreachable');
    showError(`Cannot reach the gateway: ${err.message || err}`);
  }
}

$('processing').checked = !['0', 'off', 'false'].includes(query.get('processing'));
$('start').addEventListener('click', startCall);
$('hangup').addEventListener('click', () => call && call.hangup());
window.addEventListener('pagehide', () => call && call.ws.close(1000, 'page closed'));
if (!window.isSecureContext || !navigator.mediaDevices) {
  setState('failed', 'Microphone unavailable here');
  showError('Browsers only give the microphone to secure pages: open this page over HTTPS, or from localhost or 127.0.0.1 on this machine.');
} else {
  whoami();
}
