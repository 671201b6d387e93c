// Keeps the screen on while talking. The browser drops the lock whenever the page is hidden, so it is
// taken again when the page becomes visible while the conversation is still on.

export class ScreenAwake {
  constructor() {
    this.wanted = false;
    this.lock = null;
    document.addEventListener("visibilitychange", () => {
      if (this.wanted && document.visibilityState === "visible") this.acquire();
    });
  }

  async acquire() {
    if (!("wakeLock" in navigator) || (this.lock && !this.lock.released)) return;
    try {
      this.lock = await navigator.wakeLock.request("screen");
    } catch {
      this.lock = null; // low battery, hidden page, or not allowed: the conversation goes on anyway
    }
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
