//! Seeded mutation tests (fuzz targets that run on stable under `cargo test`):
//! snapshot restore, the URL tag parser and the event handler never panic on
//! any input, and return typed errors. `DYNOPT_FUZZ_ITERS` sets the number of
//! inputs per target (default 3,000); run with `--nocapture` to see which
//! error kinds were reached.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use dynopt::attribution::{
    Attribution, AttributionConfig, AttributionSnapshot, BotRules, Mode, RestoreError, Scope,
    TagError, parse_tag,
};
use dynopt::currents::EventType;
use dynopt::pii::{CleanEvent, RecipientKey};
use dynopt::{ExperimentId, VariantId};
use proptest::prelude::*;
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64;

fn iters() -> usize {
    std::env::var("DYNOPT_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000)
}

fn at(s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(s, 0).expect("in range")
}

const T0: i64 = 1_750_000_000;

fn click(
    id: String,
    time: i64,
    campaign: &str,
    key: Option<RecipientKey>,
    url: &str,
) -> CleanEvent {
    let mut e = CleanEvent::new(EventType::Click, id, at(time));
    e.campaign_id = Some(campaign.into());
    e.recipient_key = key;
    e.url = Some(url.into());
    e
}

/// A state with both modes, tracked exposures, clickers, seen ids, counters
/// and queued updates.
fn sample_state() -> Attribution {
    let mut a = Attribution::new();
    let join = ExperimentId::new("join");
    let tag = ExperimentId::new("tag");
    let mut cfg = AttributionConfig::new(Scope::campaign("cj"), Mode::ExposureJoin);
    cfg.bot_rules = BotRules::strict(TimeDelta::seconds(2));
    a.add_experiment(join.clone(), cfg).expect("fresh");
    a.add_experiment(
        tag.clone(),
        AttributionConfig::new(Scope::canvas_step("s").with_variation("m"), Mode::url_tag()),
    )
    .expect("fresh");
    let mut rng = Pcg64::seed_from_u64(5);
    let keys: Vec<RecipientKey> = (0..40).map(|_| RecipientKey(rng.random())).collect();
    for (i, k) in keys.iter().enumerate() {
        let now = at(T0 + i as i64);
        a.record_exposure(&join, *k, VariantId(i as u32 % 3), now)
            .expect("known");
        a.record_exposure(&tag, *k, VariantId(10 + i as u32 % 2), now)
            .expect("known");
    }
    for i in 0..30 {
        let k = keys[i % keys.len()];
        a.handle_event(
            &click(
                format!("j{i}"),
                T0 + 100 + i as i64,
                "cj",
                Some(k),
                "https://x.com/",
            ),
            at(T0 + 200),
        );
        let mut e = click(
            format!("t{i}"),
            T0 + 100,
            "",
            Some(k),
            &format!("https://x.com/?dov={}.{}", 10 + i % 2, T0),
        );
        e.campaign_id = None;
        e.canvas_step_id = Some("s".into());
        e.canvas_step_message_variation_id = Some("m".into());
        a.handle_event(&e, at(T0 + 200));
    }
    let mut open = CleanEvent::new(EventType::Open, "o", at(T0 + 50));
    open.campaign_id = Some("cj".into());
    open.recipient_key = Some(keys[0]);
    a.handle_event(&open, at(T0 + 200));
    let _ = a.poll_update();
    a
}

/// Exercises a restored state: it must keep working and snapshot again.
fn exercise(mut a: Attribution, rng: &mut Pcg64) {
    let now = at(T0 + rng.random_range(-1000..1_000_000));
    let key = RecipientKey(rng.random());
    for (id, _) in a
        .experiments()
        .map(|(i, c)| (i.clone(), c.clone()))
        .collect::<Vec<_>>()
    {
        let _ = a.record_exposure(&id, key, VariantId(rng.random_range(0..20)), now);
    }
    for camp in ["cj", "zz"] {
        a.handle_event(
            &click(
                format!("f{}", rng.random::<u32>()),
                T0 + 150,
                camp,
                Some(key),
                "https://x.com/?dov=10",
            ),
            now,
        );
    }
    let _ = a.report();
    a.expire(now);
    let mut out = Vec::new();
    a.drain_updates(&mut out);
    let again = Attribution::restore(
        AttributionSnapshot::from_json(&a.snapshot().to_json()).expect("own snapshot parses"),
    )
    .expect("own snapshot restores");
    assert_eq!(again.report(), a.report());
}

fn kind(r: &Result<Attribution, RestoreError>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(RestoreError::Malformed(_)) => "malformed".into(),
        Err(RestoreError::UnsupportedVersion { .. }) => "unsupported version".into(),
        Err(RestoreError::Corrupt(what)) => format!("corrupt: {what}"),
        Err(other) => format!("{other:?}"),
    }
}

