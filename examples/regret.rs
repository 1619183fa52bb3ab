//! Regret of the optimiser against baselines on the problems of docs/design.md,
//! *Performance targets*.
//!
//! ```text
//! cargo run --release --example regret -- [--runs N] [--seed S] [--json]
//!     [--horizon H] [--batch-size B] [--threads T]
//! ```
//!
//! - **Chapelle & Li**: K = 10, best rate 0.10, the nine others 0.08, horizon
//!   10^6 (`--horizon`), sequential per-request Thompson draws with the
//!   library's [`Experiment::draw`] (immediate feedback), against UCB1,
//!   ε-greedy (0.1) and uniform; 100 runs by default.
//! - **Delayed batched email**: rates [0.020, 0.022, 0.025, 0.027, 0.030],
//!   50 batches of 10,000 recipients (`--batch-size`), served by `assign` over
//!   the allocation recomputed before each batch. A click of batch `b` has a
//!   delay `d ~ Exponential(mean 2 batches)` and is visible to allocations
//!   made after time `b + d`. Immediate-feedback and naive Thompson (unmatured
//!   exposures count as failures) are written here; the delay-aware one is the
//!   library's default configuration (delay model learned from a default prior
//!   that knows nothing of this scenario; one batch is 5 minutes of simulated
//!   time). The stopping rule (value remaining below 1%) is checked on the
//!   delay-aware optimiser after each batch; 200 runs by default.
//!
//! Regret is the sum over recipients of the best rate minus the served
//! variant's rate. `--runs N` sets the number of runs of both problems.
//! `--json` prints one JSON object as the last line.

#[path = "regret_realistic.rs"]
mod realistic;
#[path = "regret_rewards.rs"]
mod rewards;

use std::process::ExitCode;
use std::time::Instant;

use chrono::{DateTime, Duration, TimeZone, Utc};
use dynopt::optimiser::{DelayModel, Experiment, OptimiserConfig, Posterior};
use dynopt::pii::RecipientKey;
use dynopt::{ExperimentId, Update, VariantId};
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64;

const CL_K: usize = 10;
const CL_BEST: f64 = 0.10;
const CL_OTHER: f64 = 0.08;
const EMAIL_RATES: [f64; 5] = [0.020, 0.022, 0.025, 0.027, 0.030];
const EMAIL_BATCHES: usize = 50;
const DELAY_MEAN_BATCHES: f64 = 2.0;
const MC_DRAWS: usize = 10_000;
/// Simulated minutes per batch (only the library's clock sees it).
const BATCH_MINUTES: i64 = 5;

struct Args {
    cl_runs: usize,
    email_runs: usize,
    seed: u64,
    json: bool,
    horizon: u64,
    batch_size: usize,
    threads: usize,
    /// `--scenario realistic`: the realistic send instead of the two problems.
    realistic: bool,
    /// `--scenario rewards`: opens, conversions and guardrails instead.
    rewards: bool,
}

const USAGE: &str = "usage: regret [--runs N] [--seed S] [--json] [--horizon H] [--batch-size B] [--threads T] [--scenario default|realistic|rewards]";

const HELP: &str = "\
regret: the optimiser's regret against baselines on two simulated problems

usage: regret [--runs N] [--seed S] [--json] [--horizon H] [--batch-size B] [--threads T]
              [--scenario default|realistic|rewards]

