//! Builds the Email Logging component for `wasm32-wasip2` so the host always
//! embeds the component of the same checkout (the pattern of wasmtime's
//! `crates/test-programs/artifacts/build.rs`).
//!
//! The guest is built by a nested cargo with its own target directory (the
//! outer cargo holds the lock on the main one) and the `guest-release`
//! profile; rerun triggers come from the artefact's dep-info file, so a
//! changed guest source or WIT file rebuilds it and nothing else does.

use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";
const PROFILE: &str = "guest-release";

fn main() {
    let manifest_dir = PathBuf::from(env("CARGO_MANIFEST_DIR"));
    let root = manifest_dir
        .parent()
        .expect("host-harness lives in the workspace")
        .to_path_buf();
    let target_dir = root.join("target").join("guest");
    let cargo = env("CARGO");

    ensure_target();

    let mut cmd = Command::new(&cargo);
    cmd.current_dir(&root)
        .args([
            "build",
            "--package",
            "email-logging-guest",
            "--package",
            "misbehaving-guest",
            "--target",
            TARGET,
            "--profile",
            PROFILE,
        ])
        .arg("--target-dir")
        .arg(&target_dir)
        // Flags meant for the host build (coverage, clippy's wrapper) must
        // not leak into the component's build.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET");
    let status = cmd
        .status()
        .expect("cannot run cargo to build the component");
    if !status.success() {
        panic!("building the Email Logging component (guest/) failed; the error is above");
    }

    let out = target_dir.join(TARGET).join(PROFILE);
    let wasm = out.join("email_logging_guest.wasm");
    println!("cargo:rustc-env=EMAIL_LOGGING_COMPONENT={}", wasm.display());
    println!(
        "cargo:rustc-env=MISBEHAVING_COMPONENT={}",
        out.join("misbehaving_guest.wasm").display()
    );
    for artefact in ["email_logging_guest.d", "misbehaving_guest.d"] {
        for dep in read_deps(&out.join(artefact)) {
            println!("cargo:rerun-if-changed={}", dep.display());
        }
    }
    // The workspace manifest holds the component's profile (guest-release).
    for manifest in [
        "Cargo.toml",
        "guest/Cargo.toml",
        "guests/misbehaving/Cargo.toml",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(manifest).display());
    }
    println!("cargo:rerun-if-changed={}", root.join("wit").display());
    println!(
        "cargo:rerun-if-changed={}",
        root.join("Cargo.lock").display()
    );
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("cargo did not set {name}"))
}

/// Installs the `wasm32-wasip2` target when the toolchain lacks it: rustup
/// adds `rust-toolchain.toml`'s targets only when it installs the toolchain
/// itself, so a fresh clone on a machine that already has it would fail.
fn ensure_target() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let libdir = Command::new(&rustc)
        .args(["--print", "target-libdir", "--target", TARGET])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    if libdir.as_deref().is_some_and(has_std) {
        return;
    }
    let added = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !added {
        panic!(
            "the Rust target {TARGET} is not installed and `rustup target add {TARGET}` failed; run it by hand and build again"
        );
    }
}

fn has_std(libdir: &Path) -> bool {
    std::fs::read_dir(libdir)
        .map(|entries| {
            entries
                .flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("libstd-"))
        })
        .unwrap_or(false)
}

/// The source files listed in a Makefile-style dep-info file.
fn read_deps(path: &Path) -> Vec<PathBuf> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let Some((_, deps)) = text.lines().next().and_then(|l| l.split_once(": ")) else {
        return Vec::new();
    };
    // Paths with spaces are escaped as `\ `.
    deps.replace("\\ ", "\u{0}")
        .split_whitespace()
        .map(|p| PathBuf::from(p.replace('\u{0}', " ")))
        .collect()
}
