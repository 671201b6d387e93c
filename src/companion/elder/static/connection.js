// The live connection: a fresh single-use client secret for every attempt (POST /app/session with
// the device cookie), then the WebSocket to /v1/realtime on the same host. The secret lives only for
// the WebSocket constructor's call; the socket's path is the one the session answer names. An
// unexpected close or a network drop reconnects with exponential backoff and jitter; a 401 means the
// device was disconnected by the family (unpaired), and pressing stop ends everything.
//
// Retrying has two limits, so a tablet never loops for ever, each time spending a new secret: sockets
// that close before the session starts (the service refused the upgrade, e.g. HTTP 403, which the
// browser reports as a bare 1006) give up after a few in a row; a service that cannot be reached at
// all (restarting, network down) is retried much longer. Either way the page then asks for a press.

import { fetchWithTimeout } from "./fetching.js";

const BACKOFF_FIRST_MS = 500; // the first retry: quick, most drops are a blip
const BACKOFF_CAP_MS = 15000; // never wait longer than this: a person is waiting in front of the tablet
const POLICY_CLOSE = 1008; // the service refused the session (e.g. the device was revoked)
const MAX_POLICY_CLOSES = 2; // revoked: one more try learns it (401); twice in a row is a real refusal
const MAX_FAILED_DIALS = 5; // sockets in a row that never reached session.created: refused, not a blip
const UNREACHABLE_GIVE_UP_MS = 180000; // a restart takes seconds and a network blip a minute or two
const GREET_PARAM = "greet"; // the relay speaks first in a session opened with greet=1
const REMINDER_PARAM = "reminder"; // ...and says this reminder right after its greeting

/**
 * The WebSocket address for a session: the `realtimeUrl` the session answer names (relative to this
 * page, or `fallback` from the page config when the answer has none), on ws/wss, with greet=1, and
 * the reminder the greeting says when the conversation was opened from a reminder's card.
 */
export function realtimeSocketUrl(realtimeUrl, fallback, base = location.href, reminderId = null) {
  const url = new URL(typeof realtimeUrl === "string" && realtimeUrl ? realtimeUrl : fallback, base);
  url.protocol = url.protocol === "https:" || url.protocol === "wss:" ? "wss:" : "ws:";
  url.searchParams.set(GREET_PARAM, "1");
  if (reminderId) url.searchParams.set(REMINDER_PARAM, reminderId);
  else url.searchParams.delete(REMINDER_PARAM);
  url.hash = "";
  return url.href;
}

/** The one place a client secret is used, and then forgotten: it is offered as a subprotocol. */
function dial(url, clientSecret) {
  return new WebSocket(url, ["realtime", "openai-insecure-api-key." + clientSecret]);
}

/**
 * When to stop retrying: after MAX_FAILED_DIALS sockets in a row closed before their session
 * started, or after UNREACHABLE_GIVE_UP_MS without a live session (reset when one starts, and when a
 * live one drops: the outage is measured from then).
 */
export class RetryBudget {
  constructor(now = () => Date.now()) {
    this.now = now;
    this.reset();
  }

  reset() {
    this.failedDials = 0;
    this.since = this.now();
  }

  dialFailed() {
    this.failedDials++;
  }

  /** null while retrying is still worth it; otherwise why not ("refused" or "unreachable"). */
  exhausted() {
    if (this.failedDials >= MAX_FAILED_DIALS) return "refused";
    if (this.now() - this.since >= UNREACHABLE_GIVE_UP_MS) return "unreachable";
    return null;
  }
}

export function backoffDelay(attempt, random = Math.random) {
  const base = Math.min(BACKOFF_CAP_MS, BACKOFF_FIRST_MS * 2 ** attempt);
  return Math.round(base / 2 + random() * (base / 2)); // jitter: many tablets must not retry in step
}

export class Connection {
  /**
   * handlers: onPhase("connecting" | "reconnecting" | "live"), onEvent(event),
   * onUnpaired(), onFatal(reason)
   */
  constructor({ sessionUrl, realtimePath }, handlers, budget = new RetryBudget()) {
    this.sessionUrl = sessionUrl;
    this.realtimePath = realtimePath; // used only when the session answer names no realtimeUrl
    this.budget = budget;
    this.handlers = handlers;
    this.wanted = false;
    this.socket = null;
    this.live = false;
    this.attempt = 0;
    this.policyCloses = 0;
    this.timer = null;
    this.generation = 0;
    this.reminderId = null;
    this.onOnline = () => {
      if (this.wanted && this.timer !== null) this.retryNow();
    };
  }

