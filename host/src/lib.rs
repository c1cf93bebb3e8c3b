//! Headwater: runs data connectors compiled to WebAssembly components and lands
//! their records as Parquet, committed together with each stream's watermark.
//!
//! The pieces, in the order data flows through them:
//! - [`pipeline`]: the pipeline file, parsed and validated into typed config;
//! - [`registry`]: installed connectors, pinned by sha256, precompiled once;
//! - [`engine`] and [`connector`]: the wasmtime engine and one sandboxed
//!   instance per stream read, with memory and CPU limits;
//! - `capability`: the host side of each WIT interface (http, files, state, output);
//! - [`sink`] and [`store`]: Parquet files and the sled state store, committed
//!   together by the delivery protocol in [`delivery`];
//! - [`runner`]: the backfill and incremental phases of a run;
//! - [`demo`]: the self-contained demo (embedded mock API + CSV exports).

mod bindings;
mod capability;
pub mod connector;
mod decode;
pub mod delivery;
pub mod demo;
pub mod engine;
mod error;
mod http_policy;
mod json_page;
pub mod pipeline;
pub mod progress;
pub mod registry;
mod roots;
pub mod runner;
pub mod schema;
mod seam;
mod sftp;
pub mod sink;
pub mod store;
pub mod watermark;

pub use error::{Error, Result};
