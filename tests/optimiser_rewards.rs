//! Rewards other than the click, and guardrails: what the posteriors learn
//! from, what the report shows, and the guardrail rule against simulations
//! with known truth.

use chrono::{DateTime, Duration, TimeZone, Utc};
use dynopt::optimiser::{
    DelayModel, Experiment, GuardrailAction, GuardrailRule, GuardrailStatus, OptimiserConfig,
    OptimiserSnapshot,
};
use dynopt::{ExperimentId, Guardrail, Reward, Update, VariantId};
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap()
}

fn exposure(id: &ExperimentId, v: VariantId, at: DateTime<Utc>) -> Update {
    Update::Exposure {
        experiment: id.clone(),
        variant: v,
        at,
    }
}

/// 1,000 exposures of `v` at `t0()`, the first `spam` of them complained about.
fn expose_with_spam(e: &mut Experiment, id: &ExperimentId, v: VariantId, spam: usize) {
    for k in 0..1_000 {
        e.apply(&exposure(id, v, t0())).unwrap();
        if k < spam {
            e.apply(&Update::Guardrail {
                experiment: id.clone(),
                variant: v,
                guardrail: Guardrail::SpamComplaint,
                exposed_at: Some(t0()),
                at: t0() + Duration::minutes(5),
            })
            .unwrap();
        }
    }
}

#[test]
fn open_reward_learns_from_opens_only() {
    let id = ExperimentId::new("subject");
    let mut config = OptimiserConfig::with_reward(Reward::Open);
    config.delay = DelayModel::Immediate;
    let mut e = Experiment::new(id.clone(), config).unwrap();
    let a = e.add_variant("a").unwrap();
    let b = e.add_variant("b").unwrap();
    for _ in 0..100 {
        e.apply(&exposure(&id, a, t0())).unwrap();
        e.apply(&exposure(&id, b, t0())).unwrap();
    }
    for _ in 0..40 {
        e.apply(&Update::Open {
            experiment: id.clone(),
            variant: a,
            exposed_at: Some(t0()),
            opened_at: t0() + Duration::minutes(3),
        })
        .unwrap();
        // Clicks on b are counted but are not this experiment's reward.
        e.apply(&Update::Click {
            experiment: id.clone(),
            variant: b,
            exposed_at: Some(t0()),
            clicked_at: t0() + Duration::minutes(3),
        })
        .unwrap();
    }
    let pa = e.posterior(a).unwrap();
    let pb = e.posterior(b).unwrap();
    assert_eq!((pa.alpha(), pa.beta()), (41.0, 61.0));
    assert_eq!((pb.alpha(), pb.beta()), (1.0, 101.0));
    let mut rng = Pcg64::seed_from_u64(1);
    let r = e.report(t0() + Duration::hours(1), &mut rng);
    assert_eq!(r.reward, Reward::Open);
    assert_eq!((r.variants[0].rewards, r.variants[0].opens), (40, 40));
    assert_eq!((r.variants[1].rewards, r.variants[1].clicks), (0, 40));
    assert_eq!(r.leader, Some(a));
    // The state round-trips with the outcomes that are not the reward.
    let back = Experiment::restore(OptimiserSnapshot::from_json(&e.snapshot().to_json()).unwrap())
        .unwrap();
    assert_eq!(back, e);
}

