"""The front door: which Host headers the API answers, which origins may call it from a browser, and the
security headers every response carries."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from workbench.config import Settings

# JSON answers load nothing and may not be framed; pages set their own policy (it wins), and the interactive API
# docs load FastAPI's Swagger/ReDoc assets, so they keep theirs.
DEFAULT_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
OWN_POLICY_PATHS = ("/docs", "/redoc")
HEADERS = {
    b"x-content-type-options": b"nosniff",
    b"referrer-policy": b"no-referrer",
    b"x-frame-options": b"DENY",
    b"cross-origin-opener-policy": b"same-origin",
    b"cross-origin-resource-policy": b"same-origin",
    b"permissions-policy": b"camera=(), microphone=(), geolocation=(), payment=()",
}


class SecurityHeaders:
    """Adds `HEADERS` (and `DEFAULT_CSP` where the response set no policy) to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        own_policy = str(scope.get("path", "")).startswith(OWN_POLICY_PATHS)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[Any] = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(k, v) for k, v in HEADERS.items() if k not in present]
                if not own_policy and b"content-security-policy" not in present:
                    headers.append((b"content-security-policy", DEFAULT_CSP.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def trusted_hosts(settings: Settings) -> list[str]:
    hosts = list(settings.trusted_hosts)
    if settings.public_base_url:
        host = urlsplit(settings.public_base_url).hostname
        if host and host not in hosts:
            hosts.append(host)
    if settings.api_host not in ("0.0.0.0", "::") and settings.api_host not in hosts:
        hosts.append(settings.api_host)  # the address it is served on directly
    return hosts


def install_front_door(app: FastAPI, settings: Settings) -> None:
    """Middleware, outermost last: the Host check runs first, then CORS, then the headers on the way out."""
    app.add_middleware(SecurityHeaders)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["authorization", "content-type", "last-event-id"], max_age=600)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=trusted_hosts(settings))
