//! The realistic send (`regret --scenario realistic`): 200,000 recipients in
//! 72 five-minute batches, close click rates, log-normal click delays (median
//! 3 h, 90th percentile 64 h), a better and a worse wording each added
//! mid-send, the first wording as the control at a 10% share. Everything goes
//! through the library's `Experiment` (`assign`, `apply`,
//! `recompute_allocation`, `report`), in three modes:
//!
//! - **oracle**: immediate feedback (`DelayModel::Immediate`, every click
//!   applied as soon as its recipient is served): the yardstick;
//! - **tag + serve time**: URL-tag mode whose tag carries the serve time
//!   (each click's `exposed_at` is known), clicks applied when they happen;
//! - **tag, no serve time**: the same without the serve time
//!   (`exposed_at: None`).
//!
//! Per mode: regret during the send (against the best wording available at
//! each moment), the share of each hour's traffic served to the best
//! available wording, the stopping rule (first winner declared during the
//! send, right when it is the best wording available then), and the coverage
//! of the 95% uplift intervals against the control in a report 3 days after
//! the send (true uplift `rate / control rate − 1`).

use chrono::{DateTime, Duration, Utc};
use dynopt::optimiser::{DelayModel, Experiment, OptimiserConfig};
use dynopt::pii::RecipientKey;
use dynopt::{ExperimentId, Update, VariantId};
use rand::RngExt;
use rand_pcg::Pcg64;

/// Recipients of the send.
pub(crate) const RECIPIENTS: usize = 200_000;
/// Five-minute batches (6 hours).
pub(crate) const BATCHES: usize = 72;
const BATCH_SECS: f64 = 300.0;
/// The wordings at the start; the first is the control (the brand's copy).
pub(crate) const INITIAL_RATES: [f64; 4] = [0.025, 0.026, 0.027, 0.028];
/// The better wording and the batch before which it is added (1.5 h in).
pub(crate) const ADDED_BETTER: (f64, usize) = (0.031, 18);
/// The worse wording and the batch before which it is added (3 h in).
pub(crate) const ADDED_WORSE: (f64, usize) = (0.024, 36);
/// The control's fixed share.
const CONTROL_SHARE: f64 = 0.10;
/// Click delay: log-normal, median 3 h, 90th percentile 64 h.
const DELAY_MEDIAN_SECS: f64 = 3.0 * 3_600.0;
const DELAY_P90_SECS: f64 = 64.0 * 3_600.0;
/// z of the 90th percentile of the standard normal.
const Z90: f64 = 1.281_551_565_544_600_4;
/// The report that measures uplift coverage: 3 days after the send ended.
const TAIL_SECS: f64 = 3.0 * 86_400.0;

/// How the optimiser is fed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Immediate feedback: the yardstick.
    Oracle,
    /// URL tag with the serve time: `exposed_at` known.
    TagServeTime,
    /// URL tag without it: `exposed_at: None`.
    TagNoServeTime,
}

impl Mode {
    pub(crate) const ALL: [Mode; 3] = [Mode::Oracle, Mode::TagServeTime, Mode::TagNoServeTime];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Mode::Oracle => "oracle (immediate feedback)",
            Mode::TagServeTime => "URL tag with serve time",
            Mode::TagNoServeTime => "URL tag without serve time",
        }
    }

    pub(crate) fn key(self) -> &'static str {
        match self {
            Mode::Oracle => "oracle",
            Mode::TagServeTime => "tag_serve_time",
            Mode::TagNoServeTime => "tag_no_serve_time",
        }
    }
}

/// One run of one mode.
pub(crate) struct Outcome {
    /// Σ over recipients of (best available rate − served rate).
    pub(crate) regret: f64,
    /// Per hour of the send, the share of its recipients served the best
    /// available wording.
    pub(crate) best_share: [f64; 6],
    /// The first winner declared during the send: (batch, right).
    pub(crate) stop: Option<(usize, bool)>,
    /// Uplift intervals that covered the true uplift, out of those reported.
    pub(crate) covered: u32,
    pub(crate) intervals: u32,
}

/// The wordings' rates available before batch `b` (index = variant order).
fn rates_at(b: usize) -> Vec<f64> {
    let mut r = INITIAL_RATES.to_vec();
    if b >= ADDED_BETTER.1 {
        r.push(ADDED_BETTER.0);
    }
    if b >= ADDED_WORSE.1 {
        r.push(ADDED_WORSE.0);
    }
    r
}

/// A standard normal draw (Box–Muller).
fn normal(rng: &mut Pcg64) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A click delay in seconds.
fn delay(rng: &mut Pcg64) -> f64 {
    let sigma = (DELAY_P90_SECS / DELAY_MEDIAN_SECS).ln() / Z90;
    DELAY_MEDIAN_SECS * (sigma * normal(rng)).exp()
}

/// A pending click: variant index, serve time and click time (seconds from the start).
struct Pending {
    variant: usize,
    served: f64,
    clicked: f64,
}

