//! Hand-written cases for each attribution rule: one bucket per click.

use chrono::{DateTime, TimeDelta, Utc};
use dynopt::attribution::{
    AddExperimentError, Attribution, AttributionConfig, AttributionSnapshot, BotRules, ClickBucket,
    Exposure, ExposureError, Handled, MAX_TRACKED_VARIANTS, MergeError, Mode, RestoreError, Scope,
};
use dynopt::currents::EventType;
use dynopt::pii::{CleanEvent, RecipientKey};
use dynopt::{ExperimentId, Update, VariantId};

fn t(s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000 + s, 0).expect("in range")
}

fn key(i: u8) -> RecipientKey {
    RecipientKey([i; 16])
}

fn click(id: &str, at: i64, k: Option<RecipientKey>) -> CleanEvent {
    let mut e = CleanEvent::new(EventType::Click, id, t(at));
    e.campaign_id = Some("c1".into());
    e.recipient_key = k;
    e
}

fn join() -> (Attribution, ExperimentId) {
    let mut a = Attribution::new();
    let id = ExperimentId::new("e");
    a.add_experiment(
        id.clone(),
        AttributionConfig::new(Scope::campaign("c1"), Mode::ExposureJoin),
    )
    .expect("fresh");
    (a, id)
}

fn bucket(a: &mut Attribution, e: &CleanEvent, now: i64) -> ClickBucket {
    match a.handle_event(e, t(now)) {
        Handled::Click(b) => b,
        other => panic!("not a click: {other:?}"),
    }
}

#[test]
fn exposure_join_buckets() {
    let (mut a, id) = join();
    assert_eq!(
        a.record_exposure(&id, key(1), VariantId(10), t(0)),
        Ok(Exposure::New)
    );
    // Re-render: counted once, first variant stands.
    assert_eq!(
        a.record_exposure(&id, key(1), VariantId(11), t(5)),
        Ok(Exposure::Repeat(VariantId(10)))
    );
    a.record_exposure(&id, key(2), VariantId(11), t(10))
        .expect("known");
    a.record_exposure(&id, key(3), VariantId(11), t(10))
        .expect("known");
    assert_eq!(
        a.record_exposure(&ExperimentId::new("nope"), key(1), VariantId(1), t(10)),
        Err(ExposureError::UnknownExperiment(ExperimentId::new("nope")))
    );

    assert_eq!(
        bucket(&mut a, &click("a", 100, Some(key(1))), 200),
        ClickBucket::Attributed
    );
    assert_eq!(
        bucket(&mut a, &click("a", 100, Some(key(1))), 200),
        ClickBucket::Duplicate
    );
    // Another link, same recipient: counted once.
    assert_eq!(
        bucket(&mut a, &click("b", 150, Some(key(1))), 200),
        ClickBucket::Duplicate
    );
    // No key / never exposed.
    assert_eq!(
        bucket(&mut a, &click("c", 150, None), 200),
        ClickBucket::Unattributable
    );
    assert_eq!(
        bucket(&mut a, &click("d", 150, Some(key(9))), 200),
        ClickBucket::Unattributable
    );
    // Bot flag never counts, and does not use up the recipient's reward.
    let mut bot = click("e", 150, Some(key(2)));
    bot.is_suspected_bot_click = Some(true);
    assert_eq!(bucket(&mut a, &bot, 200), ClickBucket::Bot);
    assert_eq!(
        bucket(&mut a, &click("f", 160, Some(key(2))), 200),
        ClickBucket::Attributed
    );
    // Outside the window (7 days) after exposure: late.
    let week = 7 * 86_400;
    assert_eq!(
        bucket(
            &mut a,
            &click("g", 10 + week + 1, Some(key(3))),
            10 + week + 2
        ),
        ClickBucket::Late
    );
    // A click arriving more than the allowed lateness (1 day) after it happened: late.
    assert_eq!(
        bucket(&mut a, &click("h", 20, Some(key(3))), 20 + 86_400 + 1),
        ClickBucket::Late
    );
    // Other scope.
    let mut other = click("i", 20, Some(key(3)));
    other.campaign_id = Some("c2".into());
    assert_eq!(bucket(&mut a, &other, 200), ClickBucket::Outside);

    let r = a.report();
    assert_eq!(r.clicks.attributed, 2);
    assert_eq!(r.clicks.duplicate, 2);
    assert_eq!(r.clicks.unattributable, 2);
    assert_eq!(r.clicks.bot, 1);
    assert_eq!(r.clicks.late, 2);
    assert_eq!(r.clicks.outside, 1);
    assert_eq!(r.clicks.total(), 10);
    let e = &r.experiments[&id];
    assert_eq!(e.exposures, 3);
    assert_eq!(e.repeat_exposures, 1);
    assert_eq!(e.clicks.total() + r.clicks.outside, r.clicks.total());
    let v10 = e
        .variants
        .iter()
        .find(|v| v.variant == VariantId(10))
        .expect("v10");
    let v11 = e
        .variants
        .iter()
        .find(|v| v.variant == VariantId(11))
        .expect("v11");
    assert_eq!((v10.exposures, v10.clicks), (1, 1));
    assert_eq!((v11.exposures, v11.clicks), (2, 1));

    let mut ups = Vec::new();
    a.drain_updates(&mut ups);
    let clicks: Vec<_> = ups
        .iter()
        .filter_map(|u| match u {
            Update::Click {
                variant,
                exposed_at,
                clicked_at,
                ..
            } => Some((*variant, *exposed_at, *clicked_at)),
            _ => None,
        })
        .collect();
    assert_eq!(
        clicks,
        vec![
            (VariantId(10), Some(t(0)), t(100)),
            (VariantId(11), Some(t(10)), t(160))
        ]
    );
    assert_eq!(ups.len(), 5);
    assert!(a.poll_update().is_none());
}

