//! The host facade with rewards and guardrails: one definition drives
//! attribution and the optimiser, and a definition whose halves disagree is
//! refused.

use chrono::{DateTime, Duration, TimeZone, Utc};
use dynopt::attribution::{Mode, Scope};
use dynopt::currents::EventType;
use dynopt::host::{ExperimentDef, Host, HostError};
use dynopt::optimiser::GuardrailRule;
use dynopt::pii::CleanEvent;
use dynopt::rand::SeedableRng;
use dynopt::{ExperimentId, Guardrail, RecipientKey, Reward};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 4, 1, 9, 0, 0).unwrap()
}

fn def() -> ExperimentDef {
    ExperimentDef::new(
        "subject",
        Scope::campaign("cmp-1"),
        Mode::ExposureJoin,
        0x5eed,
    )
    .variant("a")
    .variant("b")
    .with_control(0)
}

#[test]
fn one_definition_drives_both_halves() {
    let mut host = Host::new();
    host.add_experiment(
        def()
            .with_reward(Reward::Open)
            .with_guardrail(GuardrailRule::new(Guardrail::Unsubscribe)),
    )
    .expect("consistent definition");
    let id = ExperimentId::new("subject");
    let mut keys = Vec::new();
    for i in 0..40u8 {
        let k = RecipientKey([i; 16]);
        let (served, _) = host.serve(&id, k, t0()).expect("served");
        keys.push((k, served.variant));
    }
    let mut events = Vec::new();
    for (i, (k, _)) in keys.iter().enumerate() {
        let mut open = CleanEvent::new(
            EventType::Open,
            format!("o{i}"),
            t0() + Duration::minutes(5),
        );
        open.campaign_id = Some("cmp-1".into());
        open.recipient_key = Some(*k);
        open.machine_open = Some(if i % 2 == 0 { "false" } else { "true" }.into());
        events.push(open);
        if i % 10 == 0 {
            let mut u = CleanEvent::new(
                EventType::Unsubscribe,
                format!("u{i}"),
                t0() + Duration::minutes(9),
            );
            u.campaign_id = Some("cmp-1".into());
            u.recipient_key = Some(*k);
            events.push(u);
        }
    }
    let now = t0() + Duration::minutes(10);
    host.ingest_events(&events, now);
    let mut rng = dynopt::rand::rngs::StdRng::seed_from_u64(1);
    host.recompute(now, &mut rng);
    let report = host.report(now, &mut rng);
    let r = &report.experiments[&id];
    assert_eq!(r.reward, Reward::Open);
    let rewards: u64 = r.variants.iter().map(|v| v.rewards).sum();
    assert_eq!(rewards, 20, "human opens only");
    let unsubs: u64 = r.variants.iter().map(|v| v.guardrails[0].events).sum();
    assert_eq!(unsubs, 4);
    let acc = &report.accounting.experiments[&id];
    assert_eq!(acc.outcomes.opens.machine, 20);
    let machine: u64 = acc.variants.iter().map(|v| v.machine_opens).sum();
    assert_eq!(machine, 20);
}

#[test]
fn halves_that_disagree_are_refused() {
    let mut host = Host::new();
    let mut d = def();
    d.optimiser.reward = Reward::Open;
    assert!(matches!(
        host.add_experiment(d),
        Err(HostError::Inconsistent(_))
    ));
    let mut d = def();
    d.optimiser
        .guardrails
        .push(GuardrailRule::new(Guardrail::SpamComplaint));
    assert!(matches!(
        host.add_experiment(d),
        Err(HostError::Inconsistent(_))
    ));
    assert!(host.add_experiment(def()).is_ok());
}
