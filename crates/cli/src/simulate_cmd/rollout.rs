//! `changuard simulate --rollout`: 19 July 2024's update delivered to a
//! fleet of simulated machines (the real loader in keyring mode) all at once
//! and in rings with a halt, side by side (`changuard_sim::fleet`;
//! docs/ROLLOUT.md). Exit 1 unless the staged rollout's done-when condition
//! holds and no invariant was violated.

use std::fmt::Write as _;
use std::time::Instant;

use changuard_sim::fleet::{self, Config, FleetReport, Sample, StrategyReport};
use serde_json::{Value, json};

use super::progress::Bar;
use super::{Outcome, SimulateArgs};

/// Machines in the rollout fleet unless `--fleet` says.
pub(super) const ROLLOUT_FLEET: u64 = 100_000;

/// Violations shown in the text report (`--json` has all).
const SHOWN_VIOLATIONS: usize = 20;

/// Run it.
pub(super) fn run(args: &SimulateArgs, bars: bool, started: Instant) -> Outcome {
    let config = Config {
        machines: args.fleet.unwrap_or(ROLLOUT_FLEET),
        seed: args.seed,
        ..Config::default()
    };
    let mut bar = Bar::new("rollout fleet", "machines", bars);
    let r = fleet::run(&config, &mut bar);
    bar.finish();
    let elapsed = started.elapsed();
    let mut o = Outcome {
        code: i32::from(!r.holds()),
        ..Outcome::default()
    };
    if let Some(path) = &args.plot {
        let svg = match plot(&r) {
            Ok(s) => s,
            Err(e) => {
                o.code = 2;
                o.stderr = format!("error: drawing the plot: {e}\n");
                return o;
            }
        };
        if let Err(e) = std::fs::write(path, svg) {
            o.code = 2;
            o.stderr = format!("error: {}: {e}\n", path.display());
            return o;
        }
    }
    let rss = peak_rss_kib();
    if args.json {
        let j = to_json(&r, elapsed.as_millis() as u64, rss, args.plot.as_deref());
        let _ = writeln!(o.stdout, "{j}");
        return o;
    }
    text(&mut o.stdout, &r);
    let _ = writeln!(
        o.stdout,
        "\n{} loader runs in {elapsed:.1?}{}",
        group(r.all_at_once.boots + r.staged.boots + r.config.machines),
        rss.map_or(String::new(), |k| format!(", peak RSS {} MiB", k / 1024))
    );
    if let Some(p) = &args.plot {
        let _ = writeln!(o.stdout, "plot: {}", p.display());
    }
    o
}

/// `12,345`.
fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `+1h05m` after T0.
fn after_t0(secs: u64) -> String {
    format!("+{}h{:02}m", secs / 3600, secs % 3600 / 60)
}

/// `0.10%`.
fn pct_ppm(ppm: u32) -> String {
    let p = f64::from(ppm) / 10_000.0;
    if p < 1.0 {
        format!("{p:.1}%")
    } else {
        format!("{p:.0}%")
    }
}

