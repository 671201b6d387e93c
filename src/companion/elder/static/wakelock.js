// Keeps the screen on while talking. The browser drops the lock whenever the page is hidden, so it is
// taken again when the page becomes visible while the conversation is still on.

export class ScreenAwake {
  constructor() {
    this.wanted = false;
    this.lock = null;
    this.requesting = false; // a request is on its way: do not send a second one
    document.addEventListener("visibilitychange", () => {
      if (this.wanted && document.visibilityState === "visible") this.acquire();
    });
  }

  get held() {
    return this.lock !== null && !this.lock.released;
  }

  /**
   * The request is asynchronous: stop() may come before it is granted, and a visibility change may
   * ask a second time. A lock granted when it is no longer wanted, or when one is already held, is
   * released at once.
   */
  async acquire() {
    if (!("wakeLock" in navigator) || this.held || this.requesting) return;
    this.requesting = true;
    let lock = null;
    try {
      lock = await navigator.wakeLock.request("screen");
    } catch {
      lock = null; // low battery, hidden page, or not allowed: the conversation goes on anyway
    } finally {
      this.requesting = false;
    }
    if (!lock) return;
    if (!this.wanted || this.held) {
      lock.release().catch(() => {});
      return;
    }
    this.lock = lock;
  }

  start() {
    this.wanted = true;
    this.acquire();
  }

  stop() {
    this.wanted = false;
    if (this.lock) this.lock.release().catch(() => {});
    this.lock = null;
  }
}