Chapelle & Li: 10 variants (best rate 0.10, the others 0.08), per-request
Thompson draws against UCB1, epsilon-greedy 0.1 and uniform, with the
Lai-Robbins bound. Delayed email: rates 2.0% to 3.0%, 50 batches, clicks
delayed by Exp(mean 2 batches); Thompson with immediate feedback, naive and
delay-aware (the library's), and uniform, plus how often the stopping rule
stopped and picked the best. Prints mean regret +- standard error per method.

options:
  --runs N         runs of each problem (default 100 and 200)
  --seed S         seed of every run (default 1)
  --json           also print one JSON object as the last line
  --horizon H      Chapelle & Li horizon, at least 10 (default 1000000)
  --batch-size B   recipients per email batch (default 10000)
  --threads T      worker threads (default: the available cores)
  --scenario S     default: the two problems above; realistic: the realistic
                   send instead (200,000 recipients in 72 five-minute batches,
                   rates 2.5% to 2.8%, log-normal click delays with median 3 h
                   and 90th percentile 64 h, a better wording added after
                   1.5 h and a worse one after 3 h, the first wording as the
                   control at 10%), fed with immediate feedback (the oracle)
                   and in URL-tag mode with and without the serve time;
                   regret, share to the best, stopping rule and uplift
                   interval coverage (default 200 runs); rewards: the open
                   reward with and without machine-open filtering (machine
                   opens 40% of opens, spread evenly or concentrated on the
                   worst wording's audience; --batch-size recipients in 30
                   ten-minute batches), the conversion reward with delays in
                   days, and the unsubscribe guardrail against a baiting
                   wording (catch and false-cap rates over 2.5 x --runs runs,
                   500 by default)
  -h, --help       print this help

examples:
  regret                                  # the default run (about 2 minutes on 2 cores)
  regret --runs 4 --horizon 20000 --batch-size 500 --json   # a quick look
  regret --scenario realistic --runs 4    # the realistic send, a quick look
  regret --scenario rewards --runs 4 --batch-size 2000   # rewards, a quick look

exit status: 0 on success, 2 on bad arguments.
";

/// The arguments, or `None` for `--help`.
fn parse_args() -> Result<Option<Args>, String> {
    use lexopt::prelude::*;
    let mut a = Args {
        cl_runs: 100,
        email_runs: 200,
        seed: 1,
        json: false,
        horizon: 1_000_000,
        batch_size: 10_000,
        threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
        realistic: false,
        rewards: false,
    };
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        let name = match &arg {
            Long(name) => format!("--{name}"),
            _ => String::new(),
        };
        let value = |parser: &mut lexopt::Parser| -> Result<u64, String> {
            let v = parser.value().map_err(|e| e.to_string())?;
            v.parse::<u64>()
                .map_err(|_| format!("{name}: not a non-negative integer: {v:?}"))
        };
        match arg {
            Long("runs") => {
                let n = usize::try_from(value(&mut parser)?).map_err(|e| e.to_string())?;
                a.cl_runs = n;
                a.email_runs = n;
            }
            Long("seed") => a.seed = value(&mut parser)?,
            Long("horizon") => a.horizon = value(&mut parser)?,
            Long("batch-size") => {
                a.batch_size = usize::try_from(value(&mut parser)?).map_err(|e| e.to_string())?;
            }
            Long("threads") => {
                a.threads = usize::try_from(value(&mut parser)?).map_err(|e| e.to_string())?;
            }
            Long("json") => a.json = true,
            Long("scenario") => {
                let v = parser.value().map_err(|e| e.to_string())?;
                (a.realistic, a.rewards) = match v.to_str() {
                    Some("default") => (false, false),
                    Some("realistic") => (true, false),
                    Some("rewards") => (false, true),
                    _ => {
                        return Err(format!(
                            "--scenario: default, realistic or rewards, not {v:?}"
                        ));
                    }
                };
            }
            Short('h') | Long("help") => return Ok(None),
            other => return Err(other.unexpected().to_string()),
        }
    }
    if a.cl_runs == 0 || a.horizon < CL_K as u64 || a.batch_size == 0 || a.threads == 0 {
        return Err(
            "--runs, --batch-size and --threads must be positive, --horizon at least 10".into(),
        );
    }
    Ok(Some(a))
}

/// A generator for (seed, problem, run, method): one stream per method so
/// that adding a method never changes another's numbers.
fn rng_for(seed: u64, problem: u64, run: usize, method: u64) -> Pcg64 {
    let mut z = seed ^ problem.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = z.wrapping_add((run as u64).wrapping_mul(0xbf58_476d_1ce4_e5b9));
    z ^= method.wrapping_mul(0x94d0_49bb_1331_11eb);
    Pcg64::seed_from_u64(z)
}

