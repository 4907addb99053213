"""The Python host against the emulator: same entries as the Rust host, rules, reliability, secrets."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from wasmtime.component import Variant

from conftest import message, write_mailbox_seed
from email_logging_host_py.demo import drain, run_demo
from email_logging_host_py.emulator import DEMO_CLIENT_SECRET, host_binary
from email_logging_host_py.http import HttpPolicy
from email_logging_host_py.wit import HostError, rec, to_dict

COMPARED = ("contact_no", "contact_company_no", "contact_alt_address_code", "salesperson_code",
            "interaction_template_code", "information_flow", "initiated_by", "subject", "datetime",
            "internet_message_id")
MAILBOX = "email-logging@cronus.example"


def key(e: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(e[k] for k in COMPARED)


def ledger_reasons(report: dict[str, Any]) -> dict[str, str]:
    return {line["internet_message_id"]: line["reason"] for line in report["ledger"] if line["reason"]}


# -- the same entries as the Rust host ------------------------------------------


def test_demo_gives_the_rust_hosts_entries(tmp_path: Path) -> None:
    rust = subprocess.run(
        [str(host_binary()), "demo", "--json", "--data-dir", str(tmp_path / "rust")],
        check=True, capture_output=True, text=True, timeout=300,
    )
    expected = json.loads(rust.stdout)
    got = run_demo()
    assert [key(e) for e in got["entries"]] == [key(e) for e in expected["entries"]]
    # Ids and links come from the same emulator seed, so they agree too.
    assert got["entries"] == expected["entries"]
    assert got["mailbox"] == expected["mailbox"]
    for k in ("messages_seen", "messages_logged", "messages_already_logged", "entries_created", "not_logged"):
        assert got["report"][k] == expected["report"][k], k


# -- secrets ----------------------------------------------------------------------


def test_secrets_are_not_in_the_database_file(sandbox_factory: Any) -> None:
    s = sandbox_factory()
    drain(s.rt)
    secrets = {name: s.host.storage.get_secret(name) for (name,) in s.host.conn.execute("SELECT name FROM plugin_secret")}
    assert secrets.get("client-secret") == DEMO_CLIENT_SECRET
    assert secrets.get("refresh-token"), "the sign-in stored a refresh token"
    s.host.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    blobs = b"".join(p.read_bytes() for p in s.data_dir.iterdir() if p.name.startswith("email-logging.db"))
    for name, value in secrets.items():
        assert value and value.encode() not in blobs, f"the secret {name} is in the database file"
    assert DEMO_CLIENT_SECRET.encode() not in blobs
    setup = to_dict(s.rt.setup_get())
    assert setup["client_secret_set"] and "secret" not in json.dumps(setup).replace("client_secret_set", "")


# -- processing rules -------------------------------------------------------------


def test_rules_on_the_sample(sandbox_factory: Any) -> None:
    s = sandbox_factory()
    report = drain(s.rt)
    entries = s.entries()
    reasons = ledger_reasons(report)
    # Internal-only mail (a salesperson to a salesperson) is not logged.
    assert reasons["<sample-06.20261103@mail.cronus.example>"] == "internal-only"
    assert not [e for e in entries if e["internet_message_id"] == "<sample-06.20261103@mail.cronus.example>"]
    # A contact writing to two salespeople gives two inbound entries.
    two = [e for e in entries if e["internet_message_id"] == "<sample-02.20261102@mail.cronus.example>"]
    assert sorted((e["salesperson_code"], e["information_flow"], e["initiated_by"]) for e in two) == [
        ("JO", "inbound", "them"), ("LT", "inbound", "them")]
    # The BCC copy that arrived twice is logged once.
    assert report["messages_already_logged"] == 1
    assert len([e for e in entries if e["internet_message_id"] == "<sample-11.20261104@mail.cronus.example>"]) == 1


def test_rules_on_a_seed_of_our_own(sandbox_factory: Any, tmp_path: Path) -> None:
    seed = write_mailbox_seed(tmp_path / "mb.json", MAILBOX, [
        message("<r1@x>", "jim.olive@cronus.example", ["lina.townsend@cronus.example"], "internal"),
        message("<r2@x>", "andy.teal@cannongroup.example", ["jim.olive@cronus.example", "lina.townsend@cronus.example"], "two"),
        message("<r3@x>", "nobody@unknown.example", ["jim.olive@cronus.example"], "unknown"),
        message("<r4@x>", "jim.olive@cronus.example", ["andy.teal@cannongroup.example"], "out",
                cc=["mindy.home@martin-mail.example"]),
    ])
    s = sandbox_factory(seed)
    report = drain(s.rt)
    reasons = ledger_reasons(report)
    assert reasons == {"<r1@x>": "internal-only", "<r3@x>": "unknown-sender"}
    got = sorted((e["internet_message_id"], e["contact_no"], e["salesperson_code"], e["information_flow"],
                  e["contact_alt_address_code"]) for e in s.entries())
    assert got == [
        ("<r2@x>", "CT000011", "JO", "inbound", None),
        ("<r2@x>", "CT000011", "LT", "inbound", None),
        ("<r4@x>", "CT000011", "JO", "outbound", None),
        ("<r4@x>", "CT000021", "JO", "outbound", "HOME"),
    ]


def test_never_log_policy_skips_through_decide(sandbox_factory: Any, tmp_path: Path) -> None:
    crm_seed = json.loads(Path(__file__).resolve().parents[3].joinpath("graph-emulator/seeds/sample-crm.json").read_text())
    crm_seed["email_logging"] = {"never_log": ["cannongroup.example"]}
    (tmp_path / "crm.json").write_text(json.dumps(crm_seed))
    s = sandbox_factory(crm_seed=tmp_path / "crm.json")
    report = drain(s.rt)
    skipped = {"<sample-01.20261102@mail.cronus.example>", "<sample-02.20261102@mail.cronus.example>"}
    assert not [e for e in s.entries() if e["internet_message_id"] in skipped]
    reasons = ledger_reasons(report)
    assert all(reasons[k] == "never-log" for k in skipped)
    assert any(rc["reason"] == "skipped-by-erp" for rc in report["not_logged"])


# -- reliability ------------------------------------------------------------------


class SimulatedCrash(Exception):
    """The host dies (the call traps) at a chosen request."""


def test_crash_between_commit_and_move_logs_nothing_twice(sandbox_factory: Any) -> None:
    s = sandbox_factory()
    crashed: list[str] = []

    def crash_once(method: str, url: str, headers: dict[str, str]) -> None:
        is_move = method == "POST" and (url.rstrip("/").endswith("/move") or "$batch" in url)
        if is_move and not crashed:
            crashed.append(url)
            # Entries of the first page are committed by now.
            assert s.host.conn.execute("SELECT COUNT(*) FROM interaction_log_entry").fetchone()[0] > 0
            raise SimulatedCrash("host crash before the move")

    s.host.http.before_request = crash_once
    with pytest.raises(Exception) as trap:
        s.rt.run(120_000)
    assert "SimulatedCrash" in str(trap.value) or "crash" in str(trap.value).lower()
    assert crashed
    committed = s.entries()
    assert committed
    s.host.http.before_request = None
    report = drain(s.rt)
    entries = s.entries()
    assert len(entries) == 10
    assert len(set(map(key, entries))) == len(entries), "no duplicate entries"
    assert all(e["folder"] == "archive" for e in entries)
    # The first page's messages were logged before the crash: the next run finds them logged
    # (plus the sample's second BCC copy), moves them and inserts nothing for them.
    assert report["messages_already_logged"] > 1
    assert report["entries_created"] == 0 or len(committed) < 10


def test_throttling_with_retry_after(sandbox_factory: Any) -> None:
    s = sandbox_factory(emulator_args=["--throttle", "--faults", "429=0.3,seed=7,retry-after=50ms"])
    report = drain(s.rt, max_runs=50)
    assert report["throttled_waits"] > 0
    assert report["inbox_drained"]
    assert len(s.entries()) == 10
    assert report["messages_seen"] == report["messages_logged"] + report["messages_already_logged"] + sum(
        rc["count"] for rc in report["not_logged"]) + report["messages_quarantined"] + report["messages_deferred"]


def test_transient_faults_defer_and_the_next_runs_finish(sandbox_factory: Any) -> None:
    s = sandbox_factory(emulator_args=["--faults", "503=0.15,reset=0.05,seed=11"])
    drain(s.rt, max_runs=50)
    entries = s.entries()
    assert len(entries) == 10
    assert len(set(map(key, entries))) == 10


def test_token_expiring_mid_run_is_renewed(sandbox_factory: Any, tmp_path: Path) -> None:
    inbox = [message(f"<t{i}@x>", "andy.teal@cannongroup.example", ["jim.olive@cronus.example"], f"m{i}")
             for i in range(12)]
    s = sandbox_factory(write_mailbox_seed(tmp_path / "mb.json", MAILBOX, inbox), batch_size=5)
    pages: list[int] = []
    events: list[str] = []
    original = s.host.crm.log_page

    def count_pages(messages: list[Any]) -> list[Any]:
        pages.append(len(messages))
        return original(messages)

    def expire_after_first_page(method: str, url: str, headers: dict[str, str]) -> None:
        if "/oauth2/v2.0/token" in url:
            events.append("token")
        elif pages and "expired" not in events:
            # The access token expires now: Graph answers this request 401.
            name = next(k for k in headers if k.lower() == "authorization")
            headers[name] = "Bearer expired-" + "0" * 40
            events.append("expired")

    # The runtime looks `crm.log_page` up at each call, so the hook takes effect at once.
    s.host.crm.log_page = count_pages  # type: ignore[method-assign]
    s.host.http.before_request = expire_after_first_page
    result = s.rt.run(120_000)
    assert isinstance(result, Variant) and result.tag == "ok", result
    report = to_dict(result.payload)
    assert "expired" in events and "token" in events[events.index("expired"):], events
    assert len(pages) >= 3, "the run went on after the token expired"
    assert report["inbox_drained"] and report["messages_logged"] == 12, report
    assert report["messages_deferred"] == 0
    assert len(s.entries()) == 12


# -- host functions on their own ----------------------------------------------------


def test_http_allow_list_and_routing() -> None:
    p = HttpPolicy(route_to="http://127.0.0.1:9")
    assert p.target("https://graph.microsoft.com/v1.0/users/a%40b/messages?$top=5") == (
        "http", "127.0.0.1", 9, "/v1.0/users/a%40b/messages?$top=5")
    for url, kind in [("https://evil.example/x", "denied"), ("http://graph.microsoft.com/x", "denied"),
                      ("https://graph.microsoft.com:8443/x", "denied"), ("not a url", "invalid")]:
        with pytest.raises(HostError) as e:
            p.target(url)
        assert e.value.kind == kind, url
    ews = HttpPolicy(route_to="http://127.0.0.1:9", exchange_host="mail.contoso.com")
    assert ews.target("https://Mail.Contoso.com/EWS/Exchange.asmx")[3] == "/EWS/Exchange.asmx"


def test_storage_compare_and_swap_and_log_page_idempotency(sandbox_factory: Any, tmp_path: Path) -> None:
    from email_logging_host_py.runtime import ErpHost
    h = ErpHost.open(tmp_path / "unit")
    assert h.storage.put("k", "a", None) == 1
    with pytest.raises(HostError) as e:
        h.storage.put("k", "b", None)
    assert e.value.kind == "conflict"
    assert h.storage.put("k", "b", 1) == 2
    assert h.storage.get("k").value == "b"
    h.storage.remove("k")
    h.storage.remove("k")
    assert h.storage.get("k") is None

    def msg(k: str, dt: str = "2026-11-02T08:00:00Z") -> Any:
        entry = rec(contact_no="C1", contact_company_no=None, contact_alt_address_code=None, salesperson_code="S1",
                    interaction_template_code="EMAIL", information_flow="inbound", initiated_by="them",
                    subject="s", datetime=dt)
        link = rec(mailbox="m@x", message_id=f"id-{k}", internet_message_id=k, web_link="https://outlook.office365.com/owa/?x", folder="Inbox")
        return rec(message_key=k, entries=[entry], link=link)

    out = h.crm.log_page([msg("a"), msg("a"), msg(""), msg("b", "yesterday")])
    assert out[:2] == ["inserted", "already-logged"]
    assert isinstance(out[2], HostError) and out[2].kind == "invalid"
    assert isinstance(out[3], HostError) and out[3].kind == "invalid"
    assert h.crm.log_page([msg("a")]) == ["already-logged"]
    # A link update for another copy's id changes nothing.
    h.crm.update_links([rec(message_key="a", previous_message_id="other", link=rec(
        mailbox="m@x", message_id="new", internet_message_id="a", web_link="https://outlook.office365.com/owa/?y", folder="Archive"))])
    assert h.conn.execute("SELECT message_id FROM attachment WHERE message_key='a'").fetchone()[0] == "id-a"
    h.conn.close()


def test_both_hosts_agree_on_a_generated_seed(tmp_path: Path) -> None:
    """Both hosts give the same entries on a larger, mixed seed (several pages, duplicates, odd fields)."""
    import random

    rng = random.Random(15)
    people = ["jim.olive@cronus.example", "lina.townsend@cronus.example", "benjamin.chiu@cronus.example",
              "andy.teal@cannongroup.example", "andy@teal-family.example", "mindy.martin@selangorian.example",
              "mindy.home@martin-mail.example", "info@cannongroup.example", "sales@selangorian.example",
              "stranger@elsewhere.example", " Jim.Olive@CRONUS.example "]
    inbox = []
    for i in range(180):
        to = rng.sample(people, rng.randint(0, 3))
        m = message(f"<gen-{i % 170}@x>", rng.choice(people), to, f"Subject {i} " + "x" * rng.randint(0, 300),
                    cc=rng.sample(people, rng.randint(0, 2)),
                    sent=f"2026-11-{1 + i % 28:02d}T{i % 24:02d}:00:00Z", received=f"2026-11-{1 + i % 28:02d}T{i % 24:02d}:00:09Z")
        if i % 23 == 0:
            m["isDraft"] = True
        if i % 31 == 0:
            del m["internetMessageId"]
        if i % 37 == 0:
            m["sender"] = None
        inbox.append(m)
    seed = write_mailbox_seed(tmp_path / "generated.json", MAILBOX, inbox)
    rust = subprocess.run(
        [str(host_binary()), "demo", "--json", "--mailbox", str(seed), "--data-dir", str(tmp_path / "rust")],
        check=True, capture_output=True, text=True, timeout=300,
    )
    expected = json.loads(rust.stdout)
    got = run_demo(seed)
    assert len(expected["entries"]) > 50
    assert [key(e) for e in got["entries"]] == [key(e) for e in expected["entries"]]
    assert got["entries"] == expected["entries"], "ids, links and folders agree too"
    assert got["mailbox"] == expected["mailbox"]
    assert Counter(line["outcome"] for line in got["report"]["ledger"]) == Counter(
        line["outcome"] for line in expected["report"]["ledger"])


def test_public_folders_over_ews_give_the_rust_hosts_entries(tmp_path: Path) -> None:
    """The current experience: the queue public folder read over EWS with Basic
    sign-in at an on-premises server that only the setup names, which the
    allow-list admits once the setup says so."""
    from email_logging_host_py import crm
    from email_logging_host_py.demo import default_crm_seed, default_mailbox_seed
    from email_logging_host_py.emulator import Emulator
    from email_logging_host_py.runtime import ErpHost, Runtime
    from email_logging_host_py.seed import import_seed_file

    url, account, password = ("https://exchange.contoso.example/EWS/Exchange.asmx",
                              "email-logging@cronus.example", "Ews~Pa55word-Python")
    seed = json.loads(default_mailbox_seed().read_text())
    inbox = seed["mailboxes"][MAILBOX]["folders"].pop("inbox")
    seed["public_folders"] = {"Email Logging/Queue": inbox, "Email Logging/Storage": []}
    seed["accounts"] = {account: {"password": password}}
    seed_file = tmp_path / "ews.json"
    seed_file.write_text(json.dumps(seed))
    rust = subprocess.run(
        [str(host_binary()), "demo", "--json", "--experience", "ews", "--mailbox", str(seed_file),
         "--data-dir", str(tmp_path / "rust")],
        check=True, capture_output=True, text=True, timeout=300,
    )
    expected = json.loads(rust.stdout)
    with Emulator(seed_file) as emulator:
        host = ErpHost.open(tmp_path / "python", emulator=emulator.base)
        rt = Runtime(host)
        try:
            import_seed_file(host.conn, default_crm_seed())
            with pytest.raises(HostError):
                host.http.target(url)  # not before the setup names it
            rt.setup_update(experience="ews", ews_url=url, ews_account=account, ews_password=password,
                            queue_folder="Email Logging/Queue", ews_storage_folder="Email Logging/Storage")
            host.http.target(url)
            rt.enable()
            report = drain(rt)
            got = crm.entries(host.conn)
        finally:
            rt.close()
            host.conn.close()
    assert report["messages_logged"] == expected["report"]["messages_logged"] > 0
    assert [key(e) for e in got] == [key(e) for e in expected["entries"]]
    assert password not in (tmp_path / "python" / "email-logging.db").read_bytes().decode("latin-1")


def test_the_smallest_host_in_the_readme_loads_the_component() -> None:
    """The README's smallest host runs as it is: every import answered, the
    component's setup and checklist come back."""
    import sys

    from email_logging_host_py.runtime import component_path

    example = Path(__file__).resolve().parents[1] / "examples" / "smallest_host.py"
    out = subprocess.run([sys.executable, str(example), str(component_path())],
                         capture_output=True, text=True, timeout=300, check=True).stdout
    assert "status: ok | experience: graph | batch size: 50" in out, out
    assert "pass  interaction template" in out, out
    assert "fail  shared mailbox: not set" in out, out
