//! Opens, conversions' sibling outcomes and guardrail events through the
//! exposure join: machine opens read strictly, one bucket per event, one
//! update per exposure and outcome, snapshots and merges.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use dynopt::attribution::{
    Attribution, AttributionConfig, AttributionSnapshot, Handled, MissingMachineOpen, Mode,
    OutcomeBucket, Scope,
};
use dynopt::currents::EventType;
use dynopt::pii::{CleanEvent, RecipientKey};
use dynopt::{ExperimentId, Guardrail, Reward, Update, VariantId};
use proptest::prelude::*;

fn t(s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000 + s, 0).expect("in range")
}

fn key(i: u8) -> RecipientKey {
    RecipientKey([i; 16])
}

fn event(ty: EventType, id: &str, at: i64, k: Option<RecipientKey>) -> CleanEvent {
    let mut e = CleanEvent::new(ty, id, t(at));
    e.campaign_id = Some("c1".into());
    e.recipient_key = k;
    e
}

fn open(id: &str, at: i64, k: u8, machine: Option<&str>) -> CleanEvent {
    let mut e = event(EventType::Open, id, at, Some(key(k)));
    e.machine_open = machine.map(Into::into);
    e
}

fn setup(config: impl FnOnce(&mut AttributionConfig)) -> (Attribution, ExperimentId) {
    let mut a = Attribution::new();
    let id = ExperimentId::new("e");
    let mut c = AttributionConfig::new(Scope::campaign("c1"), Mode::ExposureJoin);
    config(&mut c);
    a.add_experiment(id.clone(), c).expect("fresh");
    (a, id)
}

#[test]
fn machine_open_values_are_read_strictly() {
    for (rule, missing_is_machine) in [
        (MissingMachineOpen::CountAsHuman, false),
        (MissingMachineOpen::CountAsMachine, true),
    ] {
        let (mut a, _) = setup(|c| c.missing_machine_open = rule);
        let cases: [(Option<&str>, bool); 9] = [
            (Some("true"), true),
            (Some("TRUE"), true),
            (Some("false"), false),
            (Some(" False "), false),
            (Some("yes"), true),
            (Some(""), true),
            (Some("0"), true),
            (Some("unknown-2031"), true),
            (None, missing_is_machine),
        ];
        for (i, (v, machine)) in cases.iter().enumerate() {
            assert_eq!(
                a.handle_event(&open(&format!("o{i}"), 10, 1, *v), t(20)),
                Handled::Open { machine: *machine },
                "{v:?} with {rule:?}"
            );
        }
        let r = a.report();
        let machines = cases.iter().filter(|c| c.1).count() as u64;
        assert_eq!(r.machine_opens, machines);
        assert_eq!(r.opens, cases.len() as u64 - machines);
        assert_eq!(r.outcomes.opens.machine, machines);
        assert_eq!(r.outcomes.opens.total(), cases.len() as u64);
    }
}

#[test]
fn open_reward_emits_one_update_per_exposure_and_never_for_machine_opens() {
    let (mut a, id) = setup(|c| c.reward = Reward::Open);
    a.record_exposure(&id, key(1), VariantId(3), t(0))
        .expect("known");
    a.record_exposure(&id, key(2), VariantId(4), t(0))
        .expect("known");
    // Machine opens first: counted apart, never a reward, once per recipient.
    a.handle_event(&open("m1", 5, 1, Some("true")), t(10));
    a.handle_event(&open("m2", 6, 1, Some("true")), t(10));
    a.handle_event(&open("h1", 30, 1, Some("false")), t(40));
    a.handle_event(&open("h2", 31, 1, Some("false")), t(40));
    a.handle_event(&open("h1", 30, 1, Some("false")), t(40)); // redelivered
    let mut ups = Vec::new();
    a.drain_updates(&mut ups);
    let opens: Vec<_> = ups
        .iter()
        .filter(|u| matches!(u, Update::Open { .. }))
        .collect();
    assert_eq!(opens.len(), 1);
    assert!(matches!(
        opens[0],
        Update::Open { variant: VariantId(3), exposed_at: Some(e), opened_at, .. }
            if *e == t(0) && *opened_at == t(30)
    ));
    let r = a.report();
    let e = &r.experiments[&id];
    assert_eq!(e.outcomes.opens.attributed, 1);
    assert_eq!(e.outcomes.opens.duplicate, 2);
    assert_eq!(e.outcomes.opens.machine, 2);
    let v3 = e
        .variants
        .iter()
        .find(|v| v.variant == VariantId(3))
        .expect("v3");
    assert_eq!((v3.unique_opens, v3.machine_opens), (1, 1));
}

