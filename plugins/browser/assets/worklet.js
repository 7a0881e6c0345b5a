// AudioWorklet processor: microphone samples in, 16-bit PCM frames at
// 16 kHz out (20 ms = 320 samples), posted to the page, which sends them
// over the WebSocket (WebSocket does not exist in a worklet scope).
//
// The page asks for a 16 kHz AudioContext, so the usual path is a plain
// copy. Browsers that refuse to connect a microphone to a context at
// another rate than the device's get a default context instead; then
// this low-passes (windowed sinc) and resamples by linear interpolation.

const TAPS = 63;

function lowPass(inputRate, targetRate) {
  // Cut a little below the target's Nyquist frequency.
  const fc = (0.45 * targetRate) / inputRate;
  const mid = (TAPS - 1) / 2;
  const h = new Float32Array(TAPS);
  let sum = 0;
  for (let n = 0; n < TAPS; n++) {
    const x = n - mid;
    const sinc = x === 0 ? 2 * fc : Math.sin(2 * Math.PI * fc * x) / (Math.PI * x);
    const hamming = 0.54 - 0.46 * Math.cos((2 * Math.PI * n) / (TAPS - 1));
    h[n] = sinc * hamming;
    sum += h[n];
  }
  for (let n = 0; n < TAPS; n++) h[n] /= sum;
  return h;
}

class PcmCapture extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const o = (options && options.processorOptions) || {};
    this.target = o.targetRate || 16000;
    this.frame = Math.round((this.target * (o.frameMs || 20)) / 1000);
    // `sampleRate` is the context's rate (a global of this scope).
    this.ratio = sampleRate / this.target;
    this.out = new Int16Array(this.frame);
    this.n = 0;
    this.peak = 0;
    this.sumSquares = 0;
    if (this.ratio !== 1) {
      this.taps = lowPass(sampleRate, this.target);
      this.history = new Float32Array(TAPS);
      this.head = 0;
      this.index = -1; // index of the latest filtered input sample
      this.next = 0; // position of the next output sample, in input samples
      this.prev = 0;
    }
  }

  push(x) {
    const v = x > 1 ? 1 : x < -1 ? -1 : x;
    this.out[this.n++] = v < 0 ? Math.round(v * 0x8000) : Math.round(v * 0x7fff);
    const a = Math.abs(v);
    if (a > this.peak) this.peak = a;
    this.sumSquares += v * v;
    if (this.n === this.frame) this.post();
  }

  post() {
    const dbfs = (x) => (x > 0 ? 20 * Math.log10(x) : -120);
    const pcm = this.out.buffer;
    this.port.postMessage(
      { pcm, peakDbfs: dbfs(this.peak), rmsDbfs: dbfs(Math.sqrt(this.sumSquares / this.frame)) },
      [pcm],
    );
    this.out = new Int16Array(this.frame);
    this.n = 0;
    this.peak = 0;
    this.sumSquares = 0;
  }

  resample(samples) {
    const { taps, history } = this;
    for (let i = 0; i < samples.length; i++) {
      history[this.head] = samples[i];
      this.head = (this.head + 1) % TAPS;
      let y = 0;
      for (let k = 0, j = this.head; k < TAPS; k++, j = (j + 1) % TAPS) y += taps[k] * history[j];
      this.index++;
      while (this.next <= this.index) {
        const frac = this.next - (this.index - 1);
        this.push(this.prev + (y - this.prev) * frac);
        this.next += this.ratio;
      }
      this.prev = y;
    }
    // Keep the positions small so precision never drifts.
    if (this.index > 1e6) {
      this.index -= 1e6;
      this.next -= 1e6;
    }
  }

  process(inputs) {
    const input = inputs[0];
    // Channel 0 only: a mono microphone has nothing else, and Chromium's
    // fake capture device reports two channels for a mono file.
    if (!input || input.length === 0 || !input[0]) return true;
    const samples = input[0];
    if (this.ratio === 1) {
      for (let i = 0; i < samples.length; i++) this.push(samples[i]);
    } else {
      this.resample(samples);
    }
    return true;
  }
}

registerProcessor('pcm-capture', PcmCapture);
