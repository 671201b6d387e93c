// Music: the model's play_music / stop_music calls, forwarded by the relay once they passed the
// person's current preferences, are carried out here. The page asks the service for a matching
// library track this person may hear, plays it with an <audio> element, and tells the model what
// happened as a function_call_output (what is playing, or why nothing is).

import { fetchWithTimeout } from "./fetching.js";

const STOP_WORDS = new Set(["עצור", "עצרי", "די", "תפסיק", "תפסיקי", "מספיק", "stop"]);
const TOKEN_SPLIT = /[^\p{L}\p{N}]+/u;

/** Whether what the person said asks to stop ("די", "stop the music"...): whole words only. */
export function saysStop(text) {
  for (const token of (text || "").toLowerCase().split(TOKEN_SPLIT)) if (STOP_WORDS.has(token)) return true;
  return false;
}

const MESSAGES = {
  music_unavailable: "Music is not available on this tablet: there is no music library. Tell the person gently.",
  no_match: "No song in the library matches this request. Offer something else from the person's list.",
  playback_failed: "The song could not be played on the tablet.",
};

function refusal(error, message) {
  return { ok: false, error, message: message || MESSAGES[error] || MESSAGES.no_match };
}

/**
 * The #music panel and its <audio>; onChange(playing) lets the conversation duck its voice.
 * `silenceUrl` is a short silent file played (and paused) inside the talk click: iOS lets an element
 * play without a gesture only once it has played in one, and a song starts later, from the model.
 */
export class MusicPlayer {
  constructor(onChange, silenceUrl) {
    this.onChange = onChange;
    this.silenceUrl = silenceUrl;
    this.panel = document.getElementById("music");
    this.audio = document.getElementById("music-audio");
    this.title = document.getElementById("music-title");
    this.artist = document.getElementById("music-artist");
    document.getElementById("music-stop").addEventListener("click", () => this.stop());
    this.audio.addEventListener("ended", () => this.stopped());
    this.audio.addEventListener("error", () => {
      if (this.playing) this.stopped();
    });
  }

  get playing() {
    return this.panel.dataset.state === "playing";
  }

  /** Call inside a user gesture (the talk click): play() then pause() of silence, errors ignored. */
  unlock() {
    if (this.playing || !this.silenceUrl) return;
    const audio = this.audio;
    audio.src = this.silenceUrl;
    const silence = audio.src; // resolved: a song started meanwhile has another one
    const done = () => {
      if (audio.src !== silence || this.playing) return;
      audio.pause();
      audio.removeAttribute("src");
      audio.load();
    };
    try {
      const started = audio.play();
      if (started && typeof started.then === "function") started.then(done, done);
      else done();
    } catch {
      done();
    }
  }

  async play(track) {
    this.audio.src = track.url;
    await this.audio.play();
    this.panel.dataset.title = track.title || "";
    this.panel.dataset.artist = track.artist || "";
    this.title.textContent = track.title || "";
    this.artist.textContent = track.artist || "";
    this.panel.dataset.state = "playing";
    this.panel.hidden = false;
    this.onChange(true);
  }

  stop() {
    this.audio.pause();
    this.audio.removeAttribute("src");
    this.audio.load();
    this.stopped();
  }

  stopped() {
    const was = this.playing;
    this.panel.dataset.state = "stopped";
    this.panel.dataset.title = "";
    this.panel.dataset.artist = "";
    this.panel.hidden = true;
    if (was) this.onChange(false);
  }
}

/** The two music tools; run(name, args) resolves with the output for the model. */
export class MusicTools {
  constructor(player, matchUrl) {
    this.player = player;
    this.matchUrl = matchUrl;
  }

  handles(name) {
    return name === "play_music" || name === "stop_music";
  }

  /** `wanted()` is asked before a song starts: the person may have ended the talk meanwhile. */
  async run(name, args, wanted = () => true) {
    if (name === "stop_music") {
      this.player.stop();
      return { ok: true };
    }
    return this.playMusic(args || {}, wanted);
  }

  async playMusic(args, wanted) {
    const query = new URLSearchParams();
    for (const key of ["artist", "song", "genre"]) {
      if (typeof args[key] === "string" && args[key].trim()) query.set(key, args[key].trim());
    }
    let body;
    try {
      const response = await fetchWithTimeout(this.matchUrl + "?" + query.toString(), {
        credentials: "include",
        cache: "no-store",
      });
      if (!response.ok) return refusal("music_unavailable");
      body = await response.json();
    } catch {
      return refusal("music_unavailable");
    }
    if (!body || !body.available) return refusal("music_unavailable");
    const track = body.track;
    if (!track) {
      const reason = body.reason && body.reason !== "no_library" ? body.reason : "no_match";
      return refusal(reason);
    }
    if (!wanted()) return refusal("playback_failed", "The conversation ended before the song could start.");
    try {
      await this.player.play(track);
    } catch {
      return refusal("playback_failed");
    }
    return { ok: true, playing: { artist: track.artist, title: track.title } };
  }
}
