// The microphone's 24 kHz PCM16: whatever the input's rate (44.1, 48 kHz...), a Chunker turns mono
// float blocks into 24 kHz mono PCM16 in ~40 ms chunks, as the realtime model expects. The page feeds it
// the captured frames where the browser hands them over (audio.js); elsewhere this file's AudioWorklet
// feeds it the context's 128-frame blocks and posts each chunk to the main thread.
//
// Resampling is done properly, not by dropping samples: when the input is faster than 24 kHz, a
// windowed-sinc low-pass first removes what 24 kHz cannot carry (above ~11 kHz, which would alias
// into the speech band), then each output sample is linearly interpolated at its exact fractional
// input position. The filter's history, the last input sample and the fractional position are kept
// across the 128-frame blocks, so block edges leave no clicks and the rate is exact over time.

const TARGET_RATE = 24000;
const DEFAULT_CHUNK_MS = 40; // 20-50 ms per append: small enough for fast turns, few enough messages
const FILTER_TAPS = 63; // odd, symmetric; ~0.65 ms of delay at 48 kHz, stopband from ~13 kHz at 48 kHz
const CUTOFF_OF_TARGET_NYQUIST = 0.92; // keep speech up to ~11 kHz, stop before 12 kHz

/** Windowed-sinc (Blackman) low-pass taps, normalised to unity gain at 0 Hz. */
export function lowpassTaps(inputRate, targetRate, taps = FILTER_TAPS) {
  const cutoff = (CUTOFF_OF_TARGET_NYQUIST * targetRate) / 2 / inputRate; // cycles per input sample
  const h = new Float32Array(taps);
  const middle = (taps - 1) / 2;
  let sum = 0;
  for (let n = 0; n < taps; n++) {
    const k = n - middle;
    const sinc = k === 0 ? 2 * cutoff : Math.sin(2 * Math.PI * cutoff * k) / (Math.PI * k);
    const w = 0.42 - 0.5 * Math.cos((2 * Math.PI * n) / (taps - 1)) + 0.08 * Math.cos((4 * Math.PI * n) / (taps - 1));
    h[n] = sinc * w;
    sum += h[n];
  }
  for (let n = 0; n < taps; n++) h[n] /= sum;
  return h;
}

/** Streaming resampler to a lower or equal rate; state survives between blocks. */
export class Resampler {
  constructor(inputRate, targetRate = TARGET_RATE) {
    this.step = inputRate / targetRate; // input samples per output sample
    this.taps = this.step > 1 ? lowpassTaps(inputRate, targetRate) : null;
    this.history = this.taps ? new Float32Array(this.taps.length - 1) : null; // last inputs, oldest first
    this.previous = 0; // the filtered input sample just before the current block (index -1)
    this.position = 0; // where the next output sample falls, in input samples from the block's start
  }

  /** Filter one block (mono, float) through the low-pass, keeping the tail for the next block. */
  filter(block) {
    if (!this.taps) return block;
    const taps = this.taps;
    const history = this.history;
    const keep = history.length;
    if (!this.joined || this.joined.length !== keep + block.length) {
      this.joined = new Float32Array(keep + block.length); // reused: no garbage on the audio thread
      this.filtered = new Float32Array(block.length);
    }
    const joined = this.joined;
    const out = this.filtered;
    joined.set(history, 0);
    joined.set(block, keep);
    for (let i = 0; i < block.length; i++) {
      let acc = 0;
      for (let k = 0; k < taps.length; k++) acc += taps[k] * joined[i + k];
      out[i] = acc;
    }
    history.set(joined.subarray(joined.length - keep));
    return out;
  }

  /** Resample one block; calls emit(sample) for each 24 kHz sample (float, -1..1). */
  push(block, emit) {
    const x = this.filter(block);
    const n = x.length;
    if (n === 0) return;
    let t = this.position;
    while (t < n - 1) {
      const i = Math.floor(t);
      const frac = t - i;
      const a = i < 0 ? this.previous : x[i];
      const b = x[i + 1];
      emit(a + (b - a) * frac);
      t += this.step;
    }
    this.position = t - n; // in [-1, step - 1): relative to the next block
    this.previous = x[n - 1];
  }
}

function toInt16(sample) {
  const s = sample > 1 ? 1 : sample < -1 ? -1 : sample;
  return s < 0 ? Math.round(s * 0x8000) : Math.round(s * 0x7fff);
}

/** Mono float blocks at `inputRate` in, 24 kHz PCM16 chunks of `chunkMs` out: onChunk(ArrayBuffer). */
export class Chunker {
  constructor(inputRate, onChunk, chunkMs = DEFAULT_CHUNK_MS) {
    this.inputRate = inputRate;
    this.size = Math.round((TARGET_RATE * chunkMs) / 1000);
    this.resampler = new Resampler(inputRate, TARGET_RATE);
    this.buffer = new Int16Array(this.size);
    this.filled = 0;
    this.emit = (sample) => {
      this.buffer[this.filled++] = toInt16(sample);
      if (this.filled === this.size) {
        const chunk = this.buffer.buffer;
        this.buffer = new Int16Array(this.size); // the chunk's buffer is handed over, not reused
        this.filled = 0;
        onChunk(chunk);
      }
    };
  }

  /** One block of mono samples (-1..1); the block is not kept. */
  push(block) {
    this.resampler.push(block, this.emit);
  }
}

// Only inside an AudioWorkletGlobalScope (this file is also imported by a plain unit check).
if (typeof AudioWorkletProcessor !== "undefined") {
  class CaptureProcessor extends AudioWorkletProcessor {
    constructor(options) {
      super();
      const opts = (options && options.processorOptions) || {};
      const post = (chunk) => this.port.postMessage({ type: "chunk", pcm: chunk }, [chunk]);
      this.chunker = new Chunker(sampleRate, post, opts.chunkMs || DEFAULT_CHUNK_MS);
      this.mono = new Float32Array(128);
      this.running = true;
      this.port.onmessage = (event) => {
        if (event.data && event.data.type === "stop") this.running = false;
      };
    }

    process(inputs) {
      if (!this.running) return false;
      const input = inputs[0];
      if (!input || input.length === 0 || !input[0]) return true; // no source connected yet
      const frames = input[0].length;
      if (this.mono.length !== frames) this.mono = new Float32Array(frames);
      const mono = this.mono;
      if (input.length === 1) {
        mono.set(input[0]);
      } else {
        mono.fill(0);
        for (const channel of input) for (let i = 0; i < frames; i++) mono[i] += channel[i] / input.length;
      }
      this.chunker.push(mono);
      return true;
    }
  }

  registerProcessor("companion-capture", CaptureProcessor);
}