#[test]
fn url_tag_mode() {
    let mut a = Attribution::new();
    let id = ExperimentId::new("tag");
    let mut cfg = AttributionConfig::new(
        Scope::canvas_step("s1").with_variation("mv1"),
        Mode::url_tag(),
    );
    cfg.window = TimeDelta::hours(48);
    a.add_experiment(id.clone(), cfg).expect("fresh");
    a.record_exposure(&id, key(1), VariantId(1), t(0))
        .expect("known");
    a.record_exposure(&id, key(2), VariantId(2), t(0))
        .expect("known");
    let mk = |id: &str, at: i64, url: &str, k: Option<RecipientKey>| {
        let mut e = CleanEvent::new(EventType::Click, id, t(at));
        e.canvas_step_id = Some("s1".into());
        e.canvas_step_message_variation_id = Some("mv1".into());
        e.url = Some(url.into());
        e.recipient_key = k;
        e
    };
    let served = 1_700_000_000;
    let u1 = format!("https://x.com/p?utm_source=braze&dov=1.{served}&lid=z#frag");
    assert_eq!(
        bucket(&mut a, &mk("a", 60, &u1, Some(key(1))), 100),
        ClickBucket::Attributed
    );
    assert_eq!(
        bucket(
            &mut a,
            &mk("b", 70, "https://x.com/q?dov=1", Some(key(1))),
            100
        ),
        ClickBucket::Duplicate
    );
    // No recipient key: unique by event id.
    assert_eq!(
        bucket(&mut a, &mk("c", 80, "https://x.com/q?dov=2", None), 100),
        ClickBucket::Attributed
    );
    assert_eq!(
        bucket(&mut a, &mk("d", 80, "https://x.com/q?dov=2", None), 100),
        ClickBucket::Attributed
    );
    assert_eq!(
        bucket(&mut a, &mk("d", 80, "https://x.com/q?dov=2", None), 100),
        ClickBucket::Duplicate
    );
    // Unknown variant, missing tag, malformed tag.
    assert_eq!(
        bucket(&mut a, &mk("e", 80, "https://x.com/q?dov=7", None), 100),
        ClickBucket::Unattributable
    );
    assert_eq!(
        bucket(&mut a, &mk("f", 80, "https://x.com/q", None), 100),
        ClickBucket::Unattributable
    );
    assert_eq!(
        bucket(&mut a, &mk("g", 80, "https://x.com/q?dov=x", None), 100),
        ClickBucket::Unattributable
    );
    // Serve time in the tag puts the click past the 48 h window: late.
    let late_url = format!("https://x.com/q?dov=2.{served}");
    assert_eq!(
        bucket(
            &mut a,
            &mk("h", 49 * 3600, &late_url, Some(key(2))),
            49 * 3600
        ),
        ClickBucket::Late
    );
    // send_time is used when the tag has no serve time.
    let mut e = mk("i", 50 * 3600, "https://x.com/q?dov=2", Some(key(2)));
    e.send_time = Some(t(0));
    assert_eq!(bucket(&mut a, &e, 50 * 3600), ClickBucket::Late);
    e.id = "j".into();
    e.send_time = Some(t(3 * 3600));
    assert_eq!(bucket(&mut a, &e, 50 * 3600), ClickBucket::Attributed);
    // A different message variation of the step is outside the experiment.
    let mut o = mk("k", 80, "https://x.com/q?dov=2", None);
    o.canvas_step_message_variation_id = Some("mv2".into());
    assert_eq!(bucket(&mut a, &o, 50 * 3600), ClickBucket::Outside);

    let mut ups = Vec::new();
    a.drain_updates(&mut ups);
    let exposed: Vec<_> = ups
        .iter()
        .filter_map(|u| match u {
            Update::Click { exposed_at, .. } => Some(*exposed_at),
            _ => None,
        })
        .collect();
    assert_eq!(exposed, vec![Some(t(0)), None, None, Some(t(3 * 3600))]);
}

