//! Fault points for crash tests: named places in the commit path where a test
//! build stops the process dead, as a power cut or a SIGKILL would, so the
//! crash tests can prove that a rerun lands every row exactly once.
//!
//! `HEADWATER_FAULT=<point>` (or `<point>:<n>`, the n-th time it is reached)
//! aborts the process there. `HEADWATER_HOLD=<point>=<folder>` holds the
//! process there instead, the first time: it creates `<folder>/reached` and
//! waits until `<folder>/release` exists, so a test can run another worker in
//! between (a zombie twin's race, made deterministic). The variables are read
//! only in debug builds (what the tests run); a release build compiles every
//! point to nothing.

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

    fn hold() -> Option<&'static (String, std::path::PathBuf, std::sync::atomic::AtomicBool)> {
        static HOLD: OnceLock<Option<(String, std::path::PathBuf, std::sync::atomic::AtomicBool)>> = OnceLock::new();
        HOLD.get_or_init(|| {
            let spec = std::env::var("HEADWATER_HOLD").ok()?;
            let (point, folder) = spec.split_once('=')?;
            Some((point.to_string(), folder.into(), std::sync::atomic::AtomicBool::new(false)))
        })
        .as_ref()
    }

    pub fn hit(point: &str) {
        if let Some((held, folder, done)) = hold()
            && held == point
            && !done.swap(true, Ordering::SeqCst)
        {
            let _ = std::fs::write(folder.join("reached"), point);
            let until = std::time::Instant::now() + std::time::Duration::from_secs(300);
            while !folder.join("release").exists() {
                if std::time::Instant::now() > until {
                    eprintln!("headwater: held at `{point}` for 5 minutes without a release: aborting");
                    std::process::abort();
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
        if let Some(f) = fault()
            && f.point == point
            && f.hits.fetch_add(1, Ordering::SeqCst) + 1 == f.nth
        {
            eprintln!("headwater: fault point `{point}` reached: aborting (HEADWATER_FAULT)");
            std::process::abort();
        }
    }
}
