//! The binary as an administrator meets it on a bad day (issue 10): runs
//! that end partly done or are killed, lost keys, empty secrets, pasted
//! redirects, hostile names, and what the terminal and the disk show.

use email_logging_host::{Erp, ErpOptions};
use graph_emulator::{Emulator, EmulatorConfig, FaultKind, Faults, SAMPLE_MAILBOX, Seed};
use serde_json::Value;
use std::process::{Output, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_email-logging-host");

/// An in-process emulator with the sample mailbox and a data directory
/// set up, signed in and enabled through the library, as `demo` does.
struct Site {
    emulator: Emulator,
    base: url::Url,
    dir: tempfile::TempDir,
}

impl Site {
    async fn start(config: EmulatorConfig) -> Self {
        let emulator = Emulator::new(
            Seed::from_json(graph_emulator::SAMPLE_SEED).unwrap(),
            config,
        );
        let addr = emulator.start(([127, 0, 0, 1], 0).into()).await.unwrap();
        let base = url::Url::parse(&format!("http://{addr}/")).unwrap();
        Self {
            emulator,
            base,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    async fn enabled() -> Self {
        let site = Self::start(EmulatorConfig::default()).await;
        let erp = site.erp();
        let company = erp.company("CRONUS").unwrap();
        erp.import_crm(company, graph_emulator::SAMPLE_CRM).unwrap();
        email_logging_host::demo::connect(&erp, company, &site.base, SAMPLE_MAILBOX, None)
            .await
            .unwrap();
        site
    }

    fn erp(&self) -> Erp {
        Erp::open(ErpOptions {
            data_dir: self.dir.path().to_path_buf(),
            emulator: Some(self.base.clone()),
            ..Default::default()
        })
        .unwrap()
    }

    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(BIN);
        c.args(["--emulator", self.base.as_str()])
            .args(args)
            .env("EMAIL_LOGGING_HOME", self.dir.path())
            .env_remove("EMAIL_LOGGING_KEY")
            .env_remove("EMAIL_LOGGING_CLIENT_SECRET")
            .stdin(Stdio::null());
        c
    }

    async fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().await.unwrap()
    }

    async fn run_with_input(&self, args: &[&str], input: &str) -> Output {
        use tokio::io::AsyncWriteExt as _;
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(input.as_bytes()).await.unwrap();
        drop(stdin);
        child.wait_with_output().await.unwrap()
    }

    async fn json(&self, args: &[&str]) -> Value {
        let out = self.run(args).await;
        assert!(out.status.success(), "{}", text(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_defers_messages_exits_3_and_says_why() {
    let site = Site::enabled().await;
    let mut faults = Faults::parse("retry-after=10ms").unwrap();
    // The first page is read; then Graph is gone.
    faults.script = std::iter::once(None)
        .chain(std::iter::repeat_n(Some(FaultKind::Unavailable), 400))
        .collect();
    site.emulator.set_faults(faults);
    let out = site.run(&["run"]).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("partly done:") && err.contains("deferred"),
        "{err}"
    );
    let jobs = site.json(&["jobs", "--json"]).await;
    assert_eq!(jobs["jobs"][0]["status"], "partly-done");
    assert_eq!(jobs["log"][0]["outcome"], "partly-done");
    let activity = site.json(&["activity-log", "--json"]).await;
    assert!(
        activity
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["description"].as_str().unwrap().contains("partly done")),
        "{activity}"
    );
    site.emulator.set_faults(Faults::default());
    let out = site.run(&["run"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let entries = site.json(&["entries", "--json"]).await;
    assert_eq!(entries.as_array().unwrap().len(), 10, "nothing twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_with_sigkill_is_closed_as_interrupted_at_the_next_start() {
    let site = Site::enabled().await;
    site.emulator
        .set_latency(graph_emulator::Latency::parse("list=20s").unwrap());
    let mut child = site.command(&["run"]).spawn().unwrap();
    // The run is under way once the job says so.
    let mut running = false;
    for _ in 0..200 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let erp = site.erp();
        let company = erp.company("CRONUS").unwrap();
        let job = email_logging_host::jobs::get(&erp.db, company, "email-logging")
            .unwrap()
            .unwrap();
        if job.status == "in-process" {
            running = true;
            break;
        }
    }
    assert!(running, "the run started");
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    site.emulator
        .set_latency(graph_emulator::Latency::default());
    let jobs = site.json(&["jobs", "--json"]).await;
    assert_eq!(jobs["log"][0]["outcome"], "interrupted", "{jobs}");
    assert_eq!(jobs["jobs"][0]["status"], "error");
    assert!(
        jobs["jobs"][0]["last_error"]
            .as_str()
            .unwrap()
            .contains("interrupted"),
        "{jobs}"
    );
    let again = site.json(&["jobs", "--json"]).await;
    assert_eq!(
        again["log"].as_array().unwrap().len(),
        1,
        "closed once: {again}"
    );
    let out = site.run(&["run"]).await;
    assert!(out.status.success(), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_secret_never_erases_the_stored_one() {
    let site = Site::enabled().await;
    let out = site
        .run_with_input(&["setup", "set", "--client-secret-stdin"], "")
        .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("held no secret"), "{}", text(&out));
    let show = text(&site.run(&["setup", "show"]).await);
    assert!(
        show.contains("Client secret:       (stored, encrypted)"),
        "{show}"
    );
    let cleared = site.run(&["setup", "set", "--clear-client-secret"]).await;
    assert!(cleared.status.success(), "{}", text(&cleared));
    assert!(text(&cleared).contains("Client secret:       (not set)"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_completes_with_the_address_the_browser_ended_on() {
    let site = Site::enabled().await;
    // The first attempt prints the address and gives up waiting.
    let out = site
        .run(&["setup", "sign-in", "--timeout-seconds", "1"])
        .await;
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    let url = printed
        .lines()
        .find(|l| l.starts_with("https://login.microsoftonline.com/"))
        .unwrap_or_else(|| panic!("no address printed: {printed}"));
    let query = email_logging_host::erp::follow_authorize_url(url, &site.base)
        .await
        .unwrap();
    let redirected = format!("{}?{query}", graph_emulator::DEMO_REDIRECT_URI);
    let out = site
        .run(&["setup", "sign-in", "--redirected-url", &redirected])
        .await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("Signed in as"), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_key_file_is_never_silently_replaced() {
    let site = Site::enabled().await;
    let key = site.dir.path().join("secret.key");
    std::fs::remove_file(&key).unwrap();
    let out = site.run(&["setup", "show"]).await;
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out);
    assert!(
        err.contains("is missing") && err.contains("key reset"),
        "{err}"
    );
    assert!(!key.exists(), "no new key was made");
    let refused = site.run(&["key", "reset"]).await;
    assert_eq!(refused.status.code(), Some(1));
    assert!(text(&refused).contains("--forget-secrets"));
    let reset = site.run(&["key", "reset", "--forget-secrets"]).await;
    assert!(reset.status.success(), "{}", text(&reset));
    assert!(key.exists());
    let show = text(&site.run(&["setup", "show"]).await);
    assert!(show.contains("Client secret:       (not set)"), "{show}");
    // A wrong key is refused with the same advice, not as a temporary failure.
    let out = site
        .run_with_input(&["setup", "set", "--client-secret-stdin"], "s3cret-value\n")
        .await;
    assert!(out.status.success(), "{}", text(&out));
    std::fs::write(&key, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=").unwrap();
    let out = site.run(&["run"]).await;
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out);
    assert!(err.contains("does not open the 1 secrets"), "{err}");
    assert!(!err.contains("temporary"), "{err}");
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_directory_and_database_are_owner_only() {
    use std::os::unix::fs::PermissionsExt as _;
    let site = Site::start(EmulatorConfig::default()).await;
    let data = site.dir.path().join("new").join("data");
    let out = tokio::process::Command::new(BIN)
        .args(["setup", "show"])
        .env("EMAIL_LOGGING_HOME", &data)
        .env_remove("EMAIL_LOGGING_KEY")
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("email-logging.db")), 0o600);
    assert_eq!(mode(&data.join("secret.key")), 0o600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_settings_are_refused_before_anything_runs() {
    let site = Site::enabled().await;
    let out = tokio::process::Command::new(BIN)
        .args(["--emulator", "file:///tmp/x", "setup", "show"])
        .env("EMAIL_LOGGING_HOME", site.dir.path())
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("http:// or https://"), "{}", text(&out));
    for flag in [
        "--storage-folder",
        "--not-logged-folder",
        "--quarantine-folder",
    ] {
        let out = site.run(&["setup", "set", flag, "Inbox"]).await;
        assert_eq!(out.status.code(), Some(1), "{flag}: {}", text(&out));
        assert!(
            text(&out).contains("the folder the job reads"),
            "{}",
            text(&out)
        );
    }
    let out = site
        .run(&["setup", "set", "--redirect-url", "https://erp.example/cb#x"])
        .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("fragment"), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_names_are_refused_or_escaped_on_the_terminal() {
    let site = Site::enabled().await;
    let seed = site.dir.path().join("evil.json");
    std::fs::write(
        &seed,
        serde_json::json!({"contacts": [
            {"no": "EVIL1", "name": "Evil\u{1b}]0;owned\u{7}", "email": "not an email"},
        ]})
        .to_string(),
    )
    .unwrap();
    let out = site.run(&["crm", "import", seed.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out);
    assert!(err.contains("name has control characters"), "{err}");
    assert!(err.contains("is not an e-mail address"), "{err}");
    // A name that reorders text is no control character; it is written as
    // an escape on the terminal.
    let csv = site.dir.path().join("contacts.csv");
    std::fs::write(&csv, "no,name\nEVIL2,Invoice\u{202e}fdp.exe\n").unwrap();
    let out = site.run(&["crm", "import", csv.to_str().unwrap()]).await;
    assert!(out.status.success(), "{}", text(&out));
    let listed = String::from_utf8_lossy(&site.run(&["crm", "contacts"]).await.stdout).into_owned();
    assert!(listed.contains("Invoice\\u{202e}fdp.exe"), "{listed}");
    assert!(!listed.contains('\u{202e}'));
}

/// Runs `command` on a new pseudo-terminal, as its controlling terminal (as
/// a login shell has it), and plays the person at the keyboard: `answer`
/// sees the screen so far after each read and may type. Returns the screen.
#[cfg(target_os = "linux")]
fn on_a_terminal(
    mut command: std::process::Command,
    mut answer: impl FnMut(&str) -> Option<Vec<u8>>,
) -> (String, std::process::ExitStatus) {
    use std::io::{Read as _, Write as _};
    use std::os::fd::{FromRawFd as _, OwnedFd};
    use std::os::unix::process::CommandExt as _;
    let (mut master, slave) = {
        let (mut m, mut s) = (0, 0);
        // SAFETY: openpty writes two new descriptors, which are owned here.
        let rc = unsafe {
            libc::openpty(
                &mut m,
                &mut s,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        assert_eq!(rc, 0, "openpty");
        // SAFETY: both descriptors were just opened and are owned by nobody else.
        unsafe { (std::fs::File::from_raw_fd(m), OwnedFd::from_raw_fd(s)) }
    };
    command
        .stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave);
    // SAFETY: only async-signal-safe calls, in the child before exec.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command.spawn().unwrap();
    // A command that never ends fails the test rather than hanging it.
    let pid = child.id() as libc::pid_t;
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(90));
        // SAFETY: a signal to the child's pid; at worst it is gone already.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    });
    // The parent's copies of the terminal's far end are closed with the
    // command, so reading ends (EIO) when the child has gone.
    drop(command);
    let mut screen = String::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = match master.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        screen.push_str(&String::from_utf8_lossy(&buf[..n]));
        if let Some(keys) = answer(&screen) {
            master.write_all(&keys).unwrap();
        }
    }
    (screen, child.wait().unwrap())
}

/// `setup wizard` on a real terminal: the secret typed at its prompt is not
/// echoed, so it never reaches the screen or the scrollback.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wizard_reads_the_secret_without_echo() {
    const SECRET: &str = "wizard~Secret.Never-Shown_42";
    let site = Site::start(EmulatorConfig::default()).await;
    let mut command = std::process::Command::new(BIN);
    command
        .args(["--emulator", site.base.as_str(), "setup", "wizard"])
        .env("EMAIL_LOGGING_HOME", site.dir.path())
        .env_remove("EMAIL_LOGGING_KEY");
    let answers: Vec<(&str, String)> = vec![
        ("(graph or ews)", "\n".into()),
        ("Sign-in mode", "\n".into()),
        ("Tenant", "\n".into()),
        (
            "Application (client) ID",
            format!("{}\n", graph_emulator::DEMO_CLIENT_ID),
        ),
        ("not shown as you type", format!("{SECRET}\n")),
        // End of input at the next question: the wizard stops there.
        ("Redirect URL", "\x04".into()),
    ];
    let mut next = 0;
    let (screen, _) = tokio::task::spawn_blocking(move || {
        on_a_terminal(command, move |screen| {
            // Type only once the prompt is on the screen, as a person would.
            let (prompt, keys) = answers.get(next)?;
            screen.contains(prompt).then(|| {
                next += 1;
                keys.clone().into_bytes()
            })
        })
    })
    .await
    .unwrap();
    assert!(screen.contains("not shown as you type"), "{screen}");
    assert!(!screen.contains(SECRET), "the secret was echoed:\n{screen}");
    let show = text(&site.run(&["setup", "show"]).await);
    assert!(
        show.contains("Client secret:       (stored, encrypted)"),
        "{show}\n{screen}"
    );
}

/// A run on a terminal shows what it does page by page, and nothing of it
/// when stderr is not a terminal.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_work_shows_progress_on_a_terminal_only() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["demo", "--latency", "list=400ms,move=400ms"];
    let mut command = std::process::Command::new(BIN);
    command.args(args).env("EMAIL_LOGGING_HOME", dir.path());
    let (screen, status) = tokio::task::spawn_blocking(move || on_a_terminal(command, |_| None))
        .await
        .unwrap();
    assert!(status.success(), "{screen}");
    assert!(
        screen.contains("pages read"),
        "no progress shown:\n{screen}"
    );
    let piped = tokio::process::Command::new(BIN)
        .args(args)
        .arg("--json")
        .env("EMAIL_LOGGING_HOME", dir.path())
        .output()
        .await
        .unwrap();
    assert!(piped.status.success());
    assert!(
        piped.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&piped.stderr)
    );
    let v: Value = serde_json::from_slice(&piped.stdout).expect("only the JSON on stdout");
    assert_eq!(v["entries"].as_array().unwrap().len(), 10);
}