/// Runs `f(run)` for every run on `threads` threads; results in run order.
fn par_runs<T: Send>(runs: usize, threads: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let threads = threads.min(runs).max(1);
    let mut out: Vec<Option<T>> = (0..runs).map(|_| None).collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let f = &f;
                s.spawn(move || {
                    (t..runs)
                        .step_by(threads)
                        .map(|r| (r, f(r)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            // A panicking worker is a bug in this program; re-raise it.
            for (r, x) in h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)) {
                out[r] = Some(x);
            }
        }
    });
    out.into_iter().flatten().collect()
}

fn t0() -> DateTime<Utc> {
    // A fixed, valid date.
    Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0)
        .single()
        .unwrap_or_default()
}

// ---------------------------------------------------------------- Chapelle & Li

fn cl_rates() -> [f64; CL_K] {
    let mut r = [CL_OTHER; CL_K];
    r[0] = CL_BEST;
    r
}

/// The library's per-request Thompson sampling, immediate feedback.
fn cl_thompson(horizon: u64, rng: &mut Pcg64) -> Result<f64, String> {
    let id = ExperimentId::new("chapelle-li");
    let mut config = OptimiserConfig::default();
    config.delay = DelayModel::Immediate;
    let mut e = Experiment::new(id.clone(), config).map_err(|e| e.to_string())?;
    let mut vs = Vec::new();
    for i in 0..CL_K {
        vs.push(
            e.add_variant(format!("arm {i}"))
                .map_err(|e| e.to_string())?,
        );
    }
    let rates = cl_rates();
    let at = t0();
    let exposures: Vec<Update> = vs
        .iter()
        .map(|&v| Update::Exposure {
            experiment: id.clone(),
            variant: v,
            at,
        })
        .collect();
    let clicks: Vec<Update> = vs
        .iter()
        .map(|&v| Update::Click {
            experiment: id.clone(),
            variant: v,
            exposed_at: Some(at),
            clicked_at: at,
        })
        .collect();
    let mut regret = 0.0;
    for _ in 0..horizon {
        let v = e.draw(rng).map_err(|e| e.to_string())?;
        let i = v.0 as usize;
        regret += CL_BEST - rates[i];
        e.apply(&exposures[i]).map_err(|e| e.to_string())?;
        if rng.random::<f64>() < rates[i] {
            e.apply(&clicks[i]).map_err(|e| e.to_string())?;
        }
    }
    Ok(regret)
}

fn cl_ucb1(horizon: u64, rng: &mut Pcg64) -> f64 {
    let rates = cl_rates();
    let mut n = [0f64; CL_K];
    let mut s = [0f64; CL_K];
    let mut regret = 0.0;
    for t in 0..horizon {
        let i = if (t as usize) < CL_K {
            t as usize
        } else {
            let l = 2.0 * (t as f64).ln();
            let mut best = 0;
            let mut bv = f64::NEG_INFINITY;
            for j in 0..CL_K {
                let v = s[j] / n[j] + (l / n[j]).sqrt();
                if v > bv {
                    bv = v;
                    best = j;
                }
            }
            best
        };
        regret += CL_BEST - rates[i];
        n[i] += 1.0;
        if rng.random::<f64>() < rates[i] {
            s[i] += 1.0;
        }
    }
    regret
}

fn cl_epsilon_greedy(horizon: u64, rng: &mut Pcg64) -> f64 {
    let rates = cl_rates();
    let mut n = [0f64; CL_K];
    let mut s = [0f64; CL_K];
    let mut regret = 0.0;
    for t in 0..horizon {
        let i = if (t as usize) < CL_K {
            t as usize
        } else if rng.random::<f64>() < 0.1 {
            rng.random_range(0..CL_K)
        } else {
            let mut best = 0;
            let mut bv = f64::NEG_INFINITY;
            for j in 0..CL_K {
                let v = s[j] / n[j];
                if v > bv {
                    bv = v;
                    best = j;
                }
            }
            best
        };
        regret += CL_BEST - rates[i];
        n[i] += 1.0;
        if rng.random::<f64>() < rates[i] {
            s[i] += 1.0;
        }
    }
    regret
}

fn cl_uniform(horizon: u64, rng: &mut Pcg64) -> f64 {
    let rates = cl_rates();
    (0..horizon)
        .map(|_| CL_BEST - rates[rng.random_range(0..CL_K)])
        .sum()
}

