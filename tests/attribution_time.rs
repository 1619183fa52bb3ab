//! Time sanity at the boundary: a click before its exposure is
//! not attributed, a click dated beyond the clock skew is refused, both are
//! counted in buckets of their own, and every click is in exactly one bucket.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use dynopt::attribution::{Attribution, AttributionConfig, ClickBucket, Handled, Mode, Scope};
use dynopt::currents::EventType;
use dynopt::pii::{CleanEvent, RecipientKey};
use dynopt::{ExperimentId, Update, VariantId};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, 9, 0, 0).unwrap()
}

fn click(id: &str, at: DateTime<Utc>, who: u8, url: Option<String>) -> CleanEvent {
    let mut c = CleanEvent::new(EventType::Click, id, at);
    c.campaign_id = Some("c1".into());
    c.recipient_key = Some(RecipientKey([who; 16]));
    c.url = url.map(Into::into);
    c
}

fn setup(mode: Mode) -> (Attribution, ExperimentId) {
    let mut a = Attribution::new();
    let exp = ExperimentId::new("time");
    a.add_experiment(
        exp.clone(),
        AttributionConfig::new(Scope::campaign("c1"), mode),
    )
    .unwrap();
    (a, exp)
}

/// No attributed click ever has its exposure after the click, and no update
/// is dated beyond the host's `now`.
fn check_updates(a: &mut Attribution, now: DateTime<Utc>) {
    let mut updates = Vec::new();
    a.drain_updates(&mut updates);
    for u in &updates {
        if let Update::Click {
            exposed_at,
            clicked_at,
            ..
        } = u
        {
            assert!(exposed_at.is_none_or(|e| e <= *clicked_at), "{u:?}");
            assert!(*clicked_at <= now + TimeDelta::minutes(5), "{u:?}");
        }
        if let Update::Exposure { at, .. } = u {
            assert!(*at <= now, "{u:?}");
        }
    }
}

#[test]
fn exposure_join_refuses_clicks_before_the_exposure_and_from_the_future() {
    let (mut a, exp) = setup(Mode::ExposureJoin);
    let now = t0() + TimeDelta::hours(2);
    for who in 0..3u8 {
        a.record_exposure(&exp, RecipientKey([who; 16]), VariantId(1), t0())
            .unwrap();
    }
    let cases = [
        // Before its exposure.
        (
            click("e0", t0() - TimeDelta::minutes(1), 0, None),
            ClickBucket::BeforeExposure,
        ),
        // Years ahead (Braze's sample files carry 2034 times).
        (
            click(
                "e1",
                Utc.with_ymd_and_hms(2034, 1, 1, 0, 0, 0).unwrap(),
                1,
                None,
            ),
            ClickBucket::Future,
        ),
        // Within the skew: fine.
        (
            click("e2", now + TimeDelta::minutes(4), 2, None),
            ClickBucket::Attributed,
        ),
    ];
    for (ev, want) in &cases {
        assert_eq!(a.handle_event(ev, now), Handled::Click(*want), "{}", ev.id);
    }
    let r = a.report();
    assert_eq!(r.clicks.before_exposure, 1);
    assert_eq!(r.clicks.future, 1);
    assert_eq!(r.clicks.attributed, 1);
    assert_eq!(r.clicks.total(), cases.len() as u64);
    let e = &r.experiments[&exp];
    assert_eq!(e.clicks.total(), cases.len() as u64);
    assert_eq!(e.clicks.get(ClickBucket::Future), 1);
    check_updates(&mut a, now);
}

#[test]
fn url_tag_refuses_future_serve_times_and_clicks_before_them() {
    let (mut a, exp) = setup(Mode::url_tag());
    let now = t0() + TimeDelta::hours(2);
    // The variant must have been seen in an exposure.
    a.record_exposure(&exp, RecipientKey([9; 16]), VariantId(2), t0())
        .unwrap();
    let url = |served: i64| format!("https://shop.example/?dov=2.{served}");
    let year_2100 = Utc
        .with_ymd_and_hms(2100, 1, 1, 0, 0, 0)
        .unwrap()
        .timestamp();
    let cases = [
        // A tag carrying a serve time in 2100: the click precedes it.
        (
            click("u0", t0(), 1, Some(url(year_2100))),
            ClickBucket::BeforeExposure,
        ),
        // Served after the click.
        (
            click(
                "u1",
                t0(),
                2,
                Some(url((t0() + TimeDelta::minutes(3)).timestamp())),
            ),
            ClickBucket::BeforeExposure,
        ),
        // A click years ahead with a sane tag.
        (
            click(
                "u2",
                Utc.with_ymd_and_hms(2034, 1, 1, 0, 0, 0).unwrap(),
                3,
                Some(url(t0().timestamp())),
            ),
            ClickBucket::Future,
        ),
        (
            click(
                "u3",
                t0() + TimeDelta::minutes(30),
                4,
                Some(url(t0().timestamp())),
            ),
            ClickBucket::Attributed,
        ),
    ];
    for (ev, want) in &cases {
        assert_eq!(a.handle_event(ev, now), Handled::Click(*want), "{}", ev.id);
    }
    // send_time after the click, no serve time in the tag.
    let mut ev = click("u4", t0(), 5, Some("https://shop.example/?dov=2".into()));
    ev.send_time = Some(t0() + TimeDelta::hours(1));
    assert_eq!(
        a.handle_event(&ev, now),
        Handled::Click(ClickBucket::BeforeExposure)
    );
    let r = a.report();
    assert_eq!(r.clicks.before_exposure, 3);
    assert_eq!(r.clicks.future, 1);
    assert_eq!(r.clicks.attributed, 1);
    assert_eq!(r.clicks.total(), 5);
    check_updates(&mut a, now);
    // The buckets survive a snapshot.
    let restored = Attribution::restore(
        dynopt::attribution::AttributionSnapshot::from_json(&a.snapshot().to_json()).unwrap(),
    )
    .unwrap();
    assert_eq!(restored.report(), a.report());
}
