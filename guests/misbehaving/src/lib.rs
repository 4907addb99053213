//! A component with the Email Logging world that misbehaves on purpose.
//!
//! The mode comes from the host's plugin state key `misbehave`, so one build
//! serves every limit test: `loop`, `memory`, `panic`, `output`, `sleep`.

mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "email-logging",
        generate_all,
    });
}

use bindings::erp::plugin::types as pt;
use bindings::exports::erp::plugin as ex;

struct Misbehaving;

// See guest/src/lib.rs: WIT-named exports only link for wasm32.
#[cfg(target_arch = "wasm32")]
bindings::export!(Misbehaving with_types_in bindings);

fn refuse() -> pt::SetupError {
    pt::SetupError::Incomplete("this is the misbehaving test component".into())
}

impl ex::setup::Guest for Misbehaving {
    fn get() -> Result<pt::SetupRecord, pt::SetupError> {
        Err(refuse())
    }
    fn update(_: pt::SetupChange) -> Result<pt::SetupRecord, pt::SetupError> {
        Err(refuse())
    }
    fn validate() -> Vec<pt::Check> {
        Vec::new()
    }
    fn begin_sign_in(_: Option<String>) -> Result<String, pt::SetupError> {
        Err(refuse())
    }
    fn admin_consent_url() -> Result<String, pt::SetupError> {
        Err(refuse())
    }
    fn renew_token() -> Result<pt::SetupRecord, pt::SetupError> {
        Err(refuse())
    }
    fn recreate_job() -> Result<pt::SetupRecord, pt::SetupError> {
        Err(refuse())
    }
    fn complete_sign_in(_: String) -> Result<pt::SetupRecord, pt::SetupError> {
        Err(refuse())
    }
    fn enable() -> Result<pt::SetupRecord, pt::SetupError> {
        Err(refuse())
    }
    fn disable() -> Result<pt::SetupRecord, pt::SetupError> {
        Err(refuse())
    }
    fn clear() -> Result<(), pt::SetupError> {
        Err(refuse())
    }
}

impl ex::processing::Guest for Misbehaving {
    fn run(_budget_ms: u32) -> Result<pt::RunReport, pt::RunError> {
        let mode = bindings::erp::host::storage::get("misbehave")
            .ok()
            .flatten()
            .map(|v| v.value)
            .unwrap_or_default();
        match mode.as_str() {
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "memory" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "panic" => panic!("misbehaving on purpose"),
            "output" => {
                let line = "x".repeat(1 << 16);
                loop {
                    eprintln!("{line}");
                    println!("{line}");
                }
            }
            "sleep" => {
                std::thread::sleep(std::time::Duration::from_secs(24 * 3600));
                Err(pt::RunError::Transient("woke up".into()))
            }
            other => Err(pt::RunError::Transient(format!("unknown mode '{other}'"))),
        }
    }
    fn resolve_messages(_refs: Vec<pt::MessageRef>) -> Result<Vec<pt::Resolution>, pt::RunError> {
        Err(pt::RunError::Transient(
            "this test component resolves nothing".into(),
        ))
    }
    fn mailbox_stats() -> Result<Vec<pt::FolderStat>, pt::RunError> {
        Err(pt::RunError::Transient(
            "this test component counts nothing".into(),
        ))
    }
}
