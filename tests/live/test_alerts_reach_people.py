"""End to end: a person in danger says so in a live conversation, and the family is really told.

The real service on loopback relays to the offline engine; a real HTTP receiver checks the Standard
Webhooks signature and a real SMTP server takes the e-mail; the link in the e-mail acknowledges the alert.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any, cast

from tests.care.receivers import SECRET, SmtpReceiver, WebhookReceiver
from tests.live.conftest import USER, Live, eventually, run_live

CONTACT_EMAIL = "tiferet@example.com"
DELIVERY_TIMEOUT_S = 10.0  # the care loop runs every second; generous for a loaded machine


async def give_the_contact_an_email(live: Live) -> None:
    current = await live.http.get(f"/api/users/{USER}/safety", headers=live.auth())
    body = current.json()["data"]
    body["emergencyContacts"][0]["email"] = CONTACT_EMAIL
    saved = await live.http.put(
        f"/api/users/{USER}/safety", json=body, headers={**live.auth(), "If-Match": current.headers["etag"]}
    )
    assert saved.status_code == 200, saved.text


async def settled_alert(live: Live) -> dict[str, Any]:
    """The person's one alert, once no delivery of it is still being sent."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DELIVERY_TIMEOUT_S
    while True:
        (alert,) = (await live.http.get(f"/api/users/{USER}/alerts", headers=live.auth())).json()["alerts"]
        if all(d["status"] != "sending" for d in alert["deliveries"]) or loop.time() > deadline:
            return cast(dict[str, Any], alert)
        await asyncio.sleep(0.02)


def spoken(client_events: list[dict[str, object]]) -> str:
    return " ".join(
        str(e.get("transcript"))
        for e in client_events
        if e.get("type") == "response.output_audio_transcript.done"
    )


async def test_a_crisis_in_conversation_reaches_the_family_signed_by_email_and_is_acknowledged(
    tmp_path: Path,
) -> None:
    webhook = WebhookReceiver()
    await webhook.start()
    smtp = SmtpReceiver()
    smtp.start()
    try:
        async for live in run_live(
            tmp_path,
            webhook_url=webhook.url,
            webhook_secret=SECRET,
            smtp_host="127.0.0.1",
            smtp_port=smtp.port,
            smtp_from="companion@example.com",
            smtp_tls="none",
            public_url="http://care.example",
        ):
            await give_the_contact_an_email(live)
            client = await live.connect()
            await client.say("תעזרו לי, נפלתי במטבח")
            await client.until(
                "response.done",
                lambda e: bool(e["response"]["output"]) and e["response"]["output"][0]["type"] == "message",
            )
            # the model was told who was sent a message, and says no more than that
            engine = live.engine_session()
            output = json.loads(
                next(i for i in engine.items if i.get("type") == "function_call_output")["output"]
            )
            assert {n["channel"] for n in output["notified"]} == {"webhook", "email"}
            assert "שלחתי הודעה למשפחה" in spoken(client.events)

            await eventually(lambda: len(webhook.deliveries) == 1, "the signed webhook", DELIVERY_TIMEOUT_S)
            payload = webhook.deliveries[0].payload
            assert payload["severity"] == "critical"
            assert payload["person"] == {"id": USER, "name": "משה לוי", "gender": "male"}
            assert "נפלתי" in payload["summary"]
            assert webhook.rejected == [] and webhook.duplicates == []
            assert "אריספט" not in json.dumps(payload, ensure_ascii=False)  # no medication in an alert

            await eventually(lambda: len(smtp.messages) == 1, "the e-mail", DELIVERY_TIMEOUT_S)
            message = smtp.messages[0]
            assert message["To"] == CONTACT_EMAIL
            text = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
            assert text.startswith("משה לוי הפעיל התראה דרך המלווה.")  # his gender, not "הפעיל/ה"
            link = re.search(r"http://care\.example(/ack/[A-Za-z0-9_\-]+)", text)
            assert link is not None, text

            # the proof, as the care team sees it: both messages sent, nobody has acknowledged yet (the
            # receivers may hold a message a moment before the service records that it was sent)
            alert = await settled_alert(live)
            assert sorted((d["channel"], d["status"]) for d in alert["deliveries"]) == [
                ("email", "sent"),
                ("webhook", "sent"),
            ]
            assert all(d["attempts"][-1]["result"] == "sent" for d in alert["deliveries"])
            assert alert["acknowledgedAt"] is None

            # opening the link changes nothing; its one button acknowledges, once
            page = await live.http.get(link[1])
            assert page.status_code == 200
            assert (await live.http.get(f"/api/users/{USER}/alerts", headers=live.auth())).json()["alerts"][
                0
            ]["acknowledgedAt"] is None
            pressed = await live.http.post(link[1], headers={"Origin": str(live.http.base_url).rstrip("/")})
            assert pressed.status_code in (200, 303), pressed.text
            again = await live.http.post(link[1], headers={"Origin": str(live.http.base_url).rstrip("/")})
            assert again.status_code == 410
            acknowledged = (await live.http.get(f"/api/users/{USER}/alerts", headers=live.auth())).json()
            assert acknowledged["alerts"][0]["acknowledgedAt"] is not None
    finally:
        smtp.stop()
        await webhook.stop()


async def test_the_tablet_dropping_as_the_answer_starts_loses_no_alert(tmp_path: Path) -> None:
    """The person says they fell, and the tablet drops the moment the model's answer starts: the alert
    the model was about to raise is still recorded and delivered."""
    webhook = WebhookReceiver()
    await webhook.start()
    try:
        async for live in run_live(tmp_path, webhook_url=webhook.url, webhook_secret=SECRET):
            client = await live.connect()
            await client.send(
                {
                    "type": "conversation.item.create",
                    "item": {
                        "type": "message",
                        "role": "user",
                        "content": [{"type": "input_text", "text": "תעזרו לי, נפלתי במטבח"}],
                    },
                }
            )
            await client.send({"type": "response.create"})
            await client.until("response.created")
            await client.ws.close()  # the tablet is gone before any of the answer arrives

            await eventually(lambda: len(webhook.deliveries) == 1, "the signed webhook", DELIVERY_TIMEOUT_S)
            assert "נפלתי" in webhook.deliveries[0].payload["summary"]
            alerts = (await live.http.get(f"/api/users/{USER}/alerts", headers=live.auth())).json()["alerts"]
            (alert,) = alerts
            assert [(d["channel"], d["status"]) for d in alert["deliveries"]] == [("webhook", "sent")]
            manager = live.services.sessions
            await eventually(lambda manager=manager: manager.live() == [], "the conversation ended")
    finally:
        await webhook.stop()
