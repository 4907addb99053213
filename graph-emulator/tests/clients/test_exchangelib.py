"""exchangelib, unchanged, against the emulator's EWS endpoint: Basic sign-in as on-premises
Exchange, public folders walked by name, the queue read oldest first with only the fields the
job needs, bulk moves and deletes, sensitivity, throttling, and OAuth2 client credentials with
impersonation as Exchange Online does it."""

import threading
import time

import pytest
from exchangelib import (
    BASIC,
    DELEGATE,
    IMPERSONATION,
    OAUTH2,
    Account,
    BaseProtocol,
    Configuration,
    Credentials,
    FailFast,
    FaultTolerance,
    Identity,
    OAuth2Credentials,
    Version,
)
from exchangelib.errors import ErrorItemNotFound, ErrorServerBusy, UnauthorizedError
from exchangelib.protocol import close_connections
from exchangelib.version import EXCHANGE_2016

from conftest import RouteToEmulator

FIELDS = (
    "subject",
    "message_id",
    "sender",
    "author",
    "to_recipients",
    "datetime_received",
    "datetime_sent",
    "sensitivity",
    "web_client_read_form_query_string",
    "is_draft",
    "is_read",
)


def basic_account(url, ews, password=None, retry_policy=None, max_connections=None):
    config = Configuration(
        service_endpoint=f"{url}/EWS/Exchange.asmx",
        credentials=Credentials(username=ews["account"], password=password or ews["password"]),
        auth_type=BASIC,
        version=Version(build=EXCHANGE_2016),
        retry_policy=retry_policy or FailFast(),
        max_connections=max_connections,
    )
    return Account(
        primary_smtp_address=ews["account"], config=config, autodiscover=False, access_type=DELEGATE
    )


def walk(account, path):
    folder = account.public_folders_root
    for level in path.split("/"):
        folder = folder / level
    return folder


@pytest.fixture(autouse=True)
def fresh_connections():
    # exchangelib caches protocols (and their sessions) per endpoint and credentials.
    yield
    close_connections()


@pytest.fixture
def account(emulator_url, ews):
    return basic_account(emulator_url, ews)


def test_wrong_password_is_refused(emulator_url, ews):
    account = basic_account(emulator_url, ews, password="not the password")
    with pytest.raises(UnauthorizedError):
        account.public_folders_root.refresh()


def test_public_folders_are_walked_by_name(account, ews):
    root = account.public_folders_root
    assert [f.name for f in root.children] == ["Email Logging"]
    queue = walk(account, ews["queue"])
    assert queue.name == "Queue"
    assert queue.total_count == ews["queue_count"]
    # Folder names compare case-insensitively, as on the server.
    same = walk(account, ews["queue"].upper())
    assert same.id == queue.id
    assert {f.name for f in (root / "Email Logging").children} == {"Queue", "Storage"}


def test_the_queue_reads_oldest_first_with_the_fields_asked_for(account, ews):
    queue = walk(account, ews["queue"])
    items = list(queue.all().order_by("datetime_received").only(*FIELDS)[:5])
    assert len(items) == 5
    received = [i.datetime_received for i in items]
    assert received == sorted(received)
    # Seeded newest first: the oldest is the last one of the seed.
    last = ews["queue_count"] - 1
    assert items[0].message_id == f"<queue{last}@test.example>"
    first = items[0]
    assert first.sender.email_address == "a@b.example"
    assert first.author.email_address == "a@b.example"
    assert [r.email_address for r in first.to_recipients] == ["c@d.example"]
    assert first.is_draft is False
    assert first.is_read is False
    assert "/owa/?ItemID=" in first.web_client_read_form_query_string

    everything = list(queue.all().order_by("-datetime_received").only("message_id", "sensitivity"))
    assert len(everything) == ews["queue_count"]
    by_id = {i.message_id: i.sensitivity for i in everything}
    assert by_id[f"<queue{ews['private']}@test.example>"] == "Private"
    assert by_id[f"<queue{ews['confidential']}@test.example>"] == "Confidential"
    assert by_id["<queue0@test.example>"] == "Normal"
    assert everything[0].message_id == "<queue0@test.example>"

    # Small pages: exchangelib follows IndexedPagingOffset until IncludesLastItemInRange.
    paged = queue.all().order_by("datetime_received").only("message_id")
    paged.page_size = 5
    assert [i.message_id for i in paged] == [i.message_id for i in reversed(everything)]