#[test]
fn click_reward_ignores_other_outcomes_in_its_posteriors() {
    let id = ExperimentId::new("x");
    let mut config = OptimiserConfig::default();
    config.delay = DelayModel::Immediate;
    let mut plain = Experiment::new(id.clone(), config).unwrap();
    let a = plain.add_variant("a").unwrap();
    let _ = plain.add_variant("b").unwrap();
    let mut with_more = plain.clone();
    for e in [&mut plain, &mut with_more] {
        for _ in 0..50 {
            e.apply(&exposure(&id, a, t0())).unwrap();
        }
        e.apply(&Update::Click {
            experiment: id.clone(),
            variant: a,
            exposed_at: Some(t0()),
            clicked_at: t0() + Duration::minutes(1),
        })
        .unwrap();
    }
    with_more
        .apply(&Update::Conversion {
            experiment: id.clone(),
            variant: a,
            exposed_at: Some(t0()),
            converted_at: t0() + Duration::days(1),
        })
        .unwrap();
    assert_eq!(plain.posterior(a).unwrap(), with_more.posterior(a).unwrap());
    let mut rng = Pcg64::seed_from_u64(1);
    let now = t0() + Duration::hours(2);
    let (r1, r2) = (
        plain.report(now, &mut rng.clone()),
        with_more.report(now, &mut rng),
    );
    assert_eq!(r1.variants[0].posterior_mean, r2.variants[0].posterior_mean);
    assert_eq!(r2.variants[0].conversions, 1);
}

#[test]
fn conversion_reward_uses_a_prior_in_days() {
    let c = OptimiserConfig::with_reward(Reward::Conversion {
        behavior_index: Some(0),
    });
    match c.delay {
        DelayModel::Learned { prior, .. } => assert_eq!(prior.median, chrono::TimeDelta::days(1)),
        other => panic!("{other:?}"),
    }
    assert!(c.validate().is_ok());
    let mut bad = c.clone();
    bad.guardrails = vec![
        GuardrailRule::new(Guardrail::Unsubscribe),
        GuardrailRule::new(Guardrail::Unsubscribe),
    ];
    assert!(bad.validate().is_err());
}

/// Truth of one simulated send: the harmful wording's and the harmless
/// one's unsubscribe rates relative to the control's.
struct Sim {
    base_rate: f64,
    harmful: f64,
    batches: usize,
    per_batch: usize,
    action: GuardrailAction,
}

/// One send: control (20% fixed), a harmful wording and a harmless one
/// whose share shrinks from 60% to 10% (so that its exposures are older on
/// average than the others': a comparison that ignored exposure time would
/// see its unsubscribes mature first). Unsubscribes arrive after an
/// exponential delay with a mean of one batch. Returns (harmful caught by the
/// end, harmless ever capped or retired).
fn simulate(sim: &Sim, seed: u64) -> (bool, bool) {
    let mut rng = Pcg64::seed_from_u64(seed);
    let id = ExperimentId::new("g");
    let mut config = OptimiserConfig::default();
    config.delay = DelayModel::Immediate;
    config.mc_draws = 100;
    config.control_share = 0.2;
    config.min_share = 0.02;
    let mut rule = GuardrailRule::new(Guardrail::Unsubscribe);
    rule.action = sim.action;
    config.guardrails = vec![rule];
    let mut e = Experiment::new(id.clone(), config).unwrap();
    let control = e.add_variant("control").unwrap();
    let harmful = e.add_variant("baiting").unwrap();
    let harmless = e.add_variant("plain").unwrap();
    e.set_control(Some(control)).unwrap();
    let batch = Duration::hours(1);
    // (arrival batch, variant, exposed at, at)
    let mut pending: Vec<(usize, VariantId, DateTime<Utc>, DateTime<Utc>)> = Vec::new();
    let mut harmless_flagged = false;
    for b in 0..sim.batches {
        let f = b as f64 / (sim.batches - 1).max(1) as f64;
        let share_harmless = 0.6 - 0.5 * f;
        let shares = [
            (control, 0.2),
            (harmless, share_harmless),
            (harmful, 0.8 - share_harmless),
        ];
        for k in 0..sim.per_batch {
            let at = t0() + batch * b as i32 + Duration::seconds((k * 3600 / sim.per_batch) as i64);
            let u: f64 = rng.random();
            let v = if u < shares[0].1 {
                shares[0].0
            } else if u < shares[0].1 + shares[1].1 {
                shares[1].0
            } else {
                shares[2].0
            };
            e.apply(&exposure(&id, v, at)).unwrap();
            let rate = sim.base_rate * if v == harmful { sim.harmful } else { 1.0 };
            if rng.random::<f64>() < rate {
                let delay: f64 = -rng.random::<f64>().max(1e-12).ln();
                let when = at + Duration::seconds((delay * 3600.0) as i64);
                let arrive = ((when - t0()).num_seconds() / 3600) as usize;
                pending.push((arrive, v, at, when));
            }
        }
        let now = t0() + batch * (b as i32 + 1);
        pending.retain(|&(arrive, v, at, when)| {
            if arrive <= b {
                e.apply(&Update::Guardrail {
                    experiment: id.clone(),
                    variant: v,
                    guardrail: Guardrail::Unsubscribe,
                    exposed_at: Some(at),
                    at: when,
                })
                .unwrap();
                false
            } else {
                true
            }
        });
        e.recompute_allocation(now, &mut rng);
        let s = e.guardrail_status(harmless).unwrap();
        harmless_flagged |= matches!(s, GuardrailStatus::Capped(_) | GuardrailStatus::Retired(_));
        assert!(e.guardrail_status(control).unwrap().is_ok());
    }
    let caught = matches!(
        e.guardrail_status(harmful).unwrap(),
        GuardrailStatus::Capped(_) | GuardrailStatus::Retired(_)
    );
    (caught, harmless_flagged)
}