  get open() {
    return this.live && this.socket !== null && this.socket.readyState === WebSocket.OPEN;
  }

  /** reminderId: the conversation was opened for it; only its first session's greeting says it. */
  start(reminderId = null) {
    this.reminderId = reminderId;
    this.wanted = true;
    this.attempt = 0;
    this.policyCloses = 0;
    this.budget.reset();
    window.addEventListener("online", this.onOnline);
    this.handlers.onPhase("connecting");
    this.connect();
  }

  stop() {
    this.wanted = false;
    this.generation++;
    window.removeEventListener("online", this.onOnline);
    this.clearTimer();
    this.closeSocket(1000);
  }

  send(event) {
    if (!this.open) return false;
    this.socket.send(JSON.stringify(event));
    return true;
  }

  clearTimer() {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  closeSocket(code) {
    const socket = this.socket;
    this.socket = null;
    this.live = false;
    if (socket) {
      socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null;
      try {
        socket.close(code);
      } catch {
        /* already closed */
      }
    }
  }

  retryNow() {
    this.clearTimer();
    this.connect();
  }

  scheduleRetry(delay) {
    if (!this.wanted) return;
    this.clearTimer();
    const spent = this.budget.exhausted();
    if (spent !== null) {
      this.giveUp(spent);
      return;
    }
    this.handlers.onPhase("reconnecting");
    const wait = delay !== undefined ? delay : backoffDelay(this.attempt++);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.connect();
    }, wait);
  }

  /** Retrying is no longer worth it: the page says so, and the talk button starts afresh. */
  giveUp(reason) {
    this.wanted = false;
    window.removeEventListener("online", this.onOnline);
    this.handlers.onFatal(reason);
  }

  async connect() {
    const generation = ++this.generation;
    this.closeSocket(1000);
    let response;
    try {
      response = await fetchWithTimeout(this.sessionUrl, { method: "POST", credentials: "include", cache: "no-store" });
    } catch {
      if (generation === this.generation) this.scheduleRetry(); // network down: keep trying
      return;
    }
    if (!this.wanted || generation !== this.generation) return;
    if (response.status === 401) {
      this.wanted = false;
      this.handlers.onUnpaired();
      return;
    }
    if (response.status === 403) {
      this.giveUp("forbidden");
      return;
    }
    if (response.status === 429) {
      // too many conversations started from this tablet in a minute: wait as long as the service says
      const seconds = Number(response.headers.get("Retry-After"));
      this.scheduleRetry(seconds > 0 ? seconds * 1000 : undefined);
      return;
    }
    if (!response.ok) {
      this.scheduleRetry();
      return;
    }
    let socket;
    try {
      const body = await response.json();
      if (!this.wanted || generation !== this.generation) return;
      const url = realtimeSocketUrl(body.realtimeUrl, this.realtimePath, location.href, this.reminderId);
      socket = dial(url, body.clientSecret);
    } catch {
      this.scheduleRetry();
      return;
    }
    this.watch(generation, socket);
  }

  watch(generation, socket) {
    this.socket = socket;
    socket.onmessage = (message) => {
      if (generation !== this.generation) return;
      let event;
      try {
        event = JSON.parse(message.data);
      } catch {
        return;
      }
      if (event && event.type === "session.created") {
        this.live = true;
        this.reminderId = null; // said (or not) by this session's greeting; a reconnection just greets
        this.attempt = 0;
        this.policyCloses = 0;
        this.budget.reset();
        this.handlers.onPhase("live");
      }
      this.handlers.onEvent(event);
    };
    socket.onclose = (close) => {
      if (generation !== this.generation || !this.wanted) return;
      const wasLive = this.live;
      this.socket = null;
      this.live = false;
      if (wasLive) this.budget.reset(); // a drop: the outage is counted from now
      else this.budget.dialFailed(); // refused before the session started (403 at the upgrade...)
      if (close.code === POLICY_CLOSE) {
        this.policyCloses++;
        if (this.policyCloses >= MAX_POLICY_CLOSES) {
          this.giveUp("refused");
          return;
        }
        this.scheduleRetry(0); // revoked? the next session request answers 401 at once
        return;
      }
      this.scheduleRetry();
    };
    socket.onerror = () => {
      /* a close event follows, and it decides */
    };
  }
}
