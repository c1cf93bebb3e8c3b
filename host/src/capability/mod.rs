//! The host side of the WIT contract: one module per imported interface, each
//! with its context struct, its `Host` impl and the policy checked at that
//! boundary, and [`error`], the one place that decides which WIT error a
//! connector sees. [`HostState`] is the data of one connector `Store`, built
//! for the call it serves and read back only through [`HostState::finish`].

mod error;
pub mod files;
pub mod http;
pub mod output;
pub mod state;
pub mod tape;

use crate::bindings;
use crate::footprint::Footprint;
use crate::stream::StreamOutcome;
use std::collections::BTreeMap;
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// How much of a connector's stderr (e.g. a panic message) is kept for error messages.
const STDERR_CAPACITY: usize = 64 * 1024;

/// Everything one connector instance may touch.
pub struct HostState {
    /// WASI with nothing granted: no env, args, preopens or sockets. Rust std
    /// needs the interfaces to exist; the connector's real I/O goes through ours.
    wasi: WasiCtx,
    table: ResourceTable,
    limits: Footprint,
    stderr: MemoryOutputPipe,
    http: http::HttpCtx,
    files: files::FilesCtx,
    state: state::StateCtx,
    output: output::OutputCtx,
}

/// What a call left behind: each stream's outcome, and the files it opened.
pub struct CallOutcome {
    pub streams: BTreeMap<String, StreamOutcome>,
    /// Files opened with `files.open` or decoded by `output.load`.
    pub files_opened: u64,
}

impl HostState {
    fn new(
        limits: Footprint,
        http: http::HttpCtx,
        files: files::FilesCtx,
        state: state::StateCtx,
        output: output::OutputCtx,
    ) -> Self {
        let stderr = MemoryOutputPipe::new(STDERR_CAPACITY);
        let wasi = WasiCtxBuilder::new().stderr(stderr.clone()).build();
        HostState { wasi, table: ResourceTable::new(), limits, stderr, http, files, state, output }
    }

    /// A state granting nothing, for calls like `spec` that need no capability.
    pub fn bare(connector: &str, limits: Footprint) -> Self {
        Self::new(
            limits,
            http::HttpCtx::denied(),
            files::FilesCtx::new(Default::default()),
            state::StateCtx::none(),
            output::OutputCtx::none(connector),
        )
    }

    /// A state for `check` and `discover`: the pipeline's hosts and file roots, no output.
    pub fn for_probe(connector: &str, limits: Footprint, http: http::HttpCtx, files: files::FilesCtx) -> Self {
        Self::new(limits, http, files, state::StateCtx::none(), output::OutputCtx::none(connector))
    }

    /// A state for `read`: the probe's grants, the streams' committed state and their output.
    pub fn for_read(
        limits: Footprint,
        http: http::HttpCtx,
        files: files::FilesCtx,
        state: state::StateCtx,
        output: output::OutputCtx,
    ) -> Self {
        Self::new(limits, http, files, state, output)
    }

    /// The connector's stderr so far (its panic message, if it panicked).
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr.contents()).trim().to_string()
    }

    /// The store's resource limiter, for `Store::limiter`.
    pub fn limits(&mut self) -> &mut Footprint {
        &mut self.limits
    }

    /// Ends the call's output (discarding what no checkpoint committed) and says what it left.
    pub fn finish(self) -> CallOutcome {
        let streams = self.output.finish();
        let loaded: u64 = streams.values().map(|s| s.counts.loaded).sum();
        CallOutcome { streams, files_opened: self.files.opened() + loaded }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// Adds WASI and every Headwater interface to the linker.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    use bindings::headwater::connector as hw;
    hw::types::add_to_linker::<HostState, HasSelf<http::HttpCtx>>(linker, |s| &mut s.http)?;
    hw::http::add_to_linker::<HostState, HasSelf<http::HttpCtx>>(linker, |s| &mut s.http)?;
    hw::files::add_to_linker::<HostState, HasSelf<files::FilesCtx>>(linker, |s| &mut s.files)?;
    hw::state::add_to_linker::<HostState, HasSelf<state::StateCtx>>(linker, |s| &mut s.state)?;
    hw::output::add_to_linker::<HostState, HasSelf<output::OutputCtx>>(linker, |s| &mut s.output)?;
    Ok(())
}
