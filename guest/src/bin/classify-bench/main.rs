//! The classification and matching workload of `email-logging-host bench`
//! as a `wasm32-wasip2` command, so the host can time the very code the
//! component runs inside wasmtime and natively on the same inputs.
//!
//! Usage: `classify-bench MESSAGES ROUNDS`; prints `NANOSECONDS CHECKSUM`.
//! The logic modules are compiled in from their files rather than through
//! the library crate, whose component exports would otherwise be linked in.

#[allow(dead_code)]
#[path = "../../address.rs"]
mod address;
#[allow(dead_code)]
#[path = "../../classify.rs"]
mod classify;
#[allow(dead_code)]
#[path = "../../message.rs"]
mod message;
mod workload;

fn main() {
    let mut args = std::env::args().skip(1);
    let mut number = |default: usize| {
        args.next()
            .and_then(|a| a.parse::<usize>().ok())
            .unwrap_or(default)
    };
    let (messages, rounds) = (number(1000), number(10));
    let (inputs, directory) = workload::inputs(messages);
    let (nanos, checksum) = workload::timed(&inputs, &directory, rounds);
    println!("{nanos} {checksum}");
}
