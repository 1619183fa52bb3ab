//! Deterministic replay harness on a virtual clock.
//!
//! A generated campaign (exposures with re-renders, human clicks on several
//! links with delays from seconds to past the window, redelivered duplicates,
//! flagged bots, reason-only bots, scanner user agents, scanner-fast clicks,
//! late-arriving files, clicks outside the experiment, forwarded emails,
//! opens and machine opens, other event types) is delivered in 5-minute
//! Currents files in shuffled order. The ground truth is computed by the
//! harness from what it generated, independently of the library, and the
//! library's counts must match it exactly in both attribution modes. The same
//! campaign is then replayed through snapshot/restore with redelivered files,
//! and through two shards partitioned by recipient key that are merged.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, TimeDelta, Utc};
use dynopt::attribution::{
    Accounting, Attribution, AttributionConfig, AttributionSnapshot, BotRules, ClickBucket,
    ClickBuckets, Handled, Mode, Scope,
};
use dynopt::currents::EventType;
use dynopt::pii::{CleanEvent, RecipientKey};
use dynopt::{ExperimentId, Update, VariantId};
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64;

const T0: i64 = 1_750_000_000;
const TICK: i64 = 300;
const WINDOW: i64 = 3 * 86_400;
const LATENESS: i64 = 86_400;
const MIN_DELAY: i64 = 2;
const VARIANTS: u32 = 4;

