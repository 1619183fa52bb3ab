//! The filter on generated files of every shape: reasons in the report, values of the
//! clean events, `[PII]` tags that win over the allowlist.

mod common;

use common::fixtures::{self as fx, GenCodec, GenOptions, Val};
use dynopt::currents::{DecodeOptions, EventType};
use dynopt::pii::{
    ALWAYS_PERSONAL, DEFAULT_ALLOWLIST, DropReason, Filter, Policy, SanitizeOptions, sanitize,
    scrub_url,
};

fn example(name: &str) -> Option<std::path::PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let p = exe.parent()?.parent()?.join("examples").join(name);
    p.exists().then_some(p)
}

#[test]
fn report_reasons_and_clean_values_for_every_shape() {
    let mut shapes = fx::shapes();
    shapes.extend(fx::v12_shapes(false));
    for (si, shape) in shapes.iter().enumerate() {
        let et = EventType::from_name(&shape.event_type).expect("type");
        let g = fx::generate(shape, &GenOptions::new(20, 300 + si as u64, GenCodec::Null));
        let clean = Filter::default().clean_file(&g.bytes, &DecodeOptions::default());
        assert!(clean.error.is_none(), "{}: {:?}", shape.label, clean.error);
        let dropped: Vec<(&str, DropReason)> = clean.report.dropped(et).collect();
        for f in &shape.fields {
            let known = et.fields().iter().any(|d| d.name == f.name);
            let want = if ALWAYS_PERSONAL.contains(&f.name.as_str()) {
                Some(DropReason::Personal)
            } else if f.pii_tag {
                Some(DropReason::Tagged)
            } else if DEFAULT_ALLOWLIST.contains(&f.name.as_str()) && known {
                None
            } else if known {
                Some(DropReason::NotAllowed)
            } else {
                Some(DropReason::Unknown)
            };
            let got = dropped.iter().find(|(n, _)| *n == f.name).map(|(_, r)| *r);
            assert_eq!(got, want, "{}: {}", shape.label, f.name);
        }
        let want_dropped = shape
            .fields
            .iter()
            .filter(|f| {
                // The allowlist applies per event type: an allowed name the typed
                // event of this type lacks (an older schema's field) is dropped too.
                !DEFAULT_ALLOWLIST.contains(&f.name.as_str())
                    || f.pii_tag
                    || !et.fields().iter().any(|d| d.name == f.name)
            })
            .count();
        assert_eq!(dropped.len(), want_dropped, "{}", shape.label);
        for (r, e) in clean.events.iter().enumerate() {
            let s = |name: &str| g.value(r, name).and_then(Val::as_str).map(str::to_owned);
            assert_eq!(Some(e.id.to_string()), s("id"));
            assert_eq!(
                e.time.timestamp(),
                match g.value(r, "time") {
                    Some(Val::Int(t)) => *t,
                    other => panic!("time {other:?}"),
                }
            );
            assert_eq!(
                e.url,
                s("url").map(|u| scrub_url(&u).into_owned().into()),
                "{}",
                shape.label
            );
            if et.fields().iter().any(|d| d.name == "campaign_id") {
                assert_eq!(
                    e.campaign_id,
                    s("campaign_id").map(Into::into),
                    "{}",
                    shape.label
                );
            }
            assert_eq!(e.user_agent, None);
            assert_eq!(e.recipient_key, None);
        }
    }
}

