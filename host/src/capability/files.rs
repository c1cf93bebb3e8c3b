//! `headwater:connector/files`: read-only listing and streaming reads under the
//! file roots the pipeline grants ([`FileRoots`] decides what is inside a root).

use crate::bindings::WitError;
use crate::bindings::headwater::connector::files::{Entry, Host, HostReader};
use crate::roots::FileRoots;
use std::sync::Arc;
use tokio::io::AsyncReadExt;
use wasmtime::component::{Resource, ResourceTable};

/// Largest chunk one `read` returns, whatever the connector asks for.
const MAX_READ: u32 = 4 << 20;

/// An open file, as the `reader` resource.
pub struct ReaderHandle {
    file: tokio::fs::File,
    path: String,
}

pub struct FilesCtx {
    roots: Arc<FileRoots>,
    table: ResourceTable,
    /// Files opened during the call (for the run summary: pruned files are never opened).
    pub opened: u64,
}

impl FilesCtx {
    pub fn new(roots: Arc<FileRoots>) -> Self {
        let mut table = ResourceTable::new();
        // A connector cannot exhaust host memory by opening files and never closing them.
        table.set_max_capacity(1024);
        FilesCtx { roots, table, opened: 0 }
    }
}

impl Host for FilesCtx {
    async fn list(&mut self, root: String, glob: String) -> wasmtime::Result<Result<Vec<Entry>, WitError>> {
        Ok(self.roots.list(&root, &glob))
    }

    async fn open(&mut self, root: String, path: String) -> wasmtime::Result<Result<Resource<ReaderHandle>, WitError>> {
        let real = match self.roots.resolve(&root, &path) {
            Ok(p) => p,
            Err(e) => return Ok(Err(e)),
        };
        let file = match tokio::fs::File::open(&real).await {
            Ok(f) => f,
            Err(e) => return Ok(Err(WitError::Other(format!("opening `{path}` in root `{root}`: {e}")))),
        };
        self.opened += 1;
        match self.table.push(ReaderHandle { file, path }) {
            Ok(r) => Ok(Ok(r)),
            Err(_) => Ok(Err(WitError::Denied("too many open files: close readers you no longer need".into()))),
        }
    }
}

impl HostReader for FilesCtx {
    async fn read(&mut self, reader: Resource<ReaderHandle>, max: u32) -> wasmtime::Result<Result<Vec<u8>, WitError>> {
        let handle = self.table.get_mut(&reader)?;
        let want = max.min(MAX_READ) as usize;
        let mut buf = vec![0u8; want];
        let mut filled = 0;
        // Fill the chunk (short reads happen) so the connector crosses the boundary rarely.
        while filled < want {
            match handle.file.read(&mut buf[filled..]).await {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) => return Ok(Err(WitError::Other(format!("reading `{}`: {e}", handle.path)))),
            }
        }
        buf.truncate(filled);
        Ok(Ok(buf))
    }

    async fn drop(&mut self, reader: Resource<ReaderHandle>) -> wasmtime::Result<()> {
        self.table.delete(reader)?;
        Ok(())
    }
}