/// Across 500 simulated sends a wording with three times the control's
/// unsubscribe rate is caught in at least 95% of runs, and a harmless one is
/// wrongly capped in at most 2%.
#[test]
fn guardrail_catches_harmful_wordings_and_spares_harmless_ones() {
    let sim = Sim {
        base_rate: 0.01,
        harmful: 3.0,
        batches: 6,
        per_batch: 4_000,
        action: GuardrailAction::Cap,
    };
    let runs = 500;
    let (mut caught, mut false_caps) = (0, 0);
    for seed in 0..runs {
        let (c, f) = simulate(&sim, seed);
        caught += usize::from(c);
        false_caps += usize::from(f);
    }
    eprintln!("guardrail: caught {caught}/{runs}, false caps {false_caps}/{runs}");
    assert!(caught * 100 >= 95 * runs as usize, "caught {caught}/{runs}");
    assert!(
        false_caps * 100 <= 2 * runs as usize,
        "false caps {false_caps}/{runs}"
    );
}

#[test]
fn a_capped_wording_keeps_the_minimum_share_and_a_retired_one_goes() {
    for action in [GuardrailAction::Cap, GuardrailAction::Retire] {
        let sim = Sim {
            base_rate: 0.01,
            harmful: 4.0,
            batches: 4,
            per_batch: 6_000,
            action,
        };
        let (caught, _) = simulate(&sim, 7);
        assert!(caught, "{action:?}");
    }
    // The share after a cap: build a tiny experiment by hand.
    let id = ExperimentId::new("cap");
    let mut config = OptimiserConfig::default();
    config.delay = DelayModel::Immediate;
    config.mc_draws = 100;
    config.min_share = 0.05;
    let mut rule = GuardrailRule::new(Guardrail::SpamComplaint);
    rule.min_exposures = 100;
    config.guardrails = vec![rule];
    let mut e = Experiment::new(id.clone(), config).unwrap();
    let c = e.add_variant("control").unwrap();
    let bad = e.add_variant("bad").unwrap();
    let ok = e.add_variant("ok").unwrap();
    e.set_control(Some(c)).unwrap();
    for (v, spam) in [(c, 5), (bad, 60), (ok, 5)] {
        expose_with_spam(&mut e, &id, v, spam);
        // Clicks make the bad wording look best on the reward.
        for _ in 0..if v == bad { 100 } else { 10 } {
            e.apply(&Update::Click {
                experiment: id.clone(),
                variant: v,
                exposed_at: Some(t0()),
                clicked_at: t0() + Duration::minutes(5),
            })
            .unwrap();
        }
    }
    let mut rng = Pcg64::seed_from_u64(3);
    let now = t0() + Duration::hours(1);
    e.recompute_allocation(now, &mut rng);
    let share = |v: VariantId| {
        e.allocation()
            .iter()
            .find(|x| x.0 == v)
            .map(|x| x.1)
            .unwrap()
    };
    assert!((share(bad) - 0.05).abs() < 1e-9, "{:?}", e.allocation());
    assert!((share(c) - 0.10).abs() < 1e-9);
    assert!(share(ok) > 0.8);
    let r = e.report(now, &mut rng);
    assert_ne!(r.leader, Some(bad));
    let line = &r.variants[1];
    assert_eq!(line.guardrail_status.label(), "capped");
    let reason = line.guardrail_status.reason().unwrap();
    assert_eq!(reason.metric, Guardrail::SpamComplaint);
    assert!(reason.ratio > 5.0 && reason.p_worse > 0.95, "{reason:?}");
    assert!(line.guardrail_status.to_string().contains("spam_complaint"));
    let g = &line.guardrails[0];
    assert_eq!(g.events, 60);
    assert!(g.ci_low < 0.06 && 0.06 < g.ci_high, "{g:?}");
    assert!(r.variants[0].guardrails[0].ratio.is_none());
    assert!(r.variants[0].guardrail_status.is_ok());
    // The verdict survives a snapshot.
    let back = Experiment::restore(OptimiserSnapshot::from_json(&e.snapshot().to_json()).unwrap())
        .unwrap();
    assert_eq!(back, e);
    assert_eq!(back.guardrail_status(bad).unwrap().label(), "capped");
    // With the retire action the same evidence retires it for good.
    let mut config = e.config().clone();
    config.guardrails[0].action = GuardrailAction::Retire;
    let mut retiring = {
        let mut x = Experiment::new(id.clone(), config).unwrap();
        let c2 = x.add_variant("control").unwrap();
        let b2 = x.add_variant("bad").unwrap();
        let _ = x.add_variant("ok").unwrap();
        x.set_control(Some(c2)).unwrap();
        for (v, spam) in [(c2, 5), (b2, 60)] {
            expose_with_spam(&mut x, &id, v, spam);
        }
        x
    };
    retiring.recompute_allocation(now, &mut rng);
    assert!(
        retiring
            .variants()
            .any(|(v, _, retired)| v == bad && retired)
    );
    assert!(
        retiring
            .variants()
            .any(|(v, _, retired)| v == c && !retired)
    );
    assert_eq!(retiring.guardrail_status(bad).unwrap().label(), "retired");
    // Draws serve the capped wording only through the minimum share.
    let served_bad = (0..2_000)
        .filter(|_| e.draw(&mut rng).unwrap() == bad)
        .count();
    assert!(served_bad < 2_000 / 10, "{served_bad}");
}

