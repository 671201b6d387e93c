// The page's two audio paths: the microphone (capture worklet, 24 kHz PCM16 chunks out) and the
// companion's voice (playback worklet, PCM16 deltas in, exact played counts back).

const RATE = 24000; // the realtime model's PCM rate, both ways
const CHUNK_MS = 40; // one input_audio_buffer.append per chunk: inside the 20-50 ms the model likes
const FLUSH_WAIT_MS = 80; // a barge-in must silence playback within 100 ms: never wait longer
const MIC_CONSTRAINTS = {
  audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 },
  video: false,
};

function workletUrl(base, name) {
  return new URL(name, new URL(base, location.href)).href;
}

/** The microphone, open for the whole conversation (full duplex: the model's VAD decides turns). */
export class Microphone {
  constructor(staticBase) {
    this.staticBase = staticBase;
    this.context = null;
    this.stream = null;
    this.node = null;
  }

  /** Opens the microphone; onChunk(ArrayBuffer) gets 24 kHz mono PCM16, ~40 ms at a time. */
  async start(onChunk) {
    this.stream = await navigator.mediaDevices.getUserMedia(MIC_CONSTRAINTS);
    // The device's own rate: the worklet resamples to 24 kHz itself.
    this.context = new AudioContext({ latencyHint: "interactive" });
    await this.context.audioWorklet.addModule(workletUrl(this.staticBase, "capture-worklet.js"));
    const source = this.context.createMediaStreamSource(this.stream);
    this.node = new AudioWorkletNode(this.context, "companion-capture", {
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
    const mute = this.context.createGain();
    mute.gain.value = 0;
    source.connect(this.node).connect(mute).connect(this.context.destination);
    if (this.context.state !== "running") await this.context.resume();
  }

  stop() {
    if (this.node) {
      this.node.port.postMessage({ type: "stop" });
      this.node.port.onmessage = null;
      this.node.disconnect();
    }
    if (this.stream) for (const track of this.stream.getTracks()) track.stop();
    if (this.context) this.context.close().catch(() => {});
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
  }

  async start() {
    try {
      this.context = new AudioContext({ sampleRate: RATE, latencyHint: "interactive" });
    } catch {
      this.context = new AudioContext({ latencyHint: "interactive" }); // the worklet resamples then
    }
    await this.context.audioWorklet.addModule(workletUrl(this.staticBase, "playback-worklet.js"));
    this.node = new AudioWorkletNode(this.context, "companion-playback", {
      numberOfInputs: 0,
      numberOfOutputs: 1,
      outputChannelCount: [1],
    });
    this.gain = this.context.createGain();
    this.node.connect(this.gain).connect(this.context.destination);
    this.node.port.onmessage = (event) => this.onMessage(event.data || {});
    if (this.context.state !== "running") await this.context.resume();
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
