"""`email-logging-host-py demo`: the whole flow against the standalone emulator.

Starts the emulator on a free port with the mailbox seed, imports the CRM
seed into a fresh temporary database, sets up and signs in as an
administrator would (the emulator's demo app registration), enables email
logging, runs the job until the Inbox is drained, and prints what the Rust
host's `demo --json` prints: `{"entries": [...], "report": {...},
"mailbox": {"<folder>": <count>}}`.
"""

from __future__ import annotations

import http.client
import json
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Optional
from urllib.parse import quote, urlencode, urlsplit

from wasmtime.component import Variant

from . import crm
from .emulator import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_REDIRECT_URI, Emulator
from .runtime import ErpHost, Runtime, repo_root
from .seed import import_seed_file
from .wit import describe, to_dict

JOB_BUDGET_MS = 120_000
MAX_RUNS = 200
#: Folder names Graph addresses by well-known name, as the demo keys them.
WELL_KNOWN = (
    "inbox", "archive", "junkemail", "deleteditems", "drafts", "outbox", "sentitems",
    "conversationhistory", "clutter", "scheduled", "searchfolders", "syncissues",
    "conflicts", "localfailures", "serverfailures", "recoverableitemsdeletions", "msgfolderroot",
)


def default_mailbox_seed() -> Path:
    return repo_root() / "graph-emulator" / "seeds" / "sample-mailbox.json"


def default_crm_seed() -> Path:
    return repo_root() / "graph-emulator" / "seeds" / "sample-crm.json"


def first_mailbox(seed: Path) -> str:
    """The first mailbox a mailbox seed names (the demo's shared mailbox)."""
    mailboxes = json.loads(Path(seed).read_text()).get("mailboxes") or {}
    for name in mailboxes:
        return str(name)
    raise ValueError("the mailbox seed names no mailbox")


def follow_authorize_url(authorize_url: str, base: str) -> str:
    """Plays the browser: opens the authorize URL on the emulator, answers the redirect's query."""
    parts = urlsplit(authorize_url)
    b = urlsplit(base)
    conn = http.client.HTTPConnection(b.hostname or "127.0.0.1", b.port or 80, timeout=30)
    try:
        conn.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""))
        resp = conn.getresponse()
        resp.read()
        location = resp.getheader("Location")
    finally:
        conn.close()
    if not location:
        raise RuntimeError(f"the sign-in did not redirect (HTTP {resp.status})")
    return urlsplit(location).query


def connect(rt: Runtime, base: str, mailbox: str, batch_size: Optional[int] = None) -> None:
    """Sets up, signs in and enables email logging for `mailbox` against the emulator at `base`."""
    rt.setup_update(
        shared_mailbox=mailbox,
        client_id=DEMO_CLIENT_ID,
        client_secret=DEMO_CLIENT_SECRET,
        redirect_url=DEMO_REDIRECT_URI,
        batch_size=batch_size,
    )
    url = rt.begin_sign_in(None)
    rt.complete_sign_in(follow_authorize_url(url, base))
    rt.enable()


def add_reports(a: Optional[dict[str, Any]], b: dict[str, Any]) -> dict[str, Any]:
    """Adds up two run reports (as the Rust demo does)."""
    if a is None:
        return b
    for k in ("duration_ms", "messages_seen", "messages_logged", "messages_already_logged", "messages_quarantined",
              "messages_deferred", "entries_created", "requests", "throttled_waits", "pages"):
        a[k] += b[k]
    for rc in b["not_logged"]:
        for x in a["not_logged"]:
            if x["reason"] == rc["reason"]:
                x["count"] += rc["count"]
                break
        else:
            a["not_logged"].append(rc)
    a["ledger"].extend(b["ledger"])
    for k in ("budget_exhausted", "inbox_drained", "stopped_early"):
        a[k] = b[k]
    a["warnings"].extend(w for w in b["warnings"] if w not in a["warnings"])
    return a


OUTCOME_NAMES = {
    "logged": "Logged", "already-logged": "AlreadyLogged", "not-logged": "NotLogged",
    "quarantined": "Quarantined", "deferred": "Deferred",
}


def report_json(r: dict[str, Any]) -> dict[str, Any]:
    """A run report in the demo's JSON shape (ledger outcomes as the Rust host names them)."""
    r = dict(r)
    r["ledger"] = [dict(line, outcome=OUTCOME_NAMES.get(line["outcome"], line["outcome"])) for line in r["ledger"]]
    return dict(sorted(r.items()))


def drain(rt: Runtime, sleep: Callable[[float], None] = time.sleep, max_runs: int = MAX_RUNS) -> dict[str, Any]:
    """Runs the job until the Inbox is drained; the reports added up."""
    total: Optional[dict[str, Any]] = None
    for _ in range(max_runs):
        result = rt.run(JOB_BUDGET_MS)
        assert isinstance(result, Variant)
        if result.tag == "ok":
            report = to_dict(result.payload)
            total = add_reports(total, report)
            if report["inbox_drained"]:
                break
            continue
        error = result.payload
        if isinstance(error, Variant) and error.tag == "throttled":
            sleep(min(int(error.payload), 30))
        elif isinstance(error, Variant) and error.tag == "transient":
            continue
        else:
            raise RuntimeError(f"the run failed: {describe(error)}")
    if total is None:
        raise RuntimeError("no run finished")
    return total


