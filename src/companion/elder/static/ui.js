// Everything the person sees: the state in words, the big button, the captions, the code form.
// Text is only ever set with textContent: what the model or the person said is never HTML.

const MAX_LINES = 8; // enough to follow the last exchange, few enough to stay large on a small tablet

export class Ui {
  constructor(words) {
    this.words = words;
    this.status = document.getElementById("status");
    this.detailLine = document.getElementById("detail");
    this.talk = document.getElementById("talk");
    this.talkLabel = document.getElementById("talk-label");
    this.talkHint = document.getElementById("talk-hint");
    this.pair = document.getElementById("pair");
    this.captions = document.getElementById("captions");
    this.lines = new Map(); // key -> <p>
    this.session = 0; // item ids are only unique within one session: keys carry the session too
  }

  newSession() {
    this.session++;
  }

  word(key) {
    return this.words[key] || key;
  }

  setState(state) {
    if (this.status.dataset.state === state) return;
    this.status.dataset.state = state;
    this.status.textContent = this.word("state." + state);
    this.talk.dataset.state = state;
  }

  setDetail(key) {
    this.detailLine.hidden = !key;
    this.detailLine.textContent = key ? this.word(key) : "";
  }

  setTalking(talking) {
    this.talk.dataset.action = talking ? "stop" : "start";
    this.talkLabel.textContent = this.word(talking ? "talk.stop" : "talk.start");
    this.talkHint.textContent = this.word(talking ? "talk.hint.stop" : "talk.hint.start");
  }

  /** The tablet was disconnected: take the person's name and words off the screen. */
  forget() {
    document.getElementById("hello").textContent = this.word("hello.anonymous");
    this.captions.replaceChildren();
    this.lines.clear();
  }

  showPairing(show) {
    this.pair.hidden = !show;
    this.talk.hidden = show;
    if (show) {
      const input = document.getElementById("code");
      if (input) input.focus();
    }
  }

  key(who, itemId) {
    return this.session + ":" + who + ":" + itemId;
  }

  line(who, itemId) {
    const key = this.key(who, itemId);
    let p = this.lines.get(key);
    if (!p) {
      p = document.createElement("p");
      p.className = "line " + who;
      p.dataset.item = itemId;
      this.captions.append(p);
      this.lines.set(key, p);
      while (this.captions.children.length > MAX_LINES) {
        const oldest = this.captions.firstElementChild;
        for (const [k, v] of this.lines) if (v === oldest) this.lines.delete(k);
        oldest.remove();
      }
    }
    return p;
  }

  scroll() {
    this.captions.scrollTop = this.captions.scrollHeight;
  }

  /** The person's turn, in its place: reserved when the turn is committed, filled when transcribed. */
  reservePerson(itemId) {
    const p = this.line("person", itemId);
    if (!p.textContent) p.hidden = true;
  }

  person(itemId, text) {
    const clean = (text || "").trim();
    const p = this.line("person", itemId);
    if (!clean) {
      this.drop(itemId);
      return;
    }
    p.textContent = clean;
    p.hidden = false;
    this.scroll();
  }

  drop(itemId) {
    const key = this.key("person", itemId);
    const p = this.lines.get(key);
    if (p) {
      p.remove();
      this.lines.delete(key);
    }
  }

  /** The companion's words, streamed as they come. */
  companion(itemId, delta) {
    if (!delta) return;
    const p = this.line("companion", itemId);
    p.textContent += delta;
    this.scroll();
  }

  /** The person interrupted: the rest of that sentence was never heard. */
  cut(itemId) {
    const p = this.lines.get(this.key("companion", itemId));
    if (p) p.classList.add("cut");
  }
}
