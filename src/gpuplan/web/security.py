"""Request guards of the web app (one ASGI middleware, no dependencies).

- **Body size**: a request body larger than ``max_body_bytes`` is answered 413 before the app
  sees it (``Content-Length`` is checked first, then the streamed bytes are counted).
- **Host**: only the loopback names (and the host the server was bound to) are accepted in the
  ``Host`` header, which defeats DNS-rebinding attacks on a loopback server; ``"*"`` turns the
  check off (a server bound to all interfaces).
- **Cross-site writes**: a POST/PUT/PATCH/DELETE whose ``Origin`` is not this server's own
  (scheme-less host:port equal to ``Host``), or that a browser marks ``Sec-Fetch-Site:
  cross-site``, is answered 403 (no CSRF from other pages, other local ports included).
- **Response headers**: a Content-Security-Policy that allows scripts and connections from this
  server only (pages carry no inline scripts; plotly.js is served from ``/static``),
  ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY``, ``Referrer-Policy:
  no-referrer``. A response that sets its own CSP keeps it.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

#: ASGI types (as in the ASGI spec; starlette names them the same).
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Largest request body accepted [bytes].
MAX_BODY_BYTES = 2**20
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Default policy of every page: nothing is loaded from anywhere but this server.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
#: Policy of the self-contained report (its plotly.js and renderer are inline).
CSP_SELF_CONTAINED = ("default-src 'none'; script-src 'unsafe-inline'; "
                      "style-src 'unsafe-inline'; img-src data: blob:; font-src data:; "
                      "base-uri 'none'; frame-ancestors 'none'; form-action 'none'")
SECURITY_HEADERS = ((b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"no-referrer"))


def host_only(value: str) -> str:
    """``example.org:8000`` -> ``example.org``; ``[::1]:8000`` -> ``::1``; lower case."""
    v = value.strip().lower()
    if v.startswith("["):
        return v[1:v.find("]")] if "]" in v else v
    if v.count(":") == 1:
        return v.split(":", 1)[0]
    return v


class GuardMiddleware:
    """The guards above, as one pure ASGI middleware."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int = MAX_BODY_BYTES,
                 allowed_hosts: Iterable[str] = LOOPBACK_HOSTS) -> None:
        self.app = app
        self.max_body_bytes = int(max_body_bytes)
        hosts = {host_only(h) for h in allowed_hosts}
        self.any_host = "*" in hosts
        self.allowed_hosts = hosts

    async def _reply(self, send: Send, status: int, detail: str) -> None:
        body = json.dumps({"detail": detail}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()),
                                *SECURITY_HEADERS]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        if not self.any_host:
            host = host_only(headers.get("host", ""))
            if host not in self.allowed_hosts:
                await self._reply(send, 400, f"host {host!r} is not served here")
                return
        method = scope.get("method", "GET").upper()
        if method not in SAFE_METHODS:
            origin = headers.get("origin")
            same_origin = (origin is not None and
                           urlsplit(origin).netloc.lower() == headers.get("host", "").lower())
            if (origin is not None and not same_origin) or (
                    origin is None and headers.get("sec-fetch-site") == "cross-site"):
                await self._reply(send, 403, "cross-site request refused")
                return
        limit = self.max_body_bytes
        too_big = f"request body larger than {limit:,} bytes"
        length = headers.get("content-length")
        if length is not None:
            try:
                if int(length) > limit:
                    await self._reply(send, 413, too_big)
                    return
            except ValueError:
                await self._reply(send, 400, "bad Content-Length")
                return
        body = b""
        if method not in SAFE_METHODS or length is not None:
            more = True
            while more:
                msg = await receive()
                if msg["type"] == "http.disconnect":
                    return
                body += msg.get("body", b"")
                more = msg.get("more_body", False)
                if len(body) > limit:
                    await self._reply(send, 413, too_big)
                    return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        async def send_with_headers(msg: Message) -> None:
            if msg["type"] == "http.response.start":
                hs = list(msg.get("headers", []))
                names = {k.lower() for k, _ in hs}
                hs += [h for h in SECURITY_HEADERS if h[0] not in names]
                if b"content-security-policy" not in names:
                    hs.append((b"content-security-policy", CSP.encode()))
                msg = dict(msg, headers=hs)
            await send(msg)

        await self.app(scope, replay, send_with_headers)