#[test]
fn click_reward_experiments_queue_no_open_update() {
    let (mut a, id) = setup(|_| {});
    a.record_exposure(&id, key(1), VariantId(3), t(0))
        .expect("known");
    a.handle_event(&open("h1", 30, 1, Some("false")), t(40));
    let mut ups = Vec::new();
    a.drain_updates(&mut ups);
    assert_eq!(ups.len(), 1, "{ups:?}");
    assert_eq!(a.report().experiments[&id].variants[0].unique_opens, 1);
}

fn guard_bucket(a: &mut Attribution, e: &CleanEvent, now: i64) -> OutcomeBucket {
    match a.handle_event(e, t(now)) {
        Handled::Guardrail(_, b) => b,
        other => panic!("not a guardrail event: {other:?}"),
    }
}

#[test]
fn guardrail_events_bucket_like_clicks() {
    let (mut a, id) = setup(|c| {
        c.guardrails = vec![Guardrail::Unsubscribe, Guardrail::SpamComplaint];
        c.window = TimeDelta::hours(2);
    });
    a.record_exposure(&id, key(1), VariantId(0), t(100))
        .expect("known");
    a.record_exposure(&id, key(2), VariantId(1), t(100))
        .expect("known");
    let u = |id: &str, at: i64, k: Option<RecipientKey>| event(EventType::Unsubscribe, id, at, k);
    let mut outside = u("x", 200, Some(key(1)));
    outside.campaign_id = Some("other".into());
    assert_eq!(guard_bucket(&mut a, &outside, 300), OutcomeBucket::Outside);
    assert_eq!(
        guard_bucket(&mut a, &u("f", 100_000, Some(key(1))), 300),
        OutcomeBucket::Future
    );
    assert_eq!(
        guard_bucket(&mut a, &u("n", 200, None), 300),
        OutcomeBucket::Unattributable
    );
    assert_eq!(
        guard_bucket(&mut a, &u("k", 200, Some(key(9))), 300),
        OutcomeBucket::Unattributable
    );
    assert_eq!(
        guard_bucket(&mut a, &u("b", 50, Some(key(1))), 300),
        OutcomeBucket::BeforeExposure
    );
    assert_eq!(
        guard_bucket(&mut a, &u("a", 200, Some(key(1))), 300),
        OutcomeBucket::Attributed
    );
    assert_eq!(
        guard_bucket(&mut a, &u("a", 200, Some(key(1))), 300),
        OutcomeBucket::Duplicate
    );
    assert_eq!(
        guard_bucket(&mut a, &u("w", 100 + 3 * 3600, Some(key(2))), 4 * 3600),
        OutcomeBucket::Late
    );
    // A spam complaint is its own metric; a hard bounce is bucketed but not emitted.
    assert_eq!(
        guard_bucket(
            &mut a,
            &event(EventType::MarkAsSpam, "s", 250, Some(key(1))),
            4 * 3600
        ),
        OutcomeBucket::Attributed
    );
    assert_eq!(
        guard_bucket(
            &mut a,
            &event(EventType::Bounce, "hb", 150, Some(key(2))),
            4 * 3600
        ),
        OutcomeBucket::Attributed
    );
    let mut ups = Vec::new();
    a.drain_updates(&mut ups);
    let guards: Vec<Guardrail> = ups
        .iter()
        .filter_map(|u| match u {
            Update::Guardrail { guardrail, .. } => Some(*guardrail),
            _ => None,
        })
        .collect();
    assert_eq!(guards, [Guardrail::Unsubscribe, Guardrail::SpamComplaint]);
    let r = a.report();
    assert_eq!(r.outcomes.unsubscribes.total(), 8);
    assert_eq!(r.outcomes.unsubscribes.attributed, 1);
    let e = &r.experiments[&id];
    assert_eq!(e.outcomes.unsubscribes.outside, 0);
    assert_eq!(e.outcomes.unsubscribes.total(), 7);
    let v0 = &e.variants[0];
    assert_eq!(
        (v0.unsubscribes, v0.spam_complaints, v0.hard_bounces),
        (1, 1, 0)
    );
    assert_eq!(e.variants[1].hard_bounces, 1);
}

