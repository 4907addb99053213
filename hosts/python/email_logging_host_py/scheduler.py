"""`erp:host/scheduler`: the ERP's job queue, one row per job in `job`.

The component creates its recurring job (`ensure-recurring`), removes it,
postpones it after throttling, and reads its state. Running due jobs is the
host's business (`due_jobs`, `record_run`); the demo calls `processing.run`
directly.
"""

from __future__ import annotations

import sqlite3
import time
from datetime import datetime, timezone
from typing import Any, Optional

from .crm import _db_error
from .db import transaction
from .wit import HostError, field as f, rec

STATES = ("ready", "in-process", "partly-done", "error", "on-hold")


def _rfc3339(unix: Optional[int]) -> Optional[str]:
    if unix is None:
        return None
    return datetime.fromtimestamp(unix, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Scheduler:
    """The `scheduler` interface over one SQLite connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    @staticmethod
    def _check(job: str) -> None:
        if not job or len(job) > 200:
            raise HostError("invalid", "a job name must have 1..200 characters")

    def ensure_recurring(self, job: str, recurrence: Any) -> None:
        """Creates the recurring job, or updates it to this recurrence; either
        way its first run is `first-run-in-seconds` from now and it is ready,
        with no attempts and no error (the WIT)."""
        self._check(job)
        every = f(recurrence, "every_seconds")
        if every < 1:
            raise HostError("invalid", "every-seconds must be at least 1")
        first = int(time.time()) + f(recurrence, "first_run_in_seconds")
        try:
            with transaction(self.conn) as db:
                db.execute(
                    "INSERT INTO job (name, every_seconds, max_attempts, retry_delay_seconds, status, next_run_unix)"
                    " VALUES (?, ?, ?, ?, 'ready', ?)"
                    " ON CONFLICT(name) DO UPDATE SET every_seconds = excluded.every_seconds,"
                    " max_attempts = excluded.max_attempts, retry_delay_seconds = excluded.retry_delay_seconds,"
                    " next_run_unix = excluded.next_run_unix, status = 'ready', attempts = 0, last_error = NULL",
                    (job, every, f(recurrence, "max_attempts"), f(recurrence, "retry_delay_seconds"), first),
                )
        except sqlite3.Error as e:
            raise _db_error(e) from None

    def remove(self, job: str) -> None:
        """Removes the job; a missing job is no error."""
        try:
            with transaction(self.conn) as db:
                db.execute("DELETE FROM job WHERE name = ?", (job,))
        except sqlite3.Error as e:
            raise _db_error(e) from None

    def postpone(self, job: str, until_unix_seconds: int) -> None:
        """Moves the job's next run to no earlier than `until_unix_seconds`."""
        try:
            with transaction(self.conn) as db:
                # A missing job has no run to move: not an error (the WIT).
                db.execute(
                    "UPDATE job SET next_run_unix = MAX(COALESCE(next_run_unix, 0), ?) WHERE name = ?",
                    (until_unix_seconds, job),
                )
        except sqlite3.Error as e:
            raise _db_error(e) from None

    def status(self, job: str) -> Optional[Any]:
        """The job's state, if it exists."""
        try:
            r = self.conn.execute(
                "SELECT status, next_run_unix, last_error FROM job WHERE name = ?", (job,)
            ).fetchone()
        except sqlite3.Error as e:
            raise _db_error(e) from None
        if r is None:
            return None
        return rec(status=r["status"], next_run=_rfc3339(r["next_run_unix"]), last_error=r["last_error"])

    def record_run(self, job: str, status: str, last_error: Optional[str], retry: bool) -> None:
        """After a run: its state, and the next run (after the retry delay, or the period)."""
        if status not in STATES:
            raise ValueError(status)
        with transaction(self.conn) as db:
            r = db.execute("SELECT every_seconds, retry_delay_seconds, next_run_unix FROM job WHERE name = ?", (job,)).fetchone()
            if r is None:
                return
            wait = r["retry_delay_seconds"] if retry else r["every_seconds"]
            nxt = max(int(time.time()) + wait, r["next_run_unix"] or 0)
            db.execute(
                "UPDATE job SET status = ?, last_error = ?, next_run_unix = ? WHERE name = ?",
                (status, last_error, nxt, job),
            )
