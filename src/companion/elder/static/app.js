// The elder's page: one button to talk and to stop. Wires the parts together; each part is its own
// module (connection, audio, conversation, music, ui, wake lock). Nothing here is logged that the
// person said, and no secret outlives the call that uses it.

import { Microphone, Speaker } from "./audio.js";
import { Connection } from "./connection.js";
import { Conversation } from "./conversation.js";
import { publishDebug } from "./debug.js";
import { MusicPlayer, MusicTools } from "./music.js";
import { PhotoViewer } from "./photo.js";
import { Reminders } from "./reminders.js";
import { Ui } from "./ui.js";
import { ScreenAwake } from "./wakelock.js";

const config = JSON.parse(document.getElementById("companion-config").textContent);
publishDebug();

const ui = new Ui(config.words);
const awake = new ScreenAwake();
let microphone = null;
let conversation = null;
let connection = null;
let talking = false;
const SILENCE_FILE = "silence.wav"; // played in the talk click so iOS lets a song play later
const music = new MusicPlayer(
  (playing) => conversation && conversation.onMusicChange(playing),
  new URL(SILENCE_FILE, new URL(config.staticBase, location.href)).href,
);

const photos = new PhotoViewer(config.words, config.photosBase, {
  onNext: () => conversation && conversation.askFor(ui.word("photo.ask_next")),
});

// Reminders ring on the page while no conversation is live; "talk to me" opens one (in the click),
// whose greeting says a medication's reminder (a check-in is answered by the press itself).
const reminders = new Reminders({
  onTalk: (reminder) => talking || startConversation(reminder && reminder.kind !== "checkin" ? reminder.id : null),
});

function registerServiceWorker() {
  if (!("serviceWorker" in navigator) || !window.isSecureContext) return;
  navigator.serviceWorker.register(config.serviceWorker, { scope: config.scope, type: "classic" }).catch(() => {
    /* the page works without it; installing just needs it */
  });
}

function audioSupported() {
  return Boolean(
    window.AudioContext && window.AudioWorkletNode && navigator.mediaDevices && navigator.mediaDevices.getUserMedia,
  );
}

function stopConversation(finalState = "idle") {
  talking = false;
  if (conversation) conversation.end();
  if (connection) connection.stop();
  if (microphone) microphone.stop();
  if (conversation) conversation.speaker.stop();
  music.stop();
  photos.close(); // a photo stays until closed, the next one, or the end of the conversation
  awake.stop();
  connection = microphone = conversation = null;
  ui.setTalking(false);
  ui.setState(finalState);
  if (finalState === "unpaired") reminders.stop();
  else reminders.resume();
}

function showUnpaired() {
  stopConversation("unpaired");
  ui.setDetail(null);
  ui.forget();
  ui.showPairing(true);
}

function fail(detailKey) {
  stopConversation("error");
  ui.setDetail(detailKey);
}

/**
 * Runs inside the talk click, synchronously up to the first await: the audio contexts are made and
 * resumed here and the music element is unlocked here, because Safari (iPad) honours those only
 * within a user gesture.
 */
function startConversation(reminderId = null) {
  if (!audioSupported()) {
    fail("error.audio");
    return;
  }
  let convo = null;
  const speaker = new Speaker(config.staticBase, {
    onStarted: (itemId) => convo && convo.onPlaybackStarted(itemId),
    onIdle: () => convo && convo.onPlaybackIdle(),
    onPlayed: (played) => convo && convo.onPlayed(played),
  });
  const mic = new Microphone(config.staticBase);
  try {
    speaker.open();
    mic.open();
  } catch {
    speaker.stop();
    mic.stop();
    fail("error.audio");
    return;
  }
  music.unlock();

  talking = true;
  reminders.pause();
  ui.setDetail(null);
  ui.setTalking(true);
  ui.setState("connecting");
  awake.start();

  const link = new Connection(config, {
    onPhase: (phase) => convo && convo.setPhase(phase),
    onEvent: (event) => convo && convo.onEvent(event),
    onUnpaired: () => showUnpaired(),
    onFatal: () => fail("error.connect"),
  });
  convo = new Conversation({
    ui,
    speaker,
    music,
    tools: new MusicTools(music, config.musicMatchUrl),
    send: (event) => link.send(event),
    photos,
  });
  conversation = convo;
  connection = link;
  microphone = mic;

  // The microphone and the connection start together, so asking for the microphone does not delay
  // the greeting.
  const audioReady = Promise.all([speaker.start(), mic.start((pcm) => convo.sendAudio(pcm))]);
  convo.setPhase("connecting");
  link.start(reminderId);
  awaitAudio(convo, audioReady, speaker, mic);
}

async function awaitAudio(convo, audioReady, speaker, mic) {
  let failed = false;
  let failure = null;
  try {
    await audioReady;
  } catch (error) {
    failed = true;
    failure = error;
  }
  if (conversation !== convo) {
    mic.stop(); // stopped (or restarted) while the audio was being set up: nothing may stay open
    speaker.stop();
    return;
  }
  if (failed) {
    const denied = failure && (failure.name === "NotAllowedError" || failure.name === "NotFoundError");
    fail(denied ? "error.microphone" : "error.audio");
    return;
  }
  if (music.playing) convo.onMusicChange(true);
}

document.getElementById("talk").addEventListener("click", () => {
  if (talking) stopConversation();
  else startConversation();
});

if (!config.paired) ui.showPairing(true);
else reminders.start();
registerServiceWorker();
