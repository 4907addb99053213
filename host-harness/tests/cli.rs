//! The `email-logging-host` binary as a user runs it.

use serde_json::Value;
use std::process::{Command, Output};

fn host(args: &[&str], data_dir: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_email-logging-host"))
        .args(args)
        .env("EMAIL_LOGGING_HOME", data_dir)
        .env_remove("EMAIL_LOGGING_KEY")
        .env_remove("EMAIL_LOGGING_EMULATOR")
        .output()
        .expect("the binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn demo_json_prints_entries_report_and_mailbox() {
    let dir = tempfile::tempdir().unwrap();
    let out = host(&["demo", "--json"], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("one JSON object on stdout");
    let entries = v["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 10);
    for key in [
        "entry_no",
        "contact_no",
        "contact_company_no",
        "contact_alt_address_code",
        "salesperson_code",
        "interaction_template_code",
        "information_flow",
        "initiated_by",
        "subject",
        "datetime",
        "internet_message_id",
        "message_id",
        "web_link",
        "email_logged",
    ] {
        assert!(entries[0].get(key).is_some(), "entries have {key}");
    }
    assert_eq!(v["report"]["messages_seen"], 13);
    assert_eq!(v["report"]["entries_created"], 10);
    assert_eq!(v["mailbox"]["inbox"], 0);
    assert_eq!(v["mailbox"]["archive"], 8);
    assert_eq!(v["mailbox"]["junkemail"], 1);
    assert_eq!(v["mailbox"]["Not logged"], 5);
}

#[test]
fn demo_human_output_lists_entries() {
    let dir = tempfile::tempdir().unwrap();
    let out = host(&["demo"], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Interaction log entries (10)"), "{text}");
    assert!(text.contains("CT000021"));
}

#[test]
fn a_bad_seed_fails_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("bad.json");
    std::fs::write(&seed, "{\"mailboxes\": 42}").unwrap();
    let out = host(&["demo", "--mailbox", seed.to_str().unwrap()], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.starts_with("error: the mailbox seed is not valid"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    let missing = host(&["crm", "import", "/nonexistent/crm.json"], dir.path());
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).contains("cannot read /nonexistent/crm.json"));
}

#[test]
fn setup_rejects_bad_fields_with_clear_messages() {
    let dir = tempfile::tempdir().unwrap();
    let out = host(
        &[
            "setup",
            "set",
            "--batch-size",
            "0",
            "--shared-mailbox",
            "/o=Org/cn=X",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("batch-size: 0 is out of range"), "{err}");
    assert!(err.contains("shared-mailbox:"), "{err}");
    let ok = host(
        &["setup", "set", "--shared-mailbox", "Logging@Cronus.Example"],
        dir.path(),
    );
    assert!(ok.status.success(), "{}", stderr(&ok));
    let show = host(&["setup", "show"], dir.path());
    let text = String::from_utf8_lossy(&show.stdout);
    assert!(text.contains("logging@cronus.example"), "{text}");
    assert!(text.contains("Batch size:          50"), "{text}");
}

#[test]
fn wrong_usage_exits_with_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = host(&["no-such-command"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    let help = host(&["setup", "--help"], dir.path());
    assert!(String::from_utf8_lossy(&help.stdout).contains("sign-in"));
}

#[test]
fn the_component_speaks_exactly_the_contract() {
    let (imports, exports) = email_logging_host::runtime::component_interface(
        email_logging_host::runtime::EMBEDDED_COMPONENT,
    )
    .unwrap();
    assert_eq!(
        exports,
        ["erp:plugin/processing@0.1.0", "erp:plugin/setup@0.1.0"]
    );
    for i in &imports {
        assert!(
            i.starts_with("erp:host/")
                || i.starts_with("erp:plugin/types@")
                || i.starts_with("wasi:"),
            "unexpected import {i}"
        );
    }
    for wanted in ["http", "crm", "storage", "scheduler", "secrets", "log"] {
        assert!(
            imports.contains(&format!("erp:host/{wanted}@0.1.0")),
            "imports {wanted}: {imports:?}"
        );
    }
    // std on wasip2 needs no sockets and no HTTP from WASI.
    assert!(
        imports
            .iter()
            .all(|i| !i.starts_with("wasi:sockets") && !i.starts_with("wasi:http")),
        "{imports:?}"
    );
}

/// The standalone emulator plus the CLI, step by step, as an administrator
/// would try the product by hand.
#[test]
fn cli_walkthrough_against_the_standalone_emulator() {
    use std::io::Write as _;
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let mut emulator = Command::new(env!("CARGO_BIN_EXE_email-logging-host"))
        .args(["emulator", "--listen", &listen])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    struct Kill<'a>(&'a mut std::process::Child);
    impl Drop for Kill<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _guard = Kill(&mut emulator);
    let up = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        std::net::TcpStream::connect(&listen).is_ok()
    });
    assert!(up, "the emulator listens on {listen}");
    let base = format!("http://{listen}");
    let run = |args: &[&str]| {
        let mut all = vec!["--emulator", base.as_str()];
        all.extend_from_slice(args);
        host(&all, dir.path())
    };
    let crm = dir.path().join("crm.json");
    std::fs::write(&crm, graph_emulator::SAMPLE_CRM).unwrap();
    let o = run(&["crm", "import", crm.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("Imported 3 salespeople, 5 contacts"));

    let mut set = Command::new(env!("CARGO_BIN_EXE_email-logging-host"))
        .args([
            "--emulator",
            &base,
            "setup",
            "set",
            "--shared-mailbox",
            graph_emulator::SAMPLE_MAILBOX,
            "--client-id",
            graph_emulator::DEMO_CLIENT_ID,
            "--redirect-url",
            graph_emulator::DEMO_REDIRECT_URI,
            "--client-secret-stdin",
        ])
        .env("EMAIL_LOGGING_HOME", dir.path())
        .env_remove("EMAIL_LOGGING_KEY")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(
        set.stdin.take().unwrap(),
        "{}",
        graph_emulator::DEMO_CLIENT_SECRET
    )
    .unwrap();
    let o = set.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let shown = String::from_utf8_lossy(&o.stdout);
    assert!(shown.contains("(stored, encrypted)"));
    assert!(
        !shown.contains(graph_emulator::DEMO_CLIENT_SECRET),
        "the secret is never shown"
    );

    let o = run(&["setup", "sign-in"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains(graph_emulator::DEMO_USER));
    let o = run(&["setup", "enable"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&["setup", "validate"]);
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        stderr(&o)
    );

    let o = run(&["run", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["entries_created"], 10);

    let o = run(&["entries", "--contact", "CT000030", "--json"]);
    let entries: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(entries.as_array().unwrap().len(), 3, "Adatum's entries");

    let o = run(&["setup", "disable"]);
    assert!(o.status.success());
    let o = run(&["run"]);
    assert_eq!(o.status.code(), Some(1), "a disabled setup does not run");
    assert!(
        stderr(&o).contains("email logging is not enabled"),
        "{}",
        stderr(&o)
    );
}
