//! `regret --scenario rewards`: rewards other than the click, and guardrails,
//! all served by the library's `assign` over allocations recomputed before
//! each batch.
//!
//! - **Opens**: five wordings with human open rates 18% to 22%. Machine opens
//!   (Apple Mail Privacy Protection) come minutes after delivery. *Even*: every
//!   recipient has a 13.3% chance of a machine open whatever the wording (40%
//!   of all opens). *Correlated*: the worst wording's audience has 45% machine
//!   opens, the others' 10%. The optimiser learns from the first open with
//!   machine opens filtered out (the library's open reward) or not (a machine
//!   open counts as the recipient's open). Regret counts human opens only.
//! - **Conversions**: five wordings converting 1.0% to 1.5%, log-normal
//!   delays (median one day, sigma 1), 72 hourly batches of 2,000: delay-aware (the
//!   library's conversion reward and prior), naive (unmatured exposures count
//!   as failures), immediate feedback (the oracle) and uniform.
//! - **Guardrails**: control (clicks 2.5%, unsubscribes 0.3%), a baiting
//!   wording (clicks 3.0%, unsubscribes 0.9%) and two harmless ones (2.8% and
//!   2.6%, 0.3%); 200,000 recipients in 20 half-hour batches (the sizes
//!   scale with `--batch-size`); 500 runs by default; click and
//!   unsubscribe delays exponential (means one and two hours); the default
//!   unsubscribe rule (margin 0.5, probability 0.99, cap). Caught: the bait
//!   is capped after the last batch; false cap: a harmless wording capped at
//!   any recompute.

use chrono::{DateTime, Duration};
use dynopt::optimiser::{DelayModel, Experiment, GuardrailRule, GuardrailStatus, OptimiserConfig};
use dynopt::pii::RecipientKey;
use dynopt::{ExperimentId, Guardrail, Reward, Update, VariantId};
use rand::RngExt;
use rand_pcg::Pcg64;

use super::{mean_se, par_runs, rng_for, t0};

const OPEN_RATES: [f64; 5] = [0.18, 0.19, 0.20, 0.21, 0.22];
const OPEN_BATCHES: usize = 30;
const OPEN_BATCH_MINUTES: i64 = 10;
const CONV_RATES: [f64; 5] = [0.010, 0.011, 0.012, 0.013, 0.015];
const CONV_BATCHES: usize = 72;
const GUARD_BATCHES: usize = 20;
/// (click rate, unsubscribe rate): control, bait, harmless, harmless.
const GUARD_ARMS: [(f64, f64); 4] = [
    (0.025, 0.003),
    (0.030, 0.009),
    (0.028, 0.003),
    (0.026, 0.003),
];

/// An outcome waiting to become visible: variant index, exposure and event time.
struct Pending {
    v: usize,
    exposed: DateTime<chrono::Utc>,
    at: DateTime<chrono::Utc>,
}