/// One run of `mode` with its own generator.
fn run(mode: Mode, salt: u64, rng: &mut Pcg64) -> Result<Outcome, String> {
    let start = super::t0();
    let time = |s: f64| start + Duration::milliseconds((s * 1000.0) as i64);
    let id = ExperimentId::new("realistic-send");
    let mut config = OptimiserConfig::default();
    config.salt = salt;
    config.control_share = CONTROL_SHARE;
    if mode == Mode::Oracle {
        config.delay = DelayModel::Immediate;
    }
    let mut e = Experiment::new(id.clone(), config).map_err(|e| e.to_string())?;
    let mut vs: Vec<VariantId> = Vec::new();
    for (i, r) in INITIAL_RATES.iter().enumerate() {
        vs.push(
            e.add_variant(format!("wording {i} ({r})"))
                .map_err(|e| e.to_string())?,
        );
    }
    e.set_control(Some(vs[0])).map_err(|e| e.to_string())?;
    let per_batch = RECIPIENTS / BATCHES;
    let extra = RECIPIENTS % BATCHES;
    let mut pending: Vec<Pending> = Vec::new();
    let mut out = Outcome {
        regret: 0.0,
        best_share: [0.0; 6],
        stop: None,
        covered: 0,
        intervals: 0,
    };
    let mut hour_served = [0usize; 6];
    for b in 0..BATCHES {
        let now_s = b as f64 * BATCH_SECS;
        let now = time(now_s);
        if b == ADDED_BETTER.1 || b == ADDED_WORSE.1 {
            let r = if b == ADDED_BETTER.1 {
                ADDED_BETTER.0
            } else {
                ADDED_WORSE.0
            };
            vs.push(
                e.add_variant(format!("wording {} ({r}), added", vs.len()))
                    .map_err(|e| e.to_string())?,
            );
        }
        apply_clicks(&mut e, &id, &vs, &mut pending, now_s, mode, time)?;
        if b > 0 {
            e.recompute_allocation(now, rng);
        }
        let rates = rates_at(b);
        let best = rates.iter().copied().fold(f64::MIN, f64::max);
        let best_i = rates.iter().position(|&r| r == best).unwrap_or(0);
        if b > 0 && out.stop.is_none() {
            let report = e.report(now, rng);
            if let Some(w) = report.winner {
                out.stop = Some((b, w == vs[best_i]));
            }
        }
        let n = per_batch + usize::from(b < extra);
        let hour = (b * 6 / BATCHES).min(5);
        for _ in 0..n {
            let t = now_s + BATCH_SECS * rng.random::<f64>();
            let key = RecipientKey(rng.random());
            let v = e.assign(&key).map_err(|e| e.to_string())?;
            let i = vs.iter().position(|x| *x == v).ok_or("unknown variant")?;
            out.regret += best - rates[i];
            hour_served[hour] += 1;
            if i == best_i {
                out.best_share[hour] += 1.0;
            }
            e.apply(&Update::Exposure {
                experiment: id.clone(),
                variant: v,
                at: time(t),
            })
            .map_err(|e| e.to_string())?;
            if rng.random::<f64>() < rates[i] {
                let clicked = if mode == Mode::Oracle {
                    t
                } else {
                    t + delay(rng)
                };
                pending.push(Pending {
                    variant: i,
                    served: t,
                    clicked,
                });
            }
        }
        if mode == Mode::Oracle {
            // Immediate feedback: every click of the batch before the next allocation.
            apply_clicks(&mut e, &id, &vs, &mut pending, f64::INFINITY, mode, time)?;
        }
    }
    for (s, n) in out.best_share.iter_mut().zip(hour_served) {
        *s /= n.max(1) as f64;
    }
    // Uplift coverage, 3 days after the send.
    let end_s = BATCHES as f64 * BATCH_SECS + TAIL_SECS;
    apply_clicks(&mut e, &id, &vs, &mut pending, end_s, mode, time)?;
    let report = e.report(time(end_s), rng);
    let rates = rates_at(BATCHES);
    for (i, v) in vs.iter().enumerate().skip(1) {
        let Some(u) = report
            .variants
            .iter()
            .find(|r| r.id == *v)
            .and_then(|r| r.uplift)
        else {
            continue;
        };
        let truth = rates[i] / rates[0] - 1.0;
        out.intervals += 1;
        if u.ci_low <= truth && truth <= u.ci_high {
            out.covered += 1;
        }
    }
    Ok(out)
}

/// Applies the pending clicks that happened before `until` (seconds), in time order.
fn apply_clicks(
    e: &mut Experiment,
    id: &ExperimentId,
    vs: &[VariantId],
    pending: &mut Vec<Pending>,
    until: f64,
    mode: Mode,
    time: impl Fn(f64) -> DateTime<Utc>,
) -> Result<(), String> {
    pending.sort_by(|x, y| y.clicked.total_cmp(&x.clicked));
    while pending.last().is_some_and(|c| c.clicked < until) {
        let Some(c) = pending.pop() else { break };
        e.apply(&Update::Click {
            experiment: id.clone(),
            variant: vs[c.variant],
            exposed_at: (mode != Mode::TagNoServeTime).then(|| time(c.served)),
            clicked_at: time(c.clicked),
        })
        .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// One run of every mode, each with its own generator for (seed, run, mode).
pub(crate) fn run_all(seed: u64, run_index: usize) -> Result<[Outcome; 3], String> {
    let one = |m: u64, mode: Mode| -> Result<Outcome, String> {
        let mut rng = super::rng_for(seed, 3, run_index, m);
        let salt = rng.random();
        run(mode, salt, &mut rng)
    };
    Ok([
        one(0, Mode::Oracle)?,
        one(1, Mode::TagServeTime)?,
        one(2, Mode::TagNoServeTime)?,
    ])
}
