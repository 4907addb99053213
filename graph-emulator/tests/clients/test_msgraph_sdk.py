"""msgraph-sdk (Python, Kiota-generated) against the emulator, unchanged: its request adapter's
base URL is the emulator's ``http://127.0.0.1:PORT/v1.0``, its token comes from the emulator
through azure-identity's ClientSecretCredential (routed with azure-core's own transport hook),
and its transport refuses any request that would leave the machine.
"""

import asyncio
import threading
import time
import urllib.parse

import httpx
import pytest
import requests
from azure.core.pipeline.transport import RequestsTransport
from azure.identity import ClientSecretCredential
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_http.middleware.options import RetryHandlerOption
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.users.item.mail_folders.item.messages.messages_request_builder import (
    MessagesRequestBuilder,
)
from msgraph.generated.users.item.messages.item.move.move_post_request_body import (
    MovePostRequestBody,
)
from msgraph.graph_request_adapter import options as graph_options
from msgraph_core import AzureIdentityAuthenticationProvider, GraphClientFactory, PageIterator
from msgraph_core.requests.batch_request_content import BatchRequestContent
from msgraph_core.requests.batch_request_item import BatchRequestItem

from conftest import routed_session

GRAPH_DEFAULT = "https://graph.microsoft.com/.default"


class LocalOnlyTransport(httpx.AsyncBaseTransport):
    """httpx's transport, recording every attempt (retries included) and refusing any host
    but the emulator's."""

    def __init__(self):
        self.inner = httpx.AsyncHTTPTransport()
        self.log = []

    async def handle_async_request(self, request):
        if request.url.host != "127.0.0.1":
            raise AssertionError(f"a request would have left the machine: {request.url}")
        started = time.monotonic()
        response = await self.inner.handle_async_request(request)
        self.log.append({"at": started, "method": request.method, "url": str(request.url),
                         "status": response.status_code,
                         "retry_after": response.headers.get("retry-after")})
        return response

    async def aclose(self):
        await self.inner.aclose()


def credential(base, app):
    return ClientSecretCredential(
        app["tenant_id"], app["client_id"], app["client_secret"],
        transport=RequestsTransport(session=routed_session(base), session_owner=False))


def graph_client(base, app):
    transport = LocalOnlyTransport()
    http = GraphClientFactory.create_with_default_middleware(
        client=httpx.AsyncClient(transport=transport), options=graph_options)
    auth = AzureIdentityAuthenticationProvider(
        credential(base, app), scopes=[GRAPH_DEFAULT], allowed_hosts=["127.0.0.1"])
    adapter = GraphRequestAdapter(auth, client=http)
    adapter.base_url = f"{base}/v1.0"
    return GraphServiceClient(request_adapter=adapter), transport


def run(coro):
    return asyncio.run(coro)


