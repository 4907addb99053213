"""Loading the component and calling it: engine, linker, a fresh store per call.

* One `Engine` with epoch interruption, the component compiled once, one
  `Linker` with every `erp:host@0.5.0` import and WASI p2.
* Every export call gets a fresh `Store`: a memory limit (`set_limits`), an
  epoch deadline (a daemon thread ticks the engine's epoch), and a WASI
  context that allows nothing but stderr (no files, no environment, no
  arguments, no sockets; clocks and random are always there).
* Host functions answer WIT results: `ok(value)` or `err(error)`; a
  `HostError` raised by an interface becomes `err`, any other exception
  traps the call (a host bug, as the WIT says).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from urllib.parse import urlsplit
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import wasmtime
from wasmtime.component import Component, Linker, Variant

from .crm import Crm
from .db import open_db
from .extensions import Extensions
from .http import HttpPolicy
from .log import Log
from .scheduler import Scheduler
from .secrets import Secrets
from .storage import Storage, load_key
from .wit import ExportError, HostError, err, ok, rec, tag_all_results, unwrap

LOG = logging.getLogger("email_logging_host_py.runtime")

HOST = "erp:host/{}@0.5.0"
PLUGIN = "erp:plugin/{}@0.5.0"
EPOCH_TICK_S = 0.05
DEFAULT_COMPONENT = Path("target/guest/wasm32-wasip2/guest-release/email_logging_guest.wasm")

#: Every field of `setup-change`, in WIT order.
SETUP_CHANGE_FIELDS = (
    "experience shared-mailbox tenant auth-mode client-id client-secret redirect-url batch-size"
    " storage-folder monthly-subfolders folder-item-limit folder-warning-percent not-logged-policy"
    " not-logged-folder quarantine-folder log-sensitive ews-url ews-auth ews-account ews-password"
    " queue-folder ews-storage-folder"
).split()


def repo_root() -> Path:
    """The repository root (this file is `hosts/python/email_logging_host_py/runtime.py`)."""
    return Path(__file__).resolve().parents[3]


def component_path() -> Path:
    """`EMAIL_LOGGING_COMPONENT`, else the release build in the repository's `target/`."""
    env = os.environ.get("EMAIL_LOGGING_COMPONENT")
    return Path(env) if env else repo_root() / DEFAULT_COMPONENT


@dataclass
class Limits:
    """Per-call limits."""

    memory_bytes: int = 512 << 20
    #: Wall-clock allowance on top of the call's own budget before the epoch deadline traps it.
    grace_s: float = 60.0
    #: The deadline of calls with no budget of their own (setup calls).
    default_s: float = 120.0


@dataclass
class ErpHost:
    """Everything a host gives the component, over one database."""

    conn: sqlite3.Connection
    crm: Crm
    storage: Storage
    scheduler: Scheduler
    http: HttpPolicy
    secrets: Secrets = field(default_factory=Secrets)
    log: Log = field(default_factory=Log)
    extensions: Extensions = field(default_factory=Extensions)

    @classmethod
    def open(cls, data_dir: Path, emulator: Optional[str] = None, exchange_host: Optional[str] = None) -> "ErpHost":
        """Opens (creating) the database and key in `data_dir`."""
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        conn = open_db(data_dir / "email-logging.db")
        return cls(
            conn=conn,
            crm=Crm(conn),
            storage=Storage(conn, load_key(data_dir)),
            scheduler=Scheduler(conn),
            http=HttpPolicy(route_to=emulator, exchange_host=exchange_host),
        )


