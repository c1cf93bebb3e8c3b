//! Progress bars for long runs: one line per stream, showing rows committed
//! and, when the connector reports a total, how far it is. Hidden when stderr is
//! not a terminal or output is machine-readable.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(Clone)]
pub struct Progress {
    multi: Option<MultiProgress>,
}

impl Progress {
    /// Bars on stderr when it is a terminal and `enabled`.
    pub fn new(enabled: bool) -> Self {
        let multi = enabled.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Progress { multi }
    }

    pub fn stream(&self, phase: &str, stream: &str) -> StreamProgress {
        let bar = self.multi.as_ref().map(|m| {
            let bar = m.add(ProgressBar::no_length());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix:<28} {msg:>14} {wide_bar} {elapsed}")
                    .expect("the template is valid"),
            );
            bar.set_prefix(format!("{phase}: {stream}"));
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            bar
        });
        StreamProgress { bar }
    }
}

pub struct StreamProgress {
    bar: Option<ProgressBar>,
}

impl StreamProgress {
    /// Rows written so far.
    pub fn rows(&self, rows: u64) {
        if let Some(b) = &self.bar {
            b.set_message(format!("{rows} rows"));
        }
    }

    /// The connector's own measure of progress.
    pub fn position(&self, done: u64, total: Option<u64>) {
        if let Some(b) = &self.bar {
            if let Some(t) = total {
                b.set_length(t);
            }
            b.set_position(done);
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish();
        }
    }
}
