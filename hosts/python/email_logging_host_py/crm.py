"""`erp:host/crm`: salespeople, contacts and the interaction log, in SQLite.

The guarantees the WIT asks for, and how they are kept here:

* `lookup-parties`: one `party` per distinct address, in the order asked;
  contacts best match first (e-mail, e-mail 2, alternative address, then by
  number). Up to 10,000 addresses per call (the WIT asks for at least 1,000).
* `log-page`: one transaction for the whole page, committed before it
  returns; idempotent per message key through the `logged_message` table
  (a key seen before, or twice in the same page, is `already-logged`); a
  message refused on its own gets its `invalid` error and the others are
  still recorded; a busy database fails the whole call as `unavailable`.
* `update-links`: all updates in one transaction; an update whose key has no
  link with `previous-message-id` changes nothing.
* `log-activities`: appended in order, in one transaction.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from typing import Any, Optional

from .db import transaction
from .wit import HostError, field as f, rec

MAX_ADDRESSES = 10_000
MAX_PAGE = 10_000
#: The longest message key (UTF-8 bytes) the interaction log keeps.
MAX_KEY_LEN = 2048
#: The subject column: 100 characters, as Business Central's interaction log entry
#: description and the reference host; the WIT leaves the length to the host.
SUBJECT_LEN = 100
DESCRIPTION_LEN = 2000


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _db_error(e: sqlite3.Error) -> HostError:
    """A database failure as a WIT error: busy or locked is `unavailable`."""
    text = str(e).lower()
    if isinstance(e, sqlite3.OperationalError) and ("locked" in text or "busy" in text):
        return HostError("unavailable", "the database is busy")
    return HostError("internal", f"database error: {type(e).__name__}")


def _is_rfc3339(value: str) -> bool:
    """Whether `value` is an RFC 3339 date-time (with a time zone)."""
    text = value.strip()
    if len(text) < 20 or text[10] not in "Tt":
        return False
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return False
    return parsed.tzinfo is not None


class Crm:
    """The `crm` interface over one SQLite connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    # -- reads ------------------------------------------------------------

    def address_fields(self) -> list[Any]:
        """Every e-mail field of every salesperson and of every person contact."""
        try:
            out: list[Any] = []
            for r in self.conn.execute("SELECT code, email FROM salesperson ORDER BY code"):
                out.append(rec(owner="salesperson", no=r["code"], field="e-mail", value=r["email"]))
            for r in self.conn.execute("SELECT no, type, email, email2 FROM contact ORDER BY no"):
                if r["type"] == "company" and not r["email"]:
                    continue
                out.append(rec(owner="contact", no=r["no"], field="e-mail", value=r["email"]))
                if r["email2"]:
                    out.append(rec(owner="contact", no=r["no"], field="e-mail 2", value=r["email2"]))
            for r in self.conn.execute("SELECT contact_no, code, email FROM contact_alt_address ORDER BY contact_no, code"):
                out.append(
                    rec(owner="contact", no=r["contact_no"], field=f"alternative address {r['code']}", value=r["email"])
                )
            return out
        except sqlite3.Error as e:
            raise _db_error(e) from None

    def lookup_parties(self, addresses: list[str]) -> list[Any]:
        """The salesperson and contacts behind each distinct address, in the order asked."""
        if len(addresses) > MAX_ADDRESSES:
            raise HostError("invalid", f"at most {MAX_ADDRESSES} addresses per call")
        seen: set[str] = set()
        out: list[Any] = []
        try:
            for address in addresses:
                if address in seen:
                    continue
                seen.add(address)
                key = address.strip().lower()
                sp = self.conn.execute(
                    "SELECT code, name FROM salesperson WHERE lower(trim(email)) = ? ORDER BY code LIMIT 1", (key,)
                ).fetchone()
                rows = self.conn.execute(
                    """
                    SELECT no, company_no, NULL AS alt, 0 AS rank FROM contact WHERE lower(trim(email)) = ?1
                    UNION ALL
                    SELECT no, company_no, NULL, 1 FROM contact WHERE lower(trim(email2)) = ?1
                    UNION ALL
                    SELECT c.no, c.company_no, a.code, 2 FROM contact_alt_address a JOIN contact c ON c.no = a.contact_no
                        WHERE lower(trim(a.email)) = ?1
                    ORDER BY rank, no
                    """,
                    (key,),
                ).fetchall()
                contacts: list[Any] = []
                taken: set[str] = set()
                for r in rows:
                    if r["no"] in taken:
                        continue
                    taken.add(r["no"])
                    contacts.append(rec(contact_no=r["no"], company_no=r["company_no"], alt_address_code=r["alt"]))
                out.append(
                    rec(
                        address=address,
                        salesperson=rec(code=sp["code"], name=sp["name"]) if sp else None,
                        contacts=contacts,
                    )
                )
            return out
        except sqlite3.Error as e:
            raise _db_error(e) from None

    def email_interaction_template(self) -> Optional[str]:
        """The interaction template code for e-mails, if set up."""
        try:
            r = self.conn.execute("SELECT value FROM setting WHERE key = 'email_template'").fetchone()
        except sqlite3.Error as e:
            raise _db_error(e) from None
        return r["value"] if r and r["value"] else None

    # -- writes -----------------------------------------------------------

    def _refusal(self, m: Any) -> Optional[HostError]:
        """Why the host refuses one message of a page on its own, if it does."""
        key = f(m, "message_key")
        if not key or len(key.encode("utf-8")) > MAX_KEY_LEN:
            return HostError("invalid", f"the message key is empty or longer than {MAX_KEY_LEN} bytes")
        entries = f(m, "entries")
        if not entries:
            return HostError("invalid", "a message with no entries")
        for e in entries:
            if not _is_rfc3339(f(e, "datetime")):
                return HostError("invalid", "an entry's date is not RFC 3339")
            for name in ("contact_no", "salesperson_code", "interaction_template_code"):
                if not f(e, name):
                    return HostError("invalid", f"an entry has no {name.replace('_', ' ')}")
        return None

    def log_page(self, messages: list[Any]) -> list[Any]:
        """Records the page's entries in one transaction; one outcome per message."""
        if len(messages) > MAX_PAGE:
            raise HostError("invalid", f"at most {MAX_PAGE} messages per call")
        outcomes: list[Any] = []
        try:
            with transaction(self.conn) as db:
                now = _now()
                for m in messages:
                    refusal = self._refusal(m)
                    if refusal is not None:
                        outcomes.append(refusal)
                        continue
                    key = f(m, "message_key")
                    if db.execute("SELECT 1 FROM logged_message WHERE message_key = ?", (key,)).fetchone():
                        outcomes.append("already-logged")
                        continue
                    link = f(m, "link")
                    cur = db.execute(
                        "INSERT INTO attachment (message_key, mailbox, message_id, internet_message_id, web_link, folder)"
                        " VALUES (?, ?, ?, ?, ?, ?)",
                        (
                            key,
                            f(link, "mailbox"),
                            f(link, "message_id"),
                            f(link, "internet_message_id"),
                            f(link, "web_link"),
                            f(link, "folder"),
                        ),
                    )
                    attachment_id = cur.lastrowid
                    db.execute(
                        "INSERT INTO logged_message (message_key, attachment_id, logged_at) VALUES (?, ?, ?)",
                        (key, attachment_id, now),
                    )
                    for e in f(m, "entries"):
                        db.execute(
                            "INSERT INTO interaction_log_entry (message_key, attachment_id, contact_no,"
                            " contact_company_no, contact_alt_address_code, salesperson_code,"
                            " interaction_template_code, information_flow, initiated_by, subject, datetime)"
                            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            (
                                key,
                                attachment_id,
                                f(e, "contact_no"),
                                f(e, "contact_company_no"),
                                f(e, "contact_alt_address_code"),
                                f(e, "salesperson_code"),
                                f(e, "interaction_template_code"),
                                f(e, "information_flow"),
                                f(e, "initiated_by"),
                                str(f(e, "subject"))[:SUBJECT_LEN],
                                f(e, "datetime"),
                            ),
                        )
                    outcomes.append("inserted")
        except sqlite3.Error as e:
            raise _db_error(e) from None
        return outcomes

    def update_links(self, updates: list[Any]) -> None:
        """Replaces links after moves, all in one transaction."""
        try:
            with transaction(self.conn) as db:
                for u in updates:
                    link = f(u, "link")
                    db.execute(
                        "UPDATE attachment SET mailbox = ?, message_id = ?, internet_message_id = ?, web_link = ?,"
                        " folder = COALESCE(?, folder), link_status = 'ok'"
                        " WHERE message_key = ? AND message_id = ?",
                        (
                            f(link, "mailbox"),
                            f(link, "message_id"),
                            f(link, "internet_message_id"),
                            f(link, "web_link"),
                            f(link, "folder"),
                            f(u, "message_key"),
                            f(u, "previous_message_id"),
                        ),
                    )
        except sqlite3.Error as e:
            raise _db_error(e) from None

    def log_activities(self, lines: list[Any]) -> None:
        """Appends activity log lines, in order, in one transaction."""
        try:
            with transaction(self.conn) as db:
                now = _now()
                for line in lines:
                    db.execute(
                        "INSERT INTO activity_log (at, severity, description, message_key) VALUES (?, ?, ?, ?)",
                        (now, f(line, "severity"), str(f(line, "description"))[:DESCRIPTION_LEN], f(line, "message_key")),
                    )
        except sqlite3.Error as e:
            raise _db_error(e) from None


def entries(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every interaction log entry with its link, as the demo's JSON shows them."""
    rows = conn.execute(
        """
        SELECT e.entry_no, e.contact_no, e.contact_company_no, e.contact_alt_address_code, e.salesperson_code,
               e.interaction_template_code, e.information_flow, e.initiated_by, e.subject, e.datetime,
               a.internet_message_id, a.message_id, a.web_link, e.email_logged, a.mailbox, a.folder,
               a.link_status, e.opportunity_no
        FROM interaction_log_entry e JOIN attachment a ON a.id = e.attachment_id
        ORDER BY e.entry_no
        """
    ).fetchall()
    out = []
    for r in rows:
        d = dict(r)
        d["email_logged"] = bool(d["email_logged"])
        out.append(d)
    return out