const TOKENS: &[&str] = &[
    "\"",
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "0",
    "1",
    "-1",
    "null",
    "true",
    "1e400",
    "4294967295",
    "18446744073709551615",
    "-9223372036854775808",
    "\"x\"",
    "65535",
    "2147483648",
    "\\u0000",
];

fn mutate_bytes(base: &[u8], rng: &mut Pcg64) -> Vec<u8> {
    let mut b = base.to_vec();
    for _ in 0..rng.random_range(1..5) {
        if b.is_empty() {
            b.push(b'{');
        }
        let i = rng.random_range(0..b.len());
        match rng.random_range(0..6) {
            0 => b[i] ^= 1 << rng.random_range(0..8),
            1 => b[i] = rng.random(),
            2 => {
                let t = TOKENS[rng.random_range(0..TOKENS.len())];
                b.splice(i..i, t.bytes());
            }
            3 => {
                let end = (i + rng.random_range(1..32)).min(b.len());
                b.drain(i..end);
            }
            4 => {
                let end = (i + rng.random_range(1..64)).min(b.len());
                let chunk = b[i..end].to_vec();
                let j = rng.random_range(0..b.len());
                b.splice(j..j, chunk);
            }
            _ => b.truncate(i),
        }
    }
    b
}

fn interesting(rng: &mut Pcg64) -> serde_json::Value {
    use serde_json::json;
    match rng.random_range(0..12) {
        0 => json!(null),
        1 => json!(-1),
        2 => json!(0),
        3 => json!(u64::MAX),
        4 => json!(i64::MIN),
        5 => json!(65535),
        6 => json!(4_294_967_295u64),
        7 => json!(2_147_483_648u64),
        8 => json!("ffffffffffffffffffffffffffffffff"),
        9 => json!(""),
        10 => json!([]),
        _ => json!(rng.random::<u32>() & 0xE000_FFFF),
    }
}

/// Replaces one random leaf (or container) of the JSON tree.
fn mutate_value(v: &mut serde_json::Value, rng: &mut Pcg64) {
    use serde_json::Value;
    let go_deeper = rng.random_bool(0.85);
    match v {
        Value::Object(m) if !m.is_empty() && go_deeper => {
            let i = rng.random_range(0..m.len());
            if let Some(next) = m.values_mut().nth(i) {
                mutate_value(next, rng);
            }
        }
        Value::Array(a) if !a.is_empty() && go_deeper => {
            let i = rng.random_range(0..a.len());
            if rng.random_bool(0.1) {
                let dup = a[i].clone();
                a.push(dup);
            } else {
                mutate_value(&mut a[i], rng);
            }
        }
        _ => *v = interesting(rng),
    }
}

#[test]
fn restore_never_panics_on_mutated_snapshots() {
    let base = sample_state();
    let json = base.snapshot().to_json();
    let tree: serde_json::Value = serde_json::from_slice(&json).expect("valid json");
    let mut rng = Pcg64::seed_from_u64(0xfeed);
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    let n = iters();
    for i in 0..n {
        let bytes = if i % 2 == 0 {
            mutate_bytes(&json, &mut rng)
        } else {
            let mut t = tree.clone();
            for _ in 0..rng.random_range(1..3) {
                mutate_value(&mut t, &mut rng);
            }
            serde_json::to_vec(&t).expect("serialises")
        };
        let r = AttributionSnapshot::from_json(&bytes).and_then(Attribution::restore);
        *kinds.entry(kind(&r)).or_default() += 1;
        if let Ok(a) = r {
            exercise(a, &mut rng);
        }
    }
    // A snapshot of another version, explicitly.
    let mut t = tree.clone();
    t["format_version"] = serde_json::json!(2);
    let r = AttributionSnapshot::from_json(&serde_json::to_vec(&t).expect("serialises"))
        .and_then(Attribution::restore);
    *kinds.entry(kind(&r)).or_default() += 1;
    println!("restore: {} inputs; outcomes: {kinds:#?}", n + 1);
    assert!(kinds.contains_key("malformed"));
    assert!(kinds.contains_key("unsupported version"));
    assert!(kinds.contains_key("ok"));
    let corrupt = kinds.keys().filter(|k| k.starts_with("corrupt")).count();
    assert!(
        corrupt >= 3,
        "only {corrupt} corrupt kinds reached: {kinds:?}"
    );
}

