// Reminders on the elder's page while no conversation is live: asks the service every pollSeconds,
// rings and shows one big card for the oldest reminder, with three buttons: taken, remind me later,
// talk to me. Asking is what delivers a reminder to the page, so the page asks only while it can show
// it (not during a conversation, where the companion says it instead). "Talk to me" opens a conversation
// for the reminder: its greeting says it, and once said the card does not come back (the service stops
// listing it). Text is set with textContent.

import { fetchWithTimeout } from "./fetching.js";

const DEFAULT_URL = "/app/reminders";
const FIRST_POLL_MS = 300; // soon after the page opens: a reminder may already be waiting
const RETRY_MS = 20000; // after a failed poll (network, server restart)
const BEEPS = [
  [660, 0.0],
  [880, 0.35],
  [660, 0.7],
]; // [frequency Hz, start s]: a short, clear, unalarming chime
const BEEP_S = 0.28;
const VOLUME = 0.25;

export class Reminders {
  constructor({ url = DEFAULT_URL, onTalk = () => {} } = {}) {
    this.url = url;
    this.onTalk = onTalk;
    this.active = false;
    this.timer = null;
    this.shown = null; // the reminder on the card
    // Counts the person's actions as they begin and as the service has them: an answer to a poll asked
    // before the latest of these may predate it (a card just snoozed would come back and ring again).
    this.actions = 0;
    this.words = {};
    this.audio = null;
    // polls: answers read so far; active (read from the poller): whether the page asks at all
    this.debug = { polls: 0, rings: 0, shown: [], actions: [] };
    Object.defineProperty(this.debug, "active", { enumerable: true, get: () => this.active });
    window.companionReminders = this.debug;
    this.card = this.build();
    this.unlockAudioOnTouch();
  }

  build() {
    const card = document.createElement("section");
    card.id = "reminder";
    card.className = "reminder-card";
    card.hidden = true;
    card.setAttribute("role", "alertdialog");
    card.setAttribute("aria-labelledby", "reminder-title");
    card.setAttribute("aria-describedby", "reminder-text");
    const title = document.createElement("h2");
    title.id = "reminder-title";
    const text = document.createElement("p");
    text.id = "reminder-text";
    text.className = "reminder-text";
    text.dir = "auto";
    const buttons = document.createElement("div");
    buttons.className = "reminder-buttons";
    for (const action of ["taken", "snooze", "talk"]) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "reminder-" + action;
      button.dataset.action = action;
      button.addEventListener("click", () => this.act(action));
      buttons.append(button);
    }
    card.append(title, text, buttons);
    const main = document.getElementById("main");
    main.insertBefore(card, main.querySelector(".controls"));
    return card;
  }

  start() {
    this.active = true;
    this.schedule(FIRST_POLL_MS);
  }

  /** A conversation is starting: it says reminders itself, so the card goes and the page stops asking. */
  pause() {
    this.active = false;
    clearTimeout(this.timer);
    this.hide();
  }

  resume() {
    if (!this.active) this.start();
  }

  stop() {
    this.pause();
  }

  schedule(ms) {
    clearTimeout(this.timer);
    if (this.active) this.timer = setTimeout(() => this.poll(), ms);
  }

  async poll() {
    if (!this.active) return;
    let next = RETRY_MS;
    const asked = this.actions;
    try {
      const response = await fetchWithTimeout(this.url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      this.debug.polls++;
      if (response.status === 401) {
        this.stop(); // unpaired: the page shows the code form
        return;
      }
      if (response.ok) {
        const body = await response.json();
        this.words = body.words || {};
        next = Math.max(1000, Number(body.pollSeconds || 20) * 1000);
        if (this.active && asked === this.actions) this.show(body.reminders && body.reminders[0]);
      }
    } catch {
      /* offline for a moment: try again later */
    }
    this.schedule(next);
  }

  show(reminder) {
    if (!reminder) {
      this.hide();
      return;
    }
    if (this.shown && this.shown.id === reminder.id) return;
    this.shown = reminder;
    const kind = reminder.kind === "checkin" ? "checkin" : "medication";
    const w = (key) => this.words[key] || key;
    this.card.dataset.kind = kind;
    this.card.dataset.id = reminder.id;
    this.card.querySelector("#reminder-title").textContent = w("title." + kind);
    this.card.querySelector("#reminder-text").textContent = reminder.text;
    this.card.querySelector(".reminder-taken").textContent = w("taken." + kind);
    this.card.querySelector(".reminder-snooze").textContent = w("snooze");
    this.card.querySelector(".reminder-talk").textContent = w("talk");
    this.card.hidden = false;
    this.debug.shown.push(reminder.id);
    this.ring();
    const first = this.card.querySelector(".reminder-taken");
    if (first) first.focus();
  }

  hide() {
    this.shown = null;
    this.card.hidden = true;
  }

  /** Runs in the button's click: "talk" opens the conversation first, inside the user's gesture. */
  act(action) {
    const reminder = this.shown;
    if (!reminder) return;
    this.debug.actions.push([reminder.id, action]);
    this.actions++;
    clearTimeout(this.timer); // asked again once the service has the action
    this.hide();
    if (action === "talk") this.onTalk(reminder); // the conversation's greeting says it
    fetchWithTimeout(this.url + "/" + encodeURIComponent(reminder.id), {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ action }),
    })
      .catch(() => {
        /* the next poll shows it again if it did not count */
      })
      .finally(() => {
        this.actions++;
        if (this.active) this.schedule(1000);
      });
  }

  unlockAudioOnTouch() {
    // Browsers let a page make sound only after a touch: the first one anywhere unlocks the chime.
    const unlock = () => {
      const context = this.context();
      if (context && context.state === "suspended") context.resume().catch(() => {});
    };
    document.addEventListener("pointerdown", unlock, { once: true, capture: true });
  }

  context() {
    if (!this.audio && window.AudioContext) {
      try {
        this.audio = new AudioContext();
      } catch {
        this.audio = null;
      }
    }
    return this.audio;
  }

  ring() {
    if (navigator.vibrate) navigator.vibrate([200, 100, 200]);
    const context = this.context();
    if (!context) return;
    if (context.state === "suspended") context.resume().catch(() => {});
    const start = context.currentTime + 0.05;
    for (const [hz, at] of BEEPS) {
      const tone = context.createOscillator();
      const gain = context.createGain();
      tone.frequency.value = hz;
      gain.gain.setValueAtTime(0, start + at);
      gain.gain.linearRampToValueAtTime(VOLUME, start + at + 0.02);
      gain.gain.linearRampToValueAtTime(0, start + at + BEEP_S);
      tone.connect(gain).connect(context.destination);
      tone.start(start + at);
      tone.stop(start + at + BEEP_S + 0.02);
    }
    this.debug.rings++;
  }
}
