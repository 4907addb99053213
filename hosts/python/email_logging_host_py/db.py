"""The ERP's SQLite database: schema and connection.

One file per data directory. Every write the component asks for is one
transaction (`with db:` commits or rolls back); `busy_timeout` makes a
second writer wait a little before SQLite answers "database is locked",
which the host functions turn into the WIT error `unavailable`.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS salesperson (
    code  TEXT PRIMARY KEY,
    name  TEXT NOT NULL,
    email TEXT
);
CREATE TABLE IF NOT EXISTS contact (
    no         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    type       TEXT NOT NULL DEFAULT 'person',
    company_no TEXT,
    email      TEXT,
    email2     TEXT,
    created_by_email_logging INTEGER NOT NULL DEFAULT 0,
    last_email TEXT
);
CREATE TABLE IF NOT EXISTS contact_alt_address (
    contact_no TEXT NOT NULL REFERENCES contact(no),
    code       TEXT NOT NULL,
    email      TEXT,
    PRIMARY KEY (contact_no, code)
);
CREATE TABLE IF NOT EXISTS setting (
    key   TEXT PRIMARY KEY,
    value TEXT
);
CREATE TABLE IF NOT EXISTS attachment (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    message_key         TEXT NOT NULL,
    mailbox             TEXT NOT NULL,
    message_id          TEXT NOT NULL,
    internet_message_id TEXT,
    web_link            TEXT NOT NULL,
    folder              TEXT,
    link_status         TEXT NOT NULL DEFAULT 'ok'
);
CREATE TABLE IF NOT EXISTS logged_message (
    message_key   TEXT PRIMARY KEY,
    attachment_id INTEGER NOT NULL REFERENCES attachment(id),
    logged_at     TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS interaction_log_entry (
    entry_no                  INTEGER PRIMARY KEY AUTOINCREMENT,
    message_key               TEXT NOT NULL REFERENCES logged_message(message_key),
    attachment_id             INTEGER NOT NULL REFERENCES attachment(id),
    contact_no                TEXT NOT NULL,
    contact_company_no        TEXT,
    contact_alt_address_code  TEXT,
    salesperson_code          TEXT NOT NULL,
    interaction_template_code TEXT NOT NULL,
    information_flow          TEXT NOT NULL,
    initiated_by              TEXT NOT NULL,
    subject                   TEXT NOT NULL,
    datetime                  TEXT NOT NULL,
    email_logged              INTEGER NOT NULL DEFAULT 1,
    opportunity_no            TEXT
);
CREATE TABLE IF NOT EXISTS activity_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          TEXT NOT NULL,
    severity    TEXT NOT NULL,
    description TEXT NOT NULL,
    message_key TEXT
);
CREATE TABLE IF NOT EXISTS plugin_state (
    key     TEXT PRIMARY KEY,
    value   TEXT NOT NULL,
    version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS plugin_secret (
    name       TEXT PRIMARY KEY,
    nonce      BLOB NOT NULL,
    ciphertext BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS job (
    name                TEXT PRIMARY KEY,
    every_seconds       INTEGER NOT NULL,
    max_attempts        INTEGER NOT NULL,
    retry_delay_seconds INTEGER NOT NULL,
    status              TEXT NOT NULL DEFAULT 'ready',
    next_run_unix       INTEGER,
    last_error          TEXT,
    attempts            INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS run_report (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at  TEXT,
    report_json TEXT NOT NULL
);
"""


def open_db(path: Path) -> sqlite3.Connection:
    """Opens (and creates when missing) the ERP database at `path`.

    Autocommit mode (`isolation_level=None`): every transaction is explicit
    (`transaction()`), so nothing is left half-done between host calls.
    """
    conn = sqlite3.connect(str(path), timeout=5.0, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.executescript(SCHEMA)
    return conn


class transaction:
    """`with transaction(conn):` runs a `BEGIN IMMEDIATE` ... `COMMIT` block.

    Rolls back on any exception. The commit is durable when the block ends
    (`synchronous=FULL`).
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.conn.execute("COMMIT")
        else:
            self.conn.execute("ROLLBACK")
