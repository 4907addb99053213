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

/// The interactions of a `demo --json` output, sorted.
fn entries(v: &Value) -> Vec<String> {
    let mut list: Vec<String> = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(interaction)
        .collect();
    list.sort();
    list
}

/// What an entry says of the interaction, whatever store the mail came from
/// (ids and links are the store's own).
fn interaction(e: &Value) -> String {
    [
        "internet_message_id",
        "contact_no",
        "contact_company_no",
        "contact_alt_address_code",
        "salesperson_code",
        "interaction_template_code",
        "information_flow",
        "initiated_by",
        "subject",
        "datetime",
    ]
    .map(|k| e[k].to_string())
    .join("|")
}

#[test]
fn demo_over_public_folders_gives_the_same_entries_as_over_graph() {
    let demo = |args: &[&str]| {
        let dir = tempfile::tempdir().unwrap();
        let out = host(args, dir.path());
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        serde_json::from_slice::<Value>(&out.stdout).expect("one JSON object on stdout")
    };
    let graph = demo(&["demo", "--json"]);
    let ews = demo(&["demo", "--experience", "ews", "--json"]);
    assert_eq!(entries(&ews), entries(&graph));
    assert_eq!(
        ews["report"]["messages_seen"],
        graph["report"]["messages_seen"]
    );
    assert_eq!(ews["report"]["not_logged"], graph["report"]["not_logged"]);
    assert_eq!(ews["mailbox"]["Email Logging/Queue"], 0);
    assert_eq!(ews["mailbox"]["Email Logging/Storage"], 8);
    assert_eq!(ews["mailbox"]["Email Logging/Not logged"], 5);
    for e in ews["entries"].as_array().unwrap() {
        let link = e["web_link"].as_str().unwrap();
        assert!(
            link.starts_with("https://exchange.cronus.example/owa/?ItemID="),
            "{link}"
        );
    }
}

/// A mailbox seed without public folders, with what tells the stores apart:
/// no Message-ID, copies of one message, a private one, an alternative
/// address, paging, a second mailbox the demo does not read.
fn varied_seed() -> Value {
    let msg = |imid: Option<&str>, subject: &str, from: &str, to: &[&str], minute: u32| {
        let r = |a: &&str| serde_json::json!({"emailAddress": {"name": a, "address": a}});
        let mut m = serde_json::json!({
            "subject": subject,
            "sender": {"emailAddress": {"address": from}},
            "from": {"emailAddress": {"address": from}},
            "toRecipients": to.iter().map(r).collect::<Vec<_>>(),
            "bccRecipients": [{"emailAddress": {"address": "email-logging@cronus.example"}}],
            "sentDateTime": format!("2026-11-12T10:{minute:02}:00Z"),
            "receivedDateTime": format!("2026-11-12T10:{minute:02}:05Z"),
        });
        if let Some(id) = imid {
            m["internetMessageId"] = id.into();
        }
        m
    };
    let (jo, andy, mindy_home) = (
        "jim.olive@cronus.example",
        "andy.teal@cannongroup.example",
        "mindy.home@martin-mail.example",
    );
    let mut inbox = vec![
        msg(Some("<v1@x>"), "Quote", jo, &[andy], 1),
        msg(None, "No Message-ID here", andy, &[jo], 2),
        msg(Some("<v3@x>"), "Twice", jo, &[andy], 3),
        msg(Some("<v3@x>"), "Twice", jo, &[andy], 4),
        msg(
            Some("<v5@x>"),
            "From home",
            mindy_home,
            &["lina.townsend@cronus.example"],
            5,
        ),
        msg(
            Some("<v6@x>"),
            "Lunch",
            jo,
            &["lina.townsend@cronus.example"],
            6,
        ),
    ];
    let mut private = msg(Some("<v7@x>"), "Private", andy, &[jo], 7);
    private["singleValueExtendedProperties"] =
        serde_json::json!([{"id": "Integer 0x36", "value": "2"}]);
    inbox.push(private);
    for i in 0..60 {
        inbox.push(msg(
            Some(&format!("<p{i}@x>")),
            &format!("Page {i}"),
            andy,
            &[jo],
            10 + i % 50,
        ));
    }
    serde_json::json!({"mailboxes": {
        "email-logging@cronus.example": {"folders": {"inbox": inbox}},
        "someone.else@cronus.example": {"folders": {"inbox": [msg(Some("<other@x>"), "Not read", andy, &[jo], 1)]}},
    }})
}

