//! Snapshots restore exactly, carry a version, merge like one instance, and
//! never panic on garbage.

use chrono::{DateTime, Duration, TimeZone, Utc};
use dynopt::optimiser::{Experiment, Optimiser, OptimiserConfig, OptimiserSnapshot, RestoreError};
use dynopt::pii::RecipientKey;
use dynopt::{ExperimentId, Update, VariantId};
use rand::{Rng, RngExt, SeedableRng};
use rand_pcg::Pcg64;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap()
}

fn config() -> OptimiserConfig {
    let mut c = OptimiserConfig::default();
    c.half_life = Some(Duration::days(3));
    c.salt = 99;
    c.horizon = Duration::days(2); // so daily buckets appear within the test
    c
}

/// A stream of updates over `days`, with click delays of minutes to hours.
fn updates(
    id: &ExperimentId,
    variants: &[VariantId],
    start: DateTime<Utc>,
    n: usize,
    rng: &mut Pcg64,
) -> Vec<Update> {
    let mut out = Vec::new();
    for i in 0..n {
        let at = start + Duration::seconds(i as i64 * 37);
        let v = variants[rng.random_range(0..variants.len())];
        out.push(Update::Exposure {
            experiment: id.clone(),
            variant: v,
            at,
        });
        if rng.random::<f64>() < 0.02 + 0.01 * f64::from(v.0 % 3) {
            let d = -3600.0 * rng.random::<f64>().ln();
            out.push(Update::Click {
                experiment: id.clone(),
                variant: v,
                exposed_at: if i % 10 == 0 { None } else { Some(at) },
                clicked_at: at + Duration::seconds(d as i64),
            });
        }
    }
    out
}

/// A snapshot's JSON without the serving state (`layout`, `epochs`,
/// `expected_exposures`).
fn evidence_json(e: &Experiment) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_slice(&e.snapshot().to_json()).unwrap();
    for exp in v["experiments"].as_array_mut().unwrap() {
        let o = exp.as_object_mut().unwrap();
        o.remove("layout");
        o.remove("epochs");
        for var in o["variants"].as_array_mut().unwrap() {
            var.as_object_mut().unwrap().remove("expected_exposures");
        }
    }
    serde_json::to_vec(&v).unwrap()
}

#[test]
fn merge_of_disjoint_shards_equals_one_instance() {
    let id = ExperimentId::new("merge");
    let mut single = Experiment::new(id.clone(), config()).unwrap();
    let mut a = Experiment::new(id.clone(), config()).unwrap();
    let mut b = Experiment::new(id.clone(), config()).unwrap();
    // Control operations go to every instance.
    let mut vs = Vec::new();
    for label in ["x", "y", "z"] {
        let v = single.add_variant(label).unwrap();
        assert_eq!(a.add_variant(label).unwrap(), v);
        assert_eq!(b.add_variant(label).unwrap(), v);
        vs.push(v);
    }
    let mut rng = Pcg64::seed_from_u64(1);
    let first = updates(&id, &vs, t0(), 6000, &mut rng);
    // Retire z everywhere; shard b (and the single instance) add w.
    let mut later_vs = vs[..2].to_vec();
    let w;
    {
        for (i, u) in first.iter().enumerate() {
            single.apply(u).unwrap();
            if i % 3 == 0 {
                a.apply(u).unwrap()
            } else {
                b.apply(u).unwrap()
            }
        }
        for e in [&mut single, &mut a, &mut b] {
            e.retire_variant(vs[2]).unwrap();
        }
        w = single.add_variant("w").unwrap();
        assert_eq!(b.add_variant("w").unwrap(), w);
        later_vs.push(w);
    }
    // Shards recompute on their own schedules (this must not matter).
    a.recompute_allocation(t0() + Duration::hours(10), &mut Pcg64::seed_from_u64(5));
    let second = updates(&id, &later_vs, t0() + Duration::days(3), 6000, &mut rng);
    for (i, u) in second.iter().enumerate() {
        single.apply(u).unwrap();
        let to_a = i % 2 == 0
            && !matches!(u, Update::Exposure { variant, .. } | Update::Click { variant, .. } if *variant == w);
        if to_a {
            a.apply(u).unwrap()
        } else {
            b.apply(u).unwrap()
        }
    }
    a.merge(&b).unwrap();
    let now = t0() + Duration::days(5);
    single.recompute_allocation(now, &mut Pcg64::seed_from_u64(77));
    a.recompute_allocation(now, &mut Pcg64::seed_from_u64(77));
    // Serving state is the shard's own, not evidence: the layout (slices
    // move from the shard's own previous layout) and the SRM bookkeeping
    // (expected exposures under the allocations the shard knew of).
    let (js, ja) = (evidence_json(&single), evidence_json(&a));
    if js != ja {
        let i = js
            .iter()
            .zip(&ja)
            .position(|(x, y)| x != y)
            .unwrap_or(js.len().min(ja.len()));
        let ctx = |b: &[u8]| {
            String::from_utf8_lossy(&b[i.saturating_sub(300)..(i + 200).min(b.len())]).to_string()
        };
        panic!(
            "snapshots differ at byte {i}:\n single: {}\n merged: {}",
            ctx(&js),
            ctx(&ja)
        );
    }
    assert_eq!(single.allocation(), a.allocation());
    let mut rs = single.report(now, &mut Pcg64::seed_from_u64(3));
    let mut ra = a.report(now, &mut Pcg64::seed_from_u64(3));
    // The SRM check compares with the allocations each shard knew of.
    (rs.srm, ra.srm) = (None, None);
    assert_eq!(rs, ra);
    // The learned delay model is not the prior, and daily buckets exist.
    assert!(
        rs.delay_cdf
            .iter()
            .any(|&(x, f)| x > 3000.0 && x < 4000.0 && f > 0.5),
        "{:?}",
        rs.delay_cdf
    );
    assert!(
        rs.variants
            .iter()
            .all(|v| v.effective_trials < v.exposures as f64)
    );
    // Merging different experiments is an error.
    let other = Experiment::new(ExperimentId::new("other"), config()).unwrap();
    assert!(a.merge(&other).is_err());
}