fn at(s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(s, 0).expect("in range")
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Human,
    FlaggedBot,
    ReasonBot,
    ScannerAgent,
    FastScanner,
    Outside,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum TagStyle {
    /// `dov=v.serve`
    WithServe,
    /// `dov=v` and `send_time` = serve.
    SendTime,
    /// `dov=v`, no exposure time at all.
    Bare,
    /// no tag in the URL.
    Missing,
    /// a variant nobody was served.
    Unknown,
}

struct Recipient {
    key: RecipientKey,
    /// Whether the Currents events carry the recipient key.
    key_in_events: bool,
    variant: u32,
    served: i64,
    exposed: bool,
    renders: u32,
}

/// One click event (one Currents `id`), delivered one or more times.
struct ClickGen {
    id: String,
    recipient: usize,
    time: i64,
    kind: Kind,
    style: TagStyle,
    deliveries: Vec<i64>,
}

struct OpenGen {
    recipient: usize,
    machine: bool,
    tick: i64,
    time: i64,
    id: String,
}

struct Campaign {
    recipients: Vec<Recipient>,
    clicks: Vec<ClickGen>,
    opens: Vec<OpenGen>,
    /// Delivery events: (tick, recipient)
    others: Vec<(i64, usize, i64)>,
}

fn next_tick(t: i64) -> i64 {
    (t.div_euclid(TICK) + 1) * TICK
}

fn generate(seed: u64, n: usize) -> Campaign {
    let mut rng = Pcg64::seed_from_u64(seed);
    let mut recipients = Vec::with_capacity(n);
    for i in 0..n {
        let mut k = [0u8; 16];
        k[..8].copy_from_slice(&(i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes());
        k[8..].copy_from_slice(&(seed ^ i as u64).to_le_bytes());
        recipients.push(Recipient {
            key: RecipientKey(k),
            key_in_events: rng.random_bool(0.85),
            variant: rng.random_range(0..VARIANTS),
            served: T0 + rng.random_range(0..6 * 3600),
            exposed: rng.random_bool(0.93),
            renders: if rng.random_bool(0.15) {
                rng.random_range(2..4)
            } else {
                1
            },
        });
    }
    let mut clicks = Vec::new();
    let mut opens = Vec::new();
    let mut others = Vec::new();
    let rates = [0.08, 0.10, 0.12, 0.14];
    for (ri, r) in recipients.iter().enumerate() {
        let mut push = |rng: &mut Pcg64, kind: Kind, delay: i64| {
            let time = r.served + delay;
            let style = match rng.random_range(0..100) {
                0..60 => TagStyle::WithServe,
                60..82 => TagStyle::SendTime,
                82..92 => TagStyle::Bare,
                92..96 => TagStyle::Missing,
                _ => TagStyle::Unknown,
            };
            let first = if rng.random_bool(0.03) {
                // A file that arrives after the allowed lateness.
                next_tick(time + LATENESS + rng.random_range(3600..5 * 3600))
            } else {
                next_tick(time + rng.random_range(0..1800))
            };
            let mut deliveries = vec![first];
            while rng.random_bool(0.12) {
                // At-least-once redelivery, possibly in a much later file.
                let again = deliveries[deliveries.len() - 1] + TICK * rng.random_range(0..80);
                deliveries.push(again);
            }
            clicks.push(ClickGen {
                id: format!("click-{seed}-{}", clicks.len()),
                recipient: ri,
                time,
                kind,
                style,
                deliveries,
            });
        };
        if rng.random_bool(rates[r.variant as usize] * 2.0) {
            // A human clicker: one to three links, delays from seconds to days.
            for _ in 0..rng.random_range(1..4) {
                let delay = if rng.random_bool(0.05) {
                    WINDOW + rng.random_range(3600..10 * 3600)
                } else {
                    let u: f64 = rng.random();
                    ((-u.max(1e-12).ln()) * 3.0 * 3600.0) as i64 + MIN_DELAY
                };
                push(&mut rng, Kind::Human, delay);
            }
        }
        if rng.random_bool(0.04) {
            let d = rng.random_range(0..60);
            push(&mut rng, Kind::FlaggedBot, d);
        }
        if rng.random_bool(0.02) {
            let d = rng.random_range(0..600);
            push(&mut rng, Kind::ReasonBot, d);
        }
        if rng.random_bool(0.02) {
            let d = rng.random_range(0..600);
            push(&mut rng, Kind::ScannerAgent, d);
        }
        if rng.random_bool(0.03) {
            let d = rng.random_range(0..MIN_DELAY);
            push(&mut rng, Kind::FastScanner, d);
        }
        if rng.random_bool(0.03) {
            let d = rng.random_range(0..7200);
            push(&mut rng, Kind::Outside, d);
        }
        if rng.random_bool(0.4) {
            for _ in 0..rng.random_range(1..3) {
                let time = r.served + rng.random_range(10..20 * 3600);
                opens.push(OpenGen {
                    recipient: ri,
                    machine: rng.random_bool(0.3),
                    tick: next_tick(time + rng.random_range(0..1800)),
                    time,
                    id: format!("open-{seed}-{}", opens.len()),
                });
            }
        }
        let time = r.served + rng.random_range(1..120);
        others.push((next_tick(time), ri, time));
    }
    Campaign {
        recipients,
        clicks,
        opens,
        others,
    }
}

fn click_event(c: &Campaign, g: &ClickGen) -> CleanEvent {
    let r = &c.recipients[g.recipient];
    let mut e = CleanEvent::new(EventType::Click, g.id.clone(), at(g.time));
    e.campaign_id = Some(
        if g.kind == Kind::Outside {
            "other"
        } else {
            "camp"
        }
        .into(),
    );
    e.message_variation_id = Some("mv".into());
    e.recipient_key = r.key_in_events.then_some(r.key);
    let tag = match g.style {
        TagStyle::WithServe => format!("&dov={}.{}", r.variant, r.served),
        TagStyle::SendTime | TagStyle::Bare => format!("&dov={}", r.variant),
        TagStyle::Missing => String::new(),
        TagStyle::Unknown => "&dov=99".into(),
    };
    if g.style == TagStyle::SendTime {
        e.send_time = Some(at(r.served));
    }
    e.url = Some(
        format!(
            "https://shop.example.com/item?utm_source=braze{tag}&lid=l{}#top",
            g.id.len()
        )
        .into(),
    );
    match g.kind {
        Kind::FlaggedBot => e.is_suspected_bot_click = Some(true),
        Kind::ReasonBot => e.suspected_bot_click_reason = Some(vec!["ip_address".into()]),
        Kind::ScannerAgent => e.user_agent = Some("python-requests/2.31".into()),
        _ => e.user_agent = Some("Mozilla/5.0 (iPhone)".into()),
    }
    e
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Which {
    Join,
    Tag,
}

fn config(which: Which) -> AttributionConfig {
    let mode = match which {
        Which::Join => Mode::ExposureJoin,
        Which::Tag => Mode::url_tag(),
    };
    let mut cfg = AttributionConfig::new(Scope::campaign("camp"), mode);
    cfg.window = TimeDelta::seconds(WINDOW);
    cfg.allowed_lateness = TimeDelta::seconds(LATENESS);
    cfg.bot_rules = BotRules::strict(TimeDelta::seconds(MIN_DELAY));
    cfg
}

/// The expected outcome, computed from the generator's knowledge.
#[derive(Debug, Default, PartialEq)]
struct Truth {
    clicks: ClickBuckets,
    per_variant_exposures: BTreeMap<u32, u64>,
    per_variant_clicks: BTreeMap<u32, u64>,
    per_variant_unique_opens: BTreeMap<u32, u64>,
    repeat_exposures: u64,
    opens: u64,
    machine_opens: u64,
}

fn bump(b: &mut ClickBuckets, bucket: ClickBucket, n: u64) {
    for _ in 0..n {
        match bucket {
            ClickBucket::Attributed => b.attributed += 1,
            ClickBucket::Duplicate => b.duplicate += 1,
            ClickBucket::Bot => b.bot += 1,
            ClickBucket::Unattributable => b.unattributable += 1,
            ClickBucket::Late => b.late += 1,
            _ => b.outside += 1,
        }
    }
}

fn truth(c: &Campaign, which: Which) -> Truth {
    let mut t = Truth::default();
    for r in &c.recipients {
        if r.exposed {
            *t.per_variant_exposures.entry(r.variant).or_default() += 1;
            t.repeat_exposures += u64::from(r.renders - 1);
        }
    }
    let mut clicked: HashSet<usize> = HashSet::new();
    for g in &c.clicks {
        let r = &c.recipients[g.recipient];
        if g.kind == Kind::Outside {
            bump(
                &mut t.clicks,
                ClickBucket::Outside,
                g.deliveries.len() as u64,
            );
            continue;
        }
        // Deliveries later than the allowed lateness are late; of the others,
        // the first is judged and the rest are duplicates.
        let on_time = g
            .deliveries
            .iter()
            .filter(|d| **d - g.time <= LATENESS)
            .count() as u64;
        bump(
            &mut t.clicks,
            ClickBucket::Late,
            g.deliveries.len() as u64 - on_time,
        );
        if on_time == 0 {
            continue;
        }
        bump(&mut t.clicks, ClickBucket::Duplicate, on_time - 1);
        let bucket = 'judge: {
            if matches!(
                g.kind,
                Kind::FlaggedBot | Kind::ReasonBot | Kind::ScannerAgent
            ) {
                break 'judge ClickBucket::Bot;
            }
            let exposure: Option<i64> = match which {
                Which::Join => {
                    if !r.key_in_events || !r.exposed {
                        break 'judge ClickBucket::Unattributable;
                    }
                    Some(r.served)
                }
                Which::Tag => match g.style {
                    TagStyle::Missing | TagStyle::Unknown => {
                        break 'judge ClickBucket::Unattributable;
                    }
                    TagStyle::WithServe | TagStyle::SendTime => Some(r.served),
                    TagStyle::Bare => None,
                },
            };
            if let Some(e) = exposure {
                if g.time - e < MIN_DELAY {
                    break 'judge ClickBucket::Bot;
                }
                if g.time - e > WINDOW {
                    break 'judge ClickBucket::Late;
                }
            }
            let unique_by_key = which == Which::Join || r.key_in_events;
            if unique_by_key && !clicked.insert(g.recipient) {
                break 'judge ClickBucket::Duplicate;
            }
            *t.per_variant_clicks.entry(r.variant).or_default() += 1;
            ClickBucket::Attributed
        };
        bump(&mut t.clicks, bucket, 1);
    }
    let mut opened = HashSet::new();
    for o in &c.opens {
        let r = &c.recipients[o.recipient];
        if o.machine {
            t.machine_opens += 1;
        } else {
            t.opens += 1;
            if r.exposed && r.key_in_events && opened.insert(o.recipient) {
                *t.per_variant_unique_opens.entry(r.variant).or_default() += 1;
            }
        }
    }
    t
}

/// One Currents file: the events arriving at a tick, shuffled.
struct Schedule {
    /// (serve time, recipient) for every recorded exposure, in time order.
    exposures: Vec<(i64, usize)>,
    /// tick -> events
    files: BTreeMap<i64, Vec<CleanEvent>>,
}

fn schedule(c: &Campaign, seed: u64) -> Schedule {
    let mut rng = Pcg64::seed_from_u64(seed ^ 0x5eed);
    let mut exposures = Vec::new();
    for (i, r) in c.recipients.iter().enumerate() {
        if r.exposed {
            for k in 0..r.renders {
                exposures.push((r.served + i64::from(k) * 7, i));
            }
        }
    }
    exposures.sort_unstable();
    let mut files: BTreeMap<i64, Vec<CleanEvent>> = BTreeMap::new();
    for g in &c.clicks {
        let e = click_event(c, g);
        for d in &g.deliveries {
            files.entry(*d).or_default().push(e.clone());
        }
    }
    for o in &c.opens {
        let r = &c.recipients[o.recipient];
        let mut e = CleanEvent::new(EventType::Open, o.id.clone(), at(o.time));
        e.campaign_id = Some("camp".into());
        e.recipient_key = r.key_in_events.then_some(r.key);
        e.machine_open = Some(if o.machine { "true" } else { "false" }.into());
        files.entry(o.tick).or_default().push(e);
    }
    for (tick, ri, time) in &c.others {
        let mut e = CleanEvent::new(EventType::Delivery, format!("del-{ri}"), at(*time));
        e.campaign_id = Some("camp".into());
        files.entry(*tick).or_default().push(e);
    }
    for f in files.values_mut() {
        f.shuffle(&mut rng);
    }
    Schedule { exposures, files }
}

/// Drives the schedule on a virtual clock. `on_file` may replace the state
/// after each file (snapshot/restore) and returns events to redeliver.
fn run(
    c: &Campaign,
    s: &Schedule,
    which: Which,
    shard: Option<(usize, usize)>,
    batch: bool,
    mut after_file: impl FnMut(&mut Attribution, i64, &[CleanEvent]),
) -> (Attribution, Vec<Update>) {
    let id = ExperimentId::new("exp");
    let mut a = Attribution::new();
    a.add_experiment(id.clone(), config(which)).expect("fresh");
    let mine = |key: Option<RecipientKey>, ev_id: &str| match shard {
        None => true,
        Some((i, n)) => {
            let b = match key {
                Some(k) => u64::from(k.0[0]),
                None => ev_id.bytes().map(u64::from).sum(),
            };
            (b % n as u64) as usize == i
        }
    };
    let mut updates = Vec::new();
    let mut next_exposure = 0;
    let last = s.files.keys().next_back().copied().unwrap_or(T0);
    let mut tick = next_tick(T0 - TICK);
    while tick <= last {
        while next_exposure < s.exposures.len() && s.exposures[next_exposure].0 <= tick {
            let (served, ri) = s.exposures[next_exposure];
            let r = &c.recipients[ri];
            if mine(Some(r.key), "") {
                a.record_exposure(&id, r.key, VariantId(r.variant), at(served))
                    .expect("known experiment");
            }
            next_exposure += 1;
        }
        if let Some(file) = s.files.get(&tick) {
            let file: Vec<CleanEvent> = file
                .iter()
                .filter(|e| mine(e.recipient_key, &e.id))
                .cloned()
                .collect();
            if batch {
                a.handle_events(&file, at(tick));
            } else {
                for e in &file {
                    let h = a.handle_event(e, at(tick));
                    assert!(matches!(
                        (e.event_type, h),
                        (EventType::Click, Handled::Click(_))
                            | (EventType::Open, Handled::Open { .. })
                            | (EventType::Delivery, Handled::Counted(EventType::Delivery))
                    ));
                }
            }
            after_file(&mut a, tick, &file);
        }
        a.drain_updates(&mut updates);
        if tick % 3600 == 0 {
            a.expire(at(tick));
        }
        tick += TICK;
    }
    a.drain_updates(&mut updates);
    (a, updates)
}

fn check(c: &Campaign, which: Which, report: &Accounting, updates: &[Update]) {
    let t = truth(c, which);
    let e = &report.experiments[&ExperimentId::new("exp")];
    assert_eq!(report.clicks, t.clicks, "click buckets");
    let mut exp_buckets = t.clicks;
    exp_buckets.outside = 0;
    assert_eq!(e.clicks, exp_buckets);
    assert_eq!(
        report.clicks.total(),
        c.clicks
            .iter()
            .map(|g| g.deliveries.len() as u64)
            .sum::<u64>()
    );
    let got = |f: fn(&dynopt::attribution::VariantCounts) -> u64| -> BTreeMap<u32, u64> {
        e.variants
            .iter()
            .map(|v| (v.variant.0, f(v)))
            .filter(|(_, n)| *n > 0)
            .collect()
    };
    assert_eq!(got(|v| v.exposures), t.per_variant_exposures, "exposures");
    assert_eq!(got(|v| v.clicks), t.per_variant_clicks, "clicks");
    assert_eq!(
        got(|v| v.unique_opens),
        t.per_variant_unique_opens,
        "unique opens"
    );
    assert_eq!(e.repeat_exposures, t.repeat_exposures);
    assert_eq!(
        (report.opens, report.machine_opens),
        (t.opens, t.machine_opens)
    );
    assert_eq!(e.opens + e.machine_opens, c.opens.len() as u64);
    assert_eq!(
        report.events[&EventType::Delivery],
        c.recipients.len() as u64
    );
    // Updates: exactly one per unique exposure and per reward, with sane times.
    let mut ux: BTreeMap<u32, u64> = BTreeMap::new();
    let mut uc: BTreeMap<u32, u64> = BTreeMap::new();
    for u in updates {
        match u {
            Update::Exposure { variant, .. } => *ux.entry(variant.0).or_default() += 1,
            Update::Click {
                variant,
                exposed_at,
                clicked_at,
                ..
            } => {
                *uc.entry(variant.0).or_default() += 1;
                if let Some(x) = exposed_at {
                    let d = (*clicked_at - *x).num_seconds();
                    assert!((MIN_DELAY..=WINDOW).contains(&d), "delay {d}");
                }
            }
            _ => unreachable!("no other update kinds"),
        }
    }
    assert_eq!(ux, t.per_variant_exposures);
    assert_eq!(uc, t.per_variant_clicks);
}

fn sorted(mut u: Vec<Update>) -> Vec<String> {
    let mut v: Vec<String> = u.drain(..).map(|u| format!("{u:?}")).collect();
    v.sort();
    v
}

#[test]
fn replay_matches_ground_truth_in_both_modes() {
    for seed in [1, 2, 3] {
        let c = generate(seed, 4000);
        let s = schedule(&c, seed);
        for which in [Which::Join, Which::Tag] {
            let (a, updates) = run(&c, &s, which, None, false, |_, _, _| {});
            check(&c, which, &a.report(), &updates);
            // The batch path gives the same results, in the same order.
            let (b, batch_updates) = run(&c, &s, which, None, true, |_, _, _| {});
            assert_eq!(b.report(), a.report());
            assert_eq!(batch_updates, updates);
            let t = truth(&c, which);
            // The generated campaign exercises every bucket.
            for b in [
                ClickBucket::Attributed,
                ClickBucket::Duplicate,
                ClickBucket::Bot,
                ClickBucket::Unattributable,
                ClickBucket::Late,
                ClickBucket::Outside,
            ] {
                assert!(t.clicks.get(b) > 0, "{b:?} never reached");
            }
        }
    }
}

#[test]
fn restore_and_redelivery_change_no_outcome() {
    let c = generate(7, 3000);
    let s = schedule(&c, 7);
    for which in [Which::Join, Which::Tag] {
        let (plain, plain_updates) = run(&c, &s, which, None, false, |_, _, _| {});
        let mut extra = ClickBuckets::default();
        let mut extra_opens = (0, 0);
        let mut files = 0;
        let (a, updates) = run(&c, &s, which, None, false, |a, tick, file| {
            files += 1;
            if files % 7 != 0 {
                return;
            }
            // Crash after handling the file: restore the snapshot taken, then the
            // host redelivers the same file.
            let json = a.snapshot().to_json();
            *a = Attribution::restore(AttributionSnapshot::from_json(&json).expect("parses"))
                .expect("restores");
            for e in file {
                match a.handle_event(e, at(tick)) {
                    Handled::Click(b) => {
                        assert!(
                            matches!(
                                b,
                                ClickBucket::Duplicate | ClickBucket::Late | ClickBucket::Outside
                            ),
                            "{b:?}"
                        );
                        bump(&mut extra, b, 1);
                    }
                    Handled::Open { machine: true } => extra_opens.1 += 1,
                    Handled::Open { machine: false } => extra_opens.0 += 1,
                    _ => {}
                }
            }
        });
        assert!(extra.duplicate > 0);
        assert_eq!(sorted(updates), sorted(plain_updates));
        let (p, r) = (plain.report(), a.report());
        let mut want = p.clicks;
        want.duplicate += extra.duplicate;
        want.late += extra.late;
        want.outside += extra.outside;
        assert_eq!(r.clicks, want);
        assert_eq!(
            (r.opens, r.machine_opens),
            (p.opens + extra_opens.0, p.machine_opens + extra_opens.1)
        );
        let ex = ExperimentId::new("exp");
        assert_eq!(r.experiments[&ex].variants, p.experiments[&ex].variants);
        assert_eq!(
            r.experiments[&ex].tracked_exposures,
            p.experiments[&ex].tracked_exposures
        );
    }
}

#[test]
fn shards_partitioned_by_recipient_merge_into_one() {
    let c = generate(11, 3000);
    let s = schedule(&c, 11);
    for which in [Which::Join, Which::Tag] {
        let (one, one_updates) = run(&c, &s, which, None, false, |_, _, _| {});
        let (mut a, mut ua) = run(&c, &s, which, Some((0, 2)), true, |_, _, _| {});
        let (b, ub) = run(&c, &s, which, Some((1, 2)), false, |_, _, _| {});
        assert!(a.report().clicks.attributed > 0 && b.report().clicks.attributed > 0);
        // Merge through a snapshot, as a host moving shards between machines would.
        let b = Attribution::restore(
            AttributionSnapshot::from_json(&b.snapshot().to_json()).expect("parses"),
        )
        .expect("restores");
        a.merge(b).expect("same experiments");
        assert_eq!(a.report(), one.report());
        ua.extend(ub);
        assert_eq!(sorted(ua), sorted(one_updates));
        // And the merged state keeps behaving as one: replaying everything is all duplicates or late.
        let before = a.report();
        let mut n = HashMap::new();
        for (tick, file) in &s.files {
            for e in file.iter().filter(|e| e.event_type == EventType::Click) {
                if let Handled::Click(b) = a.handle_event(e, at(*tick)) {
                    *n.entry(format!("{b:?}")).or_insert(0u64) += 1;
                }
            }
        }
        assert!(!n.contains_key("Attributed"), "{n:?}");
        let ex = ExperimentId::new("exp");
        assert_eq!(
            a.report().experiments[&ex].variants,
            before.experiments[&ex].variants
        );
        assert!(a.poll_update().is_none());
    }
}