#[test]
fn a_pii_tag_wins_over_the_allowlist() {
    let mut shape = fx::newest_shape("Click");
    let ci = shape.field_index("campaign_name").expect("campaign_name");
    shape.fields[ci].pii_tag = true;
    let ui = shape.field_index("user_agent").expect("user_agent");
    shape.fields[ui].pii_tag = true;
    let g = fx::generate(&shape, &GenOptions::new(10, 4, GenCodec::Deflate));
    let policy = Policy::default().allow("user_agent").expect("allowed");
    let clean = Filter::new(policy.clone()).clean_file(&g.bytes, &DecodeOptions::default());
    let reasons: Vec<_> = clean.report.dropped(EventType::Click).collect();
    assert!(reasons.contains(&("campaign_name", DropReason::Tagged)));
    assert!(reasons.contains(&("user_agent", DropReason::Tagged)));
    assert!(
        clean
            .events
            .iter()
            .all(|e| e.campaign_name.is_none() && e.user_agent.is_none())
    );
    assert!(clean.events.iter().any(|e| e.campaign_id.is_some()));
    let out = sanitize(&g.bytes, &SanitizeOptions::default().with_policy(policy)).expect("ok");
    assert!(out.summary.dropped.iter().any(|d| d == "campaign_name"));
    assert!(out.summary.dropped.iter().any(|d| d == "user_agent"));
    let v = (0..10)
        .find_map(|r| g.value(r, "campaign_name").and_then(Val::as_str))
        .expect("a campaign name");
    // The inspect example honours the tag too.
    if let Some(bin) = example("inspect") {
        let file = std::env::temp_dir().join(format!("dynopt-tagged-{}.avro", std::process::id()));
        std::fs::write(&file, &g.bytes).expect("write");
        let o = std::process::Command::new(bin)
            .arg(&file)
            .output()
            .expect("runs");
        let _ = std::fs::remove_file(&file);
        assert!(o.status.success());
        let text = String::from_utf8_lossy(&o.stdout);
        assert_eq!(text.lines().count(), 10);
        assert!(text.contains("\"campaign_name\":null"));
        assert!(!text.contains(v), "inspect printed a tagged value");
    }
    let back = Filter::default().clean_file(&out.bytes, &DecodeOptions::default());
    assert!(
        back.events
            .iter()
            .all(|e| e.campaign_name.as_deref() != Some(v))
    );
}

#[test]
fn reports_merge_and_print_names_only() {
    let mut total = dynopt::pii::FilterReport::new();
    for shape in fx::v12_shapes(false) {
        let g = fx::generate(&shape, &GenOptions::new(2, 1, GenCodec::Null));
        let clean = Filter::default().clean_file(&g.bytes, &DecodeOptions::default());
        total.merge(&clean.report);
    }
    let text = total.to_string();
    assert!(
        text.contains("users.messages.email.Click: dropped"),
        "{text}"
    );
    assert!(text.contains("email_address (personal)"), "{text}");
    assert!(text.contains("user_agent (not allowed)"), "{text}");
    assert!(text.contains("message_extras (personal)"), "{text}");
    assert_eq!(text.lines().count(), 8, "{text}");
}

/// The file's shared texts (`clean_file`, `clean_each`) give the same clean
/// events as the filter without them (`FileFilter::clean_keyed`), share one copy
/// of a repeated value, and still drop a shared value from exactly the records
/// whose own personal values it holds.
mod shared_texts {
    use super::*;
    use dynopt::currents::Reader;
    use dynopt::pii::{CleanEvent, FilterReport, Pseudonymizer};
    use proptest::prelude::*;