/// Lai & Robbins: `Σ Δ_i / KL(p_i, p*) · ln T`.
fn lai_robbins(horizon: u64) -> f64 {
    let kl = |p: f64, q: f64| p * (p / q).ln() + (1.0 - p) * ((1.0 - p) / (1.0 - q)).ln();
    (CL_K - 1) as f64 * (CL_BEST - CL_OTHER) / kl(CL_OTHER, CL_BEST) * (horizon as f64).ln()
}

// ---------------------------------------------------------------- delayed email

/// A click: variant index and the (continuous) time it becomes visible.
struct PendingClick {
    variant: usize,
    batch: usize,
    visible_at: f64,
}

/// Serves one batch by `allocation` (shares per variant), returns the regret
/// and appends the clicks.
fn serve_by_shares(
    shares: &[f64],
    batch: usize,
    size: usize,
    rng: &mut Pcg64,
    exposures: &mut [u64],
    pending: &mut Vec<PendingClick>,
) -> f64 {
    let best = EMAIL_RATES[EMAIL_RATES.len() - 1];
    let mut regret = 0.0;
    for _ in 0..size {
        let u: f64 = rng.random();
        let mut cum = 0.0;
        let mut v = shares.len() - 1;
        for (j, &s) in shares.iter().enumerate() {
            cum += s;
            if u < cum {
                v = j;
                break;
            }
        }
        regret += best - EMAIL_RATES[v];
        exposures[v] += 1;
        click(v, batch, rng, pending);
    }
    regret
}

fn click(v: usize, batch: usize, rng: &mut Pcg64, pending: &mut Vec<PendingClick>) {
    if rng.random::<f64>() < EMAIL_RATES[v] {
        let d = -DELAY_MEAN_BATCHES * (1.0 - rng.random::<f64>()).ln();
        pending.push(PendingClick {
            variant: v,
            batch,
            visible_at: batch as f64 + d,
        });
    }
}

/// Probability of being best by Monte Carlo over Beta posteriors.
fn p_best(post: &[Posterior], rng: &mut Pcg64) -> Vec<f64> {
    let mut wins = vec![0u32; post.len()];
    for _ in 0..MC_DRAWS {
        let mut best = 0;
        let mut bv = -1.0;
        for (j, p) in post.iter().enumerate() {
            let x = p.sample(rng);
            if x > bv {
                bv = x;
                best = j;
            }
        }
        wins[best] += 1;
    }
    wins.iter()
        .map(|&w| f64::from(w) / MC_DRAWS as f64)
        .collect()
}

#[derive(Clone, Copy)]
enum Baseline {
    Uniform,
    Immediate,
    Naive,
}

/// Thompson sampling written here: Beta(1,1) posteriors, allocation by
/// probability of being best, recomputed before each batch.
fn email_baseline(kind: Baseline, size: usize, rng: &mut Pcg64) -> f64 {
    let k = EMAIL_RATES.len();
    let mut exposures = vec![0u64; k];
    let mut pending: Vec<PendingClick> = Vec::new();
    let mut regret = 0.0;
    for b in 0..EMAIL_BATCHES {
        let shares = match kind {
            Baseline::Uniform => vec![1.0 / k as f64; k],
            Baseline::Immediate | Baseline::Naive => {
                let mut clicks = vec![0u64; k];
                for c in &pending {
                    let visible = match kind {
                        Baseline::Immediate => c.batch < b,
                        _ => c.visible_at < b as f64,
                    };
                    if visible {
                        clicks[c.variant] += 1;
                    }
                }
                let post: Vec<Posterior> = (0..k)
                    .map(|j| {
                        let s = clicks[j] as f64;
                        let f = (exposures[j] as f64 - s).max(0.0);
                        Posterior::new(1.0 + s, 1.0 + f).unwrap_or(Posterior::UNIFORM)
                    })
                    .collect();
                p_best(&post, rng)
            }
        };
        regret += serve_by_shares(&shares, b, size, rng, &mut exposures, &mut pending);
    }
    regret
}

