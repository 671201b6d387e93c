// Stop pressed while the microphone permission or the worklet module is pending: the stream that
// arrives afterwards is closed and no node is built; contexts are resumed when opened (in the click);
// the voice plays at 24 kHz when the browser allows it and at the device's rate otherwise. Where the
// browser hands over the captured frames, they are read and chunked without an AudioContext.
import assert from "node:assert/strict";
import { test } from "node:test";

const made = [];
let no24k = false;
globalThis.location = { href: "https://tablet.test/app" };
class FakeContext {
  constructor(options) {
    if (options && options.sampleRate === 24000 && no24k) throw new Error("NotSupportedError");
    this.options = options;
    this.state = "suspended";
    this.closed = false;
    this.resumed = 0;
    this.audioWorklet = { addModule: () => new Promise((r) => setTimeout(r, 5)) };
    made.push(this);
  }
  resume() {
    this.resumed++;
    this.state = "running";
    return Promise.resolve();
  }
  close() {
    this.closed = true;
    return Promise.resolve();
  }
}
globalThis.AudioContext = FakeContext;
globalThis.AudioWorkletNode = class {
  constructor() {
    throw new Error("no node may be built after stop");
  }
};
const tracks = [];
globalThis.navigator = {
  mediaDevices: {
    getUserMedia: () =>
      new Promise((resolve) =>
        setTimeout(() => {
          const track = {
            stopped: false,
            stop() {
              this.stopped = true;
            },
          };
          tracks.push(track);
          resolve({ getTracks: () => [track], getAudioTracks: () => [track] });
        }, 5),
      ),
  },
};
const { Microphone, Speaker } = await import("../../src/companion/elder/static/audio.js");
const { debug } = await import("../../src/companion/elder/static/debug.js");

test("stop while the browser asks for the microphone: the stream granted afterwards is closed", async () => {
  made.length = 0;
  tracks.length = 0;
  const mic = new Microphone("/app/static/");
  mic.open();
  assert.equal(made[0].resumed, 1); // resumed in the click that opened it
  const started = mic.start(() => {});
  mic.stop();
  await started;
  assert.equal(tracks[0].stopped, true);
  assert.equal(mic.stream, null);
  assert.equal(made[0].closed, true);
});

test("stop while the worklet module loads: the track is stopped and no node is built", async () => {
  tracks.length = 0;
  const mic = new Microphone("/app/static/");
  mic.open();
  const started = mic.start(() => {});
  await new Promise((r) => setTimeout(r, 7)); // the permission (5 ms) is granted, the module (5 ms) loads
  mic.stop();
  await started;
  assert.equal(tracks[0].stopped, true);
  assert.equal(mic.stream, null);
});

test("the speaker plays at 24 kHz when it can, at the device's rate when not; nothing after stop", async () => {
  no24k = false;
  let speaker = new Speaker("/app/static/", {});
  speaker.open();
  assert.equal(speaker.context.options.sampleRate, 24000);
  const started = speaker.start();
  speaker.stop();
  await started; // AudioWorkletNode throws if it is built after stop
  no24k = true;
  try {
    speaker = new Speaker("/app/static/", {});
    speaker.open();
    assert.equal(speaker.context.options?.sampleRate, undefined); // the device's own rate
    assert.equal(speaker.context.resumed, 1);
    speaker.stop();
  } finally {
    no24k = false;
  }
});

/** A MediaStreamTrackProcessor whose reader yields `frames` (AudioData-like), then waits until cancelled. */
function processorOf(frames, seen) {
  return class {
    constructor(init) {
      seen.init = init;
      let next = 0;
      let wake = null;
      this.readable = {
        getReader: () => ({
          read: () => {
            if (next < frames.length) return Promise.resolve({ value: frames[next++], done: false });
            return new Promise((resolve) => (wake = resolve));
          },
          cancel: () => {
            seen.cancelled = true;
            if (wake) wake({ value: undefined, done: true });
            return Promise.resolve();
          },
        }),
      };
    }
  };
}

function audioData(rate, channels, count, level) {
  return {
    sampleRate: rate,
    numberOfChannels: channels,
    numberOfFrames: count,
    closed: false,
    copyTo(dest, options) {
      assert.equal(options.format, "f32-planar");
      assert.ok(options.planeIndex < channels);
      dest.fill(options.planeIndex === 0 ? level : -level / 2);
    },
    close() {
      this.closed = true;
    },
  };
}

test("captured frames are read as they come: no AudioContext, 24 kHz PCM16 out, each frame closed", async () => {
  made.length = 0;
  tracks.length = 0;
  const seen = {};
  // 200 ms: 10 ms frames at 48 kHz, mono, then stereo (its channels are averaged: 0.5 and -0.25)
  const frames = [
    ...Array.from({ length: 10 }, () => audioData(48000, 1, 480, 0.25)),
    ...Array.from({ length: 10 }, () => audioData(48000, 2, 480, 0.5)),
  ];
  globalThis.MediaStreamTrackProcessor = processorOf(frames, seen);
  try {
    const chunks = [];
    const mic = new Microphone("/app/static/");
    mic.open();
    assert.equal(made.length, 0, "no context: nothing runs on an output clock");
    await mic.start((chunk) => chunks.push(new Int16Array(chunk)));
    assert.equal(seen.init.track, tracks[0]);
    assert.equal(debug.microphone, "frames");
    assert.ok(seen.init.maxBufferSize >= 100, "a busy main thread loses no frames for a second at least");
    await new Promise((r) => setTimeout(r, 5));
    assert.ok(frames.every((f) => f.closed), "every frame is closed after it is read");
    assert.equal(chunks.length, 5); // 4,800 samples at 24 kHz, 960 to a chunk
    assert.ok(chunks.every((c) => c.length === 960));
    assert.equal(chunks[3][900], Math.round(0.125 * 0x7fff)); // (0.5 - 0.25) / 2, the filter settled
    mic.stop();
    assert.equal(seen.cancelled, true);
    assert.equal(tracks[0].stopped, true);
    assert.equal(mic.frames, null);
  } finally {
    delete globalThis.MediaStreamTrackProcessor;
  }
});

test("stop while the browser asks for the microphone: no frames are read from what it grants", async () => {
  tracks.length = 0;
  const seen = {};
  globalThis.MediaStreamTrackProcessor = processorOf([], seen);
  try {
    const mic = new Microphone("/app/static/");
    mic.open();
    const started = mic.start(() => {});
    mic.stop();
    await started;
    assert.equal(seen.init, undefined, "no reader was made");
    assert.equal(tracks[0].stopped, true);
  } finally {
    delete globalThis.MediaStreamTrackProcessor;
  }
});
