//! The table sinks' own I/O runtime. The sink and store seams are synchronous
//! (commits run on the blocking pool, reads of state at a stream's start on the
//! run's one runtime thread), while `deltalake` and `object_store` are async:
//! their futures run here, on two threads of their own, and the caller waits for
//! the answer on a channel, which is safe from any thread, in or out of a runtime.

use std::future::Future;

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