#[test]
fn stricter_bot_rules_and_opens() {
    let mut a = Attribution::new();
    let id = ExperimentId::new("e");
    let mut cfg = AttributionConfig::new(Scope::campaign("c1"), Mode::ExposureJoin);
    cfg.bot_rules = BotRules::strict(TimeDelta::seconds(5));
    a.add_experiment(id.clone(), cfg).expect("fresh");
    for i in 1..=5 {
        a.record_exposure(&id, key(i), VariantId(0), t(0))
            .expect("known");
    }
    let mut reason = click("a", 100, Some(key(1)));
    reason.suspected_bot_click_reason = Some(vec!["user_agent".into()]);
    assert_eq!(bucket(&mut a, &reason, 100), ClickBucket::Bot);
    let mut flagged_false = click("b", 100, Some(key(1)));
    flagged_false.is_suspected_bot_click = Some(false);
    flagged_false.suspected_bot_click_reason = Some(vec!["ip_address".into()]);
    assert_eq!(bucket(&mut a, &flagged_false, 100), ClickBucket::Attributed);
    let mut ua = click("c", 100, Some(key(2)));
    ua.user_agent = Some("Mozilla/5.0 (compatible; Barracuda Sentinel)".into());
    assert_eq!(bucket(&mut a, &ua, 100), ClickBucket::Bot);
    assert_eq!(
        bucket(&mut a, &click("d", 3, Some(key(3))), 100),
        ClickBucket::Bot
    );
    assert_eq!(
        bucket(&mut a, &click("e", 5, Some(key(3))), 100),
        ClickBucket::Attributed
    );

    let open = |id: &str, k: u8, machine: Option<&str>| {
        let mut e = CleanEvent::new(EventType::Open, id, t(50));
        e.campaign_id = Some("c1".into());
        e.recipient_key = Some(key(k));
        e.machine_open = machine.map(Into::into);
        e
    };
    assert_eq!(
        a.handle_event(&open("o1", 4, Some("true")), t(100)),
        Handled::Open { machine: true }
    );
    assert_eq!(
        a.handle_event(&open("o2", 4, Some("false")), t(100)),
        Handled::Open { machine: false }
    );
    assert_eq!(
        a.handle_event(&open("o3", 4, None), t(100)),
        Handled::Open { machine: false }
    );
    let d = CleanEvent::new(EventType::Delivery, "x", t(1));
    assert_eq!(
        a.handle_event(&d, t(100)),
        Handled::Counted(EventType::Delivery)
    );
    let r = a.report();
    assert_eq!((r.opens, r.machine_opens), (2, 1));
    assert_eq!(r.events[&EventType::Delivery], 1);
    assert_eq!(r.events[&EventType::Open], 3);
    assert_eq!(r.events[&EventType::Click], 5);
    let e = &r.experiments[&id];
    assert_eq!(e.variants[0].unique_opens, 1);
    assert_eq!(e.variants[0].clicks, 2);
    assert_eq!(e.clicks.bot, 3);
}

