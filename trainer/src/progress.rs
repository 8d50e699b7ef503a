// SPDX-License-Identifier: MIT
//! What a training session prints: a progress bar on a terminal (plain lines otherwise), the
//! smoothed losses and a log line every `--log-every` iterations.

use std::io::IsTerminal;

use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};

use crate::report::LossRow;

/// Exponential moving average of the logged losses (what the progress line shows).
#[derive(Debug, Default)]
struct Smoothed {
    content: f64,
    style: f64,
    total: f64,
    n: u64,
}

impl Smoothed {
    fn push(&mut self, row: &LossRow) {
        let a = if self.n == 0 {
            1.0
        } else {
            0.02f64.max(1.0 / (self.n + 1) as f64)
        };
        self.content += a * (row.terms.content - self.content);
        self.style += a * (row.terms.style - self.style);
        self.total += a * (row.total - self.total);
        self.n += 1;
    }
}

/// `1h05m` or `4m07s`.
pub fn format_duration(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, s / 60 % 60)
    } else {
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

/// The console of a session: the bar (hidden when stderr is not a terminal), the smoothed
/// losses, and where the previous log line was.
#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
    smoothed: Smoothed,
    end: u64,
    log_every: u64,
    /// Iteration and session seconds of the previous log line.
    logged_at: (u64, f64),
}

impl Progress {
    /// A console for iterations `first..end`, with a log line every `log_every` iterations.
    pub fn new(first: u64, end: u64, log_every: u64) -> Result<Self> {
        let bar = if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(end);
            bar.set_style(
                ProgressStyle::with_template(
                    "{elapsed_precise} [{wide_bar}] {pos}/{len} {per_sec} ETA {eta} {msg}",
                )?
                .progress_chars("=> "),
            );
            bar.set_position(first);
            bar.reset_eta();
            bar
        } else {
            ProgressBar::hidden()
        };
        Ok(Self {
            bar,
            smoothed: Smoothed::default(),
            end,
            log_every: log_every.max(1),
            logged_at: (first, 0.0),
        })
    }

    /// Prints a line (above the bar, if there is one).
    pub fn say(&self, line: &str) {
        if self.bar.is_hidden() {
            println!("{line}");
        } else {
            self.bar.println(line);
        }
    }

    /// Records the row of a finished iteration; `now` is the seconds the session has trained.
    /// Every `log_every` iterations, and at the last one, prints the smoothed losses and the
    /// speed since the previous log line (recent, not cumulative).
    pub fn record(&mut self, row: &LossRow, now: f64) {
        let done = row.iteration + 1;
        self.smoothed.push(row);
        let s = &self.smoothed;
        self.bar.set_position(done);
        self.bar.set_message(format!(
            "content {:.3} style {:.3} total {:.3}",
            s.content, s.style, s.total
        ));
        if done.is_multiple_of(self.log_every) || done == self.end {
            let per_it = (now - self.logged_at.1) / (done - self.logged_at.0) as f64;
            self.logged_at = (done, now);
            self.say(&format!(
                "iter {done}/{} lr {:.3e} content {:.4} style {:.4} total {:.4} (smoothed) {per_it:.3} s/it eta {}",
                self.end,
                row.lr,
                s.content,
                s.style,
                s.total,
                format_duration(per_it * (self.end - done) as f64)
            ));
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