fn text(out: &mut String, r: &FleetReport) {
    let c = &r.config;
    let (a, s) = (&r.all_at_once, &r.staged);
    let _ = writeln!(
        out,
        "fleet rollout: {} machines (seed {}), {} with the property the bad v{} crashes on, {} with MaxTrialBoots 2",
        group(c.machines),
        c.seed,
        group(r.with_property),
        fleet::BAD,
        group(r.max_trial_2),
    );
    let _ = writeln!(
        out,
        "  agents poll every {} min; crash -> reboot {} s; report -> vendor {} s; halt {} min after the gate trips \
         (a canary crash, or crashes > {:.1}% of machines reporting v{} active); {} h simulated in {} min steps\n",
        c.poll_secs / 60,
        c.reboot_secs,
        c.report_secs,
        c.reaction_secs / 60,
        c.threshold_ppm as f64 / 10_000.0,
        fleet::BAD,
        c.horizon_secs / 3600,
        c.step_secs / 60,
    );
    let rows: Vec<(&str, String, String)> = vec![
        (
            "rings",
            "100% at T0".to_owned(),
            s.rings
                .iter()
                .map(|g| pct_ppm(g.fraction_ppm))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        (
            "machines crashed",
            group(a.crashed_machines),
            group(s.crashed_machines),
        ),
        ("crashes in total", group(a.crashes), group(s.crashes)),
        (
            "most crashes of one machine",
            a.max_crashes_per_machine.to_string(),
            s.max_crashes_per_machine.to_string(),
        ),
        (
            "machines that activated v7",
            group(a.activated),
            group(s.activated),
        ),
        (
            "machines that quarantined v7",
            group(a.quarantined),
            group(s.quarantined),
        ),
        (
            "v7 trials ended by the halt",
            group(a.trials_halted),
            group(s.trials_halted),
        ),
        (
            "time to halt (published)",
            a.halt_published.map_or("never".to_owned(), after_t0),
            s.halt_published.map_or("never".to_owned(), after_t0),
        ),
        (
            "machines on v7 at the end",
            group(a.on_bad_at_end),
            group(s.on_bad_at_end),
        ),
        (
            "ring opened after the halt",
            group(a.ring_opened_after_halt),
            format!(
                "{} ({} activated)",
                group(s.ring_opened_after_halt),
                group(s.activated_after_halt_ring)
            ),
        ),
        (
            "crash reports to the vendor",
            group(a.crash_reports),
            group(s.crash_reports),
        ),
        ("loader runs", group(a.boots), group(s.boots)),
        (
            "invariant violations",
            a.violations.len().to_string(),
            s.violations.len().to_string(),
        ),
    ];
    let _ = writeln!(
        out,
        "  {:<30} {:>14}  {:>22}",
        "", "all-at-once", "staged+halt"
    );
    for (k, x, y) in rows {
        let _ = writeln!(out, "  {k:<30} {x:>14}  {y:>22}");
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "done-when (staged+halt): crashed {} <= canary machines with the property {} + machines that activated before the halt {} = {}: {}",
        group(s.crashed_machines),
        group(s.canary_with_property),
        group(s.activated_before_halt),
        group(s.bound()),
        yes(s.crashed_machines <= s.bound())
    );
    let _ = writeln!(
        out,
        "  every crashed machine crashed at most MaxTrialBoots times: {}; no machine of a ring opened after the halt activated v7: {}; invariant violations: {}",
        yes(s.over_max_trial == 0 && a.over_max_trial == 0),
        yes(s.activated_after_halt_ring == 0),
        r.violations().count()
    );
    let _ = writeln!(
        out,
        "{}",
        if r.holds() {
            "done-when holds"
        } else {
            "done-when FAILS"
        }
    );
    for v in r.violations().take(SHOWN_VIOLATIONS) {
        let _ = writeln!(out, "VIOLATION {v}");
    }
    let n = r.violations().count();
    if n > SHOWN_VIOLATIONS {
        let _ = writeln!(
            out,
            "... and {} more violations (all of them: --json)",
            n - SHOWN_VIOLATIONS
        );
    }
}

fn yes(b: bool) -> &'static str {
    if b { "holds" } else { "FAILS" }
}

fn series(samples: &[Sample]) -> Value {
    json!({
        "t_secs": samples.iter().map(|s| s.t).collect::<Vec<_>>(),
        "crashed_machines": samples.iter().map(|s| s.crashed_machines).collect::<Vec<_>>(),
        "crashes": samples.iter().map(|s| s.crashes).collect::<Vec<_>>(),
        "running_v7": samples.iter().map(|s| s.running_bad).collect::<Vec<_>>(),
        "activated": samples.iter().map(|s| s.activated).collect::<Vec<_>>(),
    })
}

fn strategy_json(s: &StrategyReport) -> Value {
    json!({
        "strategy": s.strategy,
        "machines_crashed": s.crashed_machines,
        "crashes": s.crashes,
        "max_crashes_per_machine": s.max_crashes_per_machine,
        "machines_over_max_trial_boots": s.over_max_trial,
        "activated": s.activated,
        "quarantined": s.quarantined,
        "trials_halted": s.trials_halted,
        "halt_decided_secs": s.halt_decided,
        "halt_published_secs": s.halt_published,
        "on_v7_at_end": s.on_bad_at_end,
        "ring_opened_after_halt": s.ring_opened_after_halt,
        "activated_in_rings_opened_after_halt": s.activated_after_halt_ring,
        "canary_with_property": s.canary_with_property,
        "activated_before_halt": s.activated_before_halt,
        "crash_reports": s.crash_reports,
        "loader_runs": s.boots,
        "invariant_violations": s.violations.len(),
        "rings": s.rings.iter().map(|g| json!({
            "fraction_ppm": g.fraction_ppm,
            "opens_after_secs": g.opens_after,
            "machines": g.machines,
            "with_property": g.with_property,
            "activated": g.activated,
            "crashed": g.crashed,
        })).collect::<Vec<_>>(),
        "series": series(&s.samples),
    })
}

