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

pub use self::headwater::connector::types::{Error as WitError, Level};
pub use exports::headwater::connector::connector::{ConnectorSpec, Field, StreamInfo};

impl WitError {
    /// `kind: message`, the way users read a connector's error.
    pub fn describe(&self) -> String {
        let (kind, message) = self.parts();
        format!("{kind}: {message}")
    }

    /// The variant's name, as the WIT spells it, and its message.
    pub fn parts(&self) -> (&'static str, &String) {
        match self {
            WitError::Config(m) => ("config", m),
            WitError::Auth(m) => ("auth", m),
            WitError::Transient(m) => ("transient", m),
            WitError::Denied(m) => ("denied", m),
            WitError::Data(m) => ("data", m),
            WitError::Paused(m) => ("paused", m),
            WitError::Other(m) => ("other", m),
        }
    }
}
