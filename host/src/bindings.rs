//! The one `bindgen!` of the host: Rust types and traits for the
//! `headwater:connector` WIT package in `wit/`, shared with the SDK.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "source",
    imports: { default: async | trappable },
    exports: { default: async },
    with: {
        "headwater:connector/files.reader": crate::capability::files::ReaderHandle,
    },
});

pub use exports::headwater::connector::connector::{ConnectorSpec, Field, StreamInfo};
pub use headwater::connector::types::{Error as WitError, Level};
