use chrono::{Duration, TimeZone};
use proptest::prelude::*;
use rand::SeedableRng;

use super::*;
use crate::attribution::{Mode, Scope};
use crate::currents::EventType;
use crate::snapshot::RestoreError;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 20, 9, 0, 0).unwrap()
}

fn id() -> ExperimentId {
    ExperimentId::new("subject")
}

fn host() -> Host {
    let mut h = Host::new();
    h.add_experiment(
        ExperimentDef::new("subject", Scope::campaign("c1"), Mode::ExposureJoin, 0x5eed)
            .variant(
                VariantDef::new("a")
                    .part("subject", "Hello")
                    .part("body", "Hi"),
            )
            .variant("b")
            .variant("c"),
    )
    .expect("valid");
    h
}

fn key(i: u64) -> RecipientKey {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&i.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_le_bytes());
    k[8..].copy_from_slice(&i.to_le_bytes());
    RecipientKey(k)
}

fn click(i: u64, at: DateTime<Utc>) -> CleanEvent {
    let mut c = CleanEvent::new(EventType::Click, format!("ev-{i}"), at);
    c.campaign_id = Some("c1".into());
    c.recipient_key = Some(key(i));
    c
}

/// A host with exposures, clicks and a recompute behind it.
fn busy_host(n: u64) -> Host {
    let mut h = host();
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    for i in 0..n {
        h.serve(&id(), key(i), t0() + Duration::seconds(i as i64))
            .expect("serves");
    }
    let clicks: Vec<CleanEvent> = (0..n)
        .step_by(7)
        .map(|i| click(i, t0() + Duration::seconds(i as i64 + 60)))
        .collect();
    h.ingest_events(&clicks, t0() + Duration::hours(1));
    h.recompute(t0() + Duration::hours(1), &mut rng);
    h
}

fn same(a: &Host, b: &Host) {
    assert_eq!(a.to_json(), b.to_json());
}

#[test]
fn serve_is_consistent_and_labelled() {
    let mut h = host();
    let (s, e) = h.serve(&id(), key(1), t0()).expect("serves");
    let (v, label, repeat) = (s.variant, s.label.to_owned(), s.repeat);
    assert!(!repeat);
    assert_eq!(Some(label.as_str()), h.label(&id(), v));
    assert_eq!((e.replica, e.seq), (0, 1));
    assert_eq!(e.record.recipient_key, key(1));
    // Everyone moves to another variant; the re-render keeps the first.
    let other = VariantId((v.0 + 1) % 3);
    h.optimiser
        .experiment_mut(&id())
        .expect("added")
        .set_allocation(&[(other, 1.0)])
        .expect("valid");
    let (s2, e2) = h
        .serve(&id(), key(1), t0() + Duration::minutes(2))
        .expect("serves");
    assert_eq!((s2.variant, s2.repeat), (v, true));
    assert_eq!(s2.tag.served_at, Some(t0()));
    assert_eq!(e2.seq, 2);
    assert_eq!(
        h.serve(&ExperimentId::new("nope"), key(1), t0()).err(),
        Some(HostError::UnknownExperiment(ExperimentId::new("nope")))
    );
}

#[test]
fn salt_comes_from_the_definition() {
    let mut a = host();
    let mut b = Host::new();
    b.add_experiment(
        ExperimentDef::new("subject", Scope::campaign("c1"), Mode::ExposureJoin, 0xbeef)
            .variant("a")
            .variant("b")
            .variant("c"),
    )
    .expect("valid");
    let differs = (0..200).any(|i| {
        let va = a.serve(&id(), key(i), t0()).expect("serves").0.variant;
        let vb = b.serve(&id(), key(i), t0()).expect("serves").0.variant;
        va != vb
    });
    assert!(differs, "the salt changes assignments");
    let mut c = Host::new();
    assert_eq!(
        c.add_experiment(
            ExperimentDef::new("x", Scope::campaign("c9"), Mode::ExposureJoin, 0).variant("a")
        ),
        Err(HostError::ZeroSalt(ExperimentId::new("x")))
    );
}