def test_list_inbox_with_select_and_top_following_next_links(emulator_url, app):
    async def go():
        client, transport = graph_client(emulator_url, app)
        config = RequestConfiguration(
            query_parameters=MessagesRequestBuilder.MessagesRequestBuilderGetQueryParameters(
                select=["subject", "receivedDateTime"], top=5, orderby=["receivedDateTime"]))
        inbox = client.users.by_user_id(app["mailbox"]).mail_folders.by_mail_folder_id("inbox")
        first = await inbox.messages.get(request_configuration=config)
        # Graph's context for this request, on the address the SDK called.
        assert first.additional_data["@odata.context"] == (
            f"{emulator_url}/v1.0/$metadata#users('{app['mailbox'].replace('@', '%40')}')"
            f"/mailFolders('inbox')/messages(subject,receivedDateTime)")
        assert first.odata_next_link.startswith(f"{emulator_url}/v1.0/"), first.odata_next_link
        subjects = []
        pages = PageIterator(first, client.request_adapter)
        await pages.iterate(lambda m: subjects.append(m.subject) or True)
        return subjects, transport.log

    subjects, log = run(go())
    assert len(subjects) == app["inbox_count"]
    assert len(set(subjects)) == len(subjects)
    assert subjects == sorted(subjects)
    pages = [e for e in log if "/messages" in e["url"]]
    assert len(pages) == -(-app["inbox_count"] // 5), log
    assert all(e["status"] == 200 for e in pages), log


def test_get_move_and_batched_move(emulator_url, app):
    async def go():
        client, _ = graph_client(emulator_url, app)
        # A mailbox of its own, so that the listing test sees its Inbox whole.
        mailbox = client.users.by_user_id(app["move_mailbox"])
        listing = await mailbox.mail_folders.by_mail_folder_id("inbox").messages.get(
            request_configuration=RequestConfiguration(
                query_parameters=MessagesRequestBuilder.MessagesRequestBuilderGetQueryParameters(
                    select=["subject"], top=3)))
        ids = [m.id for m in listing.value]
        assert len(ids) == 3
        message = await mailbox.messages.by_message_id(ids[0]).get()
        assert message.subject == listing.value[0].subject
        archive = await mailbox.mail_folders.by_mail_folder_id("archive").get()

        # The SDK sends {"DestinationId": "archive"}, the spelling of Graph's metadata.
        moved = await mailbox.messages.by_message_id(ids[0]).move.post(
            MovePostRequestBody(destination_id="archive"))
        assert moved.parent_folder_id == archive.id
        assert moved.id != ids[0]  # a move gives a new REST id

        batch = BatchRequestContent()
        items = []
        for id_ in ids[1:]:
            info = mailbox.messages.by_message_id(id_).move.to_post_request_information(
                MovePostRequestBody(destination_id="archive"))
            item = BatchRequestItem(request_information=info)
            batch.add_request(item.id, item)
            items.append(item)
        answer = await client.batch.post(batch_request_content=batch)
        statuses = answer.get_response_status_codes()
        assert all(statuses[i.id] == 201 for i in items), statuses
        after = await mailbox.mail_folders.by_mail_folder_id("archive").get()
        return archive.total_item_count, after.total_item_count

    before, after = run(go())
    assert after == before + 3


def test_a_throttled_request_is_retried_after_the_integer_retry_after(throttled_url, app):
    """The throttled emulator lets one request per app and mailbox in flight and answers the
    next with 429 and `Retry-After: 2`, blocking the key that long. Kiota's retry handler only
    understands integers: with them it waits exactly 2 s and the retry passes; with "2.0" it
    would ignore the header, back off for under 1.25 s (no extra delay configured) and be
    throttled again."""
    token = credential(throttled_url, app).get_token(GRAPH_DEFAULT).token
    listing = f"{throttled_url}/v1.0/users/{app['mailbox']}/mailFolders/inbox/messages"
    first = requests.get(listing, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert first.status_code == 200, first.text
    message_id = first.json()["value"][0]["id"]

    slow = {}

    def hold_the_slot():
        # The listing has 1.5 s of latency and holds the only concurrency slot meanwhile.
        slow["status"] = requests.get(listing, headers={"Authorization": f"Bearer {token}"},
                                      timeout=30).status_code

    async def go():
        client, transport = graph_client(throttled_url, app)
        # Take the token first, so that the request below is the only thing timed.
        await client.users.by_user_id(app["mailbox"]).mail_folders.by_mail_folder_id(
            "inbox").get()
        holder = threading.Thread(target=hold_the_slot)
        holder.start()
        await asyncio.sleep(0.5)
        config = RequestConfiguration(options=[RetryHandlerOption(delay=0, max_retries=1)])
        message = await client.users.by_user_id(app["mailbox"]).messages.by_message_id(
            message_id).get(request_configuration=config)
        holder.join()
        return message, transport.log

    message, log = run(go())
    assert slow["status"] == 200
    assert message.id == message_id
    attempts = [e for e in log if message_id in urllib.parse.unquote(e["url"])]
    assert [e["status"] for e in attempts] == [429, 200], log
    assert attempts[0]["retry_after"] == "2", attempts
    waited = attempts[1]["at"] - attempts[0]["at"]
    assert waited >= 2.0, waited


def test_count_and_a_delta_round(emulator_url, app):
    async def go():
        client, _ = graph_client(emulator_url, app)
        inbox = client.users.by_user_id(app["mailbox"]).mail_folders.by_mail_folder_id("inbox")
        count = await inbox.messages.count.get()
        config = RequestConfiguration()
        config.headers.add("Prefer", "odata.maxpagesize=10")
        page = await inbox.messages.delta.get(request_configuration=config)
        seen = [m.id for m in page.value]
        while page.odata_next_link:
            page = await inbox.messages.delta.with_url(page.odata_next_link).get(
                request_configuration=config)
            seen.extend(m.id for m in page.value)
        assert page.odata_delta_link.startswith(f"{emulator_url}/v1.0/"), page.odata_delta_link
        # Nothing changed since: the next round is empty.
        again = await inbox.messages.delta.with_url(page.odata_delta_link).get()
        return count, seen, again

    count, seen, again = run(go())
    assert count == app["inbox_count"]
    assert len(seen) == len(set(seen)) == app["inbox_count"]
    assert again.value == [] and again.odata_delta_link
