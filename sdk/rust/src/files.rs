//! Read-only access to the file roots the pipeline grants. Paths are relative
//! to a root; the host refuses anything that would leave it.

use crate::Result;
use crate::bindings::headwater::connector::files as wit;

pub use wit::Entry;

/// Files under `root` whose relative path matches `glob`, sorted by path.
pub fn list(root: &str, glob: &str) -> Result<Vec<Entry>> {
    wit::list(root, glob)
}

/// Opens a file for streaming reads; the returned value implements [`std::io::Read`].
pub fn open(root: &str, path: &str) -> Result<Reader> {
    Ok(Reader { inner: wit::open(root, path)?, path: path.to_string() })
}

/// A file being read through the host, in chunks of up to 1 MiB per host call.
pub struct Reader {
    inner: wit::Reader,
    path: String,
}

impl Reader {
    const CHUNK: u32 = 1 << 20;

    /// Reads the next chunk; empty at end of file.
    pub fn read_chunk(&mut self) -> Result<Vec<u8>> {
        self.inner.read(Self::CHUNK)
    }
}

impl std::io::Read for Reader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let max = buf.len().min(Self::CHUNK as usize) as u32;
        let chunk = self.inner.read(max).map_err(|e| std::io::Error::other(format!("{}: {e}", self.path)))?;
        buf[..chunk.len()].copy_from_slice(&chunk);
        Ok(chunk.len())
    }
}
