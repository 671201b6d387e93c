// The companion's voice: an AudioWorklet that plays queued 24 kHz PCM16 chunks as they arrive (the
// first delta starts playing at once, nothing is batched) and counts, per item, exactly how many
// 24 kHz samples have gone out. That count is what a barge-in truncates to, so the model's memory
// of its own words matches what the person heard.
//
// Messages in:  {type: "push", itemId, pcm: ArrayBuffer(Int16 LE)}, {type: "flush"},
//               {type: "reset"}  a new session: item ids start again, so the counts must too
// Messages out: {type: "started", itemId}           the first sample after silence went out
//               {type: "progress", played: {id: n}}  every REPORT_MS while playing
//               {type: "idle", played: {id: n}}      the queue ran dry
//               {type: "flushed", wasPlaying, itemId, played: {id: n}}  answer to "flush"

const SOURCE_RATE = 24000;
const REPORT_MS = 50; // progress for the page's counters; the exact count travels with "flushed"

/** A queue of PCM16 chunks read one sample at a time, with linear interpolation to the output rate. */
export class PcmQueue {
  constructor(outputRate, sourceRate = SOURCE_RATE) {
    this.step = sourceRate / outputRate; // source samples per output sample
    this.chunks = []; // {itemId, data: Int16Array, offset}
    this.current = null; // the item of the sample at the read position, or null when idle
    this.last = null; // the item of the last sample read (kept when the queue runs dry)
    this.value = 0; // that sample, as a float
    this.frac = 0; // how far the output is between that sample and the next (0..1)
    this.played = {}; // itemId -> source samples played (consumed past the read position)
    this.touched = new Set(); // items whose count changed since the last report
  }

  push(itemId, data) {
    if (data.length > 0) this.chunks.push({ itemId, data, offset: 0 });
  }

  get busy() {
    return this.current !== null || this.chunks.length > 0;
  }

  /** Move the read position to the next queued sample; false when there is none. */
  advance() {
    while (this.chunks.length > 0 && this.chunks[0].offset >= this.chunks[0].data.length) this.chunks.shift();
    if (this.chunks.length === 0) {
      this.current = null;
      return false;
    }
    const head = this.chunks[0];
    this.current = head.itemId;
    this.last = head.itemId;
    this.value = head.data[head.offset++] / 32768;
    return true;
  }

  peek() {
    for (const chunk of this.chunks) if (chunk.offset < chunk.data.length) return chunk.data[chunk.offset] / 32768;
    return null;
  }

  /** Fill `out` (float samples); returns true if any sample came from the queue. */
  render(out) {
    let any = false;
    for (let i = 0; i < out.length; i++) {
      if (this.current === null) {
        if (!this.advance()) {
          out.fill(0, i);
          return any;
        }
        this.frac = 0;
      }
      let v = this.value;
      if (this.frac > 0) {
        const next = this.peek();
        if (next !== null) v += (next - v) * this.frac;
      }
      out[i] = v;
      any = true;
      this.frac += this.step;
      while (this.frac >= 1 && this.current !== null) {
        this.frac -= 1;
        this.count(this.current);
        if (!this.advance()) this.frac = 0;
      }
    }
    return any;
  }

  count(itemId) {
    this.played[itemId] = (this.played[itemId] || 0) + 1;
    this.touched.add(itemId);
  }

  /** Drop everything not yet played; the item that was (or was last) playing, or null. */
  flush() {
    const head = this.chunks.length > 0 ? this.chunks[0].itemId : null;
    const itemId = this.current !== null ? this.current : head !== null ? head : this.last;
    this.chunks = [];
    this.current = null;
    this.frac = 0;
    return itemId;
  }

  /** The counts changed since the last call (absolute values, not increments). */
  report() {
    const played = {};
    for (const id of this.touched) played[id] = this.played[id];
    this.touched.clear();
    return played;
  }
}

if (typeof AudioWorkletProcessor !== "undefined") {
  class PlaybackProcessor extends AudioWorkletProcessor {
    constructor() {
      super();
      this.queue = new PcmQueue(sampleRate);
      this.playing = false;
      this.reportEvery = Math.round((sampleRate * REPORT_MS) / 1000);
      this.sinceReport = 0;
      this.port.onmessage = (event) => this.onMessage(event.data || {});
    }

    onMessage(message) {
      if (message.type === "push") {
        this.queue.push(message.itemId, new Int16Array(message.pcm));
      } else if (message.type === "flush") {
        const wasPlaying = this.queue.busy;
        const itemId = this.queue.flush();
        this.playing = false;
        const played = this.queue.report();
        if (itemId !== null) played[itemId] = this.queue.played[itemId] || 0;
        this.port.postMessage({ type: "flushed", wasPlaying, itemId, played });
      } else if (message.type === "reset") {
        this.queue = new PcmQueue(sampleRate);
        this.playing = false;
      }
    }

    process(_inputs, outputs) {
      const output = outputs[0];
      const first = output[0];
      const wasPlaying = this.playing;
      const queue = this.queue;
      const startItem = queue.current !== null ? queue.current : queue.chunks.length > 0 ? queue.chunks[0].itemId : null;
      const any = queue.render(first);
      for (let c = 1; c < output.length; c++) output[c].set(first);
      if (any && !wasPlaying) {
        this.playing = true;
        this.port.postMessage({ type: "started", itemId: startItem });
      }
      this.sinceReport += first.length;
      if (this.playing && !this.queue.busy) {
        this.playing = false;
        this.sinceReport = 0;
        this.port.postMessage({ type: "idle", played: this.queue.report() });
      } else if (this.sinceReport >= this.reportEvery) {
        this.sinceReport = 0;
        if (this.queue.touched.size > 0) this.port.postMessage({ type: "progress", played: this.queue.report() });
      }
      return true;
    }
  }

  registerProcessor("companion-playback", PlaybackProcessor);
}
