// Companion dashboard: small progressive enhancements. Every page works without this file.
(function () {
  "use strict";
  var locale = document.documentElement.lang === "he" ? "he-IL" : "en-GB";

  // Show <time datetime> values in the reader's own time zone.
  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (!isNaN(when)) { el.textContent = when.toLocaleString(locale); }
    });
  }

  // Enter in a chip's text box adds the chip instead of moving to the next step.
  function chipEnter(event) {
    var target = event.target;
    if (event.key !== "Enter" || !target.dataset || !target.dataset.enterClicks) { return; }
    var button = document.getElementById(target.dataset.enterClicks);
    if (button) { event.preventDefault(); button.click(); }
  }

  // The live-sessions table fetches its rows again every few seconds.
  function poll(body) {
    var url = body.dataset.poll;
    var every = parseInt(body.dataset.interval, 10) || 2000;
    var status = document.getElementById("poll-status");
    var timer = setInterval(function () {
      if (body.contains(document.activeElement)) { return; } // never pull a button from under the keyboard
      fetch(url, { credentials: "same-origin", headers: { "x-dashboard-fetch": "1" } })
        .then(function (response) {
          if (!response.ok) { throw new Error(String(response.status)); }
          return response.text();
        })
        .then(function (html) {
          body.innerHTML = html;
          localTimes(body);
        })
        .catch(function () {
          clearInterval(timer);
          if (status) { status.textContent = status.dataset.stale || status.textContent; }
        });
    }, every);
  }

  // An empty time zone (a new person) is filled with this browser's own, when the list knows it.
  function suggestZone() {
    var input = document.getElementById("f-personalInfo-timezone");
    var list = document.getElementById("timezones");
    if (!input || !list || input.value) { return; }
    var zone = "";
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { return; }
    var known = Array.prototype.some.call(list.options, function (option) { return option.value === zone; });
    if (!known) { return; }
    input.value = zone;
    var note = document.getElementById("timezone-suggested");
    if (note) { note.hidden = false; }
  }

  document.addEventListener("DOMContentLoaded", function () {
    localTimes(document);
    suggestZone();
    document.addEventListener("keydown", chipEnter);
    document.querySelectorAll("[data-poll]").forEach(poll);
    var summary = document.getElementById("error-summary");
    if (summary) { summary.focus(); }
  });
})();
