//! The edge between WIT and the logic: the generated bindings, the exported
//! component (`exports`) and the host imports as a [`crate::host::Host`]
//! (`imports`). Nothing outside this module sees a generated type.

mod exports;
mod imports;

mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "email-logging",
        generate_all,
    });
}

use bindings::erp::host as wit;
use bindings::erp::plugin::types as pt;
use bindings::exports::erp::plugin as ex;

/// The exported component.
struct Component;

// Export symbols are named after WIT (`erp:plugin/setup@0.5.0#get`), which a
// native linker's version script cannot hold; native builds exist only for
// the unit tests of the logic.
#[cfg(target_arch = "wasm32")]
bindings::export!(Component with_types_in bindings);