/// A Braze file of one event type with the given records
/// `(id, user id, time, machine_open)`, as Braze writes it.
fn braze_file(kind: &str, records: &[(&str, &str, i64, Option<&str>)]) -> Vec<u8> {
    use dynopt::currents::{Codec, OcfWriter, encode_long, encode_opt_str, encode_str};
    let machine = if kind == "Open" {
        r#",{"name":"machine_open","type":["null","string"],"default":null}"#
    } else {
        ""
    };
    let schema = format!(
        r#"{{"type":"record","name":"{kind}","namespace":"dataexport.S3.inner.users.messages.email",
        "fields":[{{"name":"id","type":"string"}},{{"name":"user_id","type":"string","doc":"[PII] Braze user ID"}},
        {{"name":"time","type":"int"}},{{"name":"campaign_id","type":["null","string"],"default":null}},
        {{"name":"email_address","type":"string","doc":"[PII] email"}}{machine}]}}"#
    );
    let writer = OcfWriter::new(&schema, Codec::Deflate, &[], [7; 16]);
    let (mut file, mut body) = (Vec::new(), Vec::new());
    writer.header(&mut file);
    for (id, user, time, m) in records {
        encode_str(id, &mut body);
        encode_str(user, &mut body);
        encode_long(*time, &mut body);
        encode_opt_str(Some("cmp-1"), &mut body);
        encode_str("someone@example.com", &mut body);
        if kind == "Open" {
            encode_opt_str(*m, &mut body);
        }
    }
    writer.write_block(records.len() as u64, &body, &mut file);
    file
}