def _get_json(base: str, path: str, token: str) -> Any:
    b = urlsplit(base)
    conn = http.client.HTTPConnection(b.hostname or "127.0.0.1", b.port or 80, timeout=30)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        resp = conn.getresponse()
        body = resp.read()
    finally:
        conn.close()
    return resp.status, json.loads(body or b"null")


def folder_counts(base: str, mailbox: str) -> dict[str, int]:
    """Messages per folder of `mailbox`, asked of the emulator over Graph with an app token.

    Keyed like the Rust demo: by well-known name where the folder has one,
    else by display name (`parent/name` when two folders share a name).
    """
    b = urlsplit(base)
    tenant = mailbox.split("@", 1)[-1]
    form = urlencode({
        "grant_type": "client_credentials", "client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET,
        "scope": "https://graph.microsoft.com/.default",
    })
    conn = http.client.HTTPConnection(b.hostname or "127.0.0.1", b.port or 80, timeout=30)
    try:
        conn.request("POST", f"/{tenant}/oauth2/v2.0/token", body=form,
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        resp = conn.getresponse()
        token = json.loads(resp.read())["access_token"]
    finally:
        conn.close()
    user = f"/v1.0/users/{quote(mailbox, safe='')}"
    well_known: dict[str, str] = {}
    for name in WELL_KNOWN:
        status, body = _get_json(base, f"{user}/mailFolders/{name}", token)
        if status == 200 and isinstance(body, dict):
            well_known[body["id"]] = name
    out: dict[str, int] = {}
    names_by_id: dict[str, str] = {}

    def walk(path: str, parent_name: str) -> None:
        status, body = _get_json(base, f"{path}?$top=999", token)
        if status != 200:
            return
        for folder in body.get("value", []):
            key = well_known.get(folder["id"], folder["displayName"])
            if key in out:
                key = f"{parent_name}/{key}"
            out[key] = int(folder.get("totalItemCount", 0))
            names_by_id[folder["id"]] = folder["displayName"]
            if folder.get("childFolderCount", 1):
                walk(f"{user}/mailFolders/{folder['id']}/childFolders", folder["displayName"])

    walk(f"{user}/mailFolders", "")
    return dict(sorted(out.items()))


def run_demo(mailbox_seed: Optional[Path] = None, crm_seed: Optional[Path] = None,
             emulator_args: Optional[list[str]] = None, data_dir: Optional[Path] = None,
             prepare: Optional[Callable[[ErpHost, Runtime], None]] = None) -> dict[str, Any]:
    """The demo; answers the JSON object it prints."""
    mailbox_seed = Path(mailbox_seed or default_mailbox_seed())
    crm_seed = Path(crm_seed or default_crm_seed())
    mailbox = first_mailbox(mailbox_seed)
    with Emulator(mailbox_seed, emulator_args) as emu, tempfile.TemporaryDirectory(prefix="el-pyhost-") as tmp:
        host = ErpHost.open(Path(data_dir or tmp), emulator=emu.base)
        rt = Runtime(host)
        try:
            policy = import_seed_file(host.conn, crm_seed)
            host.extensions.load_policy(host.conn)
            if "log_sensitive" in policy:
                rt.setup_update(log_sensitive=bool(policy["log_sensitive"]))
            connect(rt, emu.base, mailbox)
            if prepare is not None:
                prepare(host, rt)
            report = drain(rt)
            entries = crm.entries(host.conn)
            counts = folder_counts(emu.base, mailbox)
        finally:
            rt.close()
            host.conn.close()
    return {"entries": entries, "report": report_json(report), "mailbox": counts}


def print_human(result: dict[str, Any]) -> None:
    """The demo's result for a person."""
    entries = result["entries"]
    print(f"Interaction log entries ({len(entries)}):")
    print(f"{'No.':>4}  {'Contact':<9} {'Sp.':<5} {'Flow':<9} {'By':<4} {'Date (UTC)':<20} Subject")
    for e in entries:
        print(f"{e['entry_no']:>4}  {e['contact_no']:<9} {e['salesperson_code']:<5} {e['information_flow']:<9}"
              f" {e['initiated_by']:<4} {e['datetime']:<20} {e['subject'][:60]}")
    r = result["report"]
    print()
    print(f"Run report: {r['messages_seen']} messages seen, {r['messages_logged']} logged, "
          f"{r['messages_already_logged']} already logged, {r['entries_created']} entries, "
          f"{r['messages_quarantined']} quarantined, {r['messages_deferred']} deferred, "
          f"{r['requests']} requests, {r['pages']} pages, {r['duration_ms']} ms")
    for rc in r["not_logged"]:
        print(f"  not logged, {rc['reason']}: {rc['count']}")
    print()
    print("Mailbox after the run:")
    for folder, n in result["mailbox"].items():
        if n > 0 or folder in ("inbox", "archive", "junkemail"):
            print(f"  {folder}: {n}")