def _result(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wraps an interface method as a host function answering `result<T, error>`."""

    def call(_store: Any, *args: Any) -> Variant:
        try:
            return ok(fn(*args))
        except HostError as e:
            return err(e.wit())

    return call


def _plain(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wraps an interface method as a host function with a plain answer."""

    def call(_store: Any, *args: Any) -> Any:
        return fn(*args)

    return call


class Runtime:
    """The component, linked against an `ErpHost`."""

    def __init__(self, host: ErpHost, wasm: Optional[Path] = None, limits: Optional[Limits] = None) -> None:
        tag_all_results()
        self.host = host
        self.limits = limits or Limits()
        config = wasmtime.Config()
        config.epoch_interruption = True
        self.engine = wasmtime.Engine(config)
        self.component = Component.from_file(self.engine, str(wasm or component_path()))
        self.linker = Linker(self.engine)
        self.linker.add_wasip2()
        self._link()
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, name="epoch-ticker", daemon=True)
        self._ticker.start()
        # A database set up before: its Exchange server, as the setup names it.
        try:
            self.admit_exchange_host(self.setup_get())
        except ExportError:
            pass

    def _tick(self) -> None:
        while not self._stop.wait(EPOCH_TICK_S):
            self.engine.increment_epoch()

    def close(self) -> None:
        """Stops the epoch ticker."""
        self._stop.set()

    def _link(self) -> None:
        h = self.host

        def log_page(messages: list[Any]) -> list[Any]:
            return [err(o.wit()) if isinstance(o, HostError) else ok(o) for o in h.crm.log_page(messages)]

        imports: dict[str, dict[str, Callable[..., Any]]] = {
            "http": {"send": _result(h.http.send)},
            "crm": {
                "address-fields": _result(h.crm.address_fields),
                "lookup-parties": _result(h.crm.lookup_parties),
                "email-interaction-template": _result(h.crm.email_interaction_template),
                "log-page": _result(log_page),
                "update-links": _result(h.crm.update_links),
                "log-activities": _result(h.crm.log_activities),
            },
            "extensions": {
                "decide": _result(lambda m: h.extensions.decide(m)),
                "unknown-parties": _result(lambda a: h.extensions.unknown_parties(a)),
                "after-log": _result(lambda m: h.extensions.after_log(m)),
            },
            "storage": {
                "get": _result(h.storage.get),
                "put": _result(h.storage.put),
                "remove": _result(h.storage.remove),
                "get-secret": _result(h.storage.get_secret),
                "put-secret": _result(h.storage.put_secret),
                "remove-secret": _result(h.storage.remove_secret),
            },
            "scheduler": {
                "ensure-recurring": _result(h.scheduler.ensure_recurring),
                "remove": _result(h.scheduler.remove),
                "postpone": _result(h.scheduler.postpone),
                "status": _result(h.scheduler.status),
            },
            "secrets": {
                "client-id": _plain(h.secrets.client_id),
                "client-secret": _plain(h.secrets.client_secret),
                "redirect-url": _plain(h.secrets.redirect_url),
                "ews-password": _plain(h.secrets.ews_password),
            },
            "log": {"event": _plain(lambda level, message, fields: h.log.event(level, message, fields))},
        }
        with self.linker.root() as root:
            for iface, funcs in imports.items():
                with root.add_instance(HOST.format(iface)) as inst:
                    for name, fn in funcs.items():
                        inst.add_func(name, fn)

    def call(self, interface: str, name: str, *args: Any, budget_s: Optional[float] = None) -> Any:
        """Calls one export in a fresh store; the raw WIT answer (tagged results)."""
        store = wasmtime.Store(self.engine)
        store.set_limits(memory_size=self.limits.memory_bytes)
        wasi = wasmtime.WasiConfig()
        wasi.inherit_stderr()
        store.set_wasi(wasi)
        seconds = (budget_s if budget_s is not None else self.limits.default_s) + self.limits.grace_s
        store.set_epoch_deadline(max(1, int(seconds / EPOCH_TICK_S)))
        instance = self.linker.instantiate(store, self.component)
        iface = instance.get_export_index(store, PLUGIN.format(interface))
        if iface is None:
            raise RuntimeError(f"the component exports no {PLUGIN.format(interface)}")
        idx = instance.get_export_index(store, name, iface)
        func = instance.get_func(store, idx) if idx is not None else None
        if func is None:
            raise RuntimeError(f"the component exports no {interface}.{name}")
        result = func(store, *args)
        func.post_return(store)
        return result

    # -- the exports, unwrapped ------------------------------------------------

    def setup_get(self) -> Any:
        return unwrap(self.call("setup", "get"))

    def setup_update(self, **change: Any) -> Any:
        """`setup.update` with the given fields (snake_case names); the rest `none`."""
        given = {k.replace("_", "-"): v for k, v in change.items()}
        unknown = set(given) - set(SETUP_CHANGE_FIELDS)
        if unknown:
            raise ValueError(f"not setup-change fields: {sorted(unknown)}")
        record = unwrap(self.call("setup", "update", rec(**{k.replace("-", "_"): given.get(k) for k in SETUP_CHANGE_FIELDS})))
        self.admit_exchange_host(record)
        return record

    def admit_exchange_host(self, record: Any) -> None:
        """Lets the component reach the Exchange server its setup names while it
        reads public folders over EWS, and no server otherwise (the `http`
        allow-list of the WIT)."""
        url = getattr(record, "ews-url") if record.experience == "ews" else None
        self.host.http.exchange_host = (urlsplit(url).hostname or None) if url else None

    def validate(self) -> list[Any]:
        return self.call("setup", "validate")

    def begin_sign_in(self, account: Optional[str] = None) -> str:
        return unwrap(self.call("setup", "begin-sign-in", account))

    def complete_sign_in(self, query: str) -> Any:
        return unwrap(self.call("setup", "complete-sign-in", query))

    def enable(self) -> Any:
        return unwrap(self.call("setup", "enable"))

    def disable(self) -> Any:
        return unwrap(self.call("setup", "disable"))

    def run(self, budget_ms: int) -> Variant:
        """`processing.run`: the tagged result (`ok(run-report)` or `err(run-error)`)."""
        return self.call("processing", "run", budget_ms, budget_s=budget_ms / 1000.0)

    def mailbox_stats(self) -> Any:
        return unwrap(self.call("processing", "mailbox-stats"))

    def resolve_messages(self, refs: list[Any]) -> Any:
        return unwrap(self.call("processing", "resolve-messages", refs))