struct DelayAware {
    regret: f64,
    /// Batch after which the stopping rule fired (1-based), if before the last.
    stop: Option<(usize, bool)>,
}

fn email_delay_aware(size: usize, seed_salt: u64, rng: &mut Pcg64) -> Result<DelayAware, String> {
    let id = ExperimentId::new("delayed-email");
    let mut config = OptimiserConfig::default();
    config.salt = seed_salt;
    let mut e = Experiment::new(id.clone(), config).map_err(|e| e.to_string())?;
    let mut vs: Vec<VariantId> = Vec::new();
    for (i, r) in EMAIL_RATES.iter().enumerate() {
        vs.push(
            e.add_variant(format!("copy {i} ({r})"))
                .map_err(|e| e.to_string())?,
        );
    }
    let time = |x: f64| t0() + Duration::milliseconds((x * BATCH_MINUTES as f64 * 60_000.0) as i64);
    let best = EMAIL_RATES[EMAIL_RATES.len() - 1];
    let mut pending: Vec<PendingClick> = Vec::new();
    let mut regret = 0.0;
    let mut stop = None;
    for b in 0..EMAIL_BATCHES {
        let now = time(b as f64);
        // Clicks that became visible before this allocation, in time order.
        pending.sort_by(|x, y| y.visible_at.total_cmp(&x.visible_at));
        while pending.last().is_some_and(|c| c.visible_at < b as f64) {
            let Some(c) = pending.pop() else { break };
            e.apply(&Update::Click {
                experiment: id.clone(),
                variant: vs[c.variant],
                exposed_at: Some(time(c.batch as f64)),
                clicked_at: time(c.visible_at),
            })
            .map_err(|e| e.to_string())?;
        }
        if b > 0 {
            e.recompute_allocation(now, rng);
            if stop.is_none() {
                let report = e.report(now, rng);
                if let Some(w) = report.winner {
                    stop = Some((b, w == vs[EMAIL_RATES.len() - 1]));
                }
            }
        }
        let at = now;
        for _ in 0..size {
            let key = RecipientKey(rng.random());
            let v = e.assign(&key).map_err(|e| e.to_string())?;
            let i = v.0 as usize;
            regret += best - EMAIL_RATES[i];
            e.apply(&Update::Exposure {
                experiment: id.clone(),
                variant: v,
                at,
            })
            .map_err(|e| e.to_string())?;
            click(i, b, rng, &mut pending);
        }
    }
    Ok(DelayAware { regret, stop })
}

// ---------------------------------------------------------------- output

