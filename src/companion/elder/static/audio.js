// The page's two audio paths: the microphone (24 kHz PCM16 chunks out) and the companion's voice
// (playback worklet, PCM16 deltas in, exact played counts back).

import { Chunker } from "./capture-worklet.js";
import { debug } from "./debug.js";

const RATE = 24000; // the realtime model's PCM rate, both ways
const CHUNK_MS = 40; // one input_audio_buffer.append per chunk: inside the 20-50 ms the model likes
const FLUSH_WAIT_MS = 80; // a barge-in must silence playback within 100 ms: never wait longer
const MIC_CONSTRAINTS = {
  audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 },
  video: false,
};
// Captured frames the browser keeps for the page while its main thread is busy, before it drops the
// oldest: Chromium hands over 10 ms frames, so 3 s of speech.
const FRAME_QUEUE = 300;

function workletUrl(base, name) {
  return new URL(name, new URL(base, location.href)).href;
}

/**
 * Whether the microphone's frames can be read as they are captured (MediaStreamTrackProcessor, in
 * Chromium's browsers). An AudioWorklet reads the microphone on an AudioContext's clock, the output
 * device's: when the tablet stalls, that clock skips what it missed while the microphone still delivers
 * all of it, and the browser drops the difference (seconds of a busy minute, a word from a phrase).
 * Read as captured, every frame arrives, late at worst. Safari and Firefox use the worklet.
 */
function readsFrames() {
  return typeof globalThis.MediaStreamTrackProcessor === "function";
}

/** The microphone's captured frames, read on the main thread and chunked as they come. */
class FrameReader {
  constructor(track, onChunk) {
    const processor = new globalThis.MediaStreamTrackProcessor({ track, maxBufferSize: FRAME_QUEUE });
    this.reader = processor.readable.getReader();
    this.onChunk = onChunk;
    this.chunker = null;
    this.mono = null;
    this.plane = null;
    this.pump().catch(() => {}); // the track ended or the reader was cancelled: nothing to do
  }

  async pump() {
    for (;;) {
      const { value: frame, done } = await this.reader.read();
      if (done) return;
      try {
        this.take(frame);
      } finally {
        frame.close();
      }
    }
  }

  /** One AudioData: its channels averaged to mono, resampled and chunked. */
  take(frame) {
    const frames = frame.numberOfFrames;
    if (!this.chunker || this.chunker.inputRate !== frame.sampleRate) {
      this.chunker = new Chunker(frame.sampleRate, this.onChunk, CHUNK_MS);
    }
    if (!this.mono || this.mono.length !== frames) {
      this.mono = new Float32Array(frames);
      this.plane = new Float32Array(frames);
    }
    const mono = this.mono;
    const channels = frame.numberOfChannels;
    if (channels === 1) {
      frame.copyTo(mono, { planeIndex: 0, format: "f32-planar" });
    } else {
      mono.fill(0);
      for (let c = 0; c < channels; c++) {
        frame.copyTo(this.plane, { planeIndex: c, format: "f32-planar" });
        for (let i = 0; i < frames; i++) mono[i] += this.plane[i] / channels;
      }
    }
    this.chunker.push(mono);
  }

  stop() {
    this.reader.cancel().catch(() => {});
  }
}

/**
 * The microphone, open for the whole conversation (full duplex: the model's VAD decides turns).
 * open() runs inside the talk click (Safari leaves an AudioContext made later suspended); start()
 * then asks for the microphone. The person may press stop while start() waits: every await is
 * followed by a look at `stopped`, so a stream granted after stop is closed at once, never left open.
 */
export class Microphone {
  constructor(staticBase) {
    this.staticBase = staticBase;
    this.context = null;
    this.stream = null;
    this.node = null;
    this.frames = null;
    this.stopped = false;
  }

  /** Synchronous, inside the click: the worklet's context at the device's own rate (it resamples). */
  open() {
    if (this.context || this.stopped || readsFrames()) return;
    this.context = new AudioContext({ latencyHint: "interactive" });
    this.context.resume().catch(() => {});
  }

  /** Opens the microphone; onChunk(ArrayBuffer) gets 24 kHz mono PCM16, ~40 ms at a time. */
  async start(onChunk) {
    if (this.stopped) return;
    this.open();
    const stream = await navigator.mediaDevices.getUserMedia(MIC_CONSTRAINTS);
    this.stream = stream;
    if (this.stopped) {
      this.release(); // stop came while the browser asked: close what it just granted
      return;
    }
    if (readsFrames()) {
      this.frames = new FrameReader(stream.getAudioTracks()[0], onChunk);
      debug.microphone = "frames";
      return;
    }
    const context = this.context;
    await context.audioWorklet.addModule(workletUrl(this.staticBase, "capture-worklet.js"));
    if (this.stopped) {
      this.release();
      return;
    }
    const source = context.createMediaStreamSource(stream);
    this.node = new AudioWorkletNode(context, "companion-capture", {
      numberOfInputs: 1,
      numberOfOutputs: 1,
      channelCount: 1,
      channelCountMode: "explicit",
      processorOptions: { chunkMs: CHUNK_MS },
    });
    this.node.port.onmessage = (event) => {
      if (event.data && event.data.type === "chunk") onChunk(event.data.pcm);
    };
    // A silent path to the output keeps the graph pulled in every browser.
    const mute = context.createGain();
    mute.gain.value = 0;
    source.connect(this.node).connect(mute).connect(context.destination);
    debug.microphone = "worklet";
    if (context.state !== "running") context.resume().catch(() => {}); // not awaited: it may wait for a gesture
  }

