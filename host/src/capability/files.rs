//! `headwater:connector/files`: read-only listing and streaming reads under the
//! file roots the pipeline grants ([`FileRoots`] decides what is inside a root);
//! with a [`Tape`], each listing and file is recorded, or answered from a recording.

use super::tape::Tape;
use crate::bindings::WitError;
use crate::bindings::headwater::connector::files::{Entry, Host, HostReader};
use crate::roots::{FileRoots, LocalFile, Opened, RootError};
use crate::shard::Shard;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use std::sync::Arc;
use tokio::io::AsyncReadExt;
use wasmtime::component::{Resource, ResourceTable};

/// Largest chunk one `read` returns, whatever the connector asks for.
const MAX_READ: u32 = 4 << 20;

/// Open readers a connector may hold at once.
const MAX_OPEN: usize = 1024;

/// An open file, as the `reader` resource.
pub struct ReaderHandle {
    source: Source,
    path: String,
}

enum Source {
    /// A file on local disk, and what keeps it there (a temporary copy of a remote
    /// file lives as long as its reader).
    File { file: tokio::fs::File, _local: LocalFile },
    /// Bytes streamed from a store, and what is left of the last chunk.
    Stream(BoxStream<'static, Result<Bytes, RootError>>, Bytes),
}

pub struct FilesCtx {
    roots: Arc<FileRoots>,
    tape: Option<Arc<Tape>>,
    table: ResourceTable,
    /// Files opened during the call (for the run summary: pruned files are never opened).
    opened: u64,
    /// The slice of a sliced stream this worker owns: listings hold only its files.
    slice: Option<Shard>,
}

impl FilesCtx {
    pub fn new(roots: Arc<FileRoots>) -> Self {
        let mut table = ResourceTable::new();
        // A connector cannot exhaust host memory by opening files and never closing them.
        table.set_max_capacity(MAX_OPEN);
        FilesCtx { roots, tape: None, table, opened: 0, slice: None }
    }

    /// Listings hold only the files of `shard`'s slice (by a stable hash of each
    /// file's path in its root: `shard::slice_of`), whatever the connector does.
    pub fn with_slice(mut self, shard: Option<Shard>) -> Self {
        self.slice = shard;
        self
    }

    /// Records every listing and file on `tape`, or answers from it.
    pub fn with_tape(mut self, tape: Option<Arc<Tape>>) -> Self {
        self.tape = tape;
        self
    }

    /// Files opened during the call.
    pub fn opened(&self) -> u64 {
        self.opened
    }

    async fn open_file(&mut self, root: &str, path: &str) -> Result<Source, WitError> {
        if let Some(shard) = self.slice {
            shard.check_file(root, path)?;
        }
        let other = |e: std::io::Error| RootError::Io { root: root.into(), path: path.into(), reason: e.to_string() };
        if let Some(tape) = &self.tape {
            let local = local_file(&self.roots, Some(tape), root, path).await?;
            let file = tokio::fs::File::open(&local.path).await.map_err(other)?;
            return Ok(Source::File { file, _local: local });
        }
        Ok(match self.roots.open(root, path).await? {
            Opened::File(local) => {
                Source::File { file: tokio::fs::File::open(&local.path).await.map_err(other)?, _local: local }
            }
            // Fused: a connector may read again after the end, and a finished stream is never polled.
            Opened::Stream(chunks) => Source::Stream(chunks.fuse().boxed(), Bytes::new()),
        })
    }
}

impl Host for FilesCtx {
    async fn list(&mut self, root: String, glob: String) -> wasmtime::Result<Result<Vec<Entry>, WitError>> {
        let listed = match &self.tape {
            Some(tape) if tape.is_replay() => tape.replay_list(&root, &glob),
            tape => {
                let listed = self.roots.list(&root, &glob).await.map_err(WitError::from);
                if let Some(tape) = tape {
                    tape.record_list(&root, &glob, &listed);
                }
                listed
            }
        };
        Ok(match self.slice {
            Some(shard) => listed.map(|entries| entries.into_iter().filter(|e| shard.owns_file(&e.path)).collect()),
            None => listed,
        })
    }

    async fn open(&mut self, root: String, path: String) -> wasmtime::Result<Result<Resource<ReaderHandle>, WitError>> {
        let source = match self.open_file(&root, &path).await {
            Ok(s) => s,
            Err(e) => return Ok(Err(e)),
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
                Source::File { file, .. } => match file.read(&mut buf[filled..]).await {
                    Ok(n) => n,
                    Err(e) => return Ok(Err(WitError::Other(format!("reading `{}`: {e}", handle.path)))),
                },
                Source::Stream(chunks, buffered) => {
                    if buffered.is_empty() {
                        match chunks.next().await {
                            None => 0,
                            Some(Ok(chunk)) => {
                                *buffered = chunk;
                                continue;
                            }
                            Some(Err(e)) => return Ok(Err(e.into())),
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

/// A granted file on local disk, as `load` and a recorded `open` read it: staged
/// from its root, and with a tape, recorded (the call reads the recorded copy, as
/// a replay will) or taken from the recording.
pub async fn local_file(
    roots: &FileRoots,
    tape: Option<&Arc<Tape>>,
    root: &str,
    path: &str,
) -> Result<LocalFile, WitError> {
    match tape {
        Some(tape) if tape.is_replay() => tape.replay_file(root, path).map(LocalFile::existing),
        Some(tape) => {
            let staged = roots.stage(root, path).await.map_err(WitError::from);
            tape.record_file(root, path, staged.as_ref().map(|f| f.path.as_path())).map(LocalFile::existing)
        }
        None => roots.stage(root, path).await.map_err(WitError::from),
    }
}