    fn per_event(filter: &Filter, bytes: &[u8]) -> Vec<CleanEvent> {
        let mut reader = Reader::new(bytes, &DecodeOptions::default()).expect("valid");
        let mut report = FilterReport::new();
        let file = filter.for_reader(&reader, &mut report);
        let mut out = Vec::new();
        while let Some(block) = reader.next_block() {
            for item in block.expect("valid block").keyed_events() {
                let (event, key) = item.expect("valid event");
                out.push(file.clean_keyed(&event, key));
            }
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn shared_texts_change_nothing_but_memory(
            seed in any::<u64>(),
            records in 20usize..120,
            groups in 1usize..6,
            planted in proptest::collection::vec(any::<prop::sample::Index>(), 0..6),
            realistic in any::<bool>(),
            form in 0usize..3,
        ) {
            let shape = fx::newest_shape("Click");
            let mut g = fx::generate(&shape, &GenOptions { realistic, ..GenOptions::new(records, seed, GenCodec::Null) });
            let name = shape.field_index("campaign_name").expect("campaign_name");
            let url = shape.field_index("url").expect("url");
            let uid = shape.field_index("user_id").expect("user_id");
            // A few campaign names and link parameters shared by many records...
            for (r, rec) in g.records.iter_mut().enumerate() {
                rec[name] = Val::Str(format!("Spring sale {}", r % groups));
                rec[url] = Val::Str(format!("https://shop.example/p/{}?utm_source=braze&promo=spring{}", r % groups, r % groups));
            }
            // ...some of which also hold one record's own user id: personal for
            // that record only.
            let mut owners = Vec::new();
            for ix in &planted {
                let r = ix.index(records);
                let Some(Val::Str(id)) = g.records[r].get(uid).cloned() else { continue };
                // Planted as is, in upper case, or base64-encoded: the search
                // (and whatever skips it) is case-blind and reads decoded layers.
                let id = match form {
                    0 => id,
                    1 => id.to_uppercase(),
                    _ => common::base64(id.as_bytes(), true),
                };
                let shared = format!("Spring sale for {id}");
                for (q, rec) in g.records.iter_mut().enumerate() {
                    if q % groups == r % groups {
                        rec[name] = Val::Str(shared.clone());
                        // (A base64 token stands alone: a prefix would shift its decoding.)
                        let promo = if form == 2 { id.clone() } else { format!("x{id}") };
                        rec[url] = Val::Str(format!("https://shop.example/p/{}?utm_source=braze&promo={promo}", r % groups));
                    }
                }
                owners.retain(|&(o, _)| o % groups != r % groups);
                owners.push((r, shared));
            }
            let (bytes, _) = fx::write_ocf(&shape, &g.records, GenCodec::Null, 2_000, g.sync, &[]);
            for filter in [Filter::default(), Filter::default().with_pseudonymizer(Pseudonymizer::keyed(b"k"))] {
                let whole = filter.clean_file(&bytes, &DecodeOptions::default());
                prop_assert!(whole.error.is_none());
                let mut each = Vec::new();
                let done = filter.clean_each(&bytes, &DecodeOptions::default(), |e| each.push(e));
                prop_assert!(done.error.is_none() && done.events.is_empty());
                let plain = per_event(&filter, &bytes);
                prop_assert_eq!(&whole.events, &plain);
                prop_assert_eq!(&each, &plain);
                prop_assert_eq!(done.report, whole.report.clone());
                for (r, e) in whole.events.iter().enumerate() {
                    let owned = owners.iter().any(|(o, _)| *o == r);
                    let holder = owners.iter().any(|(o, s)| *o % groups == r % groups && e.campaign_name.as_deref() == Some(s));
                    prop_assert!(!owned || e.campaign_name.is_none(), "record {} kept its own id", r);
                    let link = e.url.as_deref().unwrap_or_default();
                    prop_assert!(link.contains("utm_source=braze"), "{}", link);
                    // Owners lose the parameter; records of groups without an
                    // owner keep it (the others' verdict is the per-event one,
                    // compared above).
                    let planted_group = owners.iter().any(|(o, _)| *o % groups == r % groups);
                    prop_assert!(!owned || !link.contains("promo="), "record {}: {}", r, link);
                    prop_assert!(planted_group || link.contains("promo="), "record {}: {}", r, link);
                    prop_assert!(owned || e.campaign_name.is_some() || holder, "record {} lost a shared name", r);
                }
                // `sanitize` (the same memo and screen, on bytes) drops the same
                // names and parameters as the filter without them.
                let out = sanitize(&bytes, &SanitizeOptions::default()).expect("sanitizes");
                let back = Filter::default().clean_file(&out.bytes, &DecodeOptions::default());
                prop_assert_eq!(back.events.len(), plain.len());
                for (b, p) in back.events.iter().zip(&plain) {
                    // (A blanked string field of a schema without null reads "".)
                    let name = b.campaign_name.as_deref().filter(|n| !n.is_empty());
                    prop_assert_eq!(name, p.campaign_name.as_deref());
                    prop_assert_eq!(&b.url, &p.url);
                }
                // One copy per distinct kept name.
                for (a, b) in whole.events.iter().zip(whole.events.iter().skip(groups)) {
                    if let (Some(x), Some(y)) = (&a.campaign_name, &b.campaign_name) && x == y {
                        prop_assert!(x.ptr_eq(y));
                    }
                }
            }
        }
    }
}