  stop() {
    this.stopped = true;
    this.release();
  }

  release() {
    if (this.frames) this.frames.stop();
    if (this.node) {
      this.node.port.postMessage({ type: "stop" });
      this.node.port.onmessage = null;
      this.node.disconnect();
    }
    if (this.stream) for (const track of this.stream.getTracks()) track.stop();
    if (this.context) this.context.close().catch(() => {});
    this.frames = null;
    this.node = null;
    this.stream = null;
    this.context = null;
  }
}

/** The companion's voice. Callbacks: onStarted(itemId), onIdle(), onPlayed({itemId: samples}). */
export class Speaker {
  constructor(staticBase, callbacks) {
    this.staticBase = staticBase;
    this.callbacks = callbacks;
    this.context = null;
    this.node = null;
    this.gain = null;
    this.pendingFlush = null;
    this.playing = false;
    this.stopped = false; // set by stop(): a start() still waiting must not build anything after it
  }

  /**
   * Synchronous, inside the talk click: the context is made and resumed there, or Safari leaves it
   * suspended. 24 kHz when the browser can (no resampling at all), the device's rate otherwise (the
   * worklet then resamples).
   */
  open() {
    if (this.context || this.stopped) return;
    try {
      this.context = new AudioContext({ sampleRate: RATE, latencyHint: "interactive" });
    } catch {
      this.context = new AudioContext({ latencyHint: "interactive" });
    }
    this.context.resume().catch(() => {});
  }

  async start() {
    if (this.stopped) return;
    this.open();
    const context = this.context;
    await context.audioWorklet.addModule(workletUrl(this.staticBase, "playback-worklet.js"));
    if (this.stopped) return; // stop() came meanwhile and closed the context
    this.node = new AudioWorkletNode(context, "companion-playback", {
      numberOfInputs: 0,
      numberOfOutputs: 1,
      outputChannelCount: [1],
    });
    this.gain = context.createGain();
    this.node.connect(this.gain).connect(context.destination);
    this.node.port.onmessage = (event) => this.onMessage(event.data || {});
    if (context.state !== "running") context.resume().catch(() => {}); // not awaited: it may wait for a gesture
  }

  onMessage(message) {
    if (message.played) this.callbacks.onPlayed(message.played);
    if (message.type === "started") {
      this.playing = true;
      this.callbacks.onStarted(message.itemId);
    } else if (message.type === "idle") {
      this.playing = false;
      this.callbacks.onIdle();
    } else if (message.type === "flushed") {
      this.playing = false;
      const resolve = this.pendingFlush;
      this.pendingFlush = null;
      if (resolve) resolve(message);
    }
  }

  /** Queue one delta (PCM16 24 kHz) of `itemId`; it plays as soon as the worklet reaches it. */
  push(itemId, pcm) {
    if (this.node) this.node.port.postMessage({ type: "push", itemId, pcm }, [pcm]);
  }

  /**
   * Stop at once and drop what is queued. Resolves with {wasPlaying, itemId, played} as counted on
   * the audio thread, or null when it did not answer in time (then the last progress counts).
   */
  flush() {
    if (!this.node) return Promise.resolve(null);
    if (this.pendingFlush) this.pendingFlush(null);
    return new Promise((resolve) => {
      this.pendingFlush = resolve;
      this.node.port.postMessage({ type: "flush" });
      setTimeout(() => {
        if (this.pendingFlush === resolve) {
          this.pendingFlush = null;
          this.playing = false; // it was told to stop: the page must not go on showing it speaking
          resolve(null);
        }
      }, FLUSH_WAIT_MS);
    });
  }

  /** A new session: drop the queue and start the per-item counts again (item ids may repeat). */
  reset() {
    if (this.pendingFlush) this.pendingFlush(null);
    this.pendingFlush = null;
    this.playing = false;
    if (this.node) this.node.port.postMessage({ type: "reset" });
  }

  /** 1 = full voice; lower while music plays (the person hears the song, the voice over it). */
  setVolume(value) {
    if (!this.gain || !this.context) return;
    this.gain.gain.setTargetAtTime(value, this.context.currentTime, 0.05);
  }

  stop() {
    this.stopped = true;
    if (this.pendingFlush) this.pendingFlush(null);
    this.pendingFlush = null;
    if (this.node) {
      this.node.port.onmessage = null;
      this.node.disconnect();
    }
    if (this.context) this.context.close().catch(() => {});
    this.node = null;
    this.gain = null;
    this.context = null;
    this.playing = false;
  }
}