#[test]
fn tag_parser_never_panics_on_mutated_urls() {
    let seeds = [
        "https://shop.example.com/a/b?utm_source=braze&dov=3.1750000000&lid=x1#frag",
        "https://x.com/#/p?dov=12",
        "https://x.com/?%64ov=4%2E1750000000&amp;utm_medium=email",
        "http://[::1]:8080/?a=%zz&dov=1;dov=1",
    ];
    let mut rng = Pcg64::seed_from_u64(0x7a9);
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    let n = iters();
    for i in 0..n {
        let b = mutate_bytes(seeds[i % seeds.len()].as_bytes(), &mut rng);
        let url = String::from_utf8_lossy(&b);
        let k = match parse_tag(&url, "dov") {
            Ok(t) => {
                // A tag that parses prints back to a value that parses to itself.
                assert_eq!(parse_tag(&format!("https://y.com/?dov={t}"), "dov"), Ok(t));
                "ok".to_owned()
            }
            Err(TagError::Missing) => "missing".to_owned(),
            Err(TagError::Malformed) => "malformed".to_owned(),
            Err(TagError::Conflicting) => "conflicting".to_owned(),
            Err(e) => format!("{e:?}"),
        };
        *kinds.entry(k).or_default() += 1;
    }
    println!("parse_tag: {n} inputs; outcomes: {kinds:?}");
    for k in ["ok", "missing", "malformed", "conflicting"] {
        assert!(kinds.contains_key(k), "{k} never reached: {kinds:?}");
    }
}

fn random_text(rng: &mut Pcg64) -> String {
    const PIECES: &[&str] = &[
        "cj",
        "s",
        "m",
        "dov=1",
        "dov=10.1750000000",
        "?",
        "&",
        "#",
        "%",
        "é",
        "",
        "x",
    ];
    (0..rng.random_range(0..4))
        .map(|_| PIECES[rng.random_range(0..PIECES.len())])
        .collect()
}

fn random_time(rng: &mut Pcg64) -> DateTime<Utc> {
    match rng.random_range(0..8) {
        0 => DateTime::<Utc>::MIN_UTC,
        1 => DateTime::<Utc>::MAX_UTC,
        2 => at(0),
        3 => at(-86_400),
        _ => at(T0 + rng.random_range(-10 * 86_400..20 * 86_400)),
    }
}

