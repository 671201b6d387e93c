// The audio worklets' pure parts: the capture resampler and the playback queue (the browser tests run
// them for real, inside Chromium's audio thread).
import assert from "node:assert/strict";
import { test } from "node:test";

import { Chunker, Resampler } from "../../src/companion/elder/static/capture-worklet.js";
import { PcmQueue } from "../../src/companion/elder/static/playback-worklet.js";

const BLOCK = 128; // frames per AudioWorklet render quantum

function sine(rate, hz, seconds, push) {
  for (let start = 0; start < rate * seconds; start += BLOCK) {
    const block = new Float32Array(BLOCK);
    for (let i = 0; i < BLOCK; i++) block[i] = 0.5 * Math.sin((2 * Math.PI * hz * (start + i)) / rate);
    push(block, start);
  }
}

for (const rate of [48000, 44100, 24000, 16000]) {
  test(`from ${rate} Hz: exactly 24,000 samples a second, and a sine stays a clean sine`, () => {
    const resampler = new Resampler(rate);
    const got = [];
    const seconds = 2;
    const hz = 440;
    sine(rate, hz, seconds, (block) => resampler.push(block, (s) => got.push(s)));
    const fed = Math.ceil((rate * seconds) / BLOCK) * BLOCK;
    assert.ok(Math.abs(got.length - (fed * 24000) / rate) <= 1, `${got.length} samples`);
    // skip the filter's settling, then compare with the ideal 24 kHz sine (allowing its group delay)
    let best = Infinity;
    for (let lag = 0; lag < 40; lag++) {
      let err = 0;
      let n = 0;
      for (let i = 200; i < got.length - 200; i++) {
        const ideal = 0.5 * Math.sin((2 * Math.PI * hz * (i - (lag * 24000) / rate)) / 24000);
        err += (got[i] - ideal) ** 2;
        n++;
      }
      best = Math.min(best, Math.sqrt(err / n));
    }
    assert.ok(best < 0.02, `rms error ${best}: clicks at block edges, or aliasing`);
  });
}

test("a 16 kHz tone, which 24 kHz cannot carry, is filtered out instead of folded down to 8 kHz", () => {
  const resampler = new Resampler(48000);
  let energy = 0;
  let count = 0;
  sine(48000, 16000, 1, (block, start) =>
    resampler.push(block, (s) => {
      if (start > 1000) {
        energy += s * s;
        count++;
      }
    }),
  );
  const rms = Math.sqrt(energy / count);
  assert.ok(rms < 0.005, `alias rms ${rms}: 0.35 in, under -36 dB out`);
});

test("the chunker hands over whole 40 ms chunks of 24 kHz PCM16, whatever the blocks' sizes", () => {
  const chunks = [];
  const chunker = new Chunker(48000, (chunk) => chunks.push(new Int16Array(chunk)));
  // 1 s at 48 kHz in uneven blocks (a render quantum, a captured 10 ms frame, odd sizes)
  const sizes = [128, 480, 77, 1000];
  let fed = 0;
  for (let k = 0; fed < 48000; k++) {
    const size = Math.min(sizes[k % sizes.length], 48000 - fed);
    chunker.push(new Float32Array(size).fill(0.25));
    fed += size;
  }
  assert.equal(chunks.length, 25); // 24,000 samples a second, 960 to a chunk
  assert.ok(chunks.every((c) => c.length === 960));
  assert.equal(new Set(chunks.map((c) => c.buffer)).size, chunks.length, "each chunk its own buffer");
  assert.equal(chunks[12][480], Math.round(0.25 * 0x7fff)); // past the filter's settling: the level
});

test("the playback queue counts 24 kHz samples per item while playing at 48 kHz", () => {
  const queue = new PcmQueue(48000);
  queue.push("a", new Int16Array(480).fill(1000));
  queue.push("b", new Int16Array(240).fill(-1000));
  const block = new Float32Array(BLOCK);
  for (let i = 0; i < 6; i++) queue.render(block);
  // 6 blocks of 128 frames at 48 kHz = 384 source samples at 24 kHz: all of "a" is not yet played
  assert.deepEqual({ ...queue.played }, { a: 384 });
  assert.equal(queue.flush(), "a");
});