#[test]
fn bad_definitions_change_nothing() {
    let mut h = host();
    let overlapping =
        ExperimentDef::new("body", Scope::campaign("c1"), Mode::ExposureJoin, 7).variant("x");
    assert!(matches!(
        h.add_experiment(overlapping),
        Err(HostError::Attribution(_))
    ));
    let no_variants = ExperimentDef::new("e", Scope::campaign("c2"), Mode::ExposureJoin, 7);
    assert!(matches!(
        h.add_experiment(no_variants),
        Err(HostError::Variants(_))
    ));
    let bad_control = ExperimentDef::new("e", Scope::campaign("c2"), Mode::ExposureJoin, 7)
        .variant("x")
        .with_control(3);
    assert!(matches!(
        h.add_experiment(bad_control),
        Err(HostError::Variants(_))
    ));
    assert_eq!(h.experiments().count(), 1);
    assert_eq!(h.attribution().experiments().count(), 1);
    assert_eq!(h.optimiser().experiments().count(), 1);
    assert_eq!(
        h.add_experiment(
            ExperimentDef::new("subject", Scope::campaign("c7"), Mode::ExposureJoin, 7)
                .variant("x")
        ),
        Err(HostError::DuplicateExperiment(id()))
    );
}

#[test]
fn binary_and_json_states_round_trip() {
    let h = busy_host(2_000);
    assert!(h.attribution().tracked_exposures() == 2_000);
    let bytes = h.snapshot();
    let r = Host::restore(&bytes).expect("restores");
    same(&h, &r);
    let j = Host::from_json(&h.to_json()).expect("restores");
    same(&h, &j);
    // At most 32 bytes per tracked exposure.
    let per = bytes.len() as f64 / 2_000.0;
    assert!(per <= 32.0, "{per} bytes per exposure");
    // The restored host serves like the original.
    let mut h = h;
    let mut r = r;
    for i in 1_000..3_000 {
        let t = t0() + Duration::hours(2);
        let a = h.serve(&id(), key(i), t).expect("serves").0.variant;
        let b = r.serve(&id(), key(i), t).expect("serves").0.variant;
        assert_eq!(a, b);
    }
}

#[test]
fn published_allocation_serves_like_the_host() {
    let mut h = busy_host(500);
    let alloc = std::sync::Arc::new(h.publish());
    assert_eq!(alloc.version(), h.allocation_version());
    let wire = Allocation::from_json(&alloc.to_json()).expect("parses");
    assert_eq!(&wire, alloc.as_ref());
    let seq = Sequencer::new(9, 0);
    let mut total = 0.0;
    for v in 0..3 {
        total += alloc.share(&id(), VariantId(v)).expect("known");
    }
    assert!((total - 1.0).abs() < 1e-9);
    for i in 10_000..10_500 {
        let (s, rec) = alloc.serve(&id(), key(i), t0()).expect("serves");
        assert_eq!(s.label, h.label(&id(), s.variant).expect("known"));
        assert_eq!(rec.allocation_version, alloc.version());
        let hv = h.serve(&id(), key(i), t0()).expect("serves").0.variant;
        assert_eq!(s.variant, hv);
        let _ = seq.entry(rec);
    }
    assert_eq!(seq.last(), 500);
    assert!(Allocation::from_json(b"{}").is_err());
}

#[test]
fn journal_replay_is_exactly_once() {
    // A learner snapshots, serves on, crashes; restore + replay gives the same state.
    let mut live = busy_host(300);
    let snap = live.snapshot();
    let mut journal: Vec<u8> = Vec::new();
    // The journal holds entries before the snapshot too (replay skips them).
    for i in 250..600 {
        let (_, e) = live
            .serve(&id(), key(i), t0() + Duration::hours(2))
            .expect("serves");
        assert!(e.encode(&mut journal));
    }
    // Exposures from a serving replica, folded in by the learner.
    let alloc = live.publish();
    let replica = Sequencer::new(7, 0);
    let mut replica_journal: Vec<u8> = Vec::new();
    for i in 700..800 {
        let (_, rec) = alloc
            .serve(&id(), key(i), t0() + Duration::hours(3))
            .expect("serves");
        replica.entry(rec).encode(&mut replica_journal);
    }
    let seg7 = decode_segment(&replica_journal);
    assert_eq!(live.replay(&seg7).expect("applies"), (100, 0, 0));
    assert_eq!(live.replay(&seg7).expect("applies"), (0, 0, 100));
    // Crash: a torn tail on the learner's own journal.
    journal.extend_from_slice(&[9, 0, 0, 0, 1, 2]);
    let mut restored = Host::restore(&snap).expect("restores");
    let seg0 = decode_segment(&journal);
    assert!(seg0.torn_tail);
    let (new, repeat, skipped) = restored.replay(&seg0).expect("applies");
    assert_eq!((new, repeat, skipped), (300, 50, 0));
    restored.replay(&seg7).expect("applies");
    // Replaying everything again changes nothing.
    assert_eq!(restored.replay(&seg0).expect("applies"), (0, 0, 350));
    same(&live, &restored);
}

