"""`erp:host/extensions`: the ERP's hooks into the component's decisions.

By default this host answers as the WIT's one-line defaults: `decide` logs
every message, `unknown-parties` knows nobody, `after-log` is fine. One
policy is implemented on `decide`: the never-log list of the CRM seed
(`email_logging.never_log`: addresses, or domains that also cover their
subdomains); such a message is skipped with the reason `never-log`, and
nothing of it is stored. Tests can replace any hook.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Callable, Optional

from wasmtime.component import Variant

from .wit import field as f


class Extensions:
    """The `extensions` interface."""

    def __init__(self) -> None:
        self.never_log: list[str] = []
        self.decide_hook: Optional[Callable[[list[Any]], list[Any]]] = None
        self.unknown_parties_hook: Optional[Callable[[list[Any]], list[Any]]] = None
        self.after_log_hook: Optional[Callable[[list[Any]], None]] = None

    def load_policy(self, conn: sqlite3.Connection) -> None:
        """Reads the never-log list from the database."""
        row = conn.execute("SELECT value FROM setting WHERE key = 'never_log'").fetchone()
        self.never_log = json.loads(row["value"]) if row and row["value"] else []

    def _never(self, address: Optional[str]) -> bool:
        if not address:
            return False
        domain = address.rsplit("@", 1)[-1]
        for entry in self.never_log:
            if "@" in entry:
                if address == entry:
                    return True
            elif domain == entry or domain.endswith("." + entry):
                return True
        return False

    def decide(self, messages: list[Any]) -> list[Any]:
        if self.decide_hook:
            return self.decide_hook(messages)
        out = []
        for m in messages:
            addresses = [f(m, "sender")] + list(f(m, "recipients"))
            out.append(Variant("skip", "never-log") if any(self._never(a) for a in addresses) else Variant("log", None))
        return out

    def unknown_parties(self, addresses: list[Any]) -> list[Any]:
        if self.unknown_parties_hook:
            return self.unknown_parties_hook(addresses)
        return [None for _ in addresses]

    def after_log(self, messages: list[Any]) -> None:
        if self.after_log_hook:
            self.after_log_hook(messages)
