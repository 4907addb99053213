//! The one place where the schema lives: numbered migrations for each
//! database, applied in order on open. SQLite's `PRAGMA user_version`, and
//! PostgreSQL's `schema_version` table, record how many ran. A change to the
//! schema adds a migration to both lists.

use super::sql::{Conn, Dialect, params};

/// SQLite's migrations, in order.
pub(super) const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE company (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);
CREATE TABLE salesperson (
    company_id INTEGER NOT NULL REFERENCES company(id),
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    email TEXT,
    PRIMARY KEY (company_id, code)
);
CREATE INDEX salesperson_email ON salesperson(company_id, email);
CREATE TABLE contact (
    company_id INTEGER NOT NULL REFERENCES company(id),
    no TEXT NOT NULL,
    name TEXT NOT NULL,
    type TEXT NOT NULL CHECK (type IN ('company', 'person')),
    company_no TEXT,
    email TEXT,
    email2 TEXT,
    PRIMARY KEY (company_id, no)
);
CREATE INDEX contact_email ON contact(company_id, email);
CREATE INDEX contact_email2 ON contact(company_id, email2);
CREATE TABLE contact_alt_address (
    company_id INTEGER NOT NULL,
    contact_no TEXT NOT NULL,
    code TEXT NOT NULL,
    email TEXT,
    PRIMARY KEY (company_id, contact_no, code),
    FOREIGN KEY (company_id, contact_no) REFERENCES contact(company_id, no) ON DELETE CASCADE
);
CREATE INDEX alt_address_email ON contact_alt_address(company_id, email);
CREATE TABLE interaction_template (
    company_id INTEGER NOT NULL REFERENCES company(id),
    code TEXT NOT NULL,
    description TEXT NOT NULL,
    is_email_template INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (company_id, code)
);
-- One row per message logged: the idempotency key of the interaction log.
CREATE TABLE logged_message (
    company_id INTEGER NOT NULL REFERENCES company(id),
    message_key TEXT NOT NULL,
    logged_at TEXT NOT NULL,
    PRIMARY KEY (company_id, message_key)
);
CREATE TABLE interaction_log_entry (
    company_id INTEGER NOT NULL REFERENCES company(id),
    entry_no INTEGER NOT NULL,
    contact_no TEXT NOT NULL,
    contact_company_no TEXT,
    contact_alt_address_code TEXT,
    salesperson_code TEXT NOT NULL,
    interaction_template_code TEXT NOT NULL,
    correspondence_type TEXT NOT NULL DEFAULT 'email',
    information_flow TEXT NOT NULL CHECK (information_flow IN ('inbound', 'outbound')),
    initiated_by TEXT NOT NULL CHECK (initiated_by IN ('us', 'them')),
    description TEXT NOT NULL,
    subject TEXT NOT NULL,
    datetime TEXT NOT NULL,
    email_logged INTEGER NOT NULL DEFAULT 1,
    message_key TEXT NOT NULL,
    PRIMARY KEY (company_id, entry_no),
    UNIQUE (company_id, message_key, contact_no, salesperson_code)
);
CREATE INDEX entry_contact ON interaction_log_entry(company_id, contact_no);
-- The link record of a logged message (Business Central's attachment).
CREATE TABLE attachment (
    company_id INTEGER NOT NULL REFERENCES company(id),
    message_key TEXT NOT NULL,
    message_id TEXT NOT NULL,
    internet_message_id TEXT,
    web_link TEXT NOT NULL,
    PRIMARY KEY (company_id, message_key)
);
CREATE TABLE activity_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    company_id INTEGER NOT NULL REFERENCES company(id),
    at TEXT NOT NULL,
    source TEXT NOT NULL,
    severity TEXT NOT NULL,
    description TEXT NOT NULL,
    message_key TEXT
);
CREATE TABLE job_queue_entry (
    company_id INTEGER NOT NULL REFERENCES company(id),
    job TEXT NOT NULL,
    every_seconds INTEGER NOT NULL,
    max_attempts INTEGER NOT NULL,
    retry_delay_seconds INTEGER NOT NULL,
    next_run INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'ready',
    last_error TEXT,
    last_run_at INTEGER,
    PRIMARY KEY (company_id, job)
);
CREATE TABLE run_report (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    company_id INTEGER NOT NULL REFERENCES company(id),
    job TEXT NOT NULL,
    at TEXT NOT NULL,
    outcome TEXT NOT NULL,
    report_json TEXT
);
CREATE TABLE plugin_state (
    company_id INTEGER NOT NULL REFERENCES company(id),
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (company_id, key)
);
-- Secrets: nonce and ciphertext only; the key never enters the database.
CREATE TABLE plugin_secret (
    company_id INTEGER NOT NULL REFERENCES company(id),
    name TEXT NOT NULL,
    nonce BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    PRIMARY KEY (company_id, name)
);
"#,
    // The run ledger: one row per message per run, so that every run's
    // "seen = logged + not logged + quarantined + deferred" can be checked.
    r#"
