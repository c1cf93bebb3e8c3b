//! The Rust SDK for Headwater source connectors.
//!
//! A connector is a type that implements [`Connector`], exported with
//! [`export!`]. Its config is a serde type whose JSON Schema is derived with
//! `schemars`, so the schema a user's pipeline file is validated against is never
//! written twice. The host's capabilities are plain functions in [`http`],
//! [`files`], [`state`] and [`output`]; no wit-bindgen code is written by hand.
//!
//! ```ignore
//! use headwater_sdk::{Connector, Result, StreamInfo, output};
//!
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! struct Config { greeting: String }
//!
//! struct Hello;
//! impl Connector for Hello {
//!     type Config = Config;
//!     fn discover(_: &Config) -> Result<Vec<StreamInfo>> {
//!         Ok(vec![StreamInfo::new("greetings").field("text", "string", false)])
//!     }
//!     fn read(config: &Config, _streams: &[String]) -> Result<()> {
//!         output::emit_json_rows("greetings", &[serde_json::json!({"text": config.greeting})])?;
//!         output::checkpoint("greetings", &serde_json::json!({}))
//!     }
//! }
//! headwater_sdk::export!(Hello);
//! ```

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "source",
        path: "../../wit",
        pub_export_macro: true,
        export_macro_name: "__export_source",
        default_bindings_module: "headwater_sdk::bindings",
    });
}

#[cfg(feature = "arrow")]
pub mod arrow;
mod connector;
pub mod files;
pub mod http;
pub mod load;
pub mod output;
pub mod state;

pub use bindings::exports::headwater::connector::connector::{ConnectorSpec, Field, StreamInfo};
pub use bindings::headwater::connector::types::{Error, Level};
#[doc(hidden)]
pub use connector::__private;
pub use connector::Connector;
pub use schemars;
pub use serde_json;

/// The result type of every SDK call and connector function.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The message carried by any variant.
    pub fn message(&self) -> &str {
        match self {
            Error::Config(m)
            | Error::Auth(m)
            | Error::Transient(m)
            | Error::Denied(m)
            | Error::Data(m)
            | Error::Paused(m)
            | Error::Other(m) => m,
        }
    }
}

impl StreamInfo {
    /// A stream with no declared columns (the host infers them from emitted rows).
    pub fn new(name: impl Into<String>) -> Self {
        StreamInfo { name: name.into(), fields: Vec::new(), primary_key: Vec::new(), cursor_field: None }
    }

    /// Declares a column; `data_type` uses the spelling of the WIT `field` record
    /// (e.g. `int64`, `string`, `timestamp(ms, UTC)`).
    pub fn field(mut self, name: impl Into<String>, data_type: impl Into<String>, nullable: bool) -> Self {
        self.fields.push(Field { name: name.into(), data_type: data_type.into(), nullable });
        self
    }

    pub fn primary_key<S: Into<String>>(mut self, columns: impl IntoIterator<Item = S>) -> Self {
        self.primary_key = columns.into_iter().map(Into::into).collect();
        self
    }

    pub fn cursor_field(mut self, column: Option<impl Into<String>>) -> Self {
        self.cursor_field = column.map(Into::into);
        self
    }
}
