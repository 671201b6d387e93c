// Every request the elder's page makes ends: a tablet whose Wi-Fi dropped mid-request would otherwise
// wait forever (a fetch has no timeout of its own), leaving the page "connecting" or a reminder unshown.
// When the time is up the fetch rejects with a "TimeoutError", which every caller already treats as the
// network being down (retry later).

// The service answers these requests in milliseconds; ten seconds without an answer is a dead
// connection, and the caller's retry does better than waiting longer.
export const FETCH_TIMEOUT_MS = 10000;

/** ``fetch`` that gives up after ``timeoutMs``. */
export function fetchWithTimeout(url, options = {}, timeoutMs = FETCH_TIMEOUT_MS) {
  return fetch(url, { ...options, signal: AbortSignal.timeout(timeoutMs) });
}
