// The photo viewer's plain decisions: which spoken words put a photo away, and which notices it shows.
import assert from "node:assert/strict";
import { test } from "node:test";

import { acceptablePhoto, saysEnough } from "../../src/companion/elder/static/photo.js";

test("enough, stop and their Hebrew words close a photo, as whole words only", () => {
  for (const said of ["Enough.", "stop please", "די", "די, מספיק", "תפסיקי עם התמונות", "OK, ENOUGH"]) {
    assert.equal(saysEnough(said), true, said);
  }
  for (const said of ["", null, "show me more", "דינה יפה", "stopping by", "הבאה"]) {
    assert.equal(saysEnough(said), false, String(said));
  }
});

test("only a photo of this service, whose address names its id, is shown", () => {
  const base = "/app/photos/";
  const good = { id: "photo-0123456789abcdef", url: "/app/photos/photo-0123456789abcdef" };
  assert.equal(acceptablePhoto(good, base), good);
  assert.equal(acceptablePhoto({ ...good, url: "https://elsewhere.example/x.jpg" }, base), null);
  assert.equal(acceptablePhoto({ ...good, url: "/app/photos/other" }, base), null);
  assert.equal(acceptablePhoto({ id: 3, url: "/app/photos/3" }, base), null);
  assert.equal(acceptablePhoto(null, base), null);
});
