"""Importing a CRM seed (the format of `graph-emulator/seeds/sample-crm.json`).

`{"salespeople": [{"code", "name", "email"}], "contacts": [{"no", "name",
"type": "company"|"person", "company_no", "email", "email2",
"alt_addresses": [{"code", "email"}], "domains": [...]}], "email_template":
"EMAIL", "email_logging": {"company_by_domain", "never_log", "log_sensitive"}}`.
All in one transaction. The `email_logging` policy is returned for the caller
to apply (`log_sensitive` is a setup field of the component; `never_log` is
applied by this host's `decide`).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from .db import transaction


def import_seed(conn: sqlite3.Connection, seed: dict[str, Any]) -> dict[str, Any]:
    """Loads `seed` into the database; answers its `email_logging` policy (or `{}`)."""
    with transaction(conn) as db:
        for sp in seed.get("salespeople", []):
            db.execute(
                "INSERT OR REPLACE INTO salesperson (code, name, email) VALUES (?, ?, ?)",
                (sp["code"], sp.get("name") or sp["code"], sp.get("email")),
            )
        for c in seed.get("contacts", []):
            db.execute(
                "INSERT OR REPLACE INTO contact (no, name, type, company_no, email, email2) VALUES (?, ?, ?, ?, ?, ?)",
                (c["no"], c.get("name") or c["no"], c.get("type") or "person", c.get("company_no"), c.get("email"), c.get("email2")),
            )
            for alt in c.get("alt_addresses") or []:
                db.execute(
                    "INSERT OR REPLACE INTO contact_alt_address (contact_no, code, email) VALUES (?, ?, ?)",
                    (c["no"], alt["code"], alt.get("email")),
                )
        template = seed.get("email_template")
        if template:
            db.execute("INSERT OR REPLACE INTO setting (key, value) VALUES ('email_template', ?)", (template,))
        policy = seed.get("email_logging") or {}
        db.execute(
            "INSERT OR REPLACE INTO setting (key, value) VALUES ('never_log', ?)",
            (json.dumps([a.strip().lower() for a in policy.get("never_log", [])]),),
        )
    return policy


def import_seed_file(conn: sqlite3.Connection, path: Path) -> dict[str, Any]:
    """`import_seed` from a JSON file."""
    return import_seed(conn, json.loads(Path(path).read_text()))
