// The elder's page service worker: keeps the page's own static files (code, style, icons) so a
// flaky network does not leave a blank screen. It never touches the page itself (it names the
// person), the API, the live conversation or the music: those requests go to the network untouched.
const VERSION = {{ version|safe }};
const CACHE = "companion-shell-" + VERSION;
const SHELL = {{ shell|safe }};
const STATIC_PREFIX = {{ static_prefix|safe }};
// A shell file not arriving in this long (a network that hangs rather than fails) is served from the
// cache instead: a waiting page would otherwise stay blank. Generous, since icons are the largest.
const SHELL_FETCH_TIMEOUT_MS = 10000;

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((names) => Promise.all(
        names.filter((n) => n.startsWith("companion-shell-") && n !== CACHE).map((n) => caches.delete(n)),
      ))
      .then(() => self.clients.claim()),
  );
});

function isShell(url) {
  return url.origin === self.location.origin && url.pathname.startsWith(STATIC_PREFIX);
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (!isShell(url)) return; // the network answers: page, API, realtime, music
  // Network first (a release is seen at once), the cached copy when the network fails.
  event.respondWith(
    fetch(request, { signal: AbortSignal.timeout(SHELL_FETCH_TIMEOUT_MS) })
      .then((response) => {
        if (response.ok && response.status === 200) {
          const copy = response.clone();
          caches.open(CACHE).then((cache) => cache.put(url.pathname, copy));
        }
        return response;
      })
      .catch(() => caches.match(url.pathname).then((hit) => hit || Response.error())),
  );
});