/// Opens with machine opens, and unsubscribes, from Currents bytes through
/// the filter, attribution and the optimiser.
#[test]
fn opens_and_unsubscribes_from_currents_bytes_reach_the_optimiser() {
    use dynopt::attribution::{Attribution, AttributionConfig, Mode, Scope};
    use dynopt::currents::DecodeOptions;
    use dynopt::pii::{Filter, Policy, Pseudonymizer};
    let secret = b"e2e";
    let id = ExperimentId::new("subject");
    let mut ac = AttributionConfig::new(Scope::campaign("cmp-1"), Mode::ExposureJoin);
    ac.reward = Reward::Open;
    ac.guardrails = vec![Guardrail::Unsubscribe];
    let mut attr = Attribution::new();
    attr.add_experiment(id.clone(), ac).unwrap();
    let mut oc = OptimiserConfig::with_reward(Reward::Open);
    oc.guardrails = vec![GuardrailRule::new(Guardrail::Unsubscribe)];
    let mut opt = dynopt::optimiser::Optimiser::new();
    let e = opt.add_experiment(id.clone(), oc).unwrap();
    let a = e.add_variant("a").unwrap();
    let b = e.add_variant("b").unwrap();
    let p = Pseudonymizer::keyed(secret);
    let t = t0().timestamp();
    let users: Vec<String> = (0..6).map(|i| format!("user-{i}")).collect();
    for (i, u) in users.iter().enumerate() {
        let v = if i % 2 == 0 { a } else { b };
        attr.record_exposure(&id, p.key_for(u).unwrap(), v, t0())
            .unwrap();
    }
    let opens = braze_file(
        "Open",
        &[
            ("o1", &users[0], t + 60, Some("false")),
            ("o2", &users[0], t + 70, Some("false")),
            ("o3", &users[1], t + 60, Some("true")),
            ("o4", &users[2], t + 80, None),
            ("o5", &users[3], t + 90, Some("weird")),
            ("o6", "someone-else", t + 90, Some("false")),
        ],
    );
    let unsubs = braze_file("Unsubscribe", &[("u1", &users[1], t + 600, None)]);
    let filter = Filter::new(Policy::new()).with_pseudonymizer(p);
    let now = t0() + Duration::hours(1);
    for bytes in [&opens, &unsubs] {
        let clean = filter.clean_file(bytes, &DecodeOptions::default());
        assert!(clean.error.is_none(), "{:?}", clean.error);
        attr.handle_events(&clean.events, now);
    }
    let mut updates = Vec::new();
    attr.drain_updates(&mut updates);
    for u in &updates {
        opt.apply(u).unwrap();
    }
    let acc = attr.report();
    let o = &acc.outcomes.opens;
    assert_eq!(
        (o.attributed, o.duplicate, o.machine, o.unattributable),
        (2, 1, 2, 1)
    );
    assert_eq!(acc.outcomes.unsubscribes.attributed, 1);
    let mut rng = Pcg64::seed_from_u64(5);
    let e = opt.experiment_mut(&id).unwrap();
    e.recompute_allocation(now, &mut rng);
    let r = e.report(now, &mut rng);
    assert_eq!(r.variants[0].rewards, 2); // users 0 and 2 (absent field: human)
    assert_eq!(r.variants[1].rewards, 0); // machine and unknown values never count
    assert_eq!(r.variants[1].guardrails[0].events, 1);
}

