// The live connection: a fresh single-use client secret for every attempt (POST /app/session with
// the device cookie), then the WebSocket to /v1/realtime on the same host. The secret lives only for
// the WebSocket constructor's call. An unexpected close or a network drop reconnects with
// exponential backoff and jitter; a 401 means the device was disconnected by the family (unpaired),
// and pressing stop ends everything.

const BACKOFF_FIRST_MS = 500; // the first retry: quick, most drops are a blip
const BACKOFF_CAP_MS = 15000; // never wait longer than this: a person is waiting in front of the tablet
const POLICY_CLOSE = 1008; // the service refused the session (e.g. the device was revoked)
const MAX_POLICY_CLOSES = 2; // revoked: one more try learns it (401); twice in a row is a real refusal

export function wsUrl(path) {
  return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path;
}

/** The one place a client secret is used, and then forgotten: it is offered as a subprotocol. */
function dial(path, clientSecret) {
  return new WebSocket(wsUrl(path), ["realtime", "openai-insecure-api-key." + clientSecret]);
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
  constructor({ sessionUrl, realtimePath }, handlers) {
    this.sessionUrl = sessionUrl;
    this.realtimePath = realtimePath;
    this.handlers = handlers;
    this.wanted = false;
    this.socket = null;
    this.live = false;
    this.attempt = 0;
    this.policyCloses = 0;
    this.timer = null;
    this.generation = 0;
    this.onOnline = () => {
      if (this.wanted && this.timer !== null) this.retryNow();
    };
  }

  get open() {
    return this.live && this.socket !== null && this.socket.readyState === WebSocket.OPEN;
  }

  start() {
    this.wanted = true;
    this.attempt = 0;
    this.policyCloses = 0;
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
    this.handlers.onPhase("reconnecting");
    const wait = delay !== undefined ? delay : backoffDelay(this.attempt++);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.connect();
    }, wait);
  }

  async connect() {
    const generation = ++this.generation;
    this.closeSocket(1000);
    let response;
    try {
      response = await fetch(this.sessionUrl, { method: "POST", credentials: "include", cache: "no-store" });
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
      this.wanted = false;
      this.handlers.onFatal("forbidden");
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
      socket = dial(this.realtimePath, body.clientSecret);
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
        this.attempt = 0;
        this.policyCloses = 0;
        this.handlers.onPhase("live");
      }
      this.handlers.onEvent(event);
    };
    socket.onclose = (close) => {
      if (generation !== this.generation || !this.wanted) return;
      this.socket = null;
      this.live = false;
      if (close.code === POLICY_CLOSE) {
        this.policyCloses++;
        if (this.policyCloses >= MAX_POLICY_CLOSES) {
          this.wanted = false;
          this.handlers.onFatal("refused");
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
