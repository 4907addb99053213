"""Shared set-up for driving the Graph emulator with Microsoft's and others' own clients.

The Rust test tests/third_party_clients.rs starts the emulators in-process and runs this suite
with their addresses and the demo app's registration in environment variables:

- EMULATOR_URL: the emulator (``http://127.0.0.1:PORT``), seeded with MAILBOX.
- EMULATOR_THROTTLED_URL: a second one with throttling on (one request in flight per app
  and mailbox, Retry-After 2 s) and 1.5 s of latency on listings.
- CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, TENANT_ID, USER_PRINCIPAL_NAME, MAILBOX (its
  Inbox holds INBOX_COUNT messages, which no test moves), MOVE_MAILBOX (for the moves).
- EWS_ACCOUNT and EWS_PASSWORD (an EWS account, Basic sign-in, with a mailbox of its own),
  EWS_QUEUE and EWS_STORAGE (public folder paths; the queue holds EWS_QUEUE_COUNT messages,
  of which the ones at EWS_PRIVATE and EWS_CONFIDENTIAL are private and confidential).

Libraries whose authority must be https (MSAL, azure-identity, exchangelib's OAuth) reach the
emulator through their own supported transport hooks: a requests transport adapter that sends
``https://login.microsoftonline.com/...``, ``https://graph.microsoft.com/...`` and
``https://outlook.office365.com/...`` to the emulator and keeps the Microsoft host name in the
Host header, as a routing proxy would (exchangelib takes it as ``BaseProtocol.HTTP_ADAPTER_CLS``,
its documented hook for custom adapters). No library is patched.
"""

import os
import urllib.parse

import pytest
import requests
import requests.adapters

MICROSOFT_HOSTS = ("login.microsoftonline.com", "graph.microsoft.com", "outlook.office365.com")


def env(name):
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run this suite through `cargo test -p graph-emulator "
                    f"--test third_party_clients`")
    return value


class RouteToEmulator(requests.adapters.HTTPAdapter):
    """Sends https requests for Microsoft's hosts to the emulator, path and query unchanged,
    with the public host name kept in the Host header."""

    def __init__(self, target, **kwargs):
        super().__init__(**kwargs)
        self.target = urllib.parse.urlsplit(target)
        self.sent = []

    def send(self, request, **kwargs):
        url = urllib.parse.urlsplit(request.url)
        if url.scheme != "https" or url.hostname not in MICROSOFT_HOSTS:
            raise AssertionError(f"a request would have left the machine: {request.url}")
        request.url = urllib.parse.urlunsplit(
            (self.target.scheme, self.target.netloc, url.path, url.query, url.fragment))
        request.headers["Host"] = url.netloc
        self.sent.append((request.method, url.netloc, url.path))
        return super().send(request, **kwargs)


def routed_session(target):
    """A requests Session on which the public Microsoft URLs reach the emulator at `target`,
    and nothing else is reachable at all."""
    session = requests.Session()
    adapter = RouteToEmulator(target)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.route = adapter
    return session


def redirect_location(session, url):
    """Opens an authorize URL as a browser would and returns where it redirects to, without
    following it (the emulator consents at once)."""
    r = session.get(url, allow_redirects=False)
    assert r.status_code == 302, (r.status_code, r.text[:500])
    return r.headers["Location"]


def query_of(location):
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))


@pytest.fixture(scope="session")
def emulator_url():
    return env("EMULATOR_URL").rstrip("/")


@pytest.fixture(scope="session")
def throttled_url():
    return env("EMULATOR_THROTTLED_URL").rstrip("/")


@pytest.fixture(scope="session")
def app():
    return {
        "client_id": env("CLIENT_ID"),
        "client_secret": env("CLIENT_SECRET"),
        "redirect_uri": env("REDIRECT_URI"),
        "tenant_id": env("TENANT_ID"),
        "user": env("USER_PRINCIPAL_NAME"),
        "mailbox": env("MAILBOX"),
        "move_mailbox": env("MOVE_MAILBOX"),
        "inbox_count": int(env("INBOX_COUNT")),
    }


@pytest.fixture(scope="session")
def ews():
    return {
        "account": env("EWS_ACCOUNT"),
        "password": env("EWS_PASSWORD"),
        "queue": env("EWS_QUEUE"),
        "storage": env("EWS_STORAGE"),
        "queue_count": int(env("EWS_QUEUE_COUNT")),
        "private": int(env("EWS_PRIVATE")),
        "confidential": int(env("EWS_CONFIDENTIAL")),
    }


@pytest.fixture
def session(emulator_url):
    s = routed_session(emulator_url)
    yield s
    s.close()
