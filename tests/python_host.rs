//! The second host: runs the Python host's pytest suite (`hosts/python/tests`).
//!
//! Python: `$EMAIL_LOGGING_PYTHON_HOST`, else the virtual environment
//! `<target dir>/python-host` that `.ci/run` makes from
//! `hosts/python/requirements.txt`. Without either the test fails and says
//! how to make one: it never skips silently. The suite starts this build's
//! `email-logging-host emulator` and loads the component this build made.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The profile directory this test binary was built in (`<target>/<profile>`)
/// and the target directory above it.
fn dirs() -> Option<(PathBuf, PathBuf)> {
    let exe = std::env::current_exe().ok()?;
    let profile = exe.parent()?.parent()?.to_path_buf();
    let target = profile.parent()?.to_path_buf();
    Some((profile, target))
}

#[test]
fn the_python_host_passes_its_suite() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let (profile, target) = dirs().expect("cannot tell the target directory");
    let python = std::env::var_os("EMAIL_LOGGING_PYTHON_HOST")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| target.join("python-host").join("bin").join("python"));
    assert!(
        python.exists(),
        "no Python for the Python host's tests at {}: set EMAIL_LOGGING_PYTHON_HOST, or run \
         `.ci/run`, or `python3 -m venv target/python-host && target/python-host/bin/pip install -r \
         hosts/python/requirements.txt`",
        python.display()
    );
    let mut cmd = Command::new(&python);
    cmd.current_dir(root.join("hosts").join("python"))
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"])
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let host = profile.join("email-logging-host");
    if std::env::var_os("EMAIL_LOGGING_HOST_BIN").is_none() && host.exists() {
        cmd.env("EMAIL_LOGGING_HOST_BIN", &host);
    }
    let component = target
        .join("guest")
        .join("wasm32-wasip2")
        .join("guest-release")
        .join("email_logging_guest.wasm");
    if std::env::var_os("EMAIL_LOGGING_COMPONENT").is_none() && component.exists() {
        cmd.env("EMAIL_LOGGING_COMPONENT", &component);
    }
    let status = cmd.status().expect("cannot start pytest");
    assert!(
        status.success(),
        "the Python host's pytest suite failed ({status})"
    );
}