#[test]
fn processed_files_are_remembered_within_the_window() {
    let mut h = host();
    let k =
        ObjectKey::parse("p/event_type=users.messages.email.Click/date=2026-03-20-09/f+0+1.avro")
            .expect("a key");
    let r = h.ingest_file(&k, b"not avro", t0());
    assert!(r.error.is_some());
    assert!(!h.is_processed(&k), "a failed file is not remembered");
    // An empty (header-only) Click file.
    let schema = r#"{"type":"record","name":"Click","fields":[{"name":"id","type":"string"},{"name":"user_id","type":"string"},{"name":"time","type":"int"},{"name":"email_address","type":"string"}]}"#;
    let mut file = Vec::new();
    crate::currents::OcfWriter::new(schema, crate::currents::Codec::Null, &[], [1; 16])
        .header(&mut file);
    let r = h.ingest_file(&k, &file, t0());
    assert!(r.error.is_none(), "{r:?}");
    assert!(h.is_processed(&k));
    assert!(h.ingest_file(&k, &file, t0()).already_processed);
    let r = Host::restore(&h.snapshot()).expect("restores");
    assert!(r.is_processed(&k));
    // 8 days (window + lateness) later it is forgotten.
    let later = t0() + Duration::days(8) + Duration::hours(1);
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    h.recompute(later, &mut rng);
    assert!(!h.is_processed(&k));
}

