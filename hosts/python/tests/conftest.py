"""Shared fixtures: an emulator, a fresh ERP database and the component, connected."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from email_logging_host_py import crm  # noqa: E402
from email_logging_host_py.demo import connect, default_crm_seed, default_mailbox_seed, first_mailbox  # noqa: E402
from email_logging_host_py.emulator import Emulator  # noqa: E402
from email_logging_host_py.runtime import ErpHost, Runtime  # noqa: E402
from email_logging_host_py.seed import import_seed_file  # noqa: E402


class Sandbox:
    """An emulator on a mailbox seed and an ERP signed in to it, ready to run."""

    def __init__(self, data_dir: Path, mailbox_seed: Path, crm_seed: Path, emulator_args: Optional[list[str]] = None,
                 batch_size: Optional[int] = None) -> None:
        self.mailbox = first_mailbox(mailbox_seed)
        self.data_dir = data_dir
        self.emulator = Emulator(mailbox_seed, emulator_args)
        try:
            self.host = ErpHost.open(data_dir, emulator=self.emulator.base)
            self.rt = Runtime(self.host)
            import_seed_file(self.host.conn, crm_seed)
            self.host.extensions.load_policy(self.host.conn)
            connect(self.rt, self.emulator.base, self.mailbox, batch_size)
        except BaseException:
            self.emulator.stop()
            raise

    def entries(self) -> list[dict[str, Any]]:
        return crm.entries(self.host.conn)

    def close(self) -> None:
        self.rt.close()
        self.host.conn.close()
        self.emulator.stop()


def write_mailbox_seed(path: Path, mailbox: str, inbox: list[dict[str, Any]]) -> Path:
    """Writes a mailbox seed with one mailbox and these Inbox messages."""
    path.write_text(json.dumps({"mailboxes": {mailbox: {"folders": {"inbox": inbox}}}}))
    return path


def message(imid: str, sender: str, to: list[str], subject: str = "Hello", cc: Optional[list[str]] = None,
            sent: str = "2026-11-02T08:00:00Z", received: str = "2026-11-02T08:00:05Z") -> dict[str, Any]:
    """A Graph message for a seed."""

    def rcpts(addresses: list[str]) -> list[dict[str, Any]]:
        return [{"emailAddress": {"address": a, "name": a.split("@")[0]}} for a in addresses]

    return {
        "internetMessageId": imid,
        "subject": subject,
        "sender": {"emailAddress": {"address": sender, "name": sender.split("@")[0]}},
        "from": {"emailAddress": {"address": sender, "name": sender.split("@")[0]}},
        "toRecipients": rcpts(to),
        "ccRecipients": rcpts(cc or []),
        "bccRecipients": [],
        "sentDateTime": sent,
        "receivedDateTime": received,
        "isDraft": False,
        "bodyPreview": "",
    }


@pytest.fixture
def sandbox_factory(tmp_path: Path) -> Iterator[Any]:
    """Makes sandboxes (closed at the end of the test)."""
    made: list[Sandbox] = []

    def make(mailbox_seed: Optional[Path] = None, crm_seed: Optional[Path] = None, **kw: Any) -> Sandbox:
        d = tmp_path / f"erp{len(made)}"
        s = Sandbox(d, Path(mailbox_seed or default_mailbox_seed()), Path(crm_seed or default_crm_seed()), **kw)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()