#[test]
fn handle_event_never_panics_and_accounts_for_every_click() {
    let mut a = sample_state();
    let mut rng = Pcg64::seed_from_u64(0xe7);
    let before = a.report();
    let mut clicks = 0u64;
    let mut outcome_events = std::collections::BTreeMap::new();
    let n = iters() * 3;
    for i in 0..n {
        let et = EventType::ALL[rng.random_range(0..EventType::ALL.len())];
        let et = if rng.random_bool(0.5) {
            EventType::Click
        } else {
            et
        };
        let time = if rng.random_bool(0.05) {
            random_time(&mut rng)
        } else {
            at(T0 + rng.random_range(-86_400..10 * 86_400))
        };
        let mut e = CleanEvent::new(et, format!("e{}", rng.random_range(0..500)), time);
        let pick = |rng: &mut Pcg64, usual: &str| match rng.random_range(0..4) {
            0 => None,
            1 => Some(random_text(rng)),
            _ => Some(usual.to_owned()),
        };
        e.campaign_id = pick(&mut rng, "cj").map(Into::into);
        e.canvas_step_id = pick(&mut rng, "s").map(Into::into);
        e.canvas_step_message_variation_id = pick(&mut rng, "m").map(Into::into);
        e.url = rng
            .random_bool(0.8)
            .then(|| format!("https://x.com/?{}", random_text(&mut rng)).into());
        e.recipient_key = rng
            .random_bool(0.7)
            .then(|| RecipientKey([rng.random_range(0..4); 16]));
        e.send_time = rng.random_bool(0.3).then(|| random_time(&mut rng));
        e.is_suspected_bot_click = [None, Some(true), Some(false)][rng.random_range(0..3)];
        e.suspected_bot_click_reason = rng.random_bool(0.2).then(|| vec![random_text(&mut rng)]);
        e.machine_open = rng.random_bool(0.3).then(|| random_text(&mut rng).into());
        e.user_agent = rng.random_bool(0.3).then(|| random_text(&mut rng).into());
        e.conversion_behavior_index = rng.random_bool(0.8).then(|| rng.random_range(-2..4));
        if e.event_type == EventType::Click {
            clicks += 1;
        }
        *outcome_events.entry(e.event_type).or_insert(0u64) += 1;
        // `now` wanders (backwards too) around the event times; extreme
        // values (which pin the watermark) only come in the last tenth.
        let now = if i * 10 >= n * 9 {
            random_time(&mut rng)
        } else {
            at(T0 + rng.random_range(-86_400..10 * 86_400))
        };
        a.handle_event(&e, now);
        if i % 97 == 0 {
            let ids: Vec<ExperimentId> = a.experiments().map(|(id, _)| id.clone()).collect();
            for id in ids {
                let _ = a.record_exposure(
                    &id,
                    RecipientKey([rng.random_range(0..4); 16]),
                    VariantId(rng.random_range(0..12)),
                    now,
                );
            }
        }
        if i % 500 == 0 {
            a.expire(now);
        }
    }
    let r = a.report();
    assert_eq!(r.clicks.total() - before.clicks.total(), clicks);
    // Every open, conversion and guardrail event is in exactly one outcome
    // bucket; the experiments' buckets plus `outside` (and machine opens
    // outside any scope) make the total.
    let of = |t: &[EventType]| -> u64 {
        t.iter()
            .map(|t| outcome_events.get(t).copied().unwrap_or(0))
            .sum()
    };
    let o = &r.outcomes;
    let b = &before.outcomes;
    assert_eq!(o.opens.total() - b.opens.total(), of(&[EventType::Open]));
    assert_eq!(
        o.conversions.total() - b.conversions.total(),
        of(&[
            EventType::CampaignConversion,
            EventType::CanvasConversion,
            EventType::ExperimentStepConversion
        ])
    );
    assert_eq!(
        o.unsubscribes.total() - b.unsubscribes.total(),
        of(&[EventType::Unsubscribe])
    );
    assert_eq!(
        o.spam_complaints.total() - b.spam_complaints.total(),
        of(&[EventType::MarkAsSpam])
    );
    assert_eq!(
        o.hard_bounces.total() - b.hard_bounces.total(),
        of(&[EventType::Bounce])
    );
    for e in r.experiments.values() {
        for v in &e.variants {
            assert!(
                v.unique_opens <= v.exposures && v.conversions <= v.exposures,
                "{v:?}"
            );
            assert!(
                v.unsubscribes <= v.exposures && v.machine_opens <= v.exposures,
                "{v:?}"
            );
        }
    }
    let per_experiment: u64 = r.experiments.values().map(|e| e.clicks.total()).sum();
    assert_eq!(per_experiment + r.clicks.outside, r.clicks.total());
    for e in r.experiments.values() {
        let rewards: u64 = e.variants.iter().map(|v| v.clicks).sum();
        assert_eq!(rewards, e.clicks.attributed);
    }
    println!("handle_event: {n} events; buckets {:?}", r.clicks);
    for b in [
        r.clicks.attributed,
        r.clicks.duplicate,
        r.clicks.bot,
        r.clicks.unattributable,
        r.clicks.late,
        r.clicks.outside,
    ] {
        assert!(b > 0, "every bucket reached: {:?}", r.clicks);
    }
}

fn encode_all(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02X}")).collect()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// The tag is found whatever the parameter order, the other parameters,
    /// percent-encoding, `&amp;` and fragments.
    #[test]
    fn tag_found_anywhere(
        variant in any::<u32>(),
        served in proptest::option::of(0i64..4_000_000_000),
        others in proptest::collection::vec(("(utm_[a-z]{1,8}|lid|ref|q)", "[a-zA-Z0-9._~-]{0,12}"), 0..6),
        pos in 0usize..7,
        encode_value in any::<bool>(),
        encode_name in any::<bool>(),
        amp in any::<bool>(),
        fragment in proptest::option::of("[a-z/]{0,10}"),
    ) {
        let tag = dynopt::attribution::Tag {
            variant: VariantId(variant),
            served_at: served.map(at),
        };
        let value = tag.to_string();
        let value = if encode_value { encode_all(&value) } else { value };
        let name = if encode_name { encode_all("dov") } else { "dov".to_owned() };
        let mut params: Vec<String> = others.iter().map(|(k, v)| format!("{k}={v}")).collect();
        params.insert(pos.min(params.len()), format!("{name}={value}"));
        let sep = if amp { "&amp;" } else { "&" };
        let mut url = format!("https://shop.example.com/p?{}", params.join(sep));
        if let Some(f) = fragment {
            url.push('#');
            url.push_str(&f);
        }
        prop_assert_eq!(parse_tag(&url, "dov"), Ok(tag));
    }
}
