"""Every code a family could see is shown in words, in the page's language; technical details of live
sessions are for administrators only."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from companion.languages import LANGUAGE_NAMES
from companion.profiles.models import CognitiveMode, Gender, MemorySource, MemoryType, Severity
from companion.realtime.records import RefreshResult, Status
from tests.dashboard.conftest import Dash, signed_in_with_a_live_session
from tests.live.conftest import ADMIN, USER, Live, eventually

WIZARD = f"/dashboard/people/{USER}/wizard"
# Codes with no business in a family's page: the profile's enums, the session and refresh states, the
# alert and reminder codes (rule, channel, states, "via"), and Python's or JSON's own words.
CODES = {
    *(c.value for c in (*Gender, *CognitiveMode, *Severity, *MemoryType, *MemorySource)),
    *LANGUAGE_NAMES,
    *(s.value for s in (*Status, *RefreshResult)),
    *("reminder", "medication", "checkin", "due", "delivered", "acknowledged", "snoozed", "missed"),
    *("cancelled", "conversation", "page", "tool", "dashboard", "link", "api", "email", "webhook"),
    *("pending", "sending", "sent", "retry", "start", "dropped", "rotated"),
    *("True", "False", "None", "true", "false", "null"),
}
_CODE = re.compile(r"(?<![\w/.@:-])(" + "|".join(sorted(map(re.escape, CODES))) + r")(?![\w/.@:-])")
VISIBLE_ATTRIBUTES = ("title", "aria-label", "placeholder", "alt")
QUOTED = ("script", "style", "datalist", "pre")


class _Visible(HTMLParser):
    """The text a reader sees or hears: text outside script and style, and the attributes spoken.

    A ``<pre>`` is left out: it quotes the model's instructions word for word ("what the AI is told"),
    and those name the tools' codes (``alert_family`` with severity ``critical``) on purpose.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in QUOTED:
            self._hidden += 1
        self.parts += [v for k, v in attrs if k in VISIBLE_ATTRIBUTES and v]

    def handle_endtag(self, tag: str) -> None:
        if tag in QUOTED:
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden and data.strip():
            self.parts.append(data.strip())


def visible_text(html: str) -> str:
    reader = _Visible()
    reader.feed(html)
    return "\n".join(reader.parts)


def raw_codes(html: str) -> list[str]:
    return sorted({m[1] for m in _CODE.finditer(visible_text(html))})


def test_the_code_finder_finds_codes_and_only_them() -> None:
    page = '<p title="critical">מצב: female · he</p><p>user-tiferet-001 Asia/Jerusalem</p><pre>he</pre>'
    assert raw_codes(page) == ["critical", "female", "he"]


