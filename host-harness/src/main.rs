//! `email-logging-host`: the Email Logging reference host's command line.
//!
//! All of it lives in the library, including the async runtime's entry: an
//! async call tree started here would be compiled again into this binary
//! (release builds do not share generic code between crates), which made a
//! rebuild after any edit to the host take twice as long.

fn main() -> std::process::ExitCode {
    email_logging_host::cli::run()
}
