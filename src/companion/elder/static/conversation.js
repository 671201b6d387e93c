// One conversation, as the page lives it: server events in, audio and captions out, the state in
// words, barge-in with a truncate to what was really heard, and the music tools.

import { debug, mirrorPlayed, recordTruncate } from "./debug.js";
import { saysStop } from "./music.js";
import { fromBase64, toBase64 } from "./pcm.js";

const SAMPLES_PER_MS = 24; // 24 kHz PCM
const THINKING_TIMEOUT_MS = 15000; // a turn the model never answers must not say "thinking" forever
const DUCKED_VOICE = 0.2; // the companion's voice while a song plays: heard, but under the song
// Errors that are part of normal life: server VAD already cancelled, or two answers raced.
const QUIET_ERRORS = new Set([
  "response_cancel_not_active",
  "conversation_already_has_active_response",
  "item_truncate_invalid_item_id",
]);

export class Conversation {
  constructor({ ui, speaker, music, tools, send, photos = null }) {
    this.ui = ui;
    this.photos = photos; // the family's photos on the screen (photo.js), put up by the relay's notice
    this.speaker = speaker;
    this.music = music;
    this.tools = tools;
    this.send = send;
    this.phase = "idle";
    this.ended = false; // the person pressed stop: nothing may start any more
    this.calls = new Set(); // call ids already handled (a call is seen in two events)
    this.callNames = new Map(); // item id -> tool name (from response.output_item.added)
    this.played = new Map(); // item id -> 24 kHz samples of it played: what a barge-in truncates to
    this.reset();
  }

  /** Forget what belonged to one connection (a new session starts with nothing in flight). */
  reset() {
    this.responseActive = false;
    this.responseHasAudio = false;
    this.responseId = null;
    this.thinking = false;
    clearTimeout(this.thinkingTimer);
    this.thinkingTimer = null;
    this.queued = false; // deltas pushed to the speaker and not yet played out
    this.playingItem = null;
    this.interruptedItems = new Set();
    this.interruptedResponse = null;
    this.responseWanted = false;
    this.calls.clear();
    this.callNames.clear();
    this.played.clear(); // item ids repeat across sessions, and the worklet counts afresh too
    mirrorPlayed(this.played);
    this.speaker.reset();
    this.ui.newSession();
  }

  end() {
    this.ended = true;
    clearTimeout(this.thinkingTimer);
  }

  setPhase(phase) {
    this.phase = phase;
    if (phase === "live") this.reset();
    this.render();
  }

  get speaking() {
    return this.speaker.playing || this.queued || (this.responseActive && this.responseHasAudio);
  }

  render() {
    if (this.ended) return; // the page shows idle, error or unpaired now, not this conversation
    if (this.phase !== "live") {
      this.ui.setState(this.phase);
      return;
    }
    this.ui.setState(this.speaking ? "speaking" : this.thinking ? "thinking" : "listening");
  }

  setThinking(on) {
    clearTimeout(this.thinkingTimer);
    this.thinking = on;
    if (on) {
      this.thinkingTimer = setTimeout(() => {
        this.thinking = false;
        this.render();
      }, THINKING_TIMEOUT_MS);
    }
    this.render();
  }

  // ---- microphone -> model ----------------------------------------------------------------------

  sendAudio(pcm) {
    if (this.send({ type: "input_audio_buffer.append", audio: toBase64(pcm) })) {
      debug.sentAudioBytes += pcm.byteLength;
    }
  }

  // ---- speaker callbacks ------------------------------------------------------------------------

  /** Counts from the playback worklet ({itemId: samples}, absolute): kept here, mirrored for tests. */
  onPlayed(played) {
    for (const [itemId, samples] of Object.entries(played || {})) {
      if (typeof samples === "number") this.played.set(itemId, samples);
    }
    mirrorPlayed(this.played);
  }

  onPlaybackStarted(itemId) {
    this.playingItem = itemId;
    this.setThinking(false);
  }

  onPlaybackIdle() {
    this.queued = false;
    this.render();
  }

  // ---- model -> page ----------------------------------------------------------------------------

  onEvent(event) {
    const handler = HANDLERS[event.type];
    if (handler) handler.call(this, event);
  }

  onAudioDelta(event) {
    if (this.interruptedItems.has(event.item_id) || event.response_id === this.interruptedResponse) return;
    if (typeof event.delta !== "string" || !event.delta) return;
    this.responseHasAudio = true;
    this.queued = true;
    this.speaker.push(event.item_id, fromBase64(event.delta));
    this.render();
  }

  onTranscriptDelta(event) {
    if (this.interruptedItems.has(event.item_id) || event.response_id === this.interruptedResponse) return;
    this.ui.companion(event.item_id, event.delta);
  }

  onSpeechStarted() {
    this.setThinking(false);
    if (this.speaking) this.bargeIn();
  }