async def test_hebrew_pages_of_a_filled_profile_show_no_raw_codes(live: Live) -> None:
    dash = await signed_in_with_a_live_session(live)
    alerts = live.services.alerts
    missed, _ = await alerts.record(
        USER,
        {"severity": "medium", "summary": "לא אישר את אריספט של 08:00", "rule": "reminder"},
        session_id=None,
    )
    await alerts.acknowledge(USER, missed.id, by="tiferet", via="dashboard")
    await alerts.record(USER, {"severity": "critical", "summary": "נפל", "rule": "תעזרו לי"}, session_id=None)
    await dash.post("/dashboard/sessions/refresh-all", {})  # a last refresh to show
    seen: dict[str, list[str]] = {}

    async def look(url: str) -> None:
        page = await dash.get(url)
        assert page.status_code == 200, (url, page.status_code)
        seen[url] = raw_codes(page.text)

    await dash.get(WIZARD)
    changes = {
        1: {
            "personalInfo.gender": "female",
            "personalInfo.language": "en",
            "companion.gender": "male",
            "companion.voice": "ash",
        },
        2: {"cognitiveMode": "standard"},
        4: {"emergencyContacts.0.notifyFor": "critical"},
        7: {"neverAllow.0.severity": "medium", "crisisTriggers.0.severity": "high"},
    }
    for number in range(1, 10):
        assert (await dash.step(number, changes.get(number))).status_code == 303, number
        await look(f"{WIZARD}/{number}")
    await dash.step(8, {"memory.text": "אוהב תה", "memory.type": "health"}, action="add:memories")
    await look(f"{WIZARD}/8")
    await look(f"{WIZARD}/11")
    review = visible_text((await dash.get(f"{WIZARD}/11")).text)
    assert "נקבה" in review and "רגיל" in review and "בינוני" in review, "the review shows the words"
    assert "זכר" in review and "Ash" in review, "the companion's gender and voice too"
    for url in ("", "/alerts", "/reminders", "/instructions"):
        await look(f"/dashboard/people/{USER}{url}")
    await look("/dashboard/people")
    await look("/dashboard/sessions")
    await look("/dashboard/sessions/rows")
    alerts_page = visible_text((await dash.get(f"/dashboard/people/{USER}/alerts")).text)
    assert "תזכורת שלא אושרה" in alerts_page and "תעזרו לי" in alerts_page

    # Someone else saves meanwhile: the conflict page's tables speak in words too.
    state = await live.services.profiles.get_section(USER, "profile")
    assert state.data is not None
    theirs = state.data.model_dump(mode="json", by_alias=True) | {"cognitiveMode": "elderly"}
    await live.services.profiles.save_section(USER, "profile", theirs, if_match=state.version)
    submitted = await dash.step(10, action="submit")
    assert submitted.headers["location"].endswith("/conflict")
    await look(submitted.headers["location"])
    assert {url: codes for url, codes in seen.items() if codes} == {}


ANDROID_CHROME = (
    "Mozilla/5.0 (Linux; Android 14; SM-X200) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0 Safari/537.36"
)


async def a_conversation_from_a_paired_tablet(live: Live) -> str:
    """A tablet paired as the person page pairs one, talking with the client secret /app gets for it."""
    devices = live.services.devices
    made = await devices.create_pairing(USER, created_by=None)
    paired = await devices.redeem(made.code, client="tablet", user_agent=ANDROID_CHROME)
    assert paired.device is not None
    secret = await devices.issue_client_secret(paired.device.id)
    await live.connect(token=secret.value)
    [session] = live.services.sessions.of_device(paired.device.id)
    await eventually(lambda: session.status is Status.ACTIVE, "the tablet's conversation is active")
    return paired.device.label


async def test_families_see_a_conversation_in_words_and_admins_its_technical_details(live: Live) -> None:
    tablet = await a_conversation_from_a_paired_tablet(live)
    session = live.services.sessions.of_user(USER)[0]
    dash = Dash(live.services, live.http, live.creds)
    assert (await dash.login()).status_code == 303
    await dash.post(f"/dashboard/sessions/{session.id}/refresh", {})
    assert session.last_refresh is not None and session.instructions is not None
    technical = [session.id, USER, session.instructions.version, "טוקנים", "תורות", "פרטים טכניים"]

    family = visible_text((await dash.get("/dashboard/sessions")).text)
    rows = visible_text(
        (await dash.client.get("/dashboard/sessions/rows", headers={"x-dashboard-fetch": "1"})).text
    )
    for text in (family, rows):
        assert "משה" in text and tablet in text and "פעילה" in text, "who, on which tablet, in what state"
        assert "הצליח" in text, "the last refresh: ok"
        assert [word for word in technical if word in text] == []
    when = re.search(
        r'<time class="last-refresh" datetime="([^"]+)"', (await dash.get("/dashboard/sessions")).text
    )
    assert when and when[1] == session.last_refresh.at.isoformat(), "and when"

    live.http.cookies.clear()
    await dash.get("/dashboard/login")
    assert (await dash.post("/dashboard/login/admin", {"token": ADMIN})).status_code == 303
    admin = (await dash.get("/dashboard/sessions")).text
    assert "משה" in visible_text(admin) and tablet in visible_text(admin)
    assert "פרטים טכניים" in visible_text(admin)
    details = visible_text(admin[admin.index('<details class="technical">') :])
    assert [word for word in technical[:-1] if word not in details] == [], "an admin opens the details"
