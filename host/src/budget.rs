//! Each connector call's time budget (`[limits] call_timeout_s`), counting only
//! the call's own time.
//!
//! A run's streams share one runtime thread: a guest that computes yields it
//! every epoch tick, and host work runs inside the call that asked for it. Timed
//! by the wall clock, a call would be charged for the time other streams held
//! the thread, so a stream that computes or decodes a large load could make an
//! honest one beside it fail its time limit. A [`Budget`] charges a call with
//! the wall-clock time since it started less the time other metered calls spent
//! being polled on the same thread meanwhile: its own computing, its host calls
//! and its own waiting (on the network, on a file) count; others' turns do not,
//! even when the call was waiting on its own I/O through them (the rule errs
//! toward the waiting call; since every call's turns are bounded by its own
//! budget, a run still ends within the sum of its calls' budgets).
//! Work outside any metered call (the encoder, fsyncs, decoding) runs on other
//! threads, so it takes nothing from the calls' thread.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

thread_local! {
    /// Nanoseconds that metered calls have been polled on this thread, in all.
    static POLLED: Cell<u64> = const { Cell::new(0) };
}

fn polled() -> u64 {
    POLLED.with(Cell::get)
}

/// One call's budget: what it may spend and what it has.
#[derive(Debug)]
pub struct Budget {
    limit: Duration,
    started: Instant,
    /// [`POLLED`] on the calling thread when the call started.
    polled_at_start: u64,
    /// Nanoseconds this call has been polled.
    own: AtomicU64,
}

impl Budget {
    /// A budget of `limit`, starting now, on the calling thread.
    pub fn start(limit: Duration) -> Arc<Budget> {
        Arc::new(Budget { limit, started: Instant::now(), polled_at_start: polled(), own: AtomicU64::new(0) })
    }

    /// The time charged so far: the wall-clock time since the start, less the
    /// time other calls were polled on this thread meanwhile.
    pub fn charged(&self) -> Duration {
        let all = polled().saturating_sub(self.polled_at_start);
        let others = all.saturating_sub(self.own.load(Ordering::Relaxed));
        self.started.elapsed().saturating_sub(Duration::from_nanos(others))
    }

    /// Whether the call has spent its budget.
    pub fn spent(&self) -> bool {
        self.charged() >= self.limit
    }

    /// What is left of the budget.
    pub fn remaining(&self) -> Duration {
        self.limit.saturating_sub(self.charged())
    }
}

/// Runs `f` as a call metered by `budget`; `None` when the budget ran out first
/// (the future is dropped then).
pub async fn run<T>(budget: Arc<Budget>, f: impl Future<Output = T>) -> Option<T> {
    let mut metered = std::pin::pin!(Metered { inner: f, budget: budget.clone() });
    loop {
        let left = budget.remaining();
        if left.is_zero() {
            return None;
        }
        tokio::select! {
            biased;
            out = &mut metered => return Some(out),
            // Others' turns may have stretched the wall clock: look again when the budget
            // would be spent if this call alone had the thread.
            () = tokio::time::sleep(left) => {}
        }
    }
}

pin_project_lite::pin_project! {
    /// A future whose polls are timed and charged to its budget.
    struct Metered<F> {
        #[pin]
        inner: F,
        budget: Arc<Budget>,
    }
}

impl<F: Future> Future for Metered<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let began = Instant::now();
        let out = this.inner.poll(cx);
        let spent = u64::try_from(began.elapsed().as_nanos()).unwrap_or(u64::MAX);
        this.budget.own.fetch_add(spent, Ordering::Relaxed);
        POLLED.with(|p| p.set(p.get().saturating_add(spent)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A call that waits on its own I/O beside a neighbour that holds the thread
    /// (blocking it, as a long decode in a host call would) is charged its own
    /// time, not the neighbour's; the neighbour is charged all of its own.
    #[test]
    fn a_call_is_not_charged_for_the_time_another_held_the_thread() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let hog = Budget::start(Duration::from_secs(60));
            let honest = Budget::start(Duration::from_millis(700));
            let hogging = run(hog.clone(), async {
                for _ in 0..20 {
                    std::thread::sleep(Duration::from_millis(50)); // holds the thread
                    tokio::task::yield_now().await;
                }
            });
            let waiting = run(honest.clone(), async {
                for _ in 0..5 {
                    tokio::time::sleep(Duration::from_millis(100)).await; // its own waiting
                }
            });
            let started = Instant::now();
            let (h, w) = tokio::join!(hogging, waiting);
            let wall = started.elapsed();
            assert!(h.is_some() && w.is_some(), "neither ran out of its budget");
            assert!(wall >= Duration::from_millis(1000), "the hog held the thread for a second: {wall:?}");
            // Wall-clock timing would have charged the honest call about a second,
            // past its 700 ms; its own time is its half second of waiting.
            // (Its waiting overlapped the hog's turns, so little is charged: the rule errs
            // toward the honest call, and every call's own budget still bounds the run.)
            let charged = honest.charged();
            assert!(charged < Duration::from_millis(700), "charged {charged:?}");
            assert!(hog.charged() >= Duration::from_millis(1000), "the hog is charged its own: {:?}", hog.charged());
        });
    }

    /// A call alone runs out at its limit, and the future is dropped then.
    #[test]
    fn a_call_that_runs_past_its_budget_is_stopped() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let budget = Budget::start(Duration::from_millis(200));
            let started = Instant::now();
            let out = run(budget.clone(), std::future::pending::<()>()).await;
            assert!(out.is_none());
            assert!(started.elapsed() >= Duration::from_millis(200));
            assert!(budget.spent());
        });
    }
}