#[test]
fn restore_is_exact_and_versioned() {
    let id = ExperimentId::new("restore");
    let mut opt = Optimiser::new();
    let e = opt.add_experiment(id.clone(), config()).unwrap();
    let vs: Vec<VariantId> = (0..4)
        .map(|i| e.add_variant(format!("{i}")).unwrap())
        .collect();
    let mut rng = Pcg64::seed_from_u64(2);
    for u in updates(&id, &vs, t0(), 3000, &mut rng) {
        opt.apply(&u).unwrap();
    }
    opt.recompute_all(t0() + Duration::days(1), &mut rng);
    let bytes = opt.snapshot().to_json();
    let mut copy = Optimiser::restore(OptimiserSnapshot::from_json(&bytes).unwrap()).unwrap();
    assert_eq!(copy, opt);
    assert_eq!(copy.snapshot().to_json(), bytes);
    // Same future decisions for the same seed.
    let mut r1 = Pcg64::seed_from_u64(9);
    let mut r2 = Pcg64::seed_from_u64(9);
    let more = updates(&id, &vs, t0() + Duration::days(1), 2000, &mut rng);
    for (i, u) in more.iter().enumerate() {
        opt.apply(u).unwrap();
        copy.apply(u).unwrap();
        if i % 500 == 0 {
            let now = t0() + Duration::days(1) + Duration::hours(i as i64 / 100);
            opt.recompute_all(now, &mut r1);
            copy.recompute_all(now, &mut r2);
        }
        let key = RecipientKey([i as u8; 16]);
        assert_eq!(
            opt.assign(&id, &key).unwrap(),
            copy.assign(&id, &key).unwrap()
        );
        assert_eq!(
            opt.draw(&id, &mut r1).unwrap(),
            copy.draw(&id, &mut r2).unwrap()
        );
    }
    assert_eq!(copy, opt);

    // Another format version is a typed error.
    let mut v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    v["format_version"] = serde_json::json!(OptimiserSnapshot::FORMAT_VERSION + 1);
    let other = OptimiserSnapshot::from_json(v.to_string().as_bytes()).unwrap();
    assert_eq!(
        Optimiser::restore(other),
        Err(RestoreError::UnsupportedVersion {
            found: OptimiserSnapshot::FORMAT_VERSION + 1,
            supported: OptimiserSnapshot::FORMAT_VERSION
        })
    );
}