fn to_json(
    r: &FleetReport,
    elapsed_ms: u64,
    rss: Option<u64>,
    plot: Option<&std::path::Path>,
) -> Value {
    let c = &r.config;
    let s = &r.staged;
    json!({
        "mode": "rollout",
        "machines": c.machines,
        "seed": c.seed,
        "parameters": {
            "channel": fleet::CHANNEL,
            "good_version": fleet::GOOD,
            "bad_version": fleet::BAD,
            "t0_unix": fleet::T0,
            "property_pct": c.property_pct,
            "max_trial_boots_2_pct": c.max_trial_2_pct,
            "poll_secs": c.poll_secs,
            "step_secs": c.step_secs,
            "horizon_secs": c.horizon_secs,
            "ring_step_secs": c.ring_step_secs,
            "reboot_secs": c.reboot_secs,
            "report_secs": c.report_secs,
            "reaction_secs": c.reaction_secs,
            "threshold_ppm": c.threshold_ppm,
        },
        "with_property": r.with_property,
        "max_trial_boots_2": r.max_trial_2,
        "all_at_once": strategy_json(&r.all_at_once),
        "staged_halt": strategy_json(s),
        "done_when": {
            "crashed_machines": s.crashed_machines,
            "canary_with_property": s.canary_with_property,
            "activated_before_halt": s.activated_before_halt,
            "bound": s.bound(),
            "within_bound": s.crashed_machines <= s.bound(),
            "crashes_within_max_trial_boots": s.over_max_trial == 0 && r.all_at_once.over_max_trial == 0,
            "no_activation_after_halt": s.activated_after_halt_ring == 0,
            "holds": r.holds(),
        },
        "invariant_violations": r.violations().collect::<Vec<_>>(),
        "elapsed_ms": elapsed_ms,
        "peak_rss_kib": rss,
        "plot": plot.map(|p| p.display().to_string()),
    })
}

/// Peak resident set size of this process (Linux: `VmHWM`), KiB.
fn peak_rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The figure: machines crashed over time, both strategies (log scale).
pub(super) fn plot(r: &FleetReport) -> Result<String, String> {
    use plotters::prelude::*;

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (960, 540)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        // Nothing happens after the last ring opens but reboots and
        // reports: the figure ends 4 h after it (or at the horizon).
        let last_ring = r.staged.rings.last().map_or(0, |g| g.opens_after);
        let hours = ((last_ring + 4 * 3600).min(r.config.horizon_secs) as f64 / 3600.0).max(1.0);
        let top = r
            .all_at_once
            .crashed_machines
            .max(r.staged.crashed_machines)
            .max(10) as f64
            * 3.0;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!(
                    "19 July 2024 shape, {} machines: machines crashed after the update is published",
                    group(r.config.machines)
                ),
                ("sans-serif", 20),
            )
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(72)
            .build_cartesian_2d(0f64..hours, (0.5f64..top).log_scale())
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("hours after the update is published (T0)")
            .y_desc("machines crashed (log scale)")
            .x_labels(hours as usize + 1)
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| group(y.round() as u64))
            .draw()
            .map_err(|e| e.to_string())?;
        let points = |s: &StrategyReport| -> Vec<(f64, f64)> {
            let mut v: Vec<(f64, f64)> = vec![];
            for x in s
                .samples
                .iter()
                .take_while(|x| x.t as f64 <= hours * 3600.0)
            {
                if x.crashed_machines == 0 {
                    continue;
                }
                let t = x.t as f64 / 3600.0;
                let y = x.crashed_machines as f64;
                // A step line: the count holds until the next sample.
                if let Some(&(_, py)) = v.last() {
                    v.push((t, py));
                }
                v.push((t, y));
            }
            v
        };
        let red = RGBColor(200, 30, 30);
        let blue = RGBColor(20, 90, 200);
        let grey = RGBColor(120, 120, 120);
        chart
            .draw_series(LineSeries::new(points(&r.all_at_once), red.stroke_width(3)))
            .map_err(|e| e.to_string())?
            .label(format!(
                "all at once (no rings, no halt): machines crashed {}",
                group(r.all_at_once.crashed_machines)
            ))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], red.stroke_width(3)));
        chart
            .draw_series(LineSeries::new(points(&r.staged), blue.stroke_width(3)))
            .map_err(|e| e.to_string())?
            .label(format!(
                "rings 0.1/1/10/50/100% every {} h + halt: machines crashed {}",
                r.config.ring_step_secs / 3600,
                group(r.staged.crashed_machines)
            ))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 24, y)], blue.stroke_width(3))
            });
        let light = RGBColor(150, 180, 230);
        for (i, g) in r.staged.rings.iter().enumerate().skip(1) {
            let x = g.opens_after as f64 / 3600.0;
            let a = chart
                .draw_series(LineSeries::new(
                    vec![(x, 0.5), (x, top)],
                    light.stroke_width(1),
                ))
                .map_err(|e| e.to_string())?;
            if i == 1 {
                a.label("staged: rings 1%, 10%, 50%, 100% open")
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], light));
            }
        }
        if let Some(h) = r.staged.halt_published {
            let x = h as f64 / 3600.0;
            chart
                .draw_series(LineSeries::new(
                    vec![(x, 0.5), (x, top)],
                    grey.stroke_width(2),
                ))
                .map_err(|e| e.to_string())?
                .label(format!("halt published at T0{}", after_t0(h)))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 24, y)], grey.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::MiddleRight)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .label_font(("sans-serif", 15))
            .draw()
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}
