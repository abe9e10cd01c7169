//! Progress for long work (batch signing, trust-root updates, OCI pulls): drawn on
//! standard error only when it is a terminal, never under `--quiet` or
//! `--json`, and never into a file or a pipe.

use std::io::IsTerminal as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

static QUIET: AtomicBool = AtomicBool::new(false);

/// `--quiet` for this run.
pub(crate) fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// Whether progress may be drawn: a terminal on standard error, no
/// `--quiet`, and the command's output is not JSON.
fn shown(json: bool) -> bool {
    !json && !QUIET.load(Ordering::Relaxed) && std::io::stderr().is_terminal()
}

/// A bar over `len` items, or nothing when progress is not shown or there
/// is only one item.
pub(crate) fn bar(len: usize, what: &str, json: bool) -> Progress {
    if len < 2 {
        return Progress(None);
    }
    counted(len as u64, "{pos}/{len}", what, json)
}

/// A bar over `total` bytes, or nothing when progress is not shown.
pub(crate) fn bytes(total: u64, what: &str, json: bool) -> Progress {
    counted(total, "{bytes}/{total_bytes}", what, json)
}

/// A bar to `total`, its count shown as `count`, drawn at once.
fn counted(total: u64, count: &str, what: &str, json: bool) -> Progress {
    if !shown(json) {
        return Progress(None);
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(&format!("{{msg}} [{{bar:30}}] {count} {{elapsed}}"))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(what.to_string());
    bar.tick();
    Progress(Some(bar))
}

/// A spinner for one long step, or nothing when progress is not shown.
pub(crate) fn spinner(what: &str, json: bool) -> Progress {
    if !shown(json) {
        return Progress(None);
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_message(what.to_string());
    bar.enable_steady_tick(Duration::from_millis(120));
    Progress(Some(bar))
}

/// A bar or spinner that may be absent; cleared when dropped.
#[derive(Debug)]
pub(crate) struct Progress(Option<ProgressBar>);

impl Progress {
    /// One more item done.
    pub(crate) fn inc(&self) {
        if let Some(b) = &self.0 {
            b.inc(1);
        }
    }

    /// `n` more done.
    pub(crate) fn inc_by(&self, n: u64) {
        if let Some(b) = &self.0 {
            b.inc(n);
        }
    }

    /// Prints a line to standard error above the bar.
    pub(crate) fn println(&self, line: &str) {
        match &self.0 {
            Some(b) => b.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}