def test_bulk_move_into_a_public_folder_and_bulk_delete(account, ews):
    queue = walk(account, ews["queue"])
    storage = walk(account, ews["storage"])
    oldest = list(queue.all().order_by("datetime_received").only("message_id")[:3])
    ids = [(i.id, i.changekey) for i in oldest]
    # Into a public folder, Exchange may return no new ids; exchangelib documents an empty list.
    assert account.bulk_move(ids=ids, to_folder=storage) == []
    queue.refresh()
    storage.refresh()
    assert queue.total_count == ews["queue_count"] - 3
    assert storage.total_count == 3
    # The old ids are gone with the move: one error per id, the call itself succeeds.
    again = account.bulk_move(ids=ids[:1], to_folder=storage)
    assert len(again) == 1 and isinstance(again[0], ErrorItemNotFound)
    stored = list(storage.all().only("message_id"))
    assert sorted(i.message_id for i in stored) == sorted(i.message_id for i in oldest)
    assert account.bulk_delete(ids=stored) == [True, True, True]
    storage.refresh()
    assert storage.total_count == 0


def test_items_are_fetched_by_id_in_request_order(account, ews):
    queue = walk(account, ews["queue"])
    ids = [(i.id, i.changekey) for i in queue.all().order_by("datetime_received").only("subject")[:4]]
    ids.reverse()
    fetched = list(account.fetch(ids=ids, only_fields=["message_id", "to_recipients", "sender"]))
    assert [f.id for f in fetched] == [i for i, _ in ids]
    assert all(f.to_recipients for f in fetched)


def test_the_own_mailbox_over_delegate_access(account):
    assert account.inbox.total_count == 4
    messages = list(account.inbox.all().order_by("datetime_received").only("subject"))
    assert [m.subject for m in messages] == [f"Message {i:02}" for i in range(4)]


def test_throttling_is_server_busy_with_a_back_off(throttled_url, ews):
    # One request in flight per account and mailbox, and listings take 1.5 s: two FindItems at
    # once over two connections, so one of them is throttled.
    errors = []
    queue = walk(basic_account(throttled_url, ews, max_connections=2), ews["queue"])

    def find():
        try:
            list(queue.all().only("subject")[:1])
        except ErrorServerBusy as e:
            errors.append(e)

    threads = [threading.Thread(target=find) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(errors) == 1, errors
    assert errors[0].back_off == 2.0
    # With a patient retry policy, exchangelib waits out the back-off and succeeds.
    close_connections()
    patient = basic_account(
        throttled_url, ews, retry_policy=FaultTolerance(max_wait=30), max_connections=2
    )
    queue = walk(patient, ews["queue"])
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(len(list(queue.all().only("subject")[:2]))))
        for _ in range(2)
    ]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [2, 2]
    # Side by side they would take 1.5 s; the throttled one waited 2 s before its own 1.5 s.
    assert time.monotonic() - started >= 3.4


def test_oauth2_client_credentials_with_impersonation(emulator_url, app, ews, monkeypatch):
    # Exchange Online's public URLs, routed to the emulator by the transport adapter.
    class Adapter(RouteToEmulator):
        def __init__(self, **kwargs):
            super().__init__(emulator_url, **kwargs)

    monkeypatch.setattr(BaseProtocol, "HTTP_ADAPTER_CLS", Adapter)
    credentials = OAuth2Credentials(
        client_id=app["client_id"],
        client_secret=app["client_secret"],
        tenant_id=app["tenant_id"],
        identity=Identity(primary_smtp_address=ews["account"]),
    )
    config = Configuration(
        service_endpoint="https://outlook.office365.com/EWS/Exchange.asmx",
        credentials=credentials,
        auth_type=OAUTH2,
        version=Version(build=EXCHANGE_2016),
        retry_policy=FailFast(),
    )
    account = Account(
        primary_smtp_address=ews["account"],
        config=config,
        autodiscover=False,
        access_type=IMPERSONATION,
    )
    assert account.inbox.total_count == 4
    queue = walk(account, ews["queue"])
    assert queue.total_count >= 1
    assert credentials.access_token["scope"] == ["https://outlook.office365.com/.default"]


def test_the_mailbox_tree_and_moves_within_it(account):
    from exchangelib import Folder

    assert account.root.tois.name == "Top of Information Store"
    assert account.inbox.parent.name == "Top of Information Store"
    processed = Folder(parent=account.inbox, name="Processed")
    processed.save()
    assert (account.inbox / "processed").id == processed.id
    first = list(account.inbox.all().order_by("datetime_received").only("subject")[:1])
    moved = account.bulk_move(ids=[(first[0].id, first[0].changekey)], to_folder=processed)
    # Within the mailbox the move returns the item's new id.
    assert len(moved) == 1 and moved[0][0] != first[0].id
    assert [m.subject for m in processed.all().only("subject")] == [first[0].subject]
    # And back, so the other tests still find four messages in the Inbox.
    account.bulk_move(ids=moved, to_folder=account.inbox)
    assert account.inbox.total_count == 4
