// window.companionDebug: read-only numbers for tests and integrators (no secrets, no words said).
//   sentAudioBytes       PCM16 bytes of microphone audio sent (decoded, not base64)
//   playedSamplesByItem  {itemId: 24 kHz samples of that item actually played}
//   truncates            [{itemId, audioEndMs, playedMs}] one per barge-in truncate sent (the last 50)
//   lastTruncate         the last of those, or null
//   microphone           how the page reads the microphone: "frames" (as captured), "worklet", or null
// Only a mirror: the page never reads its own decisions back from here (a test or an extension may
// write to it).

const MAX_TRUNCATES = 50; // a long day of barge-ins must not grow the page's memory without end

export const debug = {
  sentAudioBytes: 0,
  playedSamplesByItem: {},
  truncates: [],
  lastTruncate: null,
  microphone: null,
};

export function publishDebug() {
  Object.defineProperty(window, "companionDebug", { value: debug, writable: false, configurable: false });
}

/** Mirror the conversation's played-sample counts (`counts` is its own Map: itemId -> samples). */
export function mirrorPlayed(counts) {
  const shown = debug.playedSamplesByItem;
  for (const itemId of Object.keys(shown)) if (!counts.has(itemId)) delete shown[itemId];
  for (const [itemId, samples] of counts) shown[itemId] = samples;
}

export function recordTruncate(itemId, audioEndMs, playedMs) {
  const entry = { itemId, audioEndMs, playedMs };
  debug.truncates.push(entry);
  if (debug.truncates.length > MAX_TRUNCATES) debug.truncates.splice(0, debug.truncates.length - MAX_TRUNCATES);
  debug.lastTruncate = entry;
}
