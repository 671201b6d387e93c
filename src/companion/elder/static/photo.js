// The family's photos on the elder's screen: the relay's "companion.photo" notice puts one up (the
// model's show_photos call, answered by the service); it stays until the person closes it, asks for
// the next one, says "enough", or the conversation ends. The image is fetched from this service with
// the tablet's own cookie; while it is up, the page checks now and then that the family has not
// deleted it (a 404 takes it away at once). Text is only ever set with textContent.

import { fetchWithTimeout } from "./fetching.js";

const ENOUGH_WORDS = new Set(["enough", "stop", "close", "די", "מספיק", "עצור", "עצרי", "תפסיק", "תפסיקי", "סגור", "סגרי"]);
const TOKEN_SPLIT = /[^\p{L}\p{N}]+/u;
const RECHECK_MS = 5000; // how soon a photo the family deleted leaves the screen

/** Whether what the person said asks to put the photo away ("די", "enough", "stop"): whole words only. */
export function saysEnough(text) {
  for (const token of (text || "").toLowerCase().split(TOKEN_SPLIT)) if (ENOUGH_WORDS.has(token)) return true;
  return false;
}

/** A notice's photo, if it is one this page may show: an id, and an address under this service's photos. */
export function acceptablePhoto(photo, base) {
  if (!photo || typeof photo.id !== "string" || typeof photo.url !== "string") return null;
  if (!photo.url.startsWith(base) || photo.url.slice(base.length) !== photo.id) return null;
  return photo;
}

export class PhotoViewer {
  constructor(words, base, { onNext }) {
    this.words = words;
    this.base = base;
    this.onNext = onNext;
    this.root = document.getElementById("photo");
    this.image = document.getElementById("photo-image");
    this.caption = document.getElementById("photo-caption");
    this.details = document.getElementById("photo-details");
    this.counter = document.getElementById("photo-counter");
    this.next = document.getElementById("photo-next");
    this.timer = null;
    this.current = null;
    document.getElementById("photo-close").addEventListener("click", () => this.close());
    this.next.addEventListener("click", () => this.current && this.onNext());
    this.image.addEventListener("error", () => this.close());
  }

  get showing() {
    return this.current !== null;
  }

  show(notice) {
    const photo = acceptablePhoto(notice, this.base);
    if (!photo) return;
    this.current = photo;
    this.image.src = photo.url;
    this.caption.textContent = photo.caption || "";
    this.caption.hidden = !photo.caption;
    this.details.textContent = photo.details || "";
    this.details.hidden = !photo.details;
    const counter = this.words["photo.counter"] || "{n} / {of}";
    this.counter.textContent = counter.replace("{n}", String(photo.number || 1)).replace("{of}", String(photo.of || 1));
    this.next.hidden = !photo.hasMore;
    this.root.dataset.photoId = photo.id;
    this.root.dataset.state = "showing";
    this.root.hidden = false;
    this.watch();
  }

  close() {
    clearInterval(this.timer);
    this.timer = null;
    this.current = null;
    this.root.hidden = true;
    this.root.dataset.state = "hidden";
    delete this.root.dataset.photoId;
    this.image.removeAttribute("src");
    this.caption.textContent = "";
    this.details.textContent = "";
  }

  /** The person said something: "enough" puts the photo away. */
  heard(transcript) {
    if (this.showing && saysEnough(transcript)) this.close();
  }

  watch() {
    clearInterval(this.timer);
    this.timer = setInterval(async () => {
      const shown = this.current;
      if (!shown) return;
      try {
        const answer = await fetchWithTimeout(shown.url, { method: "HEAD", cache: "no-store", credentials: "same-origin" });
        if ((answer.status === 404 || answer.status === 401) && this.current === shown) this.close();
      } catch {
        /* no network for a moment: the photo stays */
      }
    }, RECHECK_MS);
  }
}