fn iters() -> usize {
    std::env::var("DYNOPT_FUZZ_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3000)
}

/// Exercises a restored optimiser; must not panic.
fn exercise(opt: &mut Optimiser, rng: &mut Pcg64) {
    let ids: Vec<ExperimentId> = opt.experiments().map(|e| e.id().clone()).collect();
    let now = t0() + Duration::days(2);
    for id in &ids {
        let _ = opt.assign(id, &RecipientKey([3; 16]));
        let _ = opt.draw(id, rng);
        let e = opt.experiment_mut(id).expect("listed");
        let vs: Vec<VariantId> = e.variants().map(|v| v.0).collect();
        for v in vs.iter().take(3) {
            let _ = e.apply(&Update::Exposure {
                experiment: id.clone(),
                variant: *v,
                at: now,
            });
            let _ = e.apply(&Update::Click {
                experiment: id.clone(),
                variant: *v,
                exposed_at: Some(now),
                clicked_at: now,
            });
        }
        let mut small = e.clone();
        let c = small.config().clone();
        let _ = c;
        small.recompute_allocation(now, rng);
        let _ = small.report(now, rng);
        let _ = small.clone().merge(e);
        let _ = small.add_variant("fuzz");
    }
    let _ = Optimiser::restore(
        OptimiserSnapshot::from_json(&opt.snapshot().to_json()).expect("own output parses"),
    );
}

fn seed_snapshot() -> Vec<u8> {
    let id = ExperimentId::new("fuzz");
    let mut opt = Optimiser::new();
    let mut c = config();
    c.mc_draws = 200;
    let e = opt.add_experiment(id.clone(), c).unwrap();
    let vs: Vec<VariantId> = (0..3)
        .map(|i| e.add_variant(format!("{i}")).unwrap())
        .collect();
    let mut rng = Pcg64::seed_from_u64(4);
    for u in updates(&id, &vs, t0(), 400, &mut rng) {
        opt.apply(&u).unwrap();
    }
    for u in updates(&id, &vs, t0() + Duration::days(4), 100, &mut rng) {
        opt.apply(&u).unwrap();
    }
    opt.recompute_all(t0() + Duration::days(5), &mut rng);
    opt.snapshot().to_json()
}

fn mutate_value(v: &mut serde_json::Value, rng: &mut Pcg64) {
    use serde_json::Value;
    match v {
        Value::Object(m) => {
            let n = m.len();
            if n == 0 {
                return;
            }
            let k = rng.random_range(0..n);
            if rng.random_range(0..8) == 0 {
                let key = m.keys().nth(k).cloned().expect("in range");
                m.remove(&key);
            } else if let Some((_, x)) = m.iter_mut().nth(k) {
                mutate_value(x, rng);
            }
        }
        Value::Array(a) => {
            if a.is_empty() || rng.random_range(0..6) == 0 {
                match rng.random_range(0..3) {
                    0 => {
                        a.pop();
                    }
                    1 if !a.is_empty() => {
                        let x = a[0].clone();
                        a.push(x);
                    }
                    _ => a.push(Value::from(rng.random_range(0..5u8))),
                }
            } else {
                let k = rng.random_range(0..a.len());
                mutate_value(&mut a[k], rng);
            }
        }
        _ => {
            *v = match rng.random_range(0..9) {
                0 => Value::from(-1),
                1 => Value::from(u64::MAX),
                2 => Value::from(i64::MIN),
                3 => Value::from(0),
                4 => Value::from(1e308),
                5 => Value::from(-0.5),
                6 => Value::from(rng.random_range(0..100u32)),
                7 => Value::Null,
                _ => Value::from("x"),
            }
        }
    }
}

#[test]
fn garbage_and_mutated_snapshots_never_panic() {
    let seed = seed_snapshot();
    let base: serde_json::Value = serde_json::from_slice(&seed).unwrap();
    let mut rng = Pcg64::seed_from_u64(0xf022);
    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    let n = iters();
    for i in 0..n {
        let bytes: Vec<u8> = match i % 3 {
            0 => {
                // Random bytes (sometimes starting like JSON).
                let len = rng.random_range(0..200);
                let mut b: Vec<u8> = (0..len).map(|_| rng.random::<u8>()).collect();
                if i % 2 == 0 {
                    b.insert(0, b'{');
                }
                b
            }
            1 => {
                // Byte-level mutations of a valid snapshot.
                let mut b = seed.clone();
                for _ in 0..rng.random_range(1..4) {
                    let p = rng.random_range(0..b.len());
                    match rng.random_range(0..3) {
                        0 => b[p] = rng.random(),
                        1 => {
                            b.remove(p);
                        }
                        _ => b.truncate(p),
                    }
                    if b.is_empty() {
                        break;
                    }
                }
                b
            }
            _ => {
                // Structured mutations: valid JSON, wrong values.
                let mut v = base.clone();
                for _ in 0..rng.random_range(1..3) {
                    mutate_value(&mut v, &mut rng);
                }
                v.to_string().into_bytes()
            }
        };
        let kind = match OptimiserSnapshot::from_json(&bytes).and_then(Optimiser::restore) {
            Ok(mut opt) => {
                exercise(&mut opt, &mut rng);
                "ok".to_string()
            }
            Err(RestoreError::Malformed(_)) => "parse".to_string(),
            Err(RestoreError::UnsupportedVersion { .. }) => "version".to_string(),
            Err(RestoreError::Corrupt(m)) => format!("invalid: {m}"),
            Err(e) => format!("{e}"),
        };
        *kinds.entry(kind).or_default() += 1;
    }
    println!("{n} inputs: {kinds:#?}");
    assert!(kinds.contains_key("parse") && kinds.contains_key("ok"));
    assert!(
        kinds.keys().filter(|k| k.starts_with("invalid")).count() >= 5,
        "{kinds:#?}"
    );
}

#[test]
fn random_rng_type_is_generic() {
    // `R: Rng + ?Sized`: a trait object works too.
    let id = ExperimentId::new("dyn");
    let mut e = Experiment::new(id, OptimiserConfig::default()).unwrap();
    e.add_variant("a").unwrap();
    e.add_variant("b").unwrap();
    let mut inner = Pcg64::seed_from_u64(1);
    let rng: &mut dyn Rng = &mut inner;
    e.recompute_allocation(t0(), rng);
    assert!(e.draw(rng).is_ok());
}

/// A snapshot written before the configuration's durations became
/// `TimeDelta`s (float `half_life_secs` and `median_secs`, integer
/// `bucket_secs` and `horizon_secs`): it still restores, and writes back
/// byte for byte.
const SNAPSHOT_WITH_SECS_FIELDS: &str = r#"{"format_version":1,"experiments":[{"id":"fixture","config":{"prior_alpha":1.0,"prior_beta":1.0,"salt":24301,"mc_draws":1000,"min_share":0.0,"top_two":0.5,"half_life_secs":129600.5,"delay":{"Learned":{"prior":{"median_secs":1800.0,"sigma":1.5},"prior_weight":5.0}},"bucket_secs":600,"horizon_secs":172800,"auto_retire":{"max_p_best":0.001,"min_exposures":1000},"stop_threshold":0.01},"variants":[{"id":0,"label":"A","retired":false,"exposures":4,"clicks":2,"share":0.5,"p_best":0.715,"alpha":2.0101336883782364,"beta":1.887065967749141},{"id":1,"label":"B","retired":false,"exposures":4,"clicks":1,"share":0.5,"p_best":0.285,"alpha":1.4369560745439676,"beta":2.767123761470314}],"next_id":2,"watermark":1772582400,"fine":{"2954034":{"cells":[{"exposures":1,"clicks":0},{"exposures":0,"clicks":0}],"delays":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],"offset_secs":0,"last_offset_secs":0},"2954088":{"cells":[{"exposures":0,"clicks":0},{"exposures":1,"clicks":1}],"delays":[0,0,0,0,0,0,0,0,0,0,1,0,0,0,0,0,0,0,0,0,0,0,0,0],"offset_secs":0,"last_offset_secs":0},"2954142":{"cells":[{"exposures":1,"clicks":0},{"exposures":0,"clicks":0}],"delays":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],"offset_secs":0,"last_offset_secs":0},"2954196":{"cells":[{"exposures":0,"clicks":0},{"exposures":1,"clicks":0}],"delays":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],"offset_secs":0,"last_offset_secs":0},"2954250":{"cells":[{"exposures":1,"clicks":1},{"exposures":0,"clicks":0}],"delays":[0,0,0,0,0,0,0,0,0,0,1,0,0,0,0,0,0,0,0,0,0,0,0,0],"offset_secs":0,"last_offset_secs":0},"2954304":{"cells":[{"exposures":0,"clicks":0},{"exposures":1,"clicks":0}],"delays":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],"offset_secs":0,"last_offset_secs":0}},"coarse":{"20513":[{"exposures":1,"clicks":1},{"exposures":1,"clicks":0}]},"mature_delays":[0,0,0,0,0,0,0,0,0,0,1,0,0,0,0,0,0,0,0,0,0,0,0,0],"refreshed_at":"2026-03-04T07:00:00Z"}]}"#;

#[test]
fn snapshot_with_seconds_fields_still_restores() {
    let snapshot = OptimiserSnapshot::from_json(SNAPSHOT_WITH_SECS_FIELDS.as_bytes()).unwrap();
    let opt = Optimiser::restore(snapshot).unwrap();
    assert_eq!(
        opt.snapshot().to_json(),
        SNAPSHOT_WITH_SECS_FIELDS.as_bytes()
    );
    let e = opt.experiment(&ExperimentId::new("fixture")).unwrap();
    let c = e.config();
    assert_eq!(
        c.half_life,
        Some(Duration::seconds(129_600) + Duration::milliseconds(500))
    );
    assert_eq!(c.bucket, Duration::minutes(10));
    assert_eq!(c.horizon, Duration::days(2));
    match c.delay {
        dynopt::optimiser::DelayModel::Learned { prior, .. } => {
            assert_eq!(prior.median, Duration::minutes(30));
        }
        other => panic!("the fixture has a learned delay model, not {other:?}"),
    }
}
