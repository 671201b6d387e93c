// Stop pressed while the microphone permission or the worklet module is pending: the stream that
// arrives afterwards is closed and no node is built; contexts are resumed when opened (in the click);
// the voice plays at 24 kHz when the browser allows it and at the device's rate otherwise.
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
          resolve({ getTracks: () => [track] });
        }, 5),
      ),
  },
};
const { Microphone, Speaker } = await import("../../src/companion/elder/static/audio.js");

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