#[test]
fn configuration_mistakes_are_typed() {
    let (mut a, id) = join();
    let cfg = || AttributionConfig::new(Scope::campaign("c1"), Mode::ExposureJoin);
    assert_eq!(
        a.add_experiment(id.clone(), cfg()),
        Err(AddExperimentError::DuplicateExperiment(id.clone()))
    );
    assert!(matches!(
        a.add_experiment(
            ExperimentId::new("x"),
            AttributionConfig::new(
                Scope::campaign("c1").with_variation("v"),
                Mode::ExposureJoin
            )
        ),
        Err(AddExperimentError::OverlappingScope { .. })
    ));
    let mut bad = AttributionConfig::new(Scope::campaign("c9"), Mode::ExposureJoin);
    bad.window = TimeDelta::zero();
    assert!(matches!(
        a.add_experiment(ExperimentId::new("y"), bad),
        Err(AddExperimentError::Invalid(_))
    ));
    let empty_tag = AttributionConfig::new(
        Scope::campaign("c9"),
        Mode::UrlTag {
            param: String::new(),
        },
    );
    assert!(matches!(
        a.add_experiment(ExperimentId::new("y"), empty_tag),
        Err(AddExperimentError::Invalid(_))
    ));
    // Distinct variations of one step do not overlap.
    a.add_experiment(
        ExperimentId::new("v1"),
        AttributionConfig::new(
            Scope::canvas_step("s").with_variation("1"),
            Mode::ExposureJoin,
        ),
    )
    .expect("disjoint");
    a.add_experiment(
        ExperimentId::new("v2"),
        AttributionConfig::new(
            Scope::canvas_step("s").with_variation("2"),
            Mode::ExposureJoin,
        ),
    )
    .expect("disjoint");
}

#[test]
fn time_going_backwards_and_expiry() {
    let (mut a, id) = join();
    a.record_exposure(&id, key(1), VariantId(0), t(0))
        .expect("known");
    let horizon = 8 * 86_400;
    // now far ahead, then backwards: the watermark stays, the exposure is gone.
    assert_eq!(a.expire(t(horizon + 10)), 1);
    assert_eq!(a.tracked_exposures(), 0);
    assert_eq!(
        bucket(&mut a, &click("a", horizon + 5, Some(key(1))), 100),
        ClickBucket::Unattributable
    );
    // An exposure recorded with an earlier now keeps that time.
    a.record_exposure(&id, key(2), VariantId(0), t(horizon + 5))
        .expect("known");
    a.record_exposure(&id, key(3), VariantId(0), t(horizon))
        .expect("known");
    let mut ups = Vec::new();
    a.drain_updates(&mut ups);
    assert!(matches!(ups.last(), Some(Update::Exposure { at, .. }) if *at == t(horizon)));
    // Results do not depend on whether expire ran: an expired exposure is gone either way.
    let (mut b, idb) = join();
    b.record_exposure(&idb, key(1), VariantId(0), t(0))
        .expect("known");
    b.record_exposure(&idb, key(2), VariantId(0), t(horizon + 10))
        .expect("known");
    assert_eq!(
        bucket(&mut b, &click("a", horizon + 5, Some(key(1))), horizon + 10),
        ClickBucket::Unattributable
    );
}