fn mean_se(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let m = xs.iter().sum::<f64>() / n;
    let var = if xs.len() > 1 {
        xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (m, (var / n).sqrt())
}

fn run(a: &Args) -> Result<(), String> {
    if a.realistic {
        return run_realistic(a);
    }
    if a.rewards {
        return rewards::run_rewards(a.seed, a.email_runs, a.threads, a.batch_size, a.json);
    }
    let start = Instant::now();

    // Chapelle & Li.
    let h = a.horizon;
    let cl = par_runs(a.cl_runs, a.threads, |r| -> Result<[f64; 4], String> {
        Ok([
            cl_thompson(h, &mut rng_for(a.seed, 1, r, 0))?,
            cl_ucb1(h, &mut rng_for(a.seed, 1, r, 1)),
            cl_epsilon_greedy(h, &mut rng_for(a.seed, 1, r, 2)),
            cl_uniform(h, &mut rng_for(a.seed, 1, r, 3)),
        ])
    })
    .into_iter()
    .collect::<Result<Vec<_>, _>>()?;
    let cl_time = start.elapsed();
    let col = |rows: &[[f64; 4]], j: usize| rows.iter().map(|r| r[j]).collect::<Vec<_>>();
    let cl_stats: Vec<(f64, f64)> = (0..4).map(|j| mean_se(&col(&cl, j))).collect();
    let lr = lai_robbins(h);

    // Delayed email.
    let size = a.batch_size;
    let email = par_runs(
        a.email_runs,
        a.threads,
        |r| -> Result<(f64, f64, f64, DelayAware), String> {
            let mut rng = rng_for(a.seed, 2, r, 4);
            let salt = rng.random();
            Ok((
                email_baseline(Baseline::Immediate, size, &mut rng_for(a.seed, 2, r, 0)),
                email_baseline(Baseline::Naive, size, &mut rng_for(a.seed, 2, r, 1)),
                email_baseline(Baseline::Uniform, size, &mut rng_for(a.seed, 2, r, 2)),
                email_delay_aware(size, salt, &mut rng)?,
            ))
        },
    )
    .into_iter()
    .collect::<Result<Vec<_>, _>>()?;
    let total_time = start.elapsed();
    let imm = mean_se(&email.iter().map(|x| x.0).collect::<Vec<_>>());
    let naive = mean_se(&email.iter().map(|x| x.1).collect::<Vec<_>>());
    let uni = mean_se(&email.iter().map(|x| x.2).collect::<Vec<_>>());
    let da = mean_se(&email.iter().map(|x| x.3.regret).collect::<Vec<_>>());
    let n_email = email.len() as f64;
    let stops: Vec<(usize, bool)> = email.iter().filter_map(|x| x.3.stop).collect();
    let stop_rate = stops.len() as f64 / n_email;
    let stop_correct_rate = stops.iter().filter(|s| s.1).count() as f64 / n_email;
    let mean_stop_batch = if stops.is_empty() {
        f64::NAN
    } else {
        stops.iter().map(|s| s.0 as f64).sum::<f64>() / stops.len() as f64
    };

    println!(
        "Chapelle & Li: K = 10, rates 0.10 / 0.08, horizon {h}, {} runs (mean ± s.e.)",
        a.cl_runs
    );
    for (name, (m, se)) in [
        "Thompson (library, per-request)",
        "UCB1",
        "epsilon-greedy 0.1",
        "uniform",
    ]
    .iter()
    .zip(&cl_stats)
    {
        println!("  {name:<34} {m:>10.1} ± {se:.1}");
    }
    println!("  {:<34} {lr:>10.1}", "Lai-Robbins C·ln T");
    println!(
        "Delayed email: rates {EMAIL_RATES:?}, {EMAIL_BATCHES} batches of {size}, delay Exp(mean 2 batches), {} runs",
        a.email_runs
    );
    for (name, (m, se)) in [
        ("Thompson, immediate feedback", imm),
        ("Thompson, naive (delayed)", naive),
        ("Thompson, delay-aware (library)", da),
        ("uniform", uni),
    ] {
        println!("  {name:<34} {m:>10.1} ± {se:.1}");
    }
    println!(
        "  delay-aware / immediate = {:.3}, delay-aware / naive = {:.3}",
        da.0 / imm.0,
        da.0 / naive.0
    );
    println!(
        "  stopping rule: stopped before the last batch in {:.1}% of runs, right in {:.1}%, mean stop batch {:.1}",
        100.0 * stop_rate,
        100.0 * stop_correct_rate,
        mean_stop_batch
    );
    println!(
        "wall time: {:.1} s (Chapelle & Li {:.1} s) on {} threads",
        total_time.as_secs_f64(),
        cl_time.as_secs_f64(),
        a.threads
    );
    if a.json {
        let j = serde_json::json!({
            "chapelle_li": {
                "horizon": h,
                "runs": a.cl_runs,
                "thompson": cl_stats[0].0,
                "ucb1": cl_stats[1].0,
                "epsilon_greedy": cl_stats[2].0,
                "uniform": cl_stats[3].0,
                "lai_robbins": lr,
            },
            "delayed_email": {
                "runs": a.email_runs,
                "thompson_immediate": imm.0,
                "thompson_naive": naive.0,
                "thompson_delay_aware": da.0,
                "uniform": uni.0,
                "stop_rate": stop_rate,
                "stop_correct_rate": stop_correct_rate,
                "mean_stop_batch": if mean_stop_batch.is_finite() { serde_json::json!(mean_stop_batch) } else { serde_json::Value::Null },
            }
        });
        println!("{j}");
    }
    Ok(())
}

/// The realistic send: every mode, `a.email_runs` runs.
fn run_realistic(a: &Args) -> Result<(), String> {
    use realistic::{ADDED_BETTER, ADDED_WORSE, BATCHES, INITIAL_RATES, Mode, RECIPIENTS};
    let start = Instant::now();
    let outs = par_runs(a.email_runs, a.threads, |r| realistic::run_all(a.seed, r))
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    let n = outs.len() as f64;
    println!(
        "Realistic send: {RECIPIENTS} recipients in {BATCHES} five-minute batches, rates {INITIAL_RATES:?} (the first is the control, 10%), {} added before batch {} and {} before batch {}, log-normal click delays (median 3 h, p90 64 h), {} runs (mean ± s.e.)",
        ADDED_BETTER.0,
        ADDED_BETTER.1 + 1,
        ADDED_WORSE.0,
        ADDED_WORSE.1 + 1,
        a.email_runs
    );
    let oracle = mean_se(&outs.iter().map(|o| o[0].regret).collect::<Vec<_>>());
    let mut json = serde_json::Map::new();
    json.insert("runs".into(), serde_json::json!(a.email_runs));
    for (m, mode) in Mode::ALL.iter().enumerate() {
        let regrets: Vec<f64> = outs.iter().map(|o| o[m].regret).collect();
        let (mean, se) = mean_se(&regrets);
        let mut sorted = regrets.clone();
        sorted.sort_by(f64::total_cmp);
        let p99 = sorted[((0.99 * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1];
        let shares: Vec<f64> = (0..6)
            .map(|h| outs.iter().map(|o| o[m].best_share[h]).sum::<f64>() / n)
            .collect();
        let stops: Vec<(usize, bool)> = outs.iter().filter_map(|o| o[m].stop).collect();
        let right = stops.iter().filter(|s| s.1).count();
        let right_rate = if stops.is_empty() {
            f64::NAN
        } else {
            right as f64 / stops.len() as f64
        };
        let covered: u32 = outs.iter().map(|o| o[m].covered).sum();
        let intervals: u32 = outs.iter().map(|o| o[m].intervals).sum();
        let coverage = f64::from(covered) / f64::from(intervals.max(1));
        println!("  {}:", mode.name());
        println!(
            "    regret {mean:>8.1} ± {se:.1} (p99 {p99:.1}), {:.3} × the oracle",
            mean / oracle.0
        );
        println!(
            "    share to the best available wording, hours 1 to 6: {}",
            shares
                .iter()
                .map(|s| format!("{:.1}%", 100.0 * s))
                .collect::<Vec<_>>()
                .join(" ")
        );
        let early = stops.iter().filter(|s| s.0 < ADDED_BETTER.1).count();
        let mean_stop =
            stops.iter().map(|s| s.0 as f64 + 1.0).sum::<f64>() / stops.len().max(1) as f64;
        println!(
            "    stopping rule: fired during the send in {:.1}% of runs, right in {right} of {} ({:.1}%), mean stop batch {mean_stop:.1}, {early} before the better wording was added",
            100.0 * stops.len() as f64 / n,
            stops.len(),
            100.0 * right_rate
        );
        println!(
            "    uplift 95% intervals 3 days after the send: {covered} of {intervals} cover the true uplift ({:.1}%)",
            100.0 * coverage
        );
        json.insert(
            mode.key().into(),
            serde_json::json!({
                "regret": mean,
                "regret_se": se,
                "regret_p99": p99,
                "ratio_to_oracle": mean / oracle.0,
                "best_share_by_hour": shares,
                "stop_rate": stops.len() as f64 / n,
                "stops_before_better_added": early,
                "stop_right_rate": if right_rate.is_finite() { serde_json::json!(right_rate) } else { serde_json::Value::Null },
                "uplift_coverage": coverage,
                "uplift_intervals": intervals,
            }),
        );
    }
    println!(
        "wall time: {:.1} s on {} threads",
        start.elapsed().as_secs_f64(),
        a.threads
    );
    if a.json {
        println!("{}", serde_json::json!({ "realistic": json }));
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(Some(args)) => args,
        Ok(None) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("regret: {e}\n{USAGE}\n(regret --help for more)");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("regret: {e}");
            ExitCode::FAILURE
        }
    }
}
