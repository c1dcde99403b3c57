"""Webhook signing (Standard Webhooks) and delivery that cannot be aimed inside the network (SSRF)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from tests.fakes.webhook_receiver import WebhookReceiver
from workbench.notifications.webhooks import UnsafeURL, new_secret, resolve, send, sign

LOCAL = ["127.0.0.0/8"]


@pytest.mark.parametrize(("url", "message"), [
    ("ftp://example.com/x", "must be http or https"),
    ("http://127.0.0.1:8000/hook", "inside the network (127.0.0.1)"),
    ("http://localhost/hook", "inside the network"),
    ("http://10.1.2.3/hook", "inside the network (10.1.2.3)"),
    ("http://192.168.0.10/hook", "inside the network"),
    ("http://169.254.169.254/latest/meta-data", "inside the network (169.254.169.254)"),
    ("http://[::1]/hook", "inside the network (::1)"),
    ("http://[::ffff:10.0.0.1]/hook", "inside the network"),
    ("http://0.0.0.0/hook", "inside the network"),
    ("http://user:pw@93.184.216.34/hook", "must not carry credentials"),
    ("http://no-such-host.invalid/hook", "does not resolve"),
    ("https:///hook", "has no host"),
])
def test_urls_inside_the_network_are_refused(url: str, message: str) -> None:
    with pytest.raises(UnsafeURL, match=message.replace("(", r"\(").replace(")", r"\)")):
        resolve(url)


def test_public_addresses_and_the_allow_list_pass() -> None:
    assert resolve("https://93.184.216.34/hook") == ("https", 443, "93.184.216.34")
    assert resolve("http://127.0.0.1:9/hook", LOCAL) == ("http", 9, "127.0.0.1")
    assert resolve("http://localhost:9/hook", ["localhost:9"])[2] in ("127.0.0.1", "::1")


def test_signatures_verify_with_the_library_and_fail_when_tampered() -> None:
    secret = new_secret()
    body = json.dumps({"type": "report.completed", "data": {"report_id": "r1"}})
    headers = sign(secret, "evt_1", body)
    assert Webhook(secret).verify(body, headers)["data"]["report_id"] == "r1"
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace("r1", "r2"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)
    stale = sign(secret, "evt_1", body, at=datetime.now(UTC) - timedelta(minutes=6))
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(secret).verify(body, stale)


def test_send_signs_pins_the_checked_address_and_never_follows_redirects() -> None:
    secret = new_secret()
    with WebhookReceiver() as hooks:
        ok = send(hooks.url, secret, "evt_2", '{"a":1}', allowed=LOCAL)
        assert ok.ok and ok.status_code == 200 and ok.error is None
        [got] = hooks.received
        assert got.path == "/hooks/report" and got.headers["host"] == hooks.url.split("/")[2]
        assert Webhook(secret).verify(got.body, got.headers) == {"a": 1}

        hooks.script(("redirect", "http://169.254.169.254/latest"))
        moved = send(hooks.url, secret, "evt_3", "{}", allowed=LOCAL)
        assert not moved.ok and "redirects are not followed" in (moved.error or "")
        assert len(hooks.received) == 2  # the redirect target was never asked

        hooks.script(500)
        failed = send(hooks.url, secret, "evt_4", "{}", allowed=LOCAL)
        assert (failed.status_code, failed.error) == (500, "answered 500")

        hooks.script(("slow", 2))
        slow = send(hooks.url, secret, "evt_5", "{}", allowed=LOCAL, timeout=0.5)
        assert slow.status_code is None and "no answer within 0.5 s" in (slow.error or "")

        hooks.script(("big", 5_000_000))
        big = send(hooks.url, secret, "evt_6", "{}", allowed=LOCAL, max_bytes=1024)
        assert big.ok  # answered 200; at most a chunk past 1 KiB was read, not 5 MB

        # without the allow-list the same loopback receiver is refused before any request
        before = len(hooks.received)
        refused = send(hooks.url, secret, "evt_7", "{}")
        assert refused.status_code is None and "inside the network" in (refused.error or "")
        assert len(hooks.received) == before