#[test]
fn snapshot_versions_and_garbage() {
    let (mut a, id) = join();
    a.record_exposure(&id, key(1), VariantId(3), t(0))
        .expect("known");
    bucket(&mut a, &click("a", 10, Some(key(1))), 20);
    let json = a.snapshot().to_json();
    let b = Attribution::restore(AttributionSnapshot::from_json(&json).expect("parses"))
        .expect("restores");
    assert_eq!(b.report(), a.report());
    let text = String::from_utf8(json).expect("utf8");
    let other = text.replacen("\"format_version\":1", "\"format_version\":2", 1);
    assert_ne!(other, text);
    assert_eq!(
        AttributionSnapshot::from_json(other.as_bytes()),
        Err(RestoreError::UnsupportedVersion {
            found: 2,
            supported: 1
        })
    );
    assert!(matches!(
        AttributionSnapshot::from_json(b"garbage"),
        Err(RestoreError::Malformed(_))
    ));
    assert!(matches!(
        AttributionSnapshot::from_json(b"{\"format_version\":1}"),
        Err(RestoreError::Malformed(_))
    ));
}

#[test]
fn merge_refuses_mismatched_states_and_leaves_self_unchanged() {
    let (mut a, id) = join();
    a.record_exposure(&id, key(1), VariantId(0), t(0))
        .expect("known");
    let before = a.report();
    // Another experiment set.
    let mut other = Attribution::new();
    other
        .add_experiment(
            ExperimentId::new("zzz"),
            AttributionConfig::new(Scope::campaign("c9"), Mode::ExposureJoin),
        )
        .expect("fresh");
    assert!(matches!(
        a.merge(other),
        Err(MergeError::ExperimentMismatch(_))
    ));
    // Same id, different configuration.
    let mut other = Attribution::new();
    let mut cfg = AttributionConfig::new(Scope::campaign("c1"), Mode::ExposureJoin);
    cfg.window = TimeDelta::days(2);
    other.add_experiment(id.clone(), cfg).expect("fresh");
    other
        .record_exposure(&id, key(2), VariantId(0), t(0))
        .expect("known");
    assert_eq!(
        a.merge(other),
        Err(MergeError::ExperimentMismatch(id.clone()))
    );
    assert_eq!(a.report(), before);
    // A matching shard merges; overlapping keys keep the earlier exposure.
    let (mut b, _) = join();
    b.record_exposure(&id, key(2), VariantId(5), t(3))
        .expect("known");
    a.merge(b).expect("same experiments");
    let r = a.report();
    assert_eq!(r.experiments[&id].exposures, 2);
    assert_eq!(r.experiments[&id].variants.len(), 2);
    assert_eq!(a.tracked_exposures(), 2);
}

#[test]
fn variant_table_is_bounded() {
    let (mut a, id) = join();
    for v in 0..MAX_TRACKED_VARIANTS as u32 {
        a.record_exposure(
            &id,
            {
                let mut k = [9u8; 16];
                k[..4].copy_from_slice(&v.to_le_bytes());
                RecipientKey(k)
            },
            VariantId(v),
            t(0),
        )
        .expect("room");
    }
    assert_eq!(
        a.record_exposure(&id, key(200), VariantId(u32::MAX), t(0)),
        Err(ExposureError::TooManyVariants(id.clone()))
    );
    assert_eq!(
        a.report().experiments[&id].variants.len(),
        MAX_TRACKED_VARIANTS
    );
    // A known variant still records.
    assert_eq!(
        a.record_exposure(&id, key(200), VariantId(7), t(0)),
        Ok(Exposure::New)
    );
}
