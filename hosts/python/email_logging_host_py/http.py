"""`erp:host/http`: outbound HTTP for the component, as one whole-body call.

What the WIT asks and this module does:

* an allow-list of hosts, `https` only: Microsoft Graph, Entra ID sign-in and
  Outlook on the web, plus the company's Exchange server for EWS when one is
  configured; anything else is `denied`;
* a timeout (the request's own, capped at 120 s) and a response size cap
  (16 MiB, over it: `invalid`);
* a non-2xx answer is a `response`, not an error; timeouts, refused and reset
  connections and cut-off bodies are `unavailable`;
* a request marked `sensitive` (token calls) is never logged beyond its
  method and host; no header or body is ever logged;
* with an emulator base URL, every allowed request goes there with the same
  path and query and the original `Host` header, so the emulator writes the
  real Microsoft links and the component only ever sees real URLs.

Redirects are not followed: the component sees the 3xx itself.
"""

from __future__ import annotations

import http.client
import logging
import socket
import ssl
import time
from dataclasses import dataclass, field
from typing import Callable, Optional
from urllib.parse import urlsplit

from .wit import HostError, field as f, rec

LOG = logging.getLogger("email_logging_host_py.http")

MICROSOFT_HOSTS = ("graph.microsoft.com", "login.microsoftonline.com", "outlook.office365.com")
MAX_TIMEOUT_S = 120.0
MAX_RESPONSE_BYTES = 16 << 20
METHODS = ("GET", "POST", "PATCH", "DELETE", "PUT")

#: A test hook run before each request with (method, url, headers): it may
#: change the headers (a dict) in place; raising from it makes the host call
#: trap, as a host crash would.
RequestHook = Callable[[str, str, dict[str, str]], None]


@dataclass
class HttpPolicy:
    """How the host sends the component's requests."""

    route_to: Optional[str] = None
    exchange_host: Optional[str] = None
    max_timeout_s: float = MAX_TIMEOUT_S
    max_response_bytes: int = MAX_RESPONSE_BYTES
    before_request: Optional[RequestHook] = None
    requests_sent: int = field(default=0)

    def target(self, url: str) -> tuple[str, str, int, str]:
        """Checks `url` against the allow-list; answers (scheme, host, port, path?query) to connect to."""
        try:
            parts = urlsplit(url)
            host = (parts.hostname or "").lower()
            port = parts.port
        except ValueError as e:
            raise HostError("invalid", f"not a URL: {e}") from None
        if not parts.scheme or not host:
            raise HostError("invalid", "not an absolute URL")
        allowed = list(MICROSOFT_HOSTS) + ([self.exchange_host.lower()] if self.exchange_host else [])
        if parts.scheme.lower() != "https" or host not in allowed or port not in (None, 443):
            raise HostError(
                "denied",
                f"{parts.scheme}://{host} is not an allowed host (allowed: https to {', '.join(allowed)})",
            )
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if self.route_to is None:
            return "https", host, 443, path
        base = urlsplit(self.route_to)
        return base.scheme, base.hostname or "127.0.0.1", base.port or 80, path

    def send(self, req: object) -> object:
        """`http.send`: one request, the whole response (a WIT `response` record)."""
        method = str(f(req, "method")).upper()
        url = str(f(req, "url"))
        if method not in METHODS:
            raise HostError("invalid", f"'{method}' is not an HTTP method")
        scheme, host, port, path = self.target(url)
        timeout_ms = f(req, "timeout_ms")
        timeout = self.max_timeout_s if timeout_ms is None else min(timeout_ms / 1000.0, self.max_timeout_s)
        timeout = max(timeout, 0.001)
        headers: dict[str, str] = {}
        for k, v in f(req, "headers"):
            if "\n" in k or "\r" in k or "\n" in v or "\r" in v:
                raise HostError("invalid", "a header holds a line break")
            headers[k] = v
        if self.route_to is not None:
            headers = {k: v for k, v in headers.items() if k.lower() != "host"}
            headers["Host"] = urlsplit(url).hostname or ""
        if self.before_request is not None:
            self.before_request(method, url, headers)
        body = f(req, "body")
        sensitive = bool(f(req, "sensitive"))
        deadline = time.monotonic() + timeout
        started = time.monotonic()
        conn: http.client.HTTPConnection
        if scheme == "https":
            conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=ssl.create_default_context())
        else:
            conn = http.client.HTTPConnection(host, port, timeout=timeout)
        self.requests_sent += 1
        try:
            conn.request(method, path, body=bytes(body) if body is not None else None, headers=headers)
            resp = conn.getresponse()
            status = resp.status
            resp_headers = [(k.lower(), v) for k, v in resp.getheaders()]
            chunks: list[bytes] = []
            size = 0
            while True:
                if time.monotonic() > deadline:
                    raise HostError("unavailable", "timed out reading the response")
                chunk = resp.read1(65536) if hasattr(resp, "read1") else resp.read(65536)
                if not chunk:
                    break
                size += len(chunk)
                if size > self.max_response_bytes:
                    raise HostError("invalid", f"the response is larger than {self.max_response_bytes} bytes")
                chunks.append(chunk)
        except HostError:
            raise
        except (socket.timeout, TimeoutError):
            raise HostError("unavailable", "timed out") from None
        except (ConnectionError, http.client.IncompleteRead, http.client.RemoteDisconnected) as e:
            raise HostError("unavailable", f"the connection broke off: {type(e).__name__}") from None
        except (http.client.HTTPException, OSError) as e:
            raise HostError("unavailable", f"the request failed: {type(e).__name__}") from None
        finally:
            conn.close()
        # Method, host and path only: queries and bodies may identify people
        # or hold codes, and a sensitive request shows no path either.
        LOG.debug(
            "request %s %s%s -> %s (%d ms)",
            method,
            urlsplit(url).hostname,
            "<sensitive>" if sensitive else urlsplit(url).path,
            status,
            int((time.monotonic() - started) * 1000),
        )
        return rec(status=status, headers=resp_headers, body=b"".join(chunks))
