"""Slack: a safe Block Kit payload, and a webhook client tested against a loopback server."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import httpx
import pytest
from alerting_support import INJECTION, record, save_documents, settings, shift
from pydantic import SecretStr

from shiftwatch.connectors.slack import SlackWebhook, retry_after_s
from shiftwatch.errors import PermanentDeliveryError, TransientDeliveryError
from shiftwatch.pipeline.deliver import run_delivery
from shiftwatch.render.alerts import digest_slack_payload, slack_alert_payload, slack_link
from shiftwatch.settings import SlackSettings
from shiftwatch.views import DigestData, EvidenceView, ShiftView

SECRET_PATH = "/services/T0SECRET/B0SECRET/xoxSECRETTOKEN"
AT = datetime(2022, 1, 11, tzinfo=UTC)


def _evidence(quote: str, **kw) -> EvidenceView:
    values = {
        "quote": quote,
        "speaker": "Sergei Ryabkov",
        "source_title": "TASS",
        "url": "https://tass.example/1",
        "published_at": AT,
        "machine_translated": False,
    }
    values.update(kw)
    return EvidenceView(**values)


def _view(quote: str = INJECTION, **kw) -> ShiftView:
    return ShiftView(
        party="Russia",
        demand="Arms-control talks",
        from_stance="opposes",
        to_stance="open",
        at=AT,
        retroactive=False,
        before=(_evidence("No talks."),),
        after=(_evidence(quote, **kw),),
    )


def _texts(payload: dict) -> list[str]:
    """Return every text Slack would parse in the payload."""
    out = [payload["text"]]
    for block in payload["blocks"]:
        for obj in [block.get("text"), *block.get("fields", []), *block.get("elements", [])]:
            if obj:
                out.append(obj["text"])
    return out


def _hook(url: str, min_interval_s: float = 0.0) -> SlackSettings:
    return SlackSettings(webhook_url=SecretStr(url), min_interval_s=min_interval_s, timeout_s=5)


# --- the payload ------------------------------------------------------------------------------


def test_news_text_cannot_mention_or_link_anything():
    payload = slack_alert_payload(
        _view(speaker="<!here|here> <@U999>", source_title="<https://evil.example|TASS>"),
        "shift-1:slack",
    )
    body = json.dumps(payload)
    for raw in (
        "<!channel>",
        "<!here",
        "<!everyone>",
        "<@U123ABC>",
        "<@U999>",
        "<https://evil.example|",
    ):
        assert raw not in body
    quote = next(t for t in _texts(payload) if "evil" in t and "click" in t)
    assert "&lt;!channel&gt; @here &lt;https://evil.example|click&gt; &amp;" in quote
    assert "link_names" not in body and "parse" not in payload
    assert payload["unfurl_links"] is False and payload["unfurl_media"] is False
    mrkdwn = [
        o
        for b in payload["blocks"]
        for o in [b.get("text"), *b.get("fields", []), *b.get("elements", [])]
        if o and o["type"] == "mrkdwn"
    ]
    assert mrkdwn and all(o["verbatim"] is True for o in mrkdwn)


def test_links_are_http_only_and_cannot_be_closed_early():
    assert slack_link("javascript:alert(1)", "x") == "x"
    assert slack_link("file:///etc/passwd", "x") == "x"
    link = slack_link("https://a.example/p?q=1&r=2|<!channel>", "T|itle <b>")
    assert link.startswith("<https://a.example/p?q=1&amp;r=2%7C%3C!channel%3E|")
    assert link.count("<") == 1 and link.count(">") == 1


def test_the_alert_names_party_demand_change_and_quotes_with_sources():
    payload = slack_alert_payload(_view("Russia is ready to discuss arms control."), "k:slack")
    text = "\n".join(_texts(payload))
    assert payload["blocks"][0]["type"] == "header"
    assert "Russia shifted on Arms-control talks: opposes → open" in payload["text"]
    for expected in (
        "*Party*\nRussia",
        "*Demand*\nArms-control talks",
        "~opposes~",
        "*open*",
        "2022-01-11",
        "<https://tass.example/1|TASS>",
        ">Russia is ready to discuss arms control.",
    ):
        assert expected in text
    assert ":warning:" not in text


def test_machine_translated_evidence_is_flagged():
    payload = slack_alert_payload(_view("Россия готова", machine_translated=True), "k")
    text = "\n".join(_texts(payload))
    assert "machine-translated" in text and ":warning:" in text


def test_the_digest_payload_fits_block_kit_limits_and_is_escaped():
    shifts = tuple(_view(INJECTION + " " + "long quote " * 60) for _ in range(40))
    data = DigestData(watchlist="w", generated_at=AT, since=None, documents=(), shifts=shifts)
    payload = digest_slack_payload(data)
    assert len(payload["blocks"]) <= 50
    assert all(len(t) <= 3000 for t in _texts(payload))
    assert "<!channel>" not in json.dumps(payload)


# --- the webhook client against a loopback server ---------------------------------------------


def test_200_is_accepted(httpserver):
    httpserver.expect_request(SECRET_PATH, method="POST").respond_with_data("ok")
    with SlackWebhook(_hook(httpserver.url_for(SECRET_PATH))) as client:
        assert client.post(b'{"text": "hi"}') == "200 ok"
    request, _ = httpserver.log[0]
    assert request.headers["Content-Type"].startswith("application/json")


def test_429_waits_retry_after_then_sends(httpserver):
    httpserver.expect_ordered_request(SECRET_PATH).respond_with_data(
        "rate_limited", status=429, headers={"Retry-After": "1"}
    )
    httpserver.expect_ordered_request(SECRET_PATH).respond_with_data("ok")
    waits: list[float] = []
    with SlackWebhook(_hook(httpserver.url_for(SECRET_PATH)), sleep=waits.append) as client:
        assert client.post(b"{}") == "200 ok"
    assert waits == [1.0]
    assert len(httpserver.log) == 2


def test_429_asking_too_long_is_handed_back_as_transient(httpserver):
    httpserver.expect_request(SECRET_PATH).respond_with_data(
        "rate_limited", status=429, headers={"Retry-After": "120"}
    )
    client = SlackWebhook(_hook(httpserver.url_for(SECRET_PATH)), sleep=pytest.fail)
    with client, pytest.raises(TransientDeliveryError) as caught:
        client.post(b"{}")
    assert caught.value.retry_after == 120


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (500, "rollup_error", TransientDeliveryError),
        (503, "", TransientDeliveryError),
        (400, "invalid_payload", PermanentDeliveryError),
        (403, "action_prohibited", PermanentDeliveryError),
        (404, "channel_not_found", PermanentDeliveryError),
        (410, "channel_is_archived", PermanentDeliveryError),
    ],
)
def test_status_codes_are_classified(httpserver, status, body, error):
    httpserver.expect_request(SECRET_PATH).respond_with_data(body, status=status)
    client = SlackWebhook(_hook(httpserver.url_for(SECRET_PATH)))
    with client, pytest.raises(error) as caught:
        client.post(b"{}")
    assert str(status) in str(caught.value)
    assert "SECRET" not in str(caught.value)


def test_posts_are_paced():
    now = [100.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    transport = httpx.MockTransport(lambda request: httpx.Response(200, text="ok"))
    with SlackWebhook(
        _hook("https://hooks.example/x", 1.0),
        transport=transport,
        sleep=sleep,
        clock=lambda: now[0],
    ) as client:
        for _ in range(3):
            client.post(b"{}")
            now[0] += 0.25  # building the next message takes a quarter second
    assert waits == [0.75, 0.75]


def test_the_webhook_url_never_shows(httpserver, caplog):
    url = httpserver.url_for(SECRET_PATH)
    httpserver.expect_request(SECRET_PATH).respond_with_data(f"error at {url}", status=500)
    caplog.set_level(logging.DEBUG)
    client = SlackWebhook(_hook(url))
    with pytest.raises(TransientDeliveryError) as caught:
        client.post(b"{}")
    client.close()

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot reach {request.url}")

    down = SlackWebhook(_hook(url), transport=httpx.MockTransport(refuse))
    with down, pytest.raises(TransientDeliveryError) as unreachable:
        down.post(b"{}")
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name != "werkzeug")
    assert "HTTP Request: POST ***" in ours  # httpx's line, redacted
    for text in (str(caught.value), str(unreachable.value), repr(client), ours):
        assert "SECRET" not in text
    assert unreachable.value.__suppress_context__  # the httpx error (with its URL) is dropped


def test_timeouts_are_transient():
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with (
        SlackWebhook(
            _hook("https://hooks.example/x"), transport=httpx.MockTransport(slow)
        ) as client,
        pytest.raises(TransientDeliveryError, match="timed out"),
    ):
        client.post(b"{}")


def test_retry_after_accepts_seconds_and_dates():
    assert retry_after_s("3") == 3.0
    assert retry_after_s(None) == 1.0
    assert retry_after_s("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    assert retry_after_s("soon") == 1.0


# --- through the outbox ------------------------------------------------------------------------


def test_an_injected_quote_arrives_escaped_through_the_outbox(
    engine, database_url, httpserver, watchlist, tmp_path
):
    save_documents(engine, title_day2="<!everyone> breaking")
    record(engine, [shift(after=INJECTION)], ["slack"])
    httpserver.expect_request(SECRET_PATH).respond_with_data("ok")
    cfg = settings(database_url, tmp_path, slack_webhook_url=httpserver.url_for(SECRET_PATH))
    assert run_delivery(engine, cfg, watchlist, owner="t").sent == 1
    body = httpserver.log[0][0].get_data(as_text=True)
    payload = json.loads(body)
    assert "<!channel>" not in body and "<!everyone>" not in body and "<@U123ABC>" not in body
    assert "<https://evil.example|click>" not in body
    assert any("&lt;!channel&gt; @here" in t for t in _texts(payload))
    assert "Sergei Ryabkov" in "\n".join(_texts(payload))  # ids resolved to watchlist names
