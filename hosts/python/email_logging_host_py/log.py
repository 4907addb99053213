"""`erp:host/log`: the component's events in Python's `logging`.

Logger `email_logging_host_py.component`. The WIT promises events never hold
a secret; the host still drops any field whose name looks like one
(token, secret, password, authorization, code). `progress` events also go to
an optional callback, for a host that shows a long run's progress.
"""

from __future__ import annotations

import logging
from typing import Callable, Optional

LOG = logging.getLogger("email_logging_host_py.component")
LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING, "error": logging.ERROR}
SECRET_WORDS = ("token", "secret", "password", "authorization", "code_verifier")

ProgressSink = Callable[[dict[str, str]], None]


class Log:
    """The `log` interface."""

    def __init__(self) -> None:
        self.progress: Optional[ProgressSink] = None

    def event(self, level: str, message: str, fields: list[tuple[str, str]]) -> None:
        safe = {k: v for k, v in fields if not any(w in k.lower() for w in SECRET_WORDS)}
        LOG.log(LEVELS.get(level, logging.INFO), "%s %s", message, " ".join(f"{k}={v}" for k, v in safe.items()))
        if message == "progress" and self.progress is not None:
            self.progress(safe)
