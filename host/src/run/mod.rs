//! Running a pipeline, in four steps, one module each: [`session`] opens it
//! (loads and validates its connectors, opens its store, builds its policy and
//! roots), [`plan`] decides which streams run through which phases, [`execute`]
//! runs them, and [`summary`] says what happened.
//!
//! A first run of a pipeline with `[backfill]` runs the backfill for each
//! stream, records that it finished (its highest cursor is the stream's
//! watermark by then), and continues with `[source]` from that watermark in the
//! same invocation; later runs run only `[source]`.

mod execute;
mod plan;
mod session;
mod summary;

pub use execute::RunOptions;
pub use session::{Discovered, Session, TapeMode};
pub use summary::{RunStatus, RunSummary, StreamStatus, StreamSummary, table};
