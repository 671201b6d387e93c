// The page's connection to the service, with a fake socket, fetch and timers: sockets refused before
// their session starts (a 403 at the upgrade is a bare 1006 in a browser) stop after a few in a row
// instead of spending a new client secret for ever; a service that cannot be reached for a while (a
// restart) is retried far longer; a live session resets the count; the socket's path comes from the
// session answer, with greet=1.
import assert from "node:assert/strict";
import { after, test } from "node:test";

const dialed = [];
const fetched = [];
// per session request: "refuse" (socket closes 1006 unopened), "live", "down" (fetch fails), "401",
// "busy" (429 with Retry-After: 7)
let script = [];
const timers = [];
const delays = []; // the delay of each timer the page set, in order
let realtimeUrl = "/v1/realtime";

const real = { setTimeout: globalThis.setTimeout, clearTimeout: globalThis.clearTimeout };
globalThis.window = { addEventListener() {}, removeEventListener() {} };
globalThis.location = { protocol: "https:", host: "tablet.test", href: "https://tablet.test/app" };
globalThis.fetch = async () => {
  const step = script.shift() || "refuse";
  fetched.push(step);
  if (step === "down") throw new TypeError("connection refused");
  if (step === "401") return { status: 401, ok: false, json: async () => ({}) };
  const retryAfter = { get: (h) => (h === "Retry-After" ? "7" : null) };
  if (step === "busy") return { status: 429, ok: false, headers: retryAfter };
  return { status: 200, ok: true, json: async () => ({ clientSecret: "ek_test", realtimeUrl }) };
};
class FakeSocket {
  constructor(url, protocols) {
    dialed.push({ url, protocols });
    this.readyState = 0;
    this.step = fetched[fetched.length - 1];
    Promise.resolve().then(() => {
      if (this.step === "live") {
        this.readyState = 1;
        this.onmessage && this.onmessage({ data: JSON.stringify({ type: "session.created" }) });
      } else {
        this.readyState = 3;
        this.onclose && this.onclose({ code: 1006 });
      }
    });
  }
  close() {}
  send() {}
}
FakeSocket.OPEN = 1;
globalThis.WebSocket = FakeSocket;
const { Connection, RetryBudget, realtimeSocketUrl } = await import(
  "../../src/companion/elder/static/connection.js"
);

/** Timers the page sets run when the test says so, in order (virtual time: nothing waits). */
function fakeTimers() {
  globalThis.setTimeout = (fn, ms) => {
    timers.push(fn);
    delays.push(ms);
    return timers.length;
  };
  globalThis.clearTimeout = () => {};
}
after(() => Object.assign(globalThis, real));

async function settle() {
  for (let i = 0; i < 400; i++) {
    await new Promise((r) => setImmediate(r));
    const next = timers.shift();
    if (next) next();
  }
}

function run(steps, dropLive = false, reminderId = null) {
  fakeTimers();
  script = steps.slice();
  dialed.length = 0;
  fetched.length = 0;
  const seen = { fatal: null, unpaired: false, live: 0 };
  const link = new Connection(
    { sessionUrl: "/app/session", realtimePath: "/v1/realtime?greet=1" },
    {
      onPhase: (phase) => {
        if (phase !== "live") return;
        seen.live++;
        if (dropLive) Promise.resolve().then(() => link.socket && link.socket.onclose({ code: 1006 }));
      },
      onEvent: () => {},
      onUnpaired: () => {
        seen.unpaired = true;
      },
      onFatal: (reason) => {
        seen.fatal = reason;
      },
    },
  );
  link.start(reminderId);
  return { link, seen };
}

test("refused upgrades: a few attempts, then the page gives up", async () => {
  const r = run([]);
  await settle();
  assert.deepEqual(
    { fatal: r.seen.fatal, dials: dialed.length, wanted: r.link.wanted },
    { fatal: "refused", dials: 5, wanted: false },
  );
  assert.equal(dialed[0].url, "wss://tablet.test/v1/realtime?greet=1");
  assert.deepEqual(dialed[0].protocols, ["realtime", "openai-insecure-api-key.ek_test"]);
});

test("a restarting service (30 refused session requests) is waited for, then joined", async () => {
  const r = run([...Array(30).fill("down"), "live"]);
  await settle();
  assert.deepEqual(
    { fatal: r.seen.fatal, live: r.seen.live, fetches: fetched.length },
    { fatal: null, live: 1, fetches: 31 },
  );
  r.link.stop();
});

test("a live session in between starts the count of refused sockets afresh", async () => {
  // each live one drops, and after the script the service refuses: 4 + 1 + 4 + 1 + 5 sockets
  const fourRefused = ["refuse", "refuse", "refuse", "refuse"];
  const r = run([...fourRefused, "live", ...fourRefused, "live"], true);
  await settle();
  assert.deepEqual(
    { live: r.seen.live, dialsBeforeGivingUp: dialed.length, fatal: r.seen.fatal },
    { live: 2, dialsBeforeGivingUp: 15, fatal: "refused" },
  );
  r.link.stop();
});

test("the socket's path comes from the session answer, with greet=1 added", async () => {
  realtimeUrl = "/v2/live?x=1";
  try {
    const r = run(["live"]);
    await settle();
    assert.equal(dialed[0].url, "wss://tablet.test/v2/live?x=1&greet=1");
    r.link.stop();
  } finally {
    realtimeUrl = "/v1/realtime";
  }
  assert.equal(
    realtimeSocketUrl(undefined, "/v1/realtime?greet=1", "http://tablet.test/app"),
    "ws://tablet.test/v1/realtime?greet=1",
  );
});

test("opened from a reminder's card: the reminder goes on the first socket only, not a reconnection", async () => {
  realtimeUrl = undefined; // the page's own path
  try {
    const r = run(["live", "live"], true, "rem-1");
    await settle();
    assert.deepEqual(
      dialed.slice(0, 2).map((d) => d.url),
      ["wss://tablet.test/v1/realtime?greet=1&reminder=rem-1", "wss://tablet.test/v1/realtime?greet=1"],
    );
    r.link.stop();
  } finally {
    realtimeUrl = "/v1/realtime";
  }
});

test("too many conversations from this tablet: it waits as long as the service says, then goes on", async () => {
  delays.length = 0;
  const r = run(["busy", "live"]);
  await settle();
  assert.equal(delays[0], 7000); // Retry-After: 7
  assert.deepEqual(
    { live: r.seen.live, fatal: r.seen.fatal, fetches: fetched.length },
    { live: 1, fatal: null, fetches: 2 },
  );
  r.link.stop();
});

test("a revoked tablet: closed for policy, asks once more, learns 401, and never asks again", async () => {
  const r = run(["live", "401"]);
  await settle();
  assert.equal(r.seen.live, 1);
  r.link.socket.onclose({ code: 1008 }); // the service ends the conversation: device disconnected
  await settle(); // runs every timer the page sets, in virtual time: an exhaustive wait, not a sleep
  assert.equal(r.seen.unpaired, true);
  assert.equal(r.link.wanted, false);
  assert.deepEqual(fetched, ["live", "401"]); // the retry right after the close, then nothing
  assert.equal(dialed.length, 1);
  assert.equal(timers.length, 0); // no retry is pending either
});

test("an unreachable service: not given up on within two minutes, but in the end", () => {
  let now = 0;
  const budget = new RetryBudget(() => now);
  now = 120000;
  assert.equal(budget.exhausted(), null);
  now = 600000;
  assert.equal(budget.exhausted(), "unreachable");
});