CREATE TABLE run_ledger (
    run_id INTEGER NOT NULL REFERENCES run_report(id) ON DELETE CASCADE,
    message_id TEXT NOT NULL,
    internet_message_id TEXT,
    outcome TEXT NOT NULL CHECK (outcome IN ('logged', 'already-logged', 'not-logged', 'quarantined', 'deferred')),
    reason TEXT,
    entries INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX run_ledger_run ON run_ledger(run_id);
"#,
    // Links that last (SPEC §4): where the message was logged from and last
    // seen, and whether `entries repair-links` could find it; opportunities
    // made from entries; indexes for the entry filters.
    r#"
ALTER TABLE attachment ADD COLUMN mailbox TEXT;
ALTER TABLE attachment ADD COLUMN folder TEXT;
ALTER TABLE attachment ADD COLUMN link_status TEXT NOT NULL DEFAULT 'ok'
    CHECK (link_status IN ('ok', 'not-found'));
ALTER TABLE attachment ADD COLUMN link_checked_at TEXT;
CREATE TABLE opportunity (
    company_id INTEGER NOT NULL REFERENCES company(id),
    no TEXT NOT NULL,
    description TEXT NOT NULL,
    contact_no TEXT NOT NULL,
    contact_company_no TEXT,
    salesperson_code TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'not-started'
        CHECK (status IN ('not-started', 'in-progress', 'won', 'lost')),
    created_at TEXT NOT NULL,
    from_entry_no INTEGER,
    PRIMARY KEY (company_id, no)
);
-- One opportunity per entry: creating it twice gives the same one back.
CREATE UNIQUE INDEX opportunity_from_entry ON opportunity(company_id, from_entry_no)
    WHERE from_entry_no IS NOT NULL;
ALTER TABLE interaction_log_entry ADD COLUMN opportunity_no TEXT;
CREATE INDEX entry_salesperson ON interaction_log_entry(company_id, salesperson_code);
CREATE INDEX entry_datetime ON interaction_log_entry(company_id, datetime);
"#,
    // Which process runs a job, so that the next start can tell a run that
    // died with its process (SIGKILL, power loss) from one still going on.
    r#"
ALTER TABLE job_queue_entry ADD COLUMN run_owner TEXT;
"#,
    // The Exchange server a company's current experience reads (its EWS URL's
    // host), which the http import admits for that company and no other.
    r#"
ALTER TABLE company ADD COLUMN exchange_host TEXT;
"#,
    // The company's email-logging policy (what the `decide` and
    // `unknown-parties` extension points answer from), the domains a company
    // contact owns, and which contacts email logging made and when a contact
    // last had an e-mail logged (what `after-log` keeps).
    r#"
CREATE TABLE email_logging_policy (
    company_id INTEGER PRIMARY KEY REFERENCES company(id),
    company_by_domain INTEGER NOT NULL DEFAULT 0
);
-- An address (`hr@contoso.com`) or a domain (`legal.contoso.com`), normalised.
CREATE TABLE never_log (
    company_id INTEGER NOT NULL REFERENCES company(id),
    entry TEXT NOT NULL,
    PRIMARY KEY (company_id, entry)
);
CREATE TABLE withheld_subject_domain (
    company_id INTEGER NOT NULL REFERENCES company(id),
    domain TEXT NOT NULL,
    PRIMARY KEY (company_id, domain)
);
-- Keyed by domain first: company by domain asks who owns a domain.
CREATE TABLE contact_domain (
    company_id INTEGER NOT NULL,
    domain TEXT NOT NULL,
    contact_no TEXT NOT NULL,
    PRIMARY KEY (company_id, domain, contact_no),
    FOREIGN KEY (company_id, contact_no) REFERENCES contact(company_id, no) ON DELETE CASCADE
);
CREATE INDEX contact_domain_contact ON contact_domain(company_id, contact_no);
ALTER TABLE contact ADD COLUMN created_by TEXT;
ALTER TABLE contact ADD COLUMN created_at TEXT;
ALTER TABLE contact ADD COLUMN last_email_at TEXT;
-- The domain of a company contact's own e-mail, for company by domain; the
-- query must spell the expression and the condition exactly so.
CREATE INDEX contact_company_email_domain
    ON contact(company_id, substr(email, instr(email, '@') + 1))
    WHERE type = 'company' AND email IS NOT NULL;
"#,
    // Job leases (many workers share one job queue): who holds the job's
    // lease and until when (Unix milliseconds), and the token that fences
    // the holder's writes, raised at every take-over.
    r#"
ALTER TABLE job_queue_entry ADD COLUMN lease_owner TEXT;
ALTER TABLE job_queue_entry ADD COLUMN lease_until INTEGER;
ALTER TABLE job_queue_entry ADD COLUMN lease_token INTEGER NOT NULL DEFAULT 0;
"#,
    // Which worker ran each run, from when to when (Unix milliseconds), under
    // which lease token: the job queue log shows who ran what, and runs of
    // one job can be seen never to overlap.
    r#"
ALTER TABLE run_report ADD COLUMN worker TEXT;
ALTER TABLE run_report ADD COLUMN started_at_ms INTEGER;
ALTER TABLE run_report ADD COLUMN ended_at_ms INTEGER;
ALTER TABLE run_report ADD COLUMN lease_token INTEGER;
"#,
];

