// The page's small policies: how long to wait before dialling again, and which words stop the music.
import assert from "node:assert/strict";
import { test } from "node:test";

import { backoffDelay } from "../../src/companion/elder/static/connection.js";
import { saysStop } from "../../src/companion/elder/static/music.js";

test("backoff doubles from half a second to a 15 s cap, jittered down to half", () => {
  const low = [];
  const high = [];
  for (let attempt = 0; attempt < 12; attempt++) {
    low.push(backoffDelay(attempt, () => 0));
    high.push(backoffDelay(attempt, () => 0.999999));
  }
  assert.deepEqual([low[0], high[0]], [250, 500]); // the first retry: within half a second
  assert.deepEqual([low[1], high[1]], [500, 1000]);
  assert.equal(Math.max(...high), 15000); // capped
  assert.equal(low.at(-1), 7500); // and still jittered at the cap
  assert.deepEqual(high, [...high].sort((a, b) => a - b));
});

test("stop words stop the music in Hebrew and English", () => {
  for (const said of ["די", "די, תודה", "עצור את המוזיקה", "תפסיק!", "Stop the music", "stop"]) {
    assert.ok(saysStop(said), said);
  }
});

test("stop words match whole words only", () => {
  for (const said of ["דירה יפה", "ידיים", "I like this song", "nonstop", ""]) {
    assert.ok(!saysStop(said), said);
  }
});
