// The elder's page: one button to talk and to stop. Wires the parts together; each part is its own
// module (connection, audio, conversation, music, ui, wake lock). Nothing here is logged that the
// person said, and no secret outlives the call that uses it.

import { Microphone, Speaker } from "./audio.js";
import { Connection } from "./connection.js";
import { Conversation } from "./conversation.js";
import { publishDebug } from "./debug.js";
import { MusicPlayer, MusicTools } from "./music.js";
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
const music = new MusicPlayer((playing) => conversation && conversation.onMusicChange(playing));

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
  awake.stop();
  connection = microphone = conversation = null;
  ui.setTalking(false);
  ui.setState(finalState);
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

async function startConversation() {
  if (!audioSupported()) {
    fail("error.audio");
    return;
  }
  talking = true;
  ui.setDetail(null);
  ui.setTalking(true);
  ui.setState("connecting");
  awake.start();

  let convo = null;
  const speaker = new Speaker(config.staticBase, {
    onStarted: (itemId) => convo && convo.onPlaybackStarted(itemId),
    onIdle: () => convo && convo.onPlaybackIdle(),
    onPlayed: (played) => convo && convo.onPlayed(played),
  });
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
  });
  const mic = new Microphone(config.staticBase);
  conversation = convo;
  connection = link;
  microphone = mic;

  // The speaker's AudioContext is made inside the click (autoplay rules); the microphone and the
  // connection start together, so asking for the microphone does not delay the greeting.
  const audioReady = Promise.all([speaker.start(), mic.start((pcm) => convo.sendAudio(pcm))]);
  convo.setPhase("connecting");
  link.start();
  try {
    await audioReady;
  } catch (error) {
    if (conversation !== convo) return; // stopped meanwhile
    const denied = error && (error.name === "NotAllowedError" || error.name === "NotFoundError");
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
registerServiceWorker();
