//! The Rust SDK for Headwater source connectors.
//!
//! A connector is a type that implements [`Connector`], exported with
//! [`export!`]. Its config is a serde type whose JSON Schema is derived with
//! `schemars`, so the schema a user's pipeline file is validated against is never
//! written twice. The host's capabilities are plain functions in [`http`],
//! [`files`], [`state`] and [`output`]; no wit-bindgen code is written by hand.
//!
//! Beyond the capabilities, helpers for what most API connectors do:
//! [`paginate`] walks an API's pages (cursor, next URL, `Link` header, offset,
//! page number) and emits each page's records through the host
//! ([`output::emit_records`]: never parsed in the connector) or parses them;
//! [`incremental`] keeps the resume rule of an incremental sync (rows after the
//! watermark; a sync stopped part-way resumes at its page); [`arrow`] builds
//! record batches from serde rows and the stream's declared columns.
//!
//! A complete connector: the orders of a cursor-paged API, read incrementally,
//! each page deserialized into typed rows and emitted as Arrow, and
//! checkpointed with where the next page starts (it is
//! `connectors/examples/rust-orders`, which the end-to-end tests run).
//!
//! ```no_run
//! use headwater_sdk::http::Request;
//! use headwater_sdk::incremental::Incremental;
//! use headwater_sdk::paginate::{Pages, Paging};
//! use headwater_sdk::{Connector, Result, StreamInfo, arrow, output};
//!
//! /// The config users write in the pipeline file; its JSON Schema is derived
//! /// from this type, and the host validates the pipeline against it.
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! #[serde(deny_unknown_fields)]
//! struct Config {
//!     /// The API's root, e.g. `https://api.example.com`.
//!     base_url: String,
//!     /// A credential of the pipeline's `[auth.NAME]`.
//!     auth: Option<String>,
//! }
//!
//! /// An order as the API sends it.
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Order {
//!     id: i64,
//!     customer: Option<String>,
//!     amount: Option<f64>,
//!     updated_at: String,
//! }
//!
//! /// Declared once: `discover` returns it, and its fields are the batches' columns.
//! fn orders() -> StreamInfo {
//!     StreamInfo::new("orders")
//!         .field("id", "int64", false)
//!         .field("customer", "string", true)
//!         .field("amount", "float64", true)
//!         .field("updated_at", "timestamp", false)
//!         .primary_key(["id"])
//!         .cursor_field(Some("updated_at"))
//! }
//!
//! struct Orders;
//!
//! impl Connector for Orders {
//!     type Config = Config;
//!
//!     fn discover(_: &Config) -> Result<Vec<StreamInfo>> {
//!         Ok(vec![orders()])
//!     }
//!
//!     fn read(config: &Config, streams: &[String]) -> Result<()> {
//!         if !streams.iter().any(|s| s == "orders") {
//!             return Ok(());
//!         }
//!         // Rows after the watermark, or the rest of a sync a run stopped part-way.
//!         let sync = Incremental::new("orders")?;
//!         let mut request = Request::get(format!("{}/orders", config.base_url)).auth(config.auth.as_deref());
//!         if let Some(since) = sync.since() {
//!             request = request.query("updated_since", since);
//!         }
//!         let pages = Pages::new(request, Paging::cursor("cursor", "/next_cursor")).resume_from(sync.resume());
//!         let fields = orders().fields;
//!         for page in pages.json("/data") {
//!             let page = page?;
//!             let rows: Vec<Order> = page.records()?;
//!             arrow::emit_rows("orders", &fields, &rows)?;
//!             // Commits the page's rows with `{since, next}`.
//!             sync.checkpoint(page.next.as_deref())?;
//!         }
//!         Ok(())
//!     }
//! }
//!
//! headwater_sdk::export!(Orders);
//! # fn main() {}
//! ```
//!
//! To hand each page's records to the host untouched instead (the fastest way,
//! when the connector has nothing to change in them), walk the same pages with
//! `pages.emit("orders", "/data")`: each item then says how many rows the host
//! emitted, and its `next` is checkpointed the same way.

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
pub mod incremental;
pub mod load;
pub mod output;
pub mod paginate;
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