#[test]
fn garbage_states_are_typed_errors() {
    let bytes = busy_host(200).snapshot();
    assert!(Host::restore(&[]).is_err());
    assert!(Host::restore(b"DYNOPTHS").is_err());
    let mut v = bytes.clone();
    v[8] = 9;
    assert_eq!(
        Host::restore(&v).err(),
        Some(RestoreError::UnsupportedVersion {
            found: 9,
            supported: STATE_FORMAT_VERSION
        })
    );
    for cut in [0, 7, 8, 31, 32, 100, bytes.len() / 2, bytes.len() - 1] {
        assert!(matches!(
            Host::restore(&bytes[..cut]),
            Err(RestoreError::Corrupt(_))
        ));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn flipped_bits_are_refused(bit in any::<usize>()) {
        let bytes = busy_host(50).snapshot();
        let mut v = bytes.clone();
        let bit = bit % (v.len() * 8);
        v[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(Host::restore(&v).is_err());
    }

    #[test]
    fn random_bytes_never_panic(mut v in proptest::collection::vec(any::<u8>(), 0..2048), magic in any::<bool>()) {
        if magic && v.len() >= 16 {
            v[..8].copy_from_slice(b"DYNOPTHS");
            v[8..12].copy_from_slice(&STATE_FORMAT_VERSION.to_le_bytes());
        }
        prop_assert!(Host::restore(&v).is_err());
    }
}

/// Forged states with a valid checksum: the lengths and records are still checked.
#[test]
fn forged_lengths_and_records_are_refused() {
    let h = busy_host(20);
    let good = h.snapshot();
    let body = &good[..good.len() - 4];
    let reseal = |mut b: Vec<u8>| {
        let s = crc32fast::hash(&b);
        b.extend_from_slice(&s.to_le_bytes());
        b
    };
    // A metadata length far beyond the input.
    let mut b = body.to_vec();
    b[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(matches!(
        Host::restore(&reseal(b)),
        Err(RestoreError::Corrupt(_))
    ));
    // The first table's record count far beyond the input.
    let m = u64::from_le_bytes(body[16..24].try_into().expect("8 bytes")) as usize;
    let mut b = body.to_vec();
    b[24 + m..32 + m].copy_from_slice(&(u64::MAX / 2).to_le_bytes());
    assert!(matches!(
        Host::restore(&reseal(b)),
        Err(RestoreError::Corrupt(_))
    ));
    // A record word with unknown bits.
    let mut b = body.to_vec();
    let first = 32 + m;
    b[first + 16..first + 20].copy_from_slice(&0x0FFF_0000u32.to_le_bytes());
    assert!(matches!(
        Host::restore(&reseal(b)),
        Err(RestoreError::Corrupt(_))
    ));
    // A duplicated record.
    let mut b = body.to_vec();
    let rec: Vec<u8> = b[first..first + 24].to_vec();
    b[first + 24..first + 48].copy_from_slice(&rec);
    assert!(matches!(
        Host::restore(&reseal(b)),
        Err(RestoreError::Corrupt(_))
    ));
}

#[derive(Clone, Debug)]
enum Op {
    Serve(u8, u16),
    Click(u8, u16),
    Recompute(u16),
    Replica(u8, u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (any::<u8>(), 0u16..600).prop_map(|(k, t)| Op::Serve(k, t)),
        3 => (any::<u8>(), 0u16..600).prop_map(|(k, t)| Op::Click(k, t)),
        1 => (0u16..600).prop_map(Op::Recompute),
        2 => (any::<u8>(), 0u16..600).prop_map(|(k, t)| Op::Replica(k, t)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Any history: the binary state and the JSON state restore to the same
    /// host, and a snapshot taken at any point plus the journals replayed
    /// gives the live host's state.
    #[test]
    fn snapshot_plus_journal_is_the_live_state(ops in proptest::collection::vec(op(), 1..80), cut in any::<prop::sample::Index>()) {
        let mut live = host();
        let alloc = live.publish();
        let replica = Sequencer::new(5, 0);
        let mut own = Vec::new();
        let mut theirs = Vec::new();
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let cut = cut.index(ops.len());
        let mut snap = live.snapshot();
        let mut clicks_after: Vec<(Vec<CleanEvent>, DateTime<Utc>)> = Vec::new();
        let mut recomputes_after = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            if i == cut {
                snap = live.snapshot();
            }
            match *op {
                Op::Serve(k, t) => {
                    let (_, e) = live.serve(&id(), key(u64::from(k)), t0() + Duration::minutes(t.into())).expect("serves");
                    e.encode(&mut own);
                }
                Op::Click(k, t) => {
                    let now = t0() + Duration::minutes(i64::from(t) + 1);
                    let ev = vec![click(u64::from(k), t0() + Duration::minutes(t.into()))];
                    live.ingest_events(&ev, now);
                    if i >= cut {
                        clicks_after.push((ev, now));
                    }
                }
                Op::Recompute(t) => {
                    let now = t0() + Duration::minutes(t.into());
                    live.recompute(now, &mut rng);
                    if i >= cut {
                        recomputes_after.push(now);
                    }
                }
                Op::Replica(k, t) => {
                    let (_, rec) = alloc.serve(&id(), key(1000 + u64::from(k)), t0() + Duration::minutes(t.into())).expect("serves");
                    let e = replica.entry(rec);
                    e.encode(&mut theirs);
                    live.apply(&e).expect("applies");
                }
            }
        }
        let restored = Host::restore(&live.snapshot()).expect("restores");
        prop_assert_eq!(restored.to_json(), live.to_json());
        prop_assert_eq!(Host::from_json(&live.to_json()).expect("restores").to_json(), live.to_json());
        // Without clicks or recomputes after the cut, snapshot + journals is exact.
        if clicks_after.is_empty() && recomputes_after.is_empty() {
            let mut r = Host::restore(&snap).expect("restores");
            r.replay(&decode_segment(&own)).expect("applies");
            r.replay(&decode_segment(&theirs)).expect("applies");
            // Applied in another interleaving than live: compare what is order-free.
            prop_assert_eq!(r.attribution().report(), live.attribution().report());
            prop_assert_eq!(r.applied().collect::<Vec<_>>(), live.applied().collect::<Vec<_>>());
            // Replaying again changes nothing.
            let before = r.to_json();
            r.replay(&decode_segment(&own)).expect("applies");
            r.replay(&decode_segment(&theirs)).expect("applies");
            prop_assert_eq!(r.to_json(), before);
        }
    }
}

#[test]
fn unknown_variants_from_a_journal_change_nothing() {
    let mut h = host();
    let before = h.to_json();
    let mut e = JournalEntry {
        replica: 3,
        seq: 1,
        record: ExposureRecord {
            experiment: id(),
            recipient_key: key(1),
            variant: VariantId(77),
            at: t0(),
            allocation_version: 1,
        },
    };
    assert!(matches!(h.apply(&e), Err(HostError::Optimiser(_))));
    e.record.experiment = ExperimentId::new("other");
    assert!(matches!(h.apply(&e), Err(HostError::UnknownExperiment(_))));
    assert_eq!(h.to_json(), before);
    // A streamed segment replays like a decoded one.
    e.record.experiment = id();
    e.record.variant = VariantId(1);
    let mut seg = Vec::new();
    e.encode(&mut seg);
    assert_eq!(
        h.replay_entries(SegmentReader::new(&seg)).expect("applies"),
        (1, 0, 0)
    );
    assert_eq!(h.replay(&decode_segment(&seg)).expect("applies"), (0, 0, 1));
}

#[test]
fn every_exposure_has_its_exact_propensity() {
    let mut h = busy_host(300);
    let alloc = h.publish();
    let (_, rec) = alloc.serve(&id(), key(5_000), t0()).expect("serves");
    let p = h.propensity(&rec).expect("version kept");
    assert_eq!(Some(p), alloc.share(&id(), rec.variant));
    assert!(p > 0.0 && p < 1.0);
    // The learner moves on; the old version's shares stay known, also after a restore.
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    h.recompute(t0() + Duration::hours(3), &mut rng);
    let (_, own) = h
        .serve(&id(), key(5_001), t0() + Duration::hours(3))
        .expect("serves");
    assert_eq!(own.record.allocation_version, rec.allocation_version + 1);
    let r = Host::restore(&h.snapshot()).expect("restores");
    assert_eq!(r.propensity(&rec), Some(p));
    assert_eq!(
        r.shares_at(&id(), own.record.allocation_version),
        h.shares_at(&id(), own.record.allocation_version)
    );
    assert_eq!(r.shares_at(&id(), 10_000), None);
}

#[test]
fn version_history_is_bounded() {
    let mut h = Host::new();
    let mut def = ExperimentDef::new("subject", Scope::campaign("c1"), Mode::ExposureJoin, 3)
        .variant("a")
        .variant("b");
    def.optimiser.mc_draws = 100;
    h.add_experiment(def).expect("valid");
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let first = h.allocation_version();
    for i in 0..MAX_VERSIONS + 10 {
        h.recompute(t0() + Duration::minutes(i as i64), &mut rng);
    }
    assert!(h.shares_at(&id(), first).is_none());
    assert!(h.shares_at(&id(), h.allocation_version()).is_some());
    let r = Host::restore(&h.snapshot()).expect("restores");
    assert_eq!(r.to_json(), h.to_json());
}

#[test]
fn a_bare_conversion_file_takes_its_type_from_the_key() {
    let mut h = host();
    let schema = r#"{"type":"record","name":"Conversion","fields":[{"name":"id","type":"string"},{"name":"user_id","type":"string"},{"name":"time","type":"int"},{"name":"campaign_id","type":"string"}]}"#;
    let w = crate::currents::OcfWriter::new(schema, crate::currents::Codec::Null, &[], [1; 16]);
    let mut file = Vec::new();
    w.header(&mut file);
    let mut rec = Vec::new();
    crate::currents::encode_str("ev-1", &mut rec);
    crate::currents::encode_str("5f1a2b3c4d5e6f7a8b9c0d1e", &mut rec);
    crate::currents::encode_long(t0().timestamp(), &mut rec);
    crate::currents::encode_str("c1", &mut rec);
    w.write_block(1, &rec, &mut file);
    let k =
        ObjectKey::parse("p/event_type=users.campaigns.Conversion/date=2026-03-20-09/f+0+1.avro")
            .expect("a key");
    let r = h.ingest_file(&k, &file, t0());
    assert!(r.error.is_none(), "{r:?}");
    assert_eq!(r.events, 1);
    // Without a type in the key the file is refused, typed.
    let k = ObjectKey::parse("p/date=2026-03-20-09/f+0+2.avro").expect("a key");
    let r = h.ingest_file(&k, &file, t0());
    assert!(r.error.is_some());
}
