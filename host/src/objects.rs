//! Object-store I/O for the sinks on a bucket (`s3://` sinks, Delta tables).
//! The sink and store seams are synchronous (commits run on the blocking pool,
//! reads of state at a stream's start on the run's one runtime thread), while
//! `deltalake` and `object_store` are async: their futures run on [`Io`], a
//! runtime of two threads of its own, and the caller waits for the answer on a
//! channel, which is safe from any thread, in or out of a runtime.

use object_store::ObjectStore;
use object_store::path::Path as StorePath;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;

pub(crate) struct Io {
    runtime: Option<tokio::runtime::Runtime>,
}

impl Io {
    pub fn new() -> std::io::Result<Io> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("hw-lake")
            .enable_all()
            .build()?;
        Ok(Io { runtime: Some(runtime) })
    }

    /// Runs `work` to its end on the I/O runtime and returns what it returned.
    pub fn run<T: Send + 'static>(&self, work: impl Future<Output = T> + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.runtime.as_ref().expect("the runtime lives as long as Io").spawn(async move {
            let _ = tx.send(work.await);
        });
        // A panic in `work` drops the sender: raise it here, where it would have been.
        rx.recv().unwrap_or_else(|_| panic!("a table sink's I/O task panicked (see above)"))
    }
}

impl Drop for Io {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which tokio forbids inside another runtime.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Uploads the local file `local` to `path` in `store`, in parts (a file may be
/// larger than memory); the object appears whole when the upload completes, or
/// not at all.
pub(crate) async fn upload(store: Arc<dyn ObjectStore>, local: &Path, path: StorePath) -> Result<u64, String> {
    use tokio::io::AsyncWriteExt as _;
    let fail = |e: &dyn std::fmt::Display| format!("uploading {} to {path}: {e}", local.display());
    let mut file = tokio::fs::File::open(local).await.map_err(|e| fail(&e))?;
    let mut writer = object_store::buffered::BufWriter::new(store, path.clone());
    let size = tokio::io::copy(&mut file, &mut writer).await.map_err(|e| fail(&e))?;
    writer.shutdown().await.map_err(|e| fail(&e))?;
    Ok(size)
}
