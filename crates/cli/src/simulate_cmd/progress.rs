//! Progress bars for long simulations, on stderr only when stderr is a
//! terminal (CI logs, pipes and `--json` consumers see nothing), and only
//! once a run has taken [`SHOW_AFTER`] (short runs never draw).

use std::time::{Duration, Instant};

use changuard_sim::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A run shorter than this draws no bar.
pub(super) const SHOW_AFTER: Duration = Duration::from_millis(300);

/// A lazily drawn bar: `what` (`random campaign`, `exhaustive`, ...) counts
/// `unit`s (`boots`, `machines`, `scenarios`).
#[derive(Debug)]
pub(super) struct Bar {
    enabled: bool,
    what: &'static str,
    unit: &'static str,
    started: Instant,
    bar: Option<ProgressBar>,
    /// Total the bar's style was made for (0: unknown, a spinner).
    styled_for: Option<bool>,
    phase: Option<&'static str>,
}

impl Bar {
    /// `enabled`: stderr is a terminal (and a bar is wanted).
    pub(super) fn new(what: &'static str, unit: &'static str, enabled: bool) -> Bar {
        Bar {
            enabled,
            what,
            unit,
            started: Instant::now(),
            bar: None,
            styled_for: None,
            phase: None,
        }
    }

    /// Drawn at all (tests: never when not enabled).
    #[cfg(test)]
    pub(super) fn is_drawn(&self) -> bool {
        self.bar.as_ref().is_some_and(|b| !b.is_hidden())
    }

    /// `done` of `total` (`total` 0: unknown), with a message after the
    /// counts (made only when the bar is drawn).
    pub(super) fn show(&mut self, done: u64, total: u64, msg: impl FnOnce() -> String) {
        if !self.enabled {
            return;
        }
        let first = self.bar.is_none();
        if first {
            if self.started.elapsed() < SHOW_AFTER {
                return;
            }
            let b = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            b.set_prefix(self.what);
            self.bar = Some(b);
        }
        let Some(b) = &self.bar else {
            return;
        };
        let known = total > 0;
        if known {
            b.set_length(total);
        }
        b.set_position(done);
        if self.styled_for != Some(known) {
            let template = if known {
                format!(
                    "{{prefix}} [{{elapsed_precise}}] {{wide_bar}} {{human_pos}}/{{human_len}} {}{{msg}} (eta {{eta}})",
                    self.unit
                )
            } else {
                format!(
                    "{{spinner}} {{prefix}} [{{elapsed_precise}}] {{human_pos}} {}{{msg}}",
                    self.unit
                )
            };
            if let Ok(style) = ProgressStyle::with_template(&template) {
                b.set_style(style);
            }
            self.styled_for = Some(known);
        }
        let msg = msg();
        b.set_message(if msg.is_empty() {
            msg
        } else {
            format!(" {msg}")
        });
        if first {
            // Redraws the elapsed time and spinner between updates.
            b.enable_steady_tick(Duration::from_millis(200));
        }
    }

    /// Remove the bar (the report follows on stdout).
    pub(super) fn finish(self) {
        if let Some(b) = self.bar {
            b.finish_and_clear();
        }
    }
}

impl Progress for Bar {
    fn update(&mut self, done: u64, total: u64) {
        let phase = self.phase;
        self.show(done, total, || {
            phase.map_or_else(String::new, |p| format!("({p})"))
        });
    }

    fn phase(&mut self, name: &'static str) {
        self.phase = Some(name);
        match name {
            "shrinking" => self.unit = "replays",
            // The fleet rollout (changuard_sim::fleet::run).
            "set-up" => self.unit = "machines",
            "all-at-once" | "staged+halt" => self.unit = "steps",
            _ => {}
        }
    }
}