#[test]
fn demo_over_public_folders_matches_graph_for_any_mailbox_seed() {
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("varied.json");
    std::fs::write(&seed, varied_seed().to_string()).unwrap();
    let seed = seed.to_str().unwrap();
    let demo = |experience: &str| {
        let home = tempfile::tempdir().unwrap();
        let out = host(
            &[
                "demo",
                "--experience",
                experience,
                "--mailbox",
                seed,
                "--json",
            ],
            home.path(),
        );
        assert!(out.status.success(), "{experience}: {}", stderr(&out));
        serde_json::from_slice::<Value>(&out.stdout).expect("one JSON object on stdout")
    };
    let (graph, ews) = (demo("graph"), demo("ews"));
    assert_eq!(entries(&graph).len(), 64, "{graph:#}");
    assert_eq!(entries(&ews), entries(&graph));
    for key in [
        "messages_seen",
        "messages_logged",
        "messages_already_logged",
        "not_logged",
        "messages_quarantined",
        "messages_deferred",
    ] {
        assert_eq!(ews["report"][key], graph["report"][key], "{key}");
    }
    assert_eq!(graph["report"]["messages_deferred"], 0);
    assert_eq!(ews["mailbox"]["Email Logging/Queue"], 0);
    // Both copies of "Twice" are stored; one entry logs them.
    assert_eq!(ews["mailbox"]["Email Logging/Storage"], 65);
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
        ["erp:plugin/processing@0.5.0", "erp:plugin/setup@0.5.0"]
    );
    for i in &imports {
        assert!(
            i.starts_with("erp:host/")
                || i.starts_with("erp:plugin/types@")
                || i.starts_with("wasi:"),
            "unexpected import {i}"
        );
    }
    for wanted in [
        "http",
        "crm",
        "extensions",
        "storage",
        "scheduler",
        "secrets",
        "log",
    ] {
        assert!(
            imports.contains(&format!("erp:host/{wanted}@0.5.0")),
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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The standalone emulator in its own process, and a data directory for the host.
struct Standalone {
    emulator: std::process::Child,
    base: String,
    callback: String,
    dir: tempfile::TempDir,
}

impl Drop for Standalone {
    fn drop(&mut self) {
        let _ = self.emulator.kill();
        let _ = self.emulator.wait();
    }
}

impl Standalone {
    fn start() -> Self {
        Self::start_seeded(None)
    }

    /// Starts the emulator on `seed` (a whole seed document), or on the
    /// built-in sample.
    fn start_seeded(seed: Option<&Value>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let listen = format!("127.0.0.1:{}", free_port());
        let callback = format!("http://127.0.0.1:{}/email-logging/callback", free_port());
        let mut command = Command::new(env!("CARGO_BIN_EXE_email-logging-host"));
        command.args(["emulator", "--listen", &listen, "--redirect-uri", &callback]);
        if let Some(seed) = seed {
            let path = dir.path().join("seed.json");
            std::fs::write(&path, seed.to_string()).unwrap();
            command.arg("--seed").arg(path);
        }
        let emulator = command.stderr(std::process::Stdio::null()).spawn().unwrap();
        let up = (0..200).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(50));
            std::net::TcpStream::connect(&listen).is_ok()
        });
        assert!(up, "the emulator listens on {listen}");
        Self {
            emulator,
            base: format!("http://{listen}"),
            callback,
            dir,
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_email-logging-host"));
        c.args(["--emulator", &self.base])
            .args(args)
            .env("EMAIL_LOGGING_HOME", self.dir.path())
            .env_remove("EMAIL_LOGGING_KEY");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    fn run_with_input(&self, args: &[&str], input: &str) -> Output {
        Self::spawn_with_input(self.command(args), input)
            .wait_with_output()
            .unwrap()
    }

    /// Starts a command with all three streams piped and `input` written to it.
    fn spawn_with_input(mut command: Command, input: &str) -> std::process::Child {
        use std::io::Write as _;
        let mut child = command
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child
    }

    /// Runs a command that prints an authorize URL and waits for the
    /// redirect, and plays the browser: follows the printed URL with a plain
    /// HTTP client (to the emulator, which consents at once) and then the
    /// redirect (to the host's callback). Returns the command's output.
    fn with_browser(&self, args: &[&str], input: &str) -> (Output, String) {
        use std::io::{BufRead as _, Read as _};
        let mut command = self.command(args);
        command.env("EMAIL_LOGGING_LOG", "debug");
        let mut child = Self::spawn_with_input(command, input);
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut seen = String::new();
        let mut line = String::new();
        let url = loop {
            line.clear();
            assert!(
                stdout.read_line(&mut line).unwrap() > 0,
                "no authorize URL printed; output so far:\n{seen}"
            );
            seen.push_str(&line);
            if line.starts_with("https://login.microsoftonline.com/") {
                break line.trim().to_string();
            }
        };
        let rt = tokio::runtime::Runtime::new().unwrap();
        let page = rt.block_on(async {
            let client = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap();
            let to_emulator = url.replacen("https://login.microsoftonline.com", &self.base, 1);
            let consent = client.get(&to_emulator).send().await.unwrap();
            assert_eq!(consent.status().as_u16(), 302, "the emulator consents");
            let location = consent.headers()["location"].to_str().unwrap().to_string();
            assert!(location.starts_with(&self.callback), "{location}");
            // The host may need a moment before it listens.
            for _ in 0..100 {
                if let Ok(r) = client.get(&location).send().await {
                    return r.text().await.unwrap();
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            panic!("the host's callback never answered");
        });
        let mut rest = String::new();
        stdout.read_to_string(&mut rest).unwrap();
        seen.push_str(&rest);
        let mut out = child.wait_with_output().unwrap();
        out.stdout = seen.into_bytes();
        (out, page)
    }

    /// `setup set` with the emulator's demo app, the secret on standard input.
    fn set_up_app(&self) -> Output {
        self.run_with_input(
            &[
                "setup",
                "set",
                "--shared-mailbox",
                graph_emulator::SAMPLE_MAILBOX,
                "--client-id",
                graph_emulator::DEMO_CLIENT_ID,
                "--redirect-url",
                &self.callback,
                "--client-secret-stdin",
            ],
            &format!("{}\n", graph_emulator::DEMO_CLIENT_SECRET),
        )
    }

    /// All stored secrets, decrypted with the host's key file.
    fn secrets(&self) -> Vec<String> {
        let db = email_logging_host::store::Store::open(&self.dir.path().join("email-logging.db"))
            .unwrap();
        let key = email_logging_host::crypto::SecretBox::load(&self.dir.path().join("secret.key"))
            .unwrap();
        email_logging_host::store::plugin_state::sealed_secrets(&db)
            .unwrap()
            .into_iter()
            .map(|s| {
                key.open(
                    &format!("{}/{}", s.company_id, s.name),
                    &s.nonce,
                    &s.ciphertext,
                )
                .unwrap()
            })
            .collect()
    }
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), stderr(o))
}

/// The standalone emulator plus the CLI, step by step, as an administrator
/// would try the product by hand, including a real redirect to the host's
/// callback; afterwards no secret or token appears in anything printed.
#[test]
fn cli_walkthrough_against_the_standalone_emulator() {
    let st = Standalone::start();
    let mut printed = String::new();
    let crm = st.dir.path().join("crm.json");
    std::fs::write(&crm, graph_emulator::SAMPLE_CRM).unwrap();
    let o = st.run(&["crm", "import", crm.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("Imported 3 salespeople, 5 contacts"));

    let o = st.set_up_app();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("(stored, encrypted)"));
    printed += &text(&o);

    let (o, page) = st.with_browser(&["setup", "sign-in", "--timeout-seconds", "60"], "");
    assert!(o.status.success(), "{}", text(&o));
    assert!(page.contains("Sign-in received"), "{page}");
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .contains(&format!("Signed in as {}", graph_emulator::DEMO_USER))
    );
    printed += &text(&o);
    let show = st.run(&["setup", "show"]);
    assert!(
        String::from_utf8_lossy(&show.stdout).contains(graph_emulator::DEMO_USER),
        "the account is shown"
    );
    printed += &text(&show);

    for step in [
        &["setup", "enable"][..],
        &["setup", "validate"],
        &["setup", "renew-token"],
        &["setup", "recreate-job"],
    ] {
        let o = st
            .command(step)
            .env("EMAIL_LOGGING_LOG", "debug")
            .output()
            .unwrap();
        assert!(o.status.success(), "{step:?}: {}", text(&o));
        printed += &text(&o);
    }
    let o = st
        .command(&["run", "--json"])
        .env("EMAIL_LOGGING_LOG", "debug")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    printed += &text(&o);
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["entries_created"], 10);

    let o = st.run(&["entries", "--contact", "CT000030", "--json"]);
    let entries: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(entries.as_array().unwrap().len(), 3, "Adatum's entries");

    let mut secrets = st.secrets();
    assert!(
        secrets.len() >= 3,
        "client secret, refresh token, access token stored"
    );
    // A wrong secret: a clear error, without the secret.
    let o = st.run_with_input(
        &["setup", "set", "--client-secret-stdin"],
        "Wrong~Secret.Value-123456\n",
    );
    assert!(o.status.success());
    let o = st.run(&["setup", "renew-token"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("AADSTS7000215"), "{}", stderr(&o));
    printed += &text(&o);

    secrets.extend(st.secrets());
    for s in secrets
        .iter()
        .chain([graph_emulator::DEMO_CLIENT_SECRET.to_string()].iter())
    {
        let needle = s.split('"').max_by_key(|p| p.len()).unwrap();
        assert!(
            !printed.contains(needle),
            "a secret or token was printed or logged"
        );
    }
    assert!(
        printed.contains("DEBUG"),
        "debug logging was on, so the check means something"
    );

    let o = st.run(&["setup", "disable"]);
    assert!(o.status.success());
    let o = st.run(&["run"]);
    assert_eq!(o.status.code(), Some(1), "a disabled setup does not run");
    assert!(
        stderr(&o).contains("email logging is not enabled"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn the_wizard_walks_through_the_setup_with_re_prompts() {
    let st = Standalone::start();
    let crm = st.dir.path().join("crm.json");
    std::fs::write(&crm, graph_emulator::SAMPLE_CRM).unwrap();
    assert!(
        st.run(&["crm", "import", crm.to_str().unwrap()])
            .status
            .success()
    );
    let script = [
        "imap",        // not a mail store: asked again
        "",            // the mail store: Microsoft Graph, the default
        "robot",       // not a mode: asked again
        "application", // mode
        "common",      // refused for application mode? accepted here, checked at validation
        "not a guid",  // client id: asked again
        graph_emulator::DEMO_CLIENT_ID,
        graph_emulator::DEMO_CLIENT_SECRET,
        "",               // redirect URL: the default
        "not-an-address", // mailbox: asked again
        graph_emulator::SAMPLE_MAILBOX,
        "",      // storage folder: default archive
        "5000",  // batch size: asked again
        "abc",   // asked again
        "",      // default 50
        "maybe", // private mail: asked again
        "",      // not logged, the default
        "yes",   // enable (not reached: validation fails)
    ]
    .join("\n");
    let o = st.run_with_input(&["setup", "wizard"], &format!("{script}\n"));
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("answer graph or ews"), "{out}");
    assert!(
        out.contains("Exchange Online (Microsoft Graph) or public folders / Exchange on-premises (EWS)? (graph or ews) [graph]: "),
        "the first question, Graph by default: {out}"
    );
    assert!(out.contains("answer delegated or application"), "{out}");
    assert!(out.contains("a GUID like"), "{out}");
    assert!(out.contains("is not an e-mail address"), "{out}");
    assert!(out.contains("5000 is out of range"), "{out}");
    assert!(out.contains("'abc' is not a number"), "{out}");
    assert!(
        out.contains("Log mail its sender marked private or confidential? (yes/no) [no]: "),
        "{out}"
    );
    assert!(out.contains("answer yes or no, not 'maybe'"), "{out}");
    assert!(
        out.contains("[FAIL] token: application sign-in needs the tenant"),
        "{out}"
    );
    assert!(
        out.contains("adminconsent"),
        "the admin consent address is offered: {out}"
    );

    // Again, with the tenant put right: everything else keeps its answer.
    let script = [
        "",
        "",
        graph_emulator::DEMO_TENANT_ID,
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        "yes",
    ]
    .join("\n");
    let o = st.run_with_input(&["setup", "wizard"], &format!("{script}\n"));
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("[pass] token: an application token was obtained"),
        "{out}"
    );
    assert!(out.contains("Enabled:         yes"), "{out}");
    let o = st.run(&["run", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn the_wizard_signs_in_for_delegated_mode_and_stops_cleanly_on_end_of_input() {
    let st = Standalone::start();
    let crm = st.dir.path().join("crm.json");
    std::fs::write(&crm, graph_emulator::SAMPLE_CRM).unwrap();
    assert!(
        st.run(&["crm", "import", crm.to_str().unwrap()])
            .status
            .success()
    );
    let script = [
        "graph",
        "delegated",
        "",
        graph_emulator::DEMO_CLIENT_ID,
        graph_emulator::DEMO_CLIENT_SECRET,
        st.callback.as_str(),
        graph_emulator::SAMPLE_MAILBOX,
        "",
        "",
        "yes",                       // private mail is logged
        graph_emulator::DEMO_USER_2, // the job account
        "yes",
    ]
    .join("\n");
    let (o, _) = st.with_browser(&["setup", "wizard"], &format!("{script}\n"));
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains(&format!("Signed in as {}", graph_emulator::DEMO_USER_2)),
        "{out}"
    );
    assert!(out.contains("Enabled:         yes"), "{out}");
    let shown = text(&st.run(&["setup", "show"]));
    assert!(shown.contains("Sensitive mail:      logged"), "{shown}");

    let o = st.run_with_input(&["setup", "wizard"], "\ndelegated\n");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("the setup wizard was cancelled"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn the_key_can_be_rotated() {
    let st = Standalone::start();
    let o = st.run_with_input(
        &["setup", "set", "--client-secret-stdin"],
        "Some~Secret.Value-987654\n",
    );
    assert!(o.status.success(), "{}", text(&o));
    let key_before = std::fs::read_to_string(st.dir.path().join("secret.key")).unwrap();
    let o = st.run(&["key", "rotate"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("Re-encrypted 1 secrets"));
    assert_ne!(
        std::fs::read_to_string(st.dir.path().join("secret.key")).unwrap(),
        key_before
    );
    assert_eq!(st.secrets(), ["Some~Secret.Value-987654"]);
    let show = st.run(&["setup", "show"]);
    assert!(String::from_utf8_lossy(&show.stdout).contains("(stored, encrypted)"));
}

#[test]
fn the_current_experience_is_set_up_with_its_password_kept_apart() {
    const PASSWORD: &str = "Exchange~Pa55word.Never-Stored_Plain";
    let st = Standalone::start();
    let o = st.run(&[
        "setup",
        "set",
        "--experience",
        "ews",
        "--ews-url",
        "https://mail.contoso.com/EWS/Exchange.asmx",
        "--ews-account",
        "Logging@Contoso.com",
        "--queue-folder",
        "Email Logging / Queue",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = st.run_with_input(
        &["setup", "set", "--ews-password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    assert!(o.status.success(), "{}", text(&o));
    let shown = text(&o);
    for line in [
        "Mail store:          ews (public folders over Exchange Web Services)",
        "EWS URL:             https://mail.contoso.com/EWS/Exchange.asmx",
        "EWS account:         logging@contoso.com",
        "EWS password:        (stored, encrypted)",
        "Queue folder:        Email Logging/Queue",
        "EWS storage folder:  Email Logging/Storage",
    ] {
        assert!(shown.contains(line), "{line:?} in\n{shown}");
    }
    assert!(!shown.contains(PASSWORD));
    assert_eq!(st.secrets(), [PASSWORD], "kept as a secret, encrypted");
    let db = std::fs::read(st.dir.path().join("email-logging.db")).unwrap();
    assert!(
        !db.windows(PASSWORD.len()).any(|w| w == PASSWORD.as_bytes()),
        "the password is not in the database file in the clear"
    );

    // The storage folder must differ from the queue; http and no endpoint are refused.
    for (args, says) in [
        (
            vec!["--ews-storage-folder", "email logging/QUEUE"],
            "must differ from the queue folder",
        ),
        (
            vec!["--ews-url", "http://mail.contoso.com/EWS/Exchange.asmx"],
            "must use https",
        ),
        (
            vec!["--ews-url", "https://mail.contoso.com/owa/"],
            "ends in /EWS/Exchange.asmx",
        ),
    ] {
        let o = st.run(&[&["setup", "set"][..], &args].concat());
        assert!(!o.status.success(), "{args:?}");
        assert!(text(&o).contains(says), "{args:?}: {}", text(&o));
    }
    let o = st.run_with_input(&["setup", "set", "--ews-password-stdin"], "\n");
    assert!(!o.status.success());
    assert!(
        text(&o).contains("ews-password: standard input held no secret"),
        "{}",
        text(&o)
    );
    assert_eq!(
        st.secrets(),
        [PASSWORD],
        "an empty line keeps the stored password"
    );
}

/// The wizard's other mail store: public folders on the company's own
/// Exchange server (the standalone emulator's, routed) with Basic
/// authentication, each wrong answer refused with the component's message;
/// the checklist passes, logging is enabled and the job logs the queue. The
/// password is printed nowhere, even with debug logging, and the database
/// file holds it only encrypted.
#[test]
fn the_wizard_sets_up_public_folders_over_ews_with_basic_authentication() {
    const ACCOUNT: &str = "email-logging@cronus.example";
    const PASSWORD: &str = "Wizard~Ews.Pa55word-Never-Shown";
    const QUEUE: &str = "Email Logging/Queue";
    const URL: &str = "https://mail.contoso.example/EWS/Exchange.asmx";
    // The sample Inbox, delivered to the public queue folder instead.
    let mut seed: Value = serde_json::from_str(graph_emulator::SAMPLE_SEED).unwrap();
    let inbox = std::mem::replace(
        &mut seed["mailboxes"][graph_emulator::SAMPLE_MAILBOX]["folders"]["inbox"],
        serde_json::json!([]),
    );
    seed["public_folders"] = serde_json::json!({QUEUE: inbox, "Email Logging/Storage": []});
    seed["accounts"] = serde_json::json!({ACCOUNT: {"password": PASSWORD}});
    let st = Standalone::start_seeded(Some(&seed));
    let crm = st.dir.path().join("crm.json");
    std::fs::write(&crm, graph_emulator::SAMPLE_CRM).unwrap();
    assert!(
        st.run(&["crm", "import", crm.to_str().unwrap()])
            .status
            .success()
    );
    let wizard = |script: &[&str]| {
        let mut command = st.command(&["setup", "wizard"]);
        command.env("EMAIL_LOGGING_LOG", "debug");
        let o = Standalone::spawn_with_input(command, &format!("{}\n", script.join("\n")))
            .wait_with_output()
            .unwrap();
        (o.status.success(), text(&o))
    };
    let (ok, out) = wizard(&[
        "ews",
        "http://mail.contoso.example/EWS/Exchange.asmx", // refused: not https
        "https://mail.contoso.example/owa/",             // refused: not the endpoint
        URL,
        "",               // authentication: basic, the default for one's own server
        "not-an-address", // the account: asked again
        ACCOUNT,
        "", // the password: none is stored, so asked again
        PASSWORD,
        "",                    // the queue folder: the default
        "email logging/QUEUE", // the storage folder: the queue itself, refused
        "",                    // the storage folder: the default
        "",                    // messages per page: the default
        "",                    // private mail: not logged, the default
        "yes",                 // enable
    ]);
    assert!(ok, "{out}");
    for says in [
        "(graph or ews) [graph]: ",
        &format!(
            "Exchange service URL [{}]: ",
            "https://outlook.office365.com/EWS/Exchange.asmx"
        ),
        "must use https",
        "ends in /EWS/Exchange.asmx",
        "Authentication (basic or oauth2) [basic]: ",
        "is not an e-mail address",
        "the account's password is needed",
        "Queue folder (public folder path) [Email Logging/Queue]: ",
        "must differ from the queue folder",
        "[pass] move to the storage folder",
        "Exchange URL:    https://mail.contoso.example/EWS/Exchange.asmx",
        "Account:         email-logging@cronus.example",
        "Sign-in:         basic, the password stored encrypted",
        "Queue folder:    Email Logging/Queue",
        "Storage folder:  Email Logging/Storage",
        "Enabled:         yes",
    ] {
        assert!(out.contains(says), "{says:?} in\n{out}");
    }
    assert!(!out.contains("[FAIL]"), "{out}");
    assert!(
        !out.contains("Sign in again") && !out.contains("login.microsoftonline.com"),
        "no interactive sign-in: {out}"
    );
    assert!(out.contains("DEBUG"), "debug logging was on: {out}");
    let mut printed = out;

    // Again, Enter all the way: the stored choices, the password kept.
    let (ok, out) = wizard(&["", "", "", "", "", "", "", "", "", "yes"]);
    assert!(ok, "{out}");
    assert!(out.contains("(graph or ews) [ews]: "), "{out}");
    assert!(
        out.contains("Password of the account [keep the stored one]: "),
        "{out}"
    );
    assert!(out.contains("Enabled:         yes"), "{out}");
    printed += &out;
    assert_eq!(st.secrets(), [PASSWORD], "one secret: the password");

    let o = st
        .command(&["run", "--json"])
        .env("EMAIL_LOGGING_LOG", "debug")
        .output()
        .unwrap();
    // The sample's message without a Message-ID is found again after its
    // move into a public folder by its subject: the run is wholly done.
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (
            &report["messages_logged"],
            &report["entries_created"],
            &report["messages_deferred"]
        ),
        (&7.into(), &10.into(), &0.into()),
        "{report}"
    );
    printed += &text(&o);
    let o = st.run(&["setup", "show"]);
    printed += &text(&o);

    assert!(!printed.contains(PASSWORD), "the password was printed");
    // The database file and its write-ahead log, if it has one.
    for file in ["email-logging.db", "email-logging.db-wal"] {
        let bytes = std::fs::read(st.dir.path().join(file)).unwrap_or_default();
        assert!(
            !bytes
                .windows(PASSWORD.len())
                .any(|w| w == PASSWORD.as_bytes()),
            "the password is not in {file} in the clear"
        );
    }
}

#[test]
fn serve_offers_the_sign_in_pages() {
    let st = Standalone::start();
    let o = st.set_up_app();
    assert!(o.status.success(), "{}", text(&o));
    let listen = url::Url::parse(&st.callback).unwrap();
    let listen = format!("127.0.0.1:{}", listen.port().unwrap());
    let mut serve = st
        .command(&["serve", "--listen", &listen, "--poll-seconds", "1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The page's address, with its token, is the first thing serve prints.
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(serve.stderr.take().unwrap()));
    let entry = lines
        .find_map(|l| l.ok()?.strip_prefix("Web page on ").map(str::to_string))
        .expect("serve prints the page's address");
    let token = entry.split_once("?token=").expect("a token").1.to_string();
    assert!(token.len() >= 40, "a long random token: {token}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let page = rt.block_on(async {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let sign_in = format!("http://{listen}/email-logging/sign-in?company=CRONUS");
        let mut refused = None;
        for _ in 0..200 {
            if let Ok(r) = client.get(&sign_in).send().await {
                refused = Some(r);
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let refused = refused.expect("serve listens");
        assert_eq!(refused.status().as_u16(), 401, "no token, no sign-in");
        // Every answer tells the browser what the page may do.
        let h = refused.headers();
        assert_eq!(h["referrer-policy"], "same-origin");
        assert_eq!(h["x-frame-options"], "DENY");
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
            "{csp}"
        );
        // Another site's name pointed at 127.0.0.1 gets nothing, token or not.
        let rebound = client
            .get(format!("http://{listen}/c/CRONUS/jobs?token={token}"))
            .header("host", "evil.example")
            .send()
            .await
            .unwrap();
        assert_eq!(rebound.status().as_u16(), 421, "DNS rebinding is refused");
        // A deep link with the token becomes a cookie and a clean address.
        let deep = client
            .get(format!(
                "http://{listen}/c/CRONUS/contacts?token={token}&search=x"
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(deep.status().as_u16(), 303);
        assert_eq!(deep.headers()["location"], "/c/CRONUS/contacts?search=x");
        assert!(
            deep.headers()["set-cookie"]
                .to_str()
                .unwrap()
                .contains("HttpOnly")
        );
        let wrong = client
            .get(format!("{sign_in}&token=x{}", &token[1..]))
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status().as_u16(), 401, "a wrong token is refused");
        let start = client
            .get(format!("{sign_in}&token={token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(start.status().as_u16(), 303, "a redirect to Entra ID");
        let authorize = start.headers()["location"].to_str().unwrap().to_string();
        // With the emulator standing in for Entra ID, the browser goes to it.
        assert!(
            authorize.starts_with(&format!("{}/", st.base))
                && authorize.contains("/oauth2/v2.0/authorize?"),
            "{authorize}"
        );
        let consent = client.get(&authorize).send().await.unwrap();
        let back = consent.headers()["location"].to_str().unwrap().to_string();
        let done = client.get(&back).send().await.unwrap();
        assert_eq!(done.status().as_u16(), 200);
        // The same redirect again is refused: a sign-in completes once.
        let again = client.get(&back).send().await.unwrap();
        assert_eq!(again.status().as_u16(), 400);
        done.text().await.unwrap()
    });
    let _ = serve.kill();
    let _ = serve.wait();
    assert!(
        page.contains(&format!("Signed in as {}", graph_emulator::DEMO_USER)),
        "{page}"
    );
    let show = st.run(&["setup", "show"]);
    assert!(String::from_utf8_lossy(&show.stdout).contains(graph_emulator::DEMO_USER));
}

#[test]
fn the_demo_survives_a_faulty_day() {
    let dir = tempfile::tempdir().unwrap();
    let out = host(
        &[
            "demo",
            "--json",
            "--throttle",
            "--latency",
            "list=5ms,move=5ms",
            "--faults",
            "429=0.1,500=0.05,503=0.05,reset=0.05,truncated=0.05,retry-after=10ms,seed=11",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["entries"].as_array().unwrap().len(),
        10,
        "the same result as a good day"
    );
    assert_eq!(v["mailbox"]["inbox"], 0);
    assert_eq!(v["mailbox"]["archive"], 8);
    let bad = host(&["demo", "--faults", "502=0.1"], dir.path());
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("unknown fault"), "{}", stderr(&bad));
}

/// The ERP side from the command line: CSV import with errors by line and
/// nothing half-imported, the entry list and its filters, opening an
/// entry's message, opportunities, the activity log, the job queue, mailbox
/// stats and link repair.
#[test]
fn records_entries_and_opportunities_from_the_command_line() {
    let st = Standalone::start();
    let dir = st.dir.path();
    let crm = dir.join("crm.json");
    std::fs::write(&crm, graph_emulator::SAMPLE_CRM).unwrap();
    assert!(
        st.run(&["crm", "import", crm.to_str().unwrap()])
            .status
            .success()
    );
    let contacts = |st: &Standalone| -> Vec<Value> {
        let o = st.run(&["crm", "contacts", "--json"]);
        assert!(o.status.success(), "{}", text(&o));
        serde_json::from_slice::<Value>(&o.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    };
    assert_eq!(contacts(&st).len(), 5);

    // A bad CSV file: every problem by file and line, and nothing imported.
    let bad = dir.join("contacts.csv");
    std::fs::write(
        &bad,
        "no,name,type,company_no,email\nCT9001,Ok Person,person,,ok@new.example\nCT9002,Bad,robot,,bad-address\n",
    )
    .unwrap();
    let o = st.run(&["crm", "import", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = stderr(&o);
    assert!(err.contains("nothing was imported: 2 problems"), "{err}");
    assert!(
        err.contains("contacts.csv:3: email \"bad-address\" is not an e-mail address"),
        "{err}"
    );
    assert!(err.contains("contacts.csv:3: type must be"), "{err}");
    assert_eq!(
        contacts(&st).len(),
        5,
        "the good row was not imported either"
    );
    // Good files, together; the record type from the name or --type.
    std::fs::write(
        &bad,
        "no,name,type,company_no,email\nCT9001,New Person,person,CT000030,new@adatum.example\n",
    )
    .unwrap();
    let alt = dir.join("more.csv");
    std::fs::write(
        &alt,
        "contact_no,code,email\nCT9001,HOME,new@home.example\n",
    )
    .unwrap();
    let o = st.run(&[
        "crm",
        "import",
        bad.to_str().unwrap(),
        alt.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "more.csv says nothing of its type"
    );
    assert!(stderr(&o).contains("--type"), "{}", text(&o));
    let o = st.run(&[
        "crm",
        "import",
        alt.to_str().unwrap(),
        "--type",
        "alt-addresses",
    ]);
    assert_eq!(o.status.code(), Some(1), "its contact does not exist yet");
    assert!(
        stderr(&o).contains("more.csv:2: there is no contact \"CT9001\""),
        "{}",
        text(&o)
    );
    let renamed = dir.join("alt-addresses.csv");
    std::fs::rename(&alt, &renamed).unwrap();
    let o = st.run(&[
        "crm",
        "import",
        renamed.to_str().unwrap(),
        bad.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("1 contacts, 1 alternative addresses"),
        "{}",
        text(&o)
    );
    assert_eq!(contacts(&st).len(), 6);

    // Log the sample mailbox.
    assert!(st.set_up_app().status.success());
    let (o, _) = st.with_browser(&["setup", "sign-in", "--timeout-seconds", "60"], "");
    assert!(o.status.success(), "{}", text(&o));
    assert!(st.run(&["setup", "enable"]).status.success());
    let o = st.run(&["run"]);
    assert!(o.status.success(), "{}", text(&o));

    // The table, and the filters.
    let o = st.run(&["entries"]);
    let table = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        table.contains("Subject") && table.contains("Salesperson"),
        "{table}"
    );
    assert!(table.contains("Adatum framework agreement"), "{table}");
    assert!(table.trim_end().ends_with("10 entries"), "{table}");
    let list = |args: &[&str]| -> Vec<Value> {
        let mut all = vec!["entries", "--json"];
        all.extend_from_slice(args);
        let o = st.run(&all);
        assert!(o.status.success(), "{args:?}: {}", text(&o));
        serde_json::from_slice::<Value>(&o.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    };
    let lt = list(&["--salesperson", "LT"]);
    assert_eq!(lt.len(), 4);
    assert!(lt.iter().all(|e| e["salesperson_code"] == "LT"));
    let days = list(&["--from", "2026-11-03", "--to", "2026-11-04"]);
    assert_eq!(days.len(), 3, "{days:?}");
    assert!(days.iter().all(|e| {
        let d = e["datetime"].as_str().unwrap();
        ("2026-11-03".."2026-11-05").contains(&&d[..10])
    }));
    assert_eq!(
        list(&["--contact", "CT000030", "--salesperson", "JO"]).len(),
        1
    );
    assert_eq!(
        list(&["--contact", "CT000010"]).len(),
        4,
        "a company shows its people's entries"
    );
    let o = st.run(&["entries", "--from", "2026-11-05", "--to", "2026-11-01"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("is after"), "{}", text(&o));
    let o = st.run(&["entries", "--from", "5 November"]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "a date that is not one is wrong usage"
    );

    // Opening an entry's message: the link opens it (here, in the emulator).
    let adatum = list(&["--contact", "CT000030", "--salesperson", "LT"]);
    let no = adatum[0]["entry_no"].as_i64().unwrap().to_string();
    let o = st.run(&["entries", "open", &no]);
    assert!(o.status.success(), "{}", text(&o));
    let link = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert!(
        link.starts_with(&format!("{}/owa/?ItemID=", st.base)),
        "{link}"
    );
    let (status, page) = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let r = reqwest::get(&link).await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    });
    assert_eq!(status, 200);
    assert!(page.contains("Adatum framework agreement"), "{page}");
    let o = st.run(&["entries", "open", "999"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("no interaction log entry 999"),
        "{}",
        text(&o)
    );

    // An opportunity from the entry, once.
    let o = st.run(&["opportunity", "create", "--from-entry", &no, "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let opp: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(opp["no"], "OP00001");
    assert_eq!(opp["contact_no"], "CT000030");
    assert_eq!(opp["salesperson_code"], "LT");
    assert_eq!(opp["description"], "Adatum framework agreement");
    assert_eq!(opp["from_entry_no"].as_i64(), no.parse().ok());
    let o = st.run(&["opportunity", "create", "--from-entry", &no]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("has opportunity OP00001 "),
        "{}",
        text(&o)
    );
    let o = st.run(&["opportunities", "--json"]);
    let all: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(all.as_array().unwrap().len(), 1);
    let entry = list(&[])
        .into_iter()
        .find(|e| e["entry_no"].as_i64() == no.parse().ok())
        .unwrap();
    assert_eq!(entry["opportunity_no"], "OP00001", "the entry links to it");
    let o = st.run(&["opportunities"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("OP00001"),
        "{}",
        text(&o)
    );

    // The activity log, the job queue, the mailbox.
    let o = st.run(&["activity-log", "--json"]);
    let log: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        log.as_array().unwrap().iter().any(|a| a["description"]
            .as_str()
            .unwrap()
            .contains("not logged (draft)")),
        "{log}"
    );
    let o = st.run(&["jobs", "--json"]);
    let jobs: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(jobs["jobs"][0]["job"], "email-logging");
    assert_eq!(jobs["jobs"][0]["status"], "ready");
    assert!(jobs["jobs"][0]["last_run_at"].is_i64(), "{jobs}");
    assert_eq!(jobs["log"][0]["outcome"], "success");
    assert_eq!(jobs["log"][0]["report"]["entries_created"], 10);
    let o = st.run(&["jobs"]);
    let table = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        table.contains("Next run") && table.contains("email-logging"),
        "{table}"
    );
    let o = st.run(&["mailbox", "stats", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let stats: Value = serde_json::from_slice(&o.stdout).unwrap();
    let count = |role: &str| {
        stats
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["role"] == role)
            .unwrap()["item_count"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(
        (count("inbox"), count("storage"), count("not-logged")),
        (0, 8, 5)
    );
    let o = st.run(&["mailbox", "stats"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("1000000"),
        "{}",
        text(&o)
    );

    // Links are all right: repair checks them and changes nothing.
    let o = st.run(&["entries", "repair-links", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    // Seven messages were logged (an eighth was a second copy of one).
    assert_eq!(r["checked"], 7, "{r}");
    assert_eq!(r["unchanged"], 7, "{r}");
    let o = st.run(&["entries", "repair-links"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("Checked 7 links: 0 repaired, 7 already right"),
        "{}",
        text(&o)
    );
}

/// One JSON value from a command's standard output.
fn json_out(o: &Output) -> Value {
    assert!(o.status.success(), "{}", text(o));
    serde_json::from_slice(&o.stdout).expect("JSON on stdout")
}

#[test]
fn crm_policy_shows_and_changes_the_email_logging_policy() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let o = host(&["crm", "policy"], dir);
    assert!(o.status.success(), "{}", text(&o));
    let shown = String::from_utf8_lossy(&o.stdout);
    assert!(shown.contains("Company by domain:   off"), "{shown}");
    assert!(shown.contains("Never log:           (none)"), "{shown}");
    assert!(shown.contains("Subject withheld:    (none)"), "{shown}");

    let p = json_out(&host(
        &[
            "crm",
            "policy",
            "--company-by-domain",
            "on",
            "--never-log",
            " HR@Contoso.com ",
            "--never-log",
            "@legal.contoso.com",
            "--withhold-subject",
            "Fabrikam.com",
            "--json",
        ],
        dir,
    ));
    assert_eq!(
        p,
        serde_json::json!({
            "company_by_domain": true,
            "never_log": ["hr@contoso.com", "legal.contoso.com"],
            "withheld_subject_domains": ["fabrikam.com"],
        })
    );

    // A bad value: one line naming the flag, and nothing changed.
    let o = host(
        &[
            "crm",
            "policy",
            "--company-by-domain",
            "off",
            "--never-log",
            "not a domain",
            "--withhold-subject",
            "hr@contoso.com",
        ],
        dir,
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = stderr(&o);
    assert!(
        err.contains("never-log: \"not a domain\" is not an e-mail address or a domain"),
        "{err}"
    );
    assert!(
        err.contains("withhold-subject: \"hr@contoso.com\" is not a domain"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert_eq!(json_out(&host(&["crm", "policy", "--json"], dir)), p);

    let p = json_out(&host(
        &[
            "crm",
            "policy",
            "--clear-never-log",
            "--never-log",
            "gc@contoso.com",
            "--remove-withhold-subject",
            "fabrikam.com",
            "--json",
        ],
        dir,
    ));
    assert_eq!(p["company_by_domain"], true);
    assert_eq!(p["never_log"], serde_json::json!(["gc@contoso.com"]));
    assert_eq!(p["withheld_subject_domains"], serde_json::json!([]));
    let o = host(&["crm", "policy", "--company-by-domain", "maybe"], dir);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

#[test]
fn a_seed_and_csv_files_carry_company_domains_never_log_and_log_sensitive() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let seed = dir.join("crm.json");
    std::fs::write(
        &seed,
        serde_json::json!({
            "contacts": [
                {"no": "C1", "name": "Adatum", "type": "company", "domains": ["adatum.com", "@Adatum.de"]},
                {"no": "P1", "name": "Pat", "type": "person", "company_no": "C1", "email": "pat@adatum.com"},
            ],
            "email_logging": {
                "company_by_domain": true,
                "never_log": ["hr@contoso.com", "legal.contoso.com"],
                "log_sensitive": true,
            },
        })
        .to_string(),
    )
    .unwrap();
    let o = host(&["crm", "import", seed.to_str().unwrap()], dir);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains(
            "2 contacts, 0 alternative addresses, 2 company domains, 2 never-log entries."
        ),
        "{out}"
    );
    assert!(out.contains("The setup's log-sensitive is on."), "{out}");
    let p = json_out(&host(&["crm", "policy", "--json"], dir));
    assert_eq!(p["company_by_domain"], true);
    assert_eq!(
        p["never_log"],
        serde_json::json!(["hr@contoso.com", "legal.contoso.com"])
    );
    let show = host(&["setup", "show"], dir);
    assert!(
        String::from_utf8_lossy(&show.stdout).contains("Sensitive mail:      logged"),
        "{}",
        text(&show)
    );
    let contacts = json_out(&host(&["crm", "contacts", "--json"], dir));
    let c1 = contacts
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["no"] == "C1")
        .unwrap();
    assert_eq!(
        c1["domains"],
        serde_json::json!(["adatum.com", "adatum.de"])
    );
    assert_eq!(c1["created_by"], Value::Null);

    // `setup set --log-sensitive` turns it off again.
    let o = host(&["setup", "set", "--log-sensitive", "off"], dir);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("Sensitive mail:      not logged"),
        "{}",
        text(&o)
    );

    // A seed with an unknown email_logging key: refused, nothing imported.
    std::fs::write(
        &seed,
        r#"{"contacts":[{"no":"C2","name":"X","type":"company"}],"email_logging":{"log_sensitve":true}}"#,
    )
    .unwrap();
    let o = host(&["crm", "import", seed.to_str().unwrap()], dir);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = stderr(&o);
    assert!(err.contains("email_logging is not valid"), "{err}");
    assert!(err.contains("unknown field `log_sensitve`"), "{err}");

    // CSV: company domains and never-log entries, together, all or nothing.
    let domains = dir.join("company-domains.csv");
    let never = dir.join("never-log.csv");
    std::fs::write(
        &domains,
        "contact_no,domain\nC1,adatum.nl\nP1,pat.example\n",
    )
    .unwrap();
    std::fs::write(&never, "entry\n@fabrikam.com\n").unwrap();
    let args = [
        "crm",
        "import",
        domains.to_str().unwrap(),
        never.to_str().unwrap(),
    ];
    let o = host(&args, dir);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        stderr(&o).contains("company-domains.csv:3: contact \"P1\" is a person"),
        "{}",
        text(&o)
    );
    std::fs::write(&domains, "contact_no,domain\nC1,adatum.nl\n").unwrap();
    let o = host(&args, dir);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("1 company domains, 1 never-log entries"),
        "{}",
        text(&o)
    );
    let p = json_out(&host(&["crm", "policy", "--json"], dir));
    assert_eq!(
        p["never_log"],
        serde_json::json!(["fabrikam.com", "hr@contoso.com", "legal.contoso.com"])
    );
    let o = host(&["crm", "contacts"], dir);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("domains adatum.com adatum.de adatum.nl"),
        "{}",
        text(&o)
    );
}

/// The sample CRM with a policy: Andy Teal's second address never logged,
/// and the unknown vendor's domain owned by the Cannon Group.
fn sample_crm_with_policy() -> Value {
    let mut crm: Value = serde_json::from_str(graph_emulator::SAMPLE_CRM).unwrap();
    for c in crm["contacts"].as_array_mut().unwrap() {
        if c["no"] == "CT000010" {
            c["domains"] = serde_json::json!(["unknown-vendor.example"]);
        }
    }
    crm["email_logging"] = serde_json::json!({
        "company_by_domain": true,
        "never_log": ["andy@teal-family.example"],
    });
    crm
}

#[test]
fn the_demo_applies_the_seed_policy_through_the_extension_points() {
    let dir = tempfile::tempdir().unwrap();
    let crm = dir.path().join("crm.json");
    std::fs::write(&crm, sample_crm_with_policy().to_string()).unwrap();
    let v = json_out(&host(
        &["demo", "--json", "--crm", crm.to_str().unwrap()],
        dir.path(),
    ));
    // Of the sample's 10 entries, #1 (2 entries, Andy's second address in
    // Cc) and #3 (1, from it) are never logged; #8 from the unknown vendor
    // now has a contact under the Cannon Group (1).
    let entries = v["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 8, "{entries:#?}");
    let vendor: Vec<&Value> = entries
        .iter()
        .filter(|e| e["subject"] == "Special offer on office chairs")
        .collect();
    assert_eq!(vendor.len(), 1, "{entries:#?}");
    assert_eq!(vendor[0]["contact_no"], "EL-000001");
    assert_eq!(vendor[0]["contact_company_no"], "CT000010");
    assert!(
        entries
            .iter()
            .all(|e| e["subject"] != "Weekend delivery question"),
        "{entries:#?}"
    );
    let skipped = v["report"]["not_logged"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["reason"] == "skipped-by-erp")
        .map(|r| r["count"].as_u64().unwrap());
    assert_eq!(skipped, Some(2), "{}", v["report"]);
}

#[test]
fn contacts_created_by_company_by_domain_are_marked_and_get_their_last_email() {
    let st = Standalone::start();
    let crm = st.dir.path().join("crm.json");
    std::fs::write(&crm, sample_crm_with_policy().to_string()).unwrap();
    let o = st.run(&["crm", "import", crm.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(st.set_up_app().status.success());
    let (o, _) = st.with_browser(&["setup", "sign-in", "--timeout-seconds", "60"], "");
    assert!(o.status.success(), "{}", text(&o));
    assert!(st.run(&["setup", "enable"]).status.success());
    let o = st.run(&["run"]);
    assert!(o.status.success(), "{}", text(&o));

    let contacts = json_out(&st.run(&["crm", "contacts", "--json"]));
    let created = contacts
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["no"] == "EL-000001")
        .unwrap_or_else(|| panic!("no contact was created: {contacts:#}"));
    assert_eq!(created["email"], "someone@unknown-vendor.example");
    assert_eq!(created["company_no"], "CT000010");
    assert_eq!(created["kind"], "person");
    assert_eq!(created["created_by"], "email-logging");
    // `after-log` moved the contacts' latest e-mail dates forward.
    assert!(
        created["last_email_at"]
            .as_str()
            .is_some_and(|d| d.starts_with("2026-11-")),
        "{created:#}"
    );
    let adatum = contacts
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["no"] == "CT000030")
        .unwrap();
    assert!(adatum["last_email_at"].is_string(), "{adatum:#}");
    let o = st.run(&["crm", "contacts"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("(created by email logging)"),
        "{}",
        text(&o)
    );
    let log = json_out(&st.run(&["activity-log", "--json"]));
    assert!(
        log.as_array()
            .unwrap()
            .iter()
            .any(|l| l["source"] == "company-by-domain"
                && l["description"]
                    .as_str()
                    .unwrap()
                    .starts_with("contact EL-000001 ")),
        "{log:#}"
    );
}