#[test]
fn snapshots_of_click_experiments_write_no_new_keys() {
    let (mut a, id) = setup(|_| {});
    a.record_exposure(&id, key(1), VariantId(0), t(0))
        .expect("known");
    let mut c = event(EventType::Click, "c", 10, Some(key(1)));
    c.url = Some("https://x.example/".into());
    a.handle_event(&c, t(20));
    let json = String::from_utf8(a.snapshot().to_json()).expect("utf-8");
    for k in [
        "outcomes",
        "reward",
        "guardrails",
        "conversion_window",
        "missing_machine_open",
        "machine_opens\":0,\"conv",
    ] {
        assert!(!json.contains(k), "{k} in {json}");
    }
}

/// One random outcome-event stream.
fn arb_events() -> impl Strategy<Value = Vec<(u8, u8, i64, i64, u8, u8)>> {
    // (type, recipient, time offset, arrival offset, id, machine value)
    prop::collection::vec(
        (
            0u8..5,
            0u8..8,
            -600i64..20_000,
            0i64..100_000,
            0u8..40,
            0u8..4,
        ),
        1..120,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Every event lands in exactly one bucket, each recipient's outcome is
    /// attributed (and emitted) at most once, and a snapshot round trip or a
    /// replay changes nothing.
    #[test]
    fn every_event_lands_in_one_bucket_and_counts_once(events in arb_events()) {
        let (mut a, id) = setup(|c| {
            c.reward = Reward::Open;
            c.guardrails = Guardrail::ALL.to_vec();
            c.window = TimeDelta::hours(3);
        });
        for k in 0..6u8 {
            a.record_exposure(&id, key(k), VariantId(u32::from(k % 3)), t(0)).expect("known");
        }
        let types = [EventType::Open, EventType::Unsubscribe, EventType::MarkAsSpam, EventType::Bounce, EventType::Open];
        let mut per_type: BTreeMap<EventType, u64> = BTreeMap::new();
        let mut evs = Vec::new();
        for (ty, k, at, arrive, eid, m) in &events {
            let ty = types[*ty as usize];
            let mut e = event(ty, &format!("{eid}"), *at, Some(key(*k)));
            if *k == 7 { e.campaign_id = None; }
            e.machine_open = [None, Some("true"), Some("false"), Some("maybe")][*m as usize].map(Into::into);
            *per_type.entry(ty).or_default() += 1;
            a.handle_event(&e, t(at + arrive / 10));
            evs.push((e, t(at + arrive / 10)));
        }
        let r = a.report();
        prop_assert_eq!(r.outcomes.opens.total(), per_type.get(&EventType::Open).copied().unwrap_or(0));
        prop_assert_eq!(r.outcomes.unsubscribes.total(), per_type.get(&EventType::Unsubscribe).copied().unwrap_or(0));
        prop_assert_eq!(r.outcomes.spam_complaints.total(), per_type.get(&EventType::MarkAsSpam).copied().unwrap_or(0));
        prop_assert_eq!(r.outcomes.hard_bounces.total(), per_type.get(&EventType::Bounce).copied().unwrap_or(0));
        prop_assert_eq!(r.opens + r.machine_opens, r.outcomes.opens.total());
        let mut ups = Vec::new();
        a.drain_updates(&mut ups);
        for u in &ups {
            match u {
                Update::Exposure { .. } => continue,
                Update::Open { exposed_at, opened_at, .. } => {
                    prop_assert!(exposed_at.is_some_and(|e| e <= *opened_at));
                }
                Update::Guardrail { guardrail, exposed_at, at, .. } => {
                    prop_assert!(exposed_at.is_some_and(|e| e <= *at));
                    prop_assert!(Guardrail::ALL.contains(guardrail));
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        let attributed = r.outcomes.opens.attributed
            + r.outcomes.unsubscribes.attributed
            + r.outcomes.spam_complaints.attributed
            + r.outcomes.hard_bounces.attributed;
        let outcomes = ups.iter().filter(|u| !matches!(u, Update::Exposure { .. })).count();
        prop_assert_eq!(outcomes as u64, attributed);
        prop_assert!(r.outcomes.opens.attributed <= 6);
        for g in Guardrail::ALL {
            prop_assert!(r.outcomes.guardrail(g).attributed <= 6);
        }
        // Per variant, never more unique outcomes than exposed recipients.
        for v in &r.experiments[&id].variants {
            for g in Guardrail::ALL {
                prop_assert!(v.guardrail(g) <= v.exposures);
            }
            prop_assert!(v.unique_opens <= v.exposures && v.machine_opens <= v.exposures);
        }
        // Snapshot round trip, then a replay: nothing new is attributed.
        let mut b = Attribution::restore(
            AttributionSnapshot::from_json(&a.snapshot().to_json()).expect("parses"),
        ).expect("restores");
        prop_assert_eq!(b.report(), r.clone());
        for (e, now) in &evs {
            b.handle_event(e, *now);
        }
        let mut more = Vec::new();
        b.drain_updates(&mut more);
        prop_assert!(more.is_empty(), "{:?}", more);
    }
}

#[test]
fn merged_shards_equal_one_instance() {
    let cfg = |c: &mut AttributionConfig| {
        c.reward = Reward::Open;
        c.guardrails = vec![Guardrail::Unsubscribe];
    };
    let (mut one, id) = setup(cfg);
    let (mut s1, _) = setup(cfg);
    let (mut s2, _) = setup(cfg);
    for k in 0..10u8 {
        let shard = if k % 2 == 0 { &mut s1 } else { &mut s2 };
        for a in [&mut one, shard] {
            a.record_exposure(&id, key(k), VariantId(u32::from(k % 3)), t(0))
                .expect("known");
            a.handle_event(&open(&format!("o{k}"), 10, k, Some("false")), t(20));
            a.handle_event(&open(&format!("m{k}"), 11, k, Some("true")), t(20));
            a.handle_event(
                &event(EventType::Unsubscribe, &format!("u{k}"), 12, Some(key(k))),
                t(20),
            );
        }
    }
    s1.merge(s2).expect("same experiments");
    assert_eq!(s1.report(), one.report());
}

fn conversion(id: &str, at: i64, k: Option<RecipientKey>, index: Option<i64>) -> CleanEvent {
    let mut e = event(EventType::CampaignConversion, id, at, k);
    e.conversion_behavior_index = index;
    e
}

fn conv_bucket(a: &mut Attribution, e: &CleanEvent, now: i64) -> OutcomeBucket {
    match a.handle_event(e, t(now)) {
        Handled::Conversion(b) => b,
        other => panic!("not a conversion: {other:?}"),
    }
}

#[test]
fn conversions_count_by_behaviour_within_their_own_window() {
    let day = 86_400;
    let (mut a, id) = setup(|c| {
        c.reward = Reward::Conversion {
            behavior_index: Some(0),
        };
        c.window = TimeDelta::hours(1);
        c.conversion_window = Some(TimeDelta::days(3));
    });
    for k in 1..=4u8 {
        a.record_exposure(&id, key(k), VariantId(u32::from(k % 2)), t(0))
            .expect("known");
    }
    // Two days after the exposure: past the click window, inside the conversion window.
    assert_eq!(
        conv_bucket(
            &mut a,
            &conversion("c1", 2 * day, Some(key(1)), Some(0)),
            2 * day + 60
        ),
        OutcomeBucket::Attributed
    );
    assert_eq!(
        conv_bucket(
            &mut a,
            &conversion("c2", 2 * day, Some(key(1)), Some(0)),
            2 * day + 60
        ),
        OutcomeBucket::Duplicate
    );
    assert_eq!(
        conv_bucket(
            &mut a,
            &conversion("c3", 2 * day, Some(key(2)), Some(1)),
            2 * day + 60
        ),
        OutcomeBucket::OtherBehavior
    );
    assert_eq!(
        conv_bucket(
            &mut a,
            &conversion("c4", 2 * day, Some(key(2)), None),
            2 * day + 60
        ),
        OutcomeBucket::OtherBehavior
    );
    assert_eq!(
        conv_bucket(
            &mut a,
            &conversion("c5", 2 * day, None, Some(0)),
            2 * day + 60
        ),
        OutcomeBucket::Unattributable
    );
    assert_eq!(
        conv_bucket(
            &mut a,
            &conversion("c6", 2 * day, Some(key(9)), Some(0)),
            2 * day + 60
        ),
        OutcomeBucket::Unattributable
    );
    assert_eq!(
        conv_bucket(
            &mut a,
            &conversion("c7", -60, Some(key(3)), Some(0)),
            2 * day + 60
        ),
        OutcomeBucket::Late,
        "arrived more than the allowed lateness after it happened"
    );
    assert_eq!(
        conv_bucket(
            &mut a,
            &conversion("c8", 3 * day + 60, Some(key(4)), Some(0)),
            3 * day + 120
        ),
        OutcomeBucket::Late,
        "more than the conversion window after the exposure"
    );
    let mut outside = conversion("c9", 2 * day, Some(key(3)), Some(0));
    outside.campaign_id = Some("another".into());
    assert_eq!(
        conv_bucket(&mut a, &outside, 3 * day + 120),
        OutcomeBucket::Outside
    );
    let mut ups = Vec::new();
    a.drain_updates(&mut ups);
    let conv: Vec<&Update> = ups
        .iter()
        .filter(|u| matches!(u, Update::Conversion { .. }))
        .collect();
    assert_eq!(conv.len(), 1);
    assert!(matches!(
        conv[0],
        Update::Conversion { variant: VariantId(1), exposed_at: Some(e), converted_at, .. }
            if *e == t(0) && *converted_at == t(2 * day)
    ));
    let r = a.report();
    assert_eq!(r.outcomes.conversions.total(), 9);
    assert_eq!(r.experiments[&id].outcomes.conversions.total(), 8);
    assert_eq!(r.experiments[&id].variants[1].conversions, 1);
}

#[test]
fn click_experiments_count_any_conversion_and_queue_none() {
    let (mut a, id) = setup(|_| {});
    a.record_exposure(&id, key(1), VariantId(0), t(0))
        .expect("known");
    assert_eq!(
        conv_bucket(&mut a, &conversion("c1", 600, Some(key(1)), Some(3)), 700),
        OutcomeBucket::Attributed
    );
    let mut ups = Vec::new();
    a.drain_updates(&mut ups);
    assert_eq!(ups.len(), 1, "the exposure only: {ups:?}");
    assert_eq!(a.report().experiments[&id].variants[0].conversions, 1);
}