fn new_experiment(
    config: OptimiserConfig,
    k: usize,
    salt: u64,
) -> Result<(Experiment, Vec<VariantId>), String> {
    let mut config = config;
    config.salt = salt;
    let mut e = Experiment::new(ExperimentId::new("rewards"), config).map_err(|e| e.to_string())?;
    let vs = (0..k)
        .map(|i| e.add_variant(format!("w{i}")).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((e, vs))
}

fn exposure(e: &Experiment, v: VariantId, at: DateTime<chrono::Utc>) -> Update {
    Update::Exposure {
        experiment: e.id().clone(),
        variant: v,
        at,
    }
}

/// Applies (and removes) the pending outcomes visible at `now`.
fn flush(
    e: &mut Experiment,
    vs: &[VariantId],
    pending: &mut Vec<Pending>,
    now: DateTime<chrono::Utc>,
    make: impl Fn(&Experiment, VariantId, &Pending) -> Update,
) -> Result<(), String> {
    let mut err = None;
    pending.retain(|p| {
        if p.at < now {
            let u = make(e, vs[p.v], p);
            if let Err(x) = e.apply(&u) {
                err = Some(x.to_string());
            }
            false
        } else {
            true
        }
    });
    err.map_or(Ok(()), Err)
}

fn exp_delay(rng: &mut Pcg64, mean_secs: f64) -> Duration {
    Duration::seconds((-mean_secs * (1.0 - rng.random::<f64>()).ln()) as i64)
}

fn normal(rng: &mut Pcg64) -> f64 {
    let u1 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// One send with the open reward; `machine[v]` is the machine-open
/// probability of wording `v`'s recipients. Returns the regret in human opens.
fn opens_run(
    filter: bool,
    machine: &[f64; 5],
    size: usize,
    rng: &mut Pcg64,
) -> Result<f64, String> {
    let (mut e, vs) = new_experiment(OptimiserConfig::with_reward(Reward::Open), 5, rng.random())?;
    let best = OPEN_RATES[4];
    let batch = Duration::minutes(OPEN_BATCH_MINUTES);
    let mut pending = Vec::new();
    let mut regret = 0.0;
    for b in 0..OPEN_BATCHES {
        let now = t0() + batch * b as i32;
        flush(&mut e, &vs, &mut pending, now, |e, v, p| Update::Open {
            experiment: e.id().clone(),
            variant: v,
            exposed_at: Some(p.exposed),
            opened_at: p.at,
        })?;
        if b > 0 {
            e.recompute_allocation(now, rng);
        }
        for k in 0..size {
            let at = now
                + Duration::milliseconds((k as i64) * OPEN_BATCH_MINUTES * 60_000 / size as i64);
            let v = e
                .assign(&RecipientKey(rng.random()))
                .map_err(|e| e.to_string())?;
            let i = v.0 as usize;
            regret += best - OPEN_RATES[i];
            e.apply(&exposure(&e, v, at)).map_err(|e| e.to_string())?;
            let human = (rng.random::<f64>() < OPEN_RATES[i]).then(|| at + exp_delay(rng, 2_700.0));
            let mach = (rng.random::<f64>() < machine[i])
                .then(|| at + Duration::seconds(rng.random_range(10..300)));
            let first = if filter {
                human
            } else {
                match (human, mach) {
                    (Some(h), Some(m)) => Some(h.min(m)),
                    (h, m) => h.or(m),
                }
            };
            if let Some(when) = first {
                pending.push(Pending {
                    v: i,
                    exposed: at,
                    at: when,
                });
            }
        }
    }
    Ok(regret)
}

/// The share of the last batch given to each wording (by assigning a panel).
fn final_shares(e: &Experiment, k: usize, rng: &mut Pcg64) -> Result<Vec<f64>, String> {
    let mut n = vec![0usize; k];
    for _ in 0..2_000 {
        let v = e
            .assign(&RecipientKey(rng.random()))
            .map_err(|e| e.to_string())?;
        n[v.0 as usize] += 1;
    }
    Ok(n.iter().map(|&x| x as f64 / 2_000.0).collect())
}

#[derive(Clone, Copy, PartialEq)]
enum ConvMode {
    DelayAware,
    Naive,
    Oracle,
    Uniform,
}

/// One send with the conversion reward. Returns the regret in conversions.
fn conversions_run(mode: ConvMode, size: usize, rng: &mut Pcg64) -> Result<f64, String> {
    let mut config = OptimiserConfig::with_reward(Reward::Conversion {
        behavior_index: Some(0),
    });
    config.bucket = chrono::TimeDelta::hours(1);
    if matches!(mode, ConvMode::Naive | ConvMode::Oracle) {
        config.delay = DelayModel::Immediate;
    }
    let (mut e, vs) = new_experiment(config, 5, rng.random())?;
    let best = CONV_RATES[4];
    let mut pending = Vec::new();
    let mut regret = 0.0;
    for b in 0..CONV_BATCHES {
        let now = t0() + Duration::hours(b as i64);
        flush(&mut e, &vs, &mut pending, now, |e, v, p| {
            Update::Conversion {
                experiment: e.id().clone(),
                variant: v,
                exposed_at: Some(p.exposed),
                converted_at: p.at,
            }
        })?;
        if b > 0 && mode != ConvMode::Uniform {
            e.recompute_allocation(now, rng);
        }
        for k in 0..size {
            let at = now + Duration::milliseconds(k as i64 * 3_600_000 / size as i64);
            let v = e
                .assign(&RecipientKey(rng.random()))
                .map_err(|e| e.to_string())?;
            let i = v.0 as usize;
            regret += best - CONV_RATES[i];
            e.apply(&exposure(&e, v, at)).map_err(|e| e.to_string())?;
            if rng.random::<f64>() < CONV_RATES[i] {
                let delay = 86_400.0 * normal(rng).exp();
                let when = at + Duration::seconds(delay as i64);
                // The oracle knows every conversion at once.
                let seen = if mode == ConvMode::Oracle { at } else { when };
                pending.push(Pending {
                    v: i,
                    exposed: at,
                    at: seen,
                });
                if mode == ConvMode::Oracle {
                    flush(
                        &mut e,
                        &vs,
                        &mut pending,
                        at + Duration::seconds(1),
                        |e, v, p| Update::Conversion {
                            experiment: e.id().clone(),
                            variant: v,
                            exposed_at: Some(p.exposed),
                            converted_at: p.at,
                        },
                    )?;
                }
            }
        }
    }
    Ok(regret)
}

/// One send with guardrails: (bait caught at the end, harmless wordings
/// ever capped, the bait's final share, click regret).
fn guardrail_run(size: usize, rng: &mut Pcg64) -> Result<(bool, usize, f64, f64), String> {
    let mut config = OptimiserConfig::default();
    config.min_share = 0.01;
    config.guardrails = vec![GuardrailRule::new(Guardrail::Unsubscribe)];
    let (mut e, vs) = new_experiment(config, 4, rng.random())?;
    e.set_control(Some(vs[0])).map_err(|e| e.to_string())?;
    let batch = Duration::minutes(30);
    let mut clicks = Vec::new();
    let mut unsubs = Vec::new();
    let mut false_caps = [false; 4];
    let mut regret = 0.0;
    for b in 0..GUARD_BATCHES {
        let now = t0() + batch * b as i32;
        flush(&mut e, &vs, &mut clicks, now, |e, v, p| Update::Click {
            experiment: e.id().clone(),
            variant: v,
            exposed_at: Some(p.exposed),
            clicked_at: p.at,
        })?;
        flush(&mut e, &vs, &mut unsubs, now, |e, v, p| Update::Guardrail {
            experiment: e.id().clone(),
            variant: v,
            guardrail: Guardrail::Unsubscribe,
            exposed_at: Some(p.exposed),
            at: p.at,
        })?;
        if b > 0 {
            e.recompute_allocation(now, rng);
            for (j, f) in false_caps.iter_mut().enumerate().skip(2) {
                *f |= matches!(
                    e.guardrail_status(vs[j]).map_err(|e| e.to_string())?,
                    GuardrailStatus::Capped(_) | GuardrailStatus::Retired(_)
                );
            }
        }
        for k in 0..size {
            let at = now + Duration::milliseconds(k as i64 * 1_800_000 / size as i64);
            let v = e
                .assign(&RecipientKey(rng.random()))
                .map_err(|e| e.to_string())?;
            let i = v.0 as usize;
            // Regret against the best wording that is not harmful.
            regret += GUARD_ARMS[2].0 - GUARD_ARMS[i].0;
            e.apply(&exposure(&e, v, at)).map_err(|e| e.to_string())?;
            if rng.random::<f64>() < GUARD_ARMS[i].0 {
                let when = at + exp_delay(rng, 3_600.0);
                clicks.push(Pending {
                    v: i,
                    exposed: at,
                    at: when,
                });
            }
            if rng.random::<f64>() < GUARD_ARMS[i].1 {
                let when = at + exp_delay(rng, 7_200.0);
                unsubs.push(Pending {
                    v: i,
                    exposed: at,
                    at: when,
                });
            }
        }
    }
    let end = t0() + batch * GUARD_BATCHES as i32;
    e.recompute_allocation(end, rng);
    let caught = matches!(
        e.guardrail_status(vs[1]).map_err(|e| e.to_string())?,
        GuardrailStatus::Capped(_) | GuardrailStatus::Retired(_)
    );
    let share = final_shares(&e, 4, rng)?[1];
    Ok((
        caught,
        false_caps.iter().filter(|&&f| f).count(),
        share,
        regret,
    ))
}

/// The whole scenario: `runs` runs of the open and conversion sends
/// (`size` recipients per open batch, a fifth of it per conversion batch),
/// and 2.5 × `runs` guardrail sends (`size` per batch): with the defaults
/// 200 and 500, 10,000 and 2,000.
pub(crate) fn run_rewards(
    seed: u64,
    runs: usize,
    threads: usize,
    size: usize,
    json: bool,
) -> Result<(), String> {
    let start = std::time::Instant::now();
    let even = [0.1333; 5];
    let correlated = [0.45, 0.10, 0.10, 0.10, 0.10];
    let opens = par_runs(runs, threads, |r| -> Result<[f64; 4], String> {
        Ok([
            // Paired: the same generator with and without filtering.
            opens_run(true, &even, size, &mut rng_for(seed, 10, r, 0))?,
            opens_run(false, &even, size, &mut rng_for(seed, 10, r, 0))?,
            opens_run(true, &correlated, size, &mut rng_for(seed, 10, r, 1))?,
            opens_run(false, &correlated, size, &mut rng_for(seed, 10, r, 1))?,
        ])
    })
    .into_iter()
    .collect::<Result<Vec<_>, _>>()?;
    let col = |rows: &[[f64; 4]], j: usize| mean_se(&rows.iter().map(|r| r[j]).collect::<Vec<_>>());
    let o: Vec<(f64, f64)> = (0..4).map(|j| col(&opens, j)).collect();
    let uniform_opens =
        (OPEN_RATES[4] - OPEN_RATES.iter().sum::<f64>() / 5.0) * (OPEN_BATCHES * size) as f64;
    let worse_even = opens.iter().filter(|r| r[0] > r[1]).count();
    println!(
        "Opens reward: human open rates {OPEN_RATES:?}, {OPEN_BATCHES} batches of {size}, human opens Exp(mean 45 min), machine opens within 5 min, {runs} runs (regret in human opens, mean ± s.e.; uniform {uniform_opens:.0})"
    );
    println!("  machine opens even (40% of opens):");
    println!(
        "    machine opens filtered (library)   {:>9.1} ± {:.1}",
        o[0].0, o[0].1
    );
    println!(
        "    machine opens counted as opens     {:>9.1} ± {:.1}",
        o[1].0, o[1].1
    );
    println!(
        "    filtered / unfiltered = {:.3}; filtering did worse in {worse_even} of {runs} runs",
        o[0].0 / o[1].0
    );
    println!("  machine opens correlated (worst wording's audience 45%, others 10%):");
    println!(
        "    machine opens filtered (library)   {:>9.1} ± {:.1}",
        o[2].0, o[2].1
    );
    println!(
        "    machine opens counted as opens     {:>9.1} ± {:.1}",
        o[3].0, o[3].1
    );
    println!(
        "    counting machine opens multiplies regret by {:.2} (uniform would be {uniform_opens:.0})",
        o[3].0 / o[2].0
    );

    let conv_size = (size / 5).max(1);
    let conv = par_runs(runs, threads, |r| -> Result<[f64; 4], String> {
        Ok([
            conversions_run(
                ConvMode::DelayAware,
                conv_size,
                &mut rng_for(seed, 11, r, 0),
            )?,
            conversions_run(ConvMode::Naive, conv_size, &mut rng_for(seed, 11, r, 1))?,
            conversions_run(ConvMode::Oracle, conv_size, &mut rng_for(seed, 11, r, 2))?,
            conversions_run(ConvMode::Uniform, conv_size, &mut rng_for(seed, 11, r, 3))?,
        ])
    })
    .into_iter()
    .collect::<Result<Vec<_>, _>>()?;
    let c: Vec<(f64, f64)> = (0..4).map(|j| col(&conv, j)).collect();
    println!(
        "Conversions reward: rates {CONV_RATES:?}, {CONV_BATCHES} hourly batches of {conv_size}, delays log-normal (median 1 day, sigma 1), {runs} runs (regret in conversions)"
    );
    for (name, (m, se)) in [
        ("delay-aware (library)", c[0]),
        ("naive (delayed)", c[1]),
        ("immediate feedback (oracle)", c[2]),
        ("uniform", c[3]),
    ] {
        println!("    {name:<34} {m:>9.1} ± {se:.1}");
    }
    println!(
        "    delay-aware / oracle = {:.3}, delay-aware / naive = {:.3}",
        c[0].0 / c[2].0,
        c[0].0 / c[1].0
    );

    let guard_runs = runs * 5 / 2;
    let guard = par_runs(guard_runs, threads, |r| {
        guardrail_run(size, &mut rng_for(seed, 12, r, 0))
    })
    .into_iter()
    .collect::<Result<Vec<_>, _>>()?;
    let caught = guard.iter().filter(|g| g.0).count();
    let false_caps: usize = guard.iter().map(|g| g.1).sum();
    let runs_with_false = guard.iter().filter(|g| g.1 > 0).count();
    let share = guard.iter().map(|g| g.2).sum::<f64>() / guard_runs as f64;
    let g_regret = mean_se(&guard.iter().map(|g| g.3).collect::<Vec<_>>());
    println!(
        "Guardrails: control (clicks 2.5%, unsubscribes 0.3%, 10%), bait (3.0%, 0.9%), two harmless (2.8%, 2.6%; 0.3%), {GUARD_BATCHES} batches of {size}, {guard_runs} runs"
    );
    println!(
        "    bait caught by the end in {caught} of {guard_runs} runs ({:.1}%), its final share {:.1}%",
        100.0 * caught as f64 / guard_runs as f64,
        100.0 * share
    );
    println!(
        "    harmless wordings wrongly capped: {false_caps} of {} ({:.2}%), in {runs_with_false} runs",
        2 * guard_runs,
        100.0 * false_caps as f64 / (2 * guard_runs) as f64
    );
    println!(
        "    click regret against the best harmless wording {:.1} ± {:.1}",
        g_regret.0, g_regret.1
    );
    println!(
        "wall time: {:.1} s on {threads} threads",
        start.elapsed().as_secs_f64()
    );
    if json {
        let j = serde_json::json!({ "rewards": {
            "runs": runs,
            "opens_even": { "filtered": o[0].0, "unfiltered": o[1].0, "filtered_worse_runs": worse_even },
            "opens_correlated": { "filtered": o[2].0, "unfiltered": o[3].0 },
            "conversions": { "delay_aware": c[0].0, "naive": c[1].0, "oracle": c[2].0, "uniform": c[3].0 },
            "guardrails": {
                "runs": guard_runs,
                "caught_rate": caught as f64 / guard_runs as f64,
                "false_cap_rate": false_caps as f64 / (2 * guard_runs) as f64,
                "bait_final_share": share,
            },
        }});
        println!("{j}");
    }
    Ok(())
}
