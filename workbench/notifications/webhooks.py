"""Signed webhooks: the event a finished report sends, its Standard Webhooks signature, and a delivery that
cannot be turned against the network it runs in.

* **Events** carry ids, status and links, never report data (whoever follows a link is checked there).
* **Signatures** follow the Standard Webhooks spec through its library: `webhook-id` (stable per event, so a
  receiver drops retries it has seen), `webhook-timestamp`, `webhook-signature` (`v1,<base64 HMAC-SHA256>` of
  `id.timestamp.body` with the endpoint's `whsec_` secret).
* **Server-side request forgery**: only http(s); the host is resolved and every address must be public (no
  private, loopback, link-local, multicast, reserved or cloud-metadata address) unless it is on the explicit
  `allowed` list (local development, tests). The request then goes to the checked address itself (the Host header
  and TLS server name keep the URL's host), so a DNS answer that changes between check and connect (DNS rebinding)
  is never used. No redirects are followed, the time is bounded and at most `max_bytes` of the answer are read.
"""

from __future__ import annotations

import base64
import ipaddress
import secrets
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from standardwebhooks import Webhook

EVENT_TYPES = ("report.completed", "report.partial", "report.failed", "report.cancelled")
SECRET_PREFIX = "whsec_"


class UnsafeURL(ValueError):
    """A webhook URL the server must not call (scheme, or an address inside the network)."""


def new_secret() -> str:
    """A fresh endpoint secret, `whsec_` + base64 of 32 random bytes (the Standard Webhooks form)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def event_type(status: str) -> str:
    return f"report.{status}"


def report_event(*, event_id: str, status: str, report_id: str, survey_id: str | None, organization_id: str,
                 failed_components: list[str], links: dict[str, str], at: datetime | None = None) -> dict[str, Any]:
    """The JSON body of a report event: what happened and where to look, no survey data."""
    return {
        "id": event_id,
        "type": event_type(status),
        "timestamp": (at or datetime.now(UTC)).isoformat(),
        "data": {"report_id": report_id, "survey_id": survey_id, "organization_id": organization_id,
                 "status": status, "failed_components": failed_components, "links": links},
    }


def sign(secret: str, event_id: str, body: str, at: datetime | None = None) -> dict[str, str]:
    """The Standard Webhooks headers for `body`."""
    when = at or datetime.now(UTC)
    return {"webhook-id": event_id, "webhook-timestamp": str(int(when.timestamp())),
            "webhook-signature": Webhook(secret).sign(event_id, when, body)}


def _allowed(host: str, port: int, addresses: list[str], allowed: list[str]) -> bool:
    for entry in allowed:
        if entry in (host, f"{host}:{port}"):
            return True
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            continue
        if addresses and all(ipaddress.ip_address(a) in network for a in addresses):
            return True
    return False


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast and str(ip) != "169.254.169.254"


def resolve(url: str, allowed: list[str] | None = None) -> tuple[str, int, str]:
    """Check `url` and pick the address to connect to: (scheme, port, address).

    Raises:
        UnsafeURL: Not http(s), no host, a host that does not resolve, or an address that is not public (and not
            on the `allowed` list: hosts, `host:port` or networks such as `127.0.0.0/8`).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UnsafeURL(f"webhook URLs must be http or https, not {parts.scheme or 'without a scheme'}")
    host = parts.hostname
    if not host:
        raise UnsafeURL("the webhook URL has no host")
    if parts.username or parts.password:
        raise UnsafeURL("the webhook URL must not carry credentials")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UnsafeURL(f"the webhook host {host!r} does not resolve: {exc.strerror}") from None
    addresses = sorted({str(info[4][0]) for info in infos})
    if _allowed(host, port, addresses, allowed or []):
        return parts.scheme, port, addresses[0]
    private = [a for a in addresses if not _public(a)]
    if private:
        raise UnsafeURL(f"the webhook host {host!r} resolves to an address inside the network ({private[0]}); "
                        "only public addresses are called (WORKBENCH_WEBHOOK_ALLOWED_HOSTS lists exceptions)")
    return parts.scheme, port, addresses[0]


@dataclass(frozen=True)
class Attempt:
    """One delivery attempt: the answer's status (None: no answer), how long it took, what went wrong."""

    status_code: int | None
    latency_ms: int
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def send(url: str, secret: str, event_id: str, body: str, *, allowed: list[str] | None = None,
         timeout: float = 10.0, max_bytes: int = 64 * 1024) -> Attempt:
    """POST the signed `body` to `url` once, through the checked address; never raises for network trouble."""
    started = time.monotonic()

    def done(status: int | None, error: str | None) -> Attempt:
        return Attempt(status, int((time.monotonic() - started) * 1000), error)

    try:
        scheme, port, address = resolve(url, allowed)
    except UnsafeURL as exc:
        return done(None, str(exc))
    parts = urlsplit(url)
    host = parts.hostname or ""
    literal = f"[{address}]" if ":" in address else address
    pinned = urlunsplit((scheme, f"{literal}:{port}", parts.path or "/", parts.query, ""))
    headers = {"content-type": "application/json", "user-agent": "workbench-webhooks",
               "host": parts.netloc.rpartition("@")[2], **sign(secret, event_id, body)}
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client, \
                client.stream("POST", pinned, content=body.encode(), headers=headers,
                              extensions={"sni_hostname": host}) as response:
            read = 0
            for chunk in response.iter_bytes():
                read += len(chunk)
                if read > max_bytes:
                    break  # the answer's body is not needed; a huge one is not read
            error = None if 200 <= response.status_code < 300 else f"answered {response.status_code}"
            if 300 <= response.status_code < 400:
                error = f"answered {response.status_code} (redirects are not followed)"
            return done(response.status_code, error)
    except httpx.TimeoutException:
        return done(None, f"no answer within {timeout:g} s")
    except httpx.HTTPError as exc:
        return done(None, f"{type(exc).__name__}: {exc}")
