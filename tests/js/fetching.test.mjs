// Every request of the elder's page ends: fetchWithTimeout gives up on a server that never answers.
import assert from "node:assert/strict";
import { test } from "node:test";

const seen = [];
globalThis.fetch = (url, options) => {
  seen.push({ url, method: options.method || "GET", hasSignal: options.signal instanceof AbortSignal });
  if (url === "/fast") return Promise.resolve({ ok: true, status: 200 });
  return new Promise((resolve, reject) => {
    // a server that never answers: only the signal ends it
    options.signal.addEventListener("abort", () => reject(options.signal.reason));
  });
};
const { fetchWithTimeout, FETCH_TIMEOUT_MS } = await import("../../src/companion/elder/static/fetching.js");

test("an answer comes through with the caller's options and a signal added", async () => {
  seen.length = 0;
  const fast = await fetchWithTimeout("/fast", { method: "POST", credentials: "include" });
  assert.equal(fast.status, 200);
  assert.deepEqual(seen[0], { url: "/fast", method: "POST", hasSignal: true });
});

test("a request that gets no answer is abandoned with a TimeoutError", async () => {
  seen.length = 0;
  const alive = setInterval(() => {}, 1000); // node does not wait for AbortSignal.timeout's timer by itself
  try {
    await assert.rejects(fetchWithTimeout("/hangs", {}, 20), { name: "TimeoutError" });
  } finally {
    clearInterval(alive);
  }
  assert.equal(seen[0].hasSignal, true);
});

test("the default limit is between one and thirty seconds", () => {
  assert.ok(FETCH_TIMEOUT_MS >= 1000 && FETCH_TIMEOUT_MS <= 30000, String(FETCH_TIMEOUT_MS));
});
