//! Fault points for crash tests: named places in the commit path where a test
//! build stops the process dead, as a power cut or a SIGKILL would, so the
//! crash tests can prove that a rerun lands every row exactly once.
//!
//! `HEADWATER_FAULT=<point>` (or `<point>:<n>`, the n-th time it is reached)
//! aborts the process there. The variable is read only in debug builds (what
//! the tests run); a release build compiles every point to nothing.

/// Stops the process at `point` if the test asked for it.
#[inline]
pub fn point(point: &'static str) {
    #[cfg(debug_assertions)]
    armed::hit(point);
    #[cfg(not(debug_assertions))]
    let _ = point;
}

#[cfg(debug_assertions)]
mod armed {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};

    struct Fault {
        point: String,
        nth: u64,
        hits: AtomicU64,
    }

    fn fault() -> Option<&'static Fault> {
        static FAULT: OnceLock<Option<Fault>> = OnceLock::new();
        FAULT
            .get_or_init(|| {
                let spec = std::env::var("HEADWATER_FAULT").ok()?;
                let (point, nth) = match spec.rsplit_once(':') {
                    Some((p, n)) => (p.to_string(), n.parse().ok()?),
                    None => (spec, 1),
                };
                Some(Fault { point, nth, hits: AtomicU64::new(0) })
            })
            .as_ref()
    }

    pub fn hit(point: &str) {
        if let Some(f) = fault()
            && f.point == point
            && f.hits.fetch_add(1, Ordering::SeqCst) + 1 == f.nth
        {
            eprintln!("headwater: fault point `{point}` reached: aborting (HEADWATER_FAULT)");
            std::process::abort();
        }
    }
}