/// Conversions from a Braze `users.campaigns.Conversion` file, sanitized,
/// through attribution (the primary conversion only) to the optimiser.
#[test]
fn conversions_from_currents_bytes_reach_the_optimiser() {
    use dynopt::attribution::{Attribution, AttributionConfig, Mode, Scope};
    use dynopt::currents::{
        Codec, DecodeOptions, OcfWriter, encode_long, encode_opt_long, encode_opt_str, encode_str,
    };
    use dynopt::pii::{Filter, Policy, Pseudonymizer, SanitizeOptions, sanitize};
    let secret = b"conv";
    let id = ExperimentId::new("body");
    let reward = Reward::Conversion {
        behavior_index: Some(0),
    };
    let mut ac = AttributionConfig::new(Scope::campaign("cmp-9"), Mode::ExposureJoin);
    ac.reward = reward;
    ac.conversion_window = Some(chrono::TimeDelta::days(3));
    let mut attr = Attribution::new();
    attr.add_experiment(id.clone(), ac).unwrap();
    let mut opt = dynopt::optimiser::Optimiser::new();
    let e = opt
        .add_experiment(id.clone(), OptimiserConfig::with_reward(reward))
        .unwrap();
    let a = e.add_variant("a").unwrap();
    let b = e.add_variant("b").unwrap();
    let p = Pseudonymizer::keyed(secret);
    for (i, v) in [(0, a), (1, b), (2, a)] {
        attr.record_exposure(&id, p.key_for(&format!("u{i}")).unwrap(), v, t0())
            .unwrap();
    }
    let schema = r#"{"type":"record","name":"Conversion","namespace":"dataexport.S3.inner.users.campaigns",
      "fields":[{"name":"id","type":"string"},{"name":"user_id","type":"string","doc":"[PII] Braze user ID"},
      {"name":"time","type":"int"},{"name":"campaign_id","type":["null","string"],"default":null},
      {"name":"conversion_behavior_index","type":["null","int"],"default":null}]}"#;
    let writer = OcfWriter::new(schema, Codec::Deflate, &[], [3; 16]);
    let (mut file, mut body) = (Vec::new(), Vec::new());
    writer.header(&mut file);
    let day = 86_400;
    let records = [
        ("c1", "u0", day + 7_200, Some(0)),
        ("c2", "u0", day + 7_300, Some(0)), // the same user again: a duplicate
        ("c3", "u1", day + 7_200, Some(1)), // another behaviour
        ("c4", "u2", 2 * day, Some(0)),
        ("c5", "stranger", day + 7_200, Some(0)), // never exposed
    ];
    for (cid, user, dt, index) in records {
        encode_str(cid, &mut body);
        encode_str(user, &mut body);
        encode_long(t0().timestamp() + dt, &mut body);
        encode_opt_str(Some("cmp-9"), &mut body);
        encode_opt_long(index, &mut body);
    }
    writer.write_block(records.len() as u64, &body, &mut file);
    let sanitized = sanitize(&file, &SanitizeOptions::new().with_pseudonymizer(p)).unwrap();
    let clean = Filter::new(Policy::new()).clean_file(&sanitized.bytes, &DecodeOptions::default());
    assert!(clean.error.is_none(), "{:?}", clean.error);
    // Every event arrives within the allowed lateness (a day) of its time.
    let now = t0() + Duration::days(2) + Duration::minutes(1);
    attr.handle_events(&clean.events, now);
    let mut updates = Vec::new();
    attr.drain_updates(&mut updates);
    for u in &updates {
        opt.apply(u).unwrap();
    }
    let c = &attr.report().outcomes.conversions;
    assert_eq!(
        (
            c.attributed,
            c.duplicate,
            c.other_behavior,
            c.unattributable
        ),
        (2, 1, 1, 1)
    );
    let mut rng = Pcg64::seed_from_u64(2);
    let r = opt.experiment(&id).unwrap().report(now, &mut rng);
    assert_eq!((r.variants[0].rewards, r.variants[1].rewards), (2, 0));
    assert_eq!(r.variants[0].conversions, 2);
    assert_eq!(r.delay_observations, 2);
}