/// PostgreSQL's migrations, in order. The first is SQLite's first seven in one
/// (PostgreSQL came later, with no databases to carry forward); every
/// integer is a `BIGINT`, the one integer type the store reads.
pub(super) const POSTGRES_MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE company (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    exchange_host TEXT
);
CREATE TABLE salesperson (
    company_id BIGINT NOT NULL REFERENCES company(id),
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    email TEXT,
    PRIMARY KEY (company_id, code)
);
CREATE INDEX salesperson_email ON salesperson(company_id, email);
CREATE TABLE contact (
    company_id BIGINT NOT NULL REFERENCES company(id),
    no TEXT NOT NULL,
    name TEXT NOT NULL,
    type TEXT NOT NULL CHECK (type IN ('company', 'person')),
    company_no TEXT,
    email TEXT,
    email2 TEXT,
    created_by TEXT,
    created_at TEXT,
    last_email_at TEXT,
    PRIMARY KEY (company_id, no)
);
CREATE INDEX contact_email ON contact(company_id, email);
CREATE INDEX contact_email2 ON contact(company_id, email2);
CREATE INDEX contact_company_email_domain
    ON contact(company_id, substr(email, strpos(email, '@') + 1))
    WHERE type = 'company' AND email IS NOT NULL;
CREATE TABLE contact_alt_address (
    company_id BIGINT NOT NULL,
    contact_no TEXT NOT NULL,
    code TEXT NOT NULL,
    email TEXT,
    PRIMARY KEY (company_id, contact_no, code),
    FOREIGN KEY (company_id, contact_no) REFERENCES contact(company_id, no) ON DELETE CASCADE
);
CREATE INDEX alt_address_email ON contact_alt_address(company_id, email);
CREATE TABLE interaction_template (
    company_id BIGINT NOT NULL REFERENCES company(id),
    code TEXT NOT NULL,
    description TEXT NOT NULL,
    is_email_template BIGINT NOT NULL DEFAULT 0 CHECK (is_email_template IN (0, 1)),
    PRIMARY KEY (company_id, code)
);
CREATE TABLE logged_message (
    company_id BIGINT NOT NULL REFERENCES company(id),
    message_key TEXT NOT NULL,
    logged_at TEXT NOT NULL,
    PRIMARY KEY (company_id, message_key)
);
CREATE TABLE interaction_log_entry (
    company_id BIGINT NOT NULL REFERENCES company(id),
    entry_no BIGINT NOT NULL,
    contact_no TEXT NOT NULL,
    contact_company_no TEXT,
    contact_alt_address_code TEXT,
    salesperson_code TEXT NOT NULL,
    interaction_template_code TEXT NOT NULL,
    correspondence_type TEXT NOT NULL DEFAULT 'email',
    information_flow TEXT NOT NULL CHECK (information_flow IN ('inbound', 'outbound')),
    initiated_by TEXT NOT NULL CHECK (initiated_by IN ('us', 'them')),
    description TEXT NOT NULL,
    subject TEXT NOT NULL,
    datetime TEXT NOT NULL,
    email_logged BOOLEAN NOT NULL DEFAULT TRUE,
    message_key TEXT NOT NULL,
    opportunity_no TEXT,
    PRIMARY KEY (company_id, entry_no),
    UNIQUE (company_id, message_key, contact_no, salesperson_code)
);
CREATE INDEX entry_contact ON interaction_log_entry(company_id, contact_no);
CREATE INDEX entry_salesperson ON interaction_log_entry(company_id, salesperson_code);
CREATE INDEX entry_datetime ON interaction_log_entry(company_id, datetime);
CREATE TABLE attachment (
    company_id BIGINT NOT NULL REFERENCES company(id),
    message_key TEXT NOT NULL,
    message_id TEXT NOT NULL,
    internet_message_id TEXT,
    web_link TEXT NOT NULL,
    mailbox TEXT,
    folder TEXT,
    link_status TEXT NOT NULL DEFAULT 'ok' CHECK (link_status IN ('ok', 'not-found')),
    link_checked_at TEXT,
    PRIMARY KEY (company_id, message_key)
);
CREATE TABLE activity_log (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    company_id BIGINT NOT NULL REFERENCES company(id),
    at TEXT NOT NULL,
    source TEXT NOT NULL,
    severity TEXT NOT NULL,
    description TEXT NOT NULL,
    message_key TEXT
);
CREATE INDEX activity_log_company ON activity_log(company_id, id);
CREATE TABLE job_queue_entry (
    company_id BIGINT NOT NULL REFERENCES company(id),
    job TEXT NOT NULL,
    every_seconds BIGINT NOT NULL,
    max_attempts BIGINT NOT NULL,
    retry_delay_seconds BIGINT NOT NULL,
    next_run BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'ready',
    last_error TEXT,
    last_run_at BIGINT,
    run_owner TEXT,
    lease_owner TEXT,
    lease_until BIGINT,
    lease_token BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (company_id, job)
);
CREATE INDEX job_queue_entry_due ON job_queue_entry(next_run);
CREATE TABLE run_report (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    company_id BIGINT NOT NULL REFERENCES company(id),
    job TEXT NOT NULL,
    at TEXT NOT NULL,
    outcome TEXT NOT NULL,
    report_json TEXT
);
CREATE INDEX run_report_company ON run_report(company_id, id);
CREATE TABLE run_ledger (
    run_id BIGINT NOT NULL REFERENCES run_report(id) ON DELETE CASCADE,
    message_id TEXT NOT NULL,
    internet_message_id TEXT,
    outcome TEXT NOT NULL CHECK (outcome IN ('logged', 'already-logged', 'not-logged', 'quarantined', 'deferred')),
    reason TEXT,
    entries BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX run_ledger_run ON run_ledger(run_id);
CREATE TABLE plugin_state (
    company_id BIGINT NOT NULL REFERENCES company(id),
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (company_id, key)
);
CREATE TABLE plugin_secret (
    company_id BIGINT NOT NULL REFERENCES company(id),
    name TEXT NOT NULL,
    nonce BYTEA NOT NULL,
    ciphertext BYTEA NOT NULL,
    PRIMARY KEY (company_id, name)
);
CREATE TABLE opportunity (
    company_id BIGINT NOT NULL REFERENCES company(id),
    no TEXT NOT NULL,
    description TEXT NOT NULL,
    contact_no TEXT NOT NULL,
    contact_company_no TEXT,
    salesperson_code TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'not-started'
        CHECK (status IN ('not-started', 'in-progress', 'won', 'lost')),
    created_at TEXT NOT NULL,
    from_entry_no BIGINT,
    PRIMARY KEY (company_id, no)
);
CREATE UNIQUE INDEX opportunity_from_entry ON opportunity(company_id, from_entry_no)
    WHERE from_entry_no IS NOT NULL;
CREATE TABLE email_logging_policy (
    company_id BIGINT PRIMARY KEY REFERENCES company(id),
    company_by_domain BIGINT NOT NULL DEFAULT 0 CHECK (company_by_domain IN (0, 1))
);
CREATE TABLE never_log (
    company_id BIGINT NOT NULL REFERENCES company(id),
    entry TEXT NOT NULL,
    PRIMARY KEY (company_id, entry)
);
CREATE TABLE withheld_subject_domain (
    company_id BIGINT NOT NULL REFERENCES company(id),
    domain TEXT NOT NULL,
    PRIMARY KEY (company_id, domain)
);
CREATE TABLE contact_domain (
    company_id BIGINT NOT NULL,
    domain TEXT NOT NULL,
    contact_no TEXT NOT NULL,
    PRIMARY KEY (company_id, domain, contact_no),
    FOREIGN KEY (company_id, contact_no) REFERENCES contact(company_id, no) ON DELETE CASCADE
);
CREATE INDEX contact_domain_contact ON contact_domain(company_id, contact_no);
"#,
    // SQLite's eighth: who ran each run, when, under which lease token.
    r#"
ALTER TABLE run_report ADD COLUMN worker TEXT;
ALTER TABLE run_report ADD COLUMN started_at_ms BIGINT;
ALTER TABLE run_report ADD COLUMN ended_at_ms BIGINT;
ALTER TABLE run_report ADD COLUMN lease_token BIGINT;
"#,
];

