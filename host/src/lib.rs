//! Headwater: runs data connectors compiled to WebAssembly components and lands
//! their records as Parquet, committed together with each stream's watermark.
//!
//! The modules, in the order a run goes through them:
//! - `config`: the pipeline file as written (`config::file`, the source of
//!   `headwater schema`) and validated into the typed model everything uses;
//!   `names`: the one rule for names that become paths;
//! - `registry`, `builtin`, `engine`, `connector`: installed connectors pinned by
//!   sha256 and the shipped ones embedded in the binary,
//!   the wasmtime engine with its cache of compiled code, and one sandboxed
//!   instance per call with memory and CPU limits;
//! - `run`: a pipeline opened (`session`), its streams planned (`plan`),
//!   executed (`execute`) and summarised (`summary`);
//! - `capability`: the host side of each WIT interface (http, files, state,
//!   output), and the one mapping of the host's errors to the WIT `error`;
//! - `http_policy`: allowlist, address vetting, credentials, rate limits, retries;
//! - `roots`: granted file roots (local, S3, SFTP, HTTP) behind one interface;
//! - `stream`: one stream's output, pending → committed or poisoned: rows
//!   decoded (`rows`, `page`), conformed (`schema`), deduplicated at the seam
//!   (`seam`, `watermark`);
//! - `load`: host-side decoding of bulk files, one module per format;
//! - `sink` and `store`: the seams where files and state go (Hive-layout
//!   Parquet and sled first), committed together by `delivery`.
//!
//! The public API is what the `headwater` binary uses, listed below.

mod bindings;
mod budget;
mod builtin;
mod capability;
pub mod compile;
mod config;
mod connector;
mod decimals;
mod delivery;
mod engine;
mod error;
mod fault;
mod footprint;
mod http_policy;
mod lake;
mod load;
mod names;
mod objects;
mod progress;
mod registry;
mod roots;
mod run;
mod shard;
mod sink;
mod store;
mod stream;
mod suggest;
mod temporal;
mod untrusted_text;

#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;

pub use config::file::json_schema as pipeline_schema;
pub use config::{ConfigError, PhaseKind, Pipeline, RootLocation, SinkFormat};
pub use delivery::Intent;
pub use engine::ConnectorRuntime;
pub use error::{Call, Error, Result};
pub use lake::{LakeSink, Progress as TableProgress};
pub use names::{Kind as NameKind, check as check_name};
pub use progress::Progress;
pub use registry::{Listing, Manifest, Origin, Registry};
pub use run::{Discovered, RunOptions, RunStatus, RunSummary, Session, StreamStatus, StreamSummary, TapeMode, table};
pub use shard::{Shard, ShardError};
pub use store::{StateStore, StreamState};

/// The state store a pipeline's file names, its failure as an [`Error`], so that
/// a store of another format exits 2 (bad input) wherever a command opens it.
pub fn open_state_store(pipeline: &Pipeline) -> Result<std::sync::Arc<dyn StateStore>> {
    match pipeline.sink.format {
        config::SinkFormat::Parquet => Ok(store::open(pipeline)?),
        config::SinkFormat::Delta => Ok(std::sync::Arc::new(LakeSink::open(pipeline)?)),
    }
}
