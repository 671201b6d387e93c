// PCM16 audio crosses the realtime protocol as base64: what the page sends must decode to what it had.
import assert from "node:assert/strict";
import { test } from "node:test";

import { fromBase64, toBase64 } from "../../src/companion/elder/static/pcm.js";

function bytes(length) {
  return new Uint8Array(length).map((_, i) => (i * 37 + 11) & 0xff);
}

test("base64 is standard base64 and round trips every PCM16 sample", () => {
  for (const length of [0, 2, 4, 480, 1920, 0x8000 * 2 + 6]) {
    const pcm = bytes(length);
    const text = toBase64(pcm.buffer);
    assert.equal(text, Buffer.from(pcm).toString("base64"));
    assert.deepEqual(new Uint8Array(fromBase64(text)), pcm);
  }
});

test("a view is encoded as its own bytes, not its whole buffer", () => {
  const pcm = bytes(64);
  const view = new Int16Array(pcm.buffer, 8, 4);
  assert.equal(toBase64(view), Buffer.from(pcm.subarray(8, 16)).toString("base64"));
});

test("an odd trailing byte is dropped: PCM16 comes in pairs", () => {
  const odd = bytes(5);
  assert.deepEqual(new Uint8Array(fromBase64(Buffer.from(odd).toString("base64"))), odd.subarray(0, 4));
});
