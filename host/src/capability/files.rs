//! `headwater:connector/files`: read-only listing and streaming reads under the
//! file roots the pipeline grants ([`FileRoots`] decides what is inside a root).

use crate::bindings::WitError;
use crate::bindings::headwater::connector::files::{Entry, Host, HostReader};
use crate::roots::{FileRoots, Located};
use futures::StreamExt;
use object_store::ObjectStoreExt;
use std::sync::Arc;
use tokio::io::AsyncReadExt;
use wasmtime::component::{Resource, ResourceTable};

/// Largest chunk one `read` returns, whatever the connector asks for.
const MAX_READ: u32 = 4 << 20;

/// An open file, as the `reader` resource: a local file, or an object streamed from its store.
pub struct ReaderHandle {
    source: Source,
    path: String,
}

enum Source {
    File(tokio::fs::File),
    Object { chunks: futures::stream::BoxStream<'static, object_store::Result<bytes::Bytes>>, buffered: bytes::Bytes },
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
        Ok(self.roots.list(&root, &glob).await)
    }

    async fn open(&mut self, root: String, path: String) -> wasmtime::Result<Result<Resource<ReaderHandle>, WitError>> {
        let source = match self.roots.locate(&root, &path).await {
            Err(e) => return Ok(Err(e)),
            Ok(Located::Local(real)) => match tokio::fs::File::open(&real).await {
                Ok(f) => Source::File(f),
                Err(e) => return Ok(Err(WitError::Other(format!("opening `{path}` in root `{root}`: {e}")))),
            },
            Ok(Located::Object { store, path: key }) => match store.get(&key).await {
                Ok(got) => Source::Object { chunks: got.into_stream(), buffered: bytes::Bytes::new() },
                Err(object_store::Error::NotFound { .. }) => {
                    return Ok(Err(WitError::Other(format!("`{path}` does not exist in root `{root}`"))));
                }
                Err(e) => return Ok(Err(WitError::Transient(format!("opening `{path}` in root `{root}`: {e}")))),
            },
            Ok(Located::Downloaded(tmp)) => match tmp.reopen() {
                Ok(f) => Source::File(tokio::fs::File::from_std(f)),
                Err(e) => return Ok(Err(WitError::Other(format!("opening `{path}` in root `{root}`: {e}")))),
            },
            Ok(Located::Fetched(body)) => {
                Source::Object { chunks: futures::stream::empty().boxed(), buffered: bytes::Bytes::from(body) }
            }
        };
        self.opened += 1;
        match self.table.push(ReaderHandle { source, path }) {
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
            let n = match &mut handle.source {
                Source::File(file) => match file.read(&mut buf[filled..]).await {
                    Ok(n) => n,
                    Err(e) => return Ok(Err(WitError::Other(format!("reading `{}`: {e}", handle.path)))),
                },
                Source::Object { chunks, buffered } => {
                    if buffered.is_empty() {
                        match chunks.next().await {
                            None => 0,
                            Some(Ok(chunk)) => {
                                *buffered = chunk;
                                continue;
                            }
                            Some(Err(e)) => {
                                return Ok(Err(WitError::Transient(format!("reading `{}`: {e}", handle.path))));
                            }
                        }
                    } else {
                        let n = buffered.len().min(want - filled);
                        buf[filled..filled + n].copy_from_slice(&buffered.split_to(n));
                        n
                    }
                }
            };
            if n == 0 {
                break;
            }
            filled += n;
        }
        buf.truncate(filled);
        Ok(Ok(buf))
    }

    async fn drop(&mut self, reader: Resource<ReaderHandle>) -> wasmtime::Result<()> {
        self.table.delete(reader)?;
        Ok(())
    }
}