  /**
   * The person spoke over the companion: silence at once (the worklet drops its queue), drop what
   * still comes of the answer, and truncate the item to what was really played. No response.cancel:
   * the relay's server VAD interrupts the answer itself on speech_started (interrupt_response), and
   * a second cancel only races it ("response_cancel_not_active").
   */
  async bargeIn() {
    const flushing = this.speaker.flush();
    const streaming = this.responseActive && this.responseHasAudio; // more audio of it would follow
    this.queued = false;
    if (this.playingItem !== null) this.interruptedItems.add(this.playingItem); // drop what still comes
    if (this.responseActive) {
      this.interruptedResponse = this.responseId;
      this.responseHasAudio = false;
    }
    this.render();
    const result = await flushing;
    // The speaker counted as playing until the flush answered: show now that the page listens (the
    // answer may have been done before the person spoke, and then no later event renders again).
    this.render();
    const itemId = result && result.itemId !== null ? result.itemId : this.playingItem;
    if (result) this.onPlayed(result.played);
    const heardAll = result !== null && !result.wasPlaying && !streaming;
    if (itemId === null || heardAll) return; // everything of it was played: nothing to take back
    this.interruptedItems.add(itemId);
    const samples = this.played.get(itemId) || 0;
    const audioEndMs = Math.floor(samples / SAMPLES_PER_MS);
    this.send({ type: "conversation.item.truncate", item_id: itemId, content_index: 0, audio_end_ms: audioEndMs });
    recordTruncate(itemId, audioEndMs, samples / SAMPLES_PER_MS);
    this.ui.cut(itemId);
  }

  onUserTranscript(event) {
    this.ui.person(event.item_id, event.transcript);
    if (this.music.playing && saysStop(event.transcript)) this.music.stop();
    if (this.photos) this.photos.heard(event.transcript);
  }

  onResponseCreated(event) {
    this.responseActive = true;
    this.responseHasAudio = false;
    this.responseId = event.response && event.response.id ? event.response.id : null;
    this.render();
  }

  onResponseDone() {
    this.responseActive = false;
    this.responseHasAudio = false;
    this.setThinking(false);
    if (this.responseWanted) this.createResponse();
  }

  onOutputItemAdded(event) {
    const item = event.item || {};
    if (item.type === "function_call" && item.id) this.callNames.set(item.id, item.name);
  }

  onOutputItemDone(event) {
    const item = event.item || {};
    if (item.type === "function_call") this.onCall(item.name, item.call_id, item.arguments);
  }

  onArgumentsDone(event) {
    this.onCall(event.name || this.callNames.get(event.item_id), event.call_id, event.arguments);
  }

  async onCall(name, callId, argumentsText) {
    if (!callId || !this.tools.handles(name) || this.calls.has(callId)) return;
    this.calls.add(callId);
    let args = {};
    try {
      args = JSON.parse(argumentsText || "{}") || {};
    } catch {
      args = {};
    }
    const output = await this.tools.run(name, args, () => !this.ended);
    if (this.ended || this.phase !== "live") return; // nobody to answer any more
    this.send({
      type: "conversation.item.create",
      item: { type: "function_call_output", call_id: callId, output: JSON.stringify(output) },
    });
    this.responseWanted = true;
    if (!this.responseActive) this.createResponse();
  }

  /** The "next photo" button: the person's request, as if said, so the model shows and talks about it. */
  askFor(text) {
    if (this.ended || this.phase !== "live") return;
    this.send({
      type: "conversation.item.create",
      item: { type: "message", role: "user", content: [{ type: "input_text", text }] },
    });
    this.ui.person(`asked-${Date.now()}`, text);
    this.responseWanted = true;
    if (!this.responseActive) this.createResponse();
  }

  createResponse() {
    this.responseWanted = false;
    this.send({ type: "response.create" });
  }

  onError(event) {
    const code = (event.error && event.error.code) || "unknown";
    if (QUIET_ERRORS.has(code)) return;
    console.warn("companion: the service reported", code); // the code only: never what was said
  }

  onMusicChange(playing) {
    this.speaker.setVolume(playing ? DUCKED_VOICE : 1);
  }
}

const HANDLERS = {
  "input_audio_buffer.speech_started": Conversation.prototype.onSpeechStarted,
  "input_audio_buffer.speech_stopped"() {
    this.setThinking(true);
  },
  "input_audio_buffer.committed"(event) {
    if (event.item_id) this.ui.reservePerson(event.item_id);
    this.setThinking(true);
  },
  "conversation.item.input_audio_transcription.completed": Conversation.prototype.onUserTranscript,
  "conversation.item.input_audio_transcription.failed"(event) {
    this.ui.drop(event.item_id);
  },
  "response.created": Conversation.prototype.onResponseCreated,
  "response.done": Conversation.prototype.onResponseDone,
  "response.output_audio.delta": Conversation.prototype.onAudioDelta,
  "response.audio.delta": Conversation.prototype.onAudioDelta,
  "response.output_audio_transcript.delta": Conversation.prototype.onTranscriptDelta,
  "response.audio_transcript.delta": Conversation.prototype.onTranscriptDelta,
  "response.output_item.added": Conversation.prototype.onOutputItemAdded,
  "response.output_item.done": Conversation.prototype.onOutputItemDone,
  "response.function_call_arguments.done": Conversation.prototype.onArgumentsDone,
  error: Conversation.prototype.onError,
  "companion.photo"(event) {
    if (this.photos) this.photos.show(event.photo);
  },
};