/// The key of the advisory lock that hosts starting together on one
/// PostgreSQL database take to migrate it one at a time.
const MIGRATION_LOCK: i64 = 0x454d_4c47; // "EMLG"

/// Brings the schema up to date, one transaction per migration, refusing a
/// database written by a newer version (its columns would be lost on us).
pub(super) fn migrate(conn: &Conn<'_>) -> anyhow::Result<()> {
    let migrations = match conn.dialect() {
        Dialect::Sqlite => MIGRATIONS,
        Dialect::Postgres => {
            // Under the lock too: two hosts creating the table at once
            // would both find it missing.
            conn.batch("BEGIN")?;
            conn.execute("SELECT pg_advisory_xact_lock(?1)", params![MIGRATION_LOCK])?;
            conn.batch(
                "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL); COMMIT",
            )?;
            POSTGRES_MIGRATIONS
        }
    };
    loop {
        let done = version(conn)?;
        if done > migrations.len() {
            anyhow::bail!(
                "the database was written by a newer version of email-logging-host (schema {done}, this one knows {})",
                migrations.len()
            );
        }
        let Some(sql) = migrations.get(done) else {
            return Ok(());
        };
        // One host at a time: SQLite's write lock, PostgreSQL's advisory lock.
        conn.batch(match conn.dialect() {
            Dialect::Sqlite => "BEGIN IMMEDIATE",
            Dialect::Postgres => "BEGIN",
        })?;
        let applied = (|| {
            if conn.dialect() == Dialect::Postgres {
                conn.execute("SELECT pg_advisory_xact_lock(?1)", params![MIGRATION_LOCK])?;
            }
            if version(conn)? != done {
                // Another host migrated while this one waited.
                return Ok(());
            }
            conn.batch(sql)?;
            set_version(conn, done + 1)
        })();
        match applied {
            Ok(()) => conn.batch("COMMIT")?,
            Err(e) => {
                let _ = conn.batch("ROLLBACK");
                return Err(e);
            }
        }
    }
}

/// How many migrations ran on this database.
pub(super) fn version(conn: &Conn<'_>) -> anyhow::Result<usize> {
    let v: i64 = match conn.dialect() {
        Dialect::Sqlite => conn.query_one("PRAGMA user_version", params![], |r| r.get(0))?,
        Dialect::Postgres => conn
            .query_opt("SELECT version FROM schema_version", params![], |r| {
                r.get(0)
            })?
            .unwrap_or(0),
    };
    Ok(usize::try_from(v).unwrap_or(usize::MAX))
}

fn set_version(conn: &Conn<'_>, v: usize) -> anyhow::Result<()> {
    match conn.dialect() {
        Dialect::Sqlite => conn.batch(&format!("PRAGMA user_version = {v}"))?,
        Dialect::Postgres => {
            conn.batch("DELETE FROM schema_version")?;
            conn.execute(
                "INSERT INTO schema_version(version) VALUES (?1)",
                params![v as i64],
            )?;
        }
    }
    Ok(())
}
