// window.companionDebug: read-only numbers for tests and integrators (no secrets, no words said).
//   sentAudioBytes       PCM16 bytes of microphone audio sent (decoded, not base64)
//   playedSamplesByItem  {itemId: 24 kHz samples of that item actually played}
//   truncates            [{itemId, audioEndMs, playedMs}] one per barge-in truncate sent
//   lastTruncate         the last of those, or null

export const debug = {
  sentAudioBytes: 0,
  playedSamplesByItem: {},
  truncates: [],
  lastTruncate: null,
};

export function publishDebug() {
  Object.defineProperty(window, "companionDebug", { value: debug, writable: false, configurable: false });
}

export function recordPlayed(played) {
  for (const [itemId, samples] of Object.entries(played || {})) {
    if (typeof samples === "number") debug.playedSamplesByItem[itemId] = samples;
  }
}

export function recordTruncate(itemId, audioEndMs, playedMs) {
  const entry = { itemId, audioEndMs, playedMs };
  debug.truncates.push(entry);
  debug.lastTruncate = entry;
}
