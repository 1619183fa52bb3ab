//! The hidden truth and Braze's side of the broadcast: true click, open and
//! unsubscribe rates, the throttled send, the Braze template's recipient keys,
//! which recipients click, open (Apple Mail Privacy Protection's machine opens
//! included) and unsubscribe, and when (duplicates and link scanners included),
//! and the Currents Click, Open and Unsubscribe files Braze writes, personal
//! data and at-least-once redelivery included.
//!
//! Nothing here calls the optimiser or attribution: the host only sees the
//! Connected Content calls and the files this module produces.

use dynopt::VariantId;
use dynopt::currents::EventType;
use dynopt::pii::{Pseudonymizer, RecipientKey};
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64;

use crate::braze::{EventRecord, write_file};
use crate::{BATCH_SECS, SEND_BATCHES};

/// The hidden click rates of `k` wordings: evenly spaced from 2.0% to 3.0%.
pub(crate) fn true_rates(k: usize) -> Vec<f64> {
    (0..k)
        .map(|i| 0.02 + 0.01 * i as f64 / (k - 1) as f64)
        .collect()
}

/// The hidden human open rates of `k` wordings: evenly spaced from 18% to 22%.
pub(crate) fn true_open_rates(k: usize) -> Vec<f64> {
    (0..k)
        .map(|i| 0.18 + 0.04 * i as f64 / (k - 1) as f64)
        .collect()
}

/// The hidden unsubscribe rate of an honest wording.
pub(crate) const UNSUBSCRIBE_RATE: f64 = 0.002;

/// The share of recipients whose mail app opens every message by itself
/// (Apple Mail Privacy Protection): chosen so that machine opens are 41% of
/// all opens, as Litmus measured in December 2021.
pub(crate) const MACHINE_OPENERS: f64 = 0.41 / 0.59 * 0.20;

/// The share of clickers who then convert (the primary conversion event).
pub(crate) const CONVERSION_PER_CLICK: f64 = 0.15;

/// The serve times of batch `b` (starting at `t`) of a send of `n` recipients
/// throttled evenly over `SEND_BATCHES` batches.
pub(crate) fn throttled_batch(n: u64, b: i64, t: i64) -> impl Iterator<Item = i64> {
    let lo = n * b as u64 / SEND_BATCHES as u64;
    let hi = n * (b as u64 + 1) / SEND_BATCHES as u64;
    let in_batch = hi - lo;
    (0..in_batch).map(move |j| t + (j as i64 * BATCH_SECS) / in_batch.max(1) as i64)
}

/// One recipient's Connected Content call as Braze makes it.
pub(crate) struct Call {
    recipient: u64,
    braze_id: String,
    /// What the template computes with `hmac_sha256_hex` for the call's URL.
    pub(crate) key: RecipientKey,
    /// When the call is made (UNIX seconds).
    pub(crate) time: i64,
    /// Braze renders some messages twice: a second call, two seconds later.
    pub(crate) rendered_twice: bool,
}

/// A Currents delivery as Braze writes it (personal data included).
pub(crate) struct CurrentsFile {
    pub(crate) kind: EventType,
    pub(crate) bytes: Vec<u8>,
    /// Records in the file.
    pub(crate) records: u64,
}

/// An event waiting for its Currents delivery.
struct Pending {
    time: i64,
    record: EventRecord,
}

/// The simulated world.
pub(crate) struct Sim {
    seed: u64,
    variants: Vec<VariantId>,
    /// The hidden click rate of each variant, in the order of `variants`.
    rates: Vec<f64>,
    /// The hidden human open rate of each variant.
    open_rates: Vec<f64>,
    /// The hidden unsubscribe rate of each variant.
    unsubscribe_rates: Vec<f64>,
    rng: Pcg64,
    /// Opens and unsubscribes draw from their own generator, so that the
    /// clicks stay those of a click-only simulation.
    outcome_rng: Pcg64,
    /// The Braze template's `hmac_sha256_hex` with the shared secret.
    liquid: Pseudonymizer,
    next_recipient: u64,
    pending: Vec<Pending>,
    redeliver: Vec<EventRecord>,
    served: Vec<u64>,
    expected_clicks: f64,
}

impl Sim {
    /// A world where variant `variants[i]` has the true click rate
    /// `rates[i]`, human open rate `open_rates[i]` and unsubscribe rate
    /// `unsubscribe_rates[i]`.
    pub(crate) fn new(
        seed: u64,
        variants: &[VariantId],
        rates: &[f64],
        open_rates: &[f64],
        unsubscribe_rates: &[f64],
        secret: &[u8],
    ) -> Sim {
        Sim {
            seed,
            variants: variants.to_vec(),
            rates: rates.to_vec(),
            open_rates: open_rates.to_vec(),
            unsubscribe_rates: unsubscribe_rates.to_vec(),
            rng: Pcg64::seed_from_u64(seed),
            outcome_rng: Pcg64::seed_from_u64(seed ^ 0x6f70_656e_7321),
            liquid: Pseudonymizer::keyed(secret),
            next_recipient: 0,
            pending: Vec::new(),
            redeliver: Vec::new(),
            served: vec![0; variants.len()],
            expected_clicks: 0.0,
        }
    }

    /// The hidden click rates, in variant order.
    pub(crate) fn rates(&self) -> &[f64] {
        &self.rates
    }

    /// The hidden human open rates, in variant order.
    pub(crate) fn open_rates(&self) -> &[f64] {
        &self.open_rates
    }

    /// The hidden unsubscribe rates, in variant order.
    pub(crate) fn unsubscribe_rates(&self) -> &[f64] {
        &self.unsubscribe_rates
    }

    /// Recipients served so far, per variant (in variant order).
    pub(crate) fn served(&self) -> &[u64] {
        &self.served
    }

    /// Recipients served so far.
    pub(crate) fn recipients_served(&self) -> u64 {
        self.next_recipient
    }

    /// The sum of the served variants' true rates: the clicks expected from
    /// the allocation as served.
    pub(crate) fn expected_clicks(&self) -> f64 {
        self.expected_clicks
    }

    /// The next recipient's Connected Content call at `time`.
    pub(crate) fn connected_content_call(&mut self, time: i64) -> Result<Call, String> {
        let recipient = self.next_recipient;
        self.next_recipient += 1;
        let braze_id = braze_id(self.seed, recipient);
        let key = self
            .liquid
            .key_for(&braze_id)
            .ok_or("a generated Braze id has no key")?;
        let rendered_twice = self.rng.random::<f64>() < 0.05;
        Ok(Call {
            recipient,
            braze_id,
            key,
            time,
            rendered_twice,
        })
    }

    /// Ground truth: does the recipient of `call`, shown `variant`, click, when,
    /// and how often? Link scanners click too, within seconds of delivery.
    pub(crate) fn recipient_reacts(
        &mut self,
        call: &Call,
        variant: VariantId,
    ) -> Result<(), String> {
        let vi = self
            .variants
            .iter()
            .position(|id| *id == variant)
            .ok_or("assign returned an unknown variant")?;
        let rate = self.rates[vi];
        self.served[vi] += 1;
        self.expected_clicks += rate;
        let (r, bid, serve) = (call.recipient, call.braze_id.as_str(), call.time);
        if self.rng.random::<f64>() < rate {
            let when = serve + self.click_delay();
            let c = self.click(r, bid, variant, serve, when, false);
            self.pending.push(c);
            // A share of the clickers buy (the campaign's primary conversion
            // event), hours to days after the click.
            let rng = &mut self.outcome_rng;
            if rng.random::<f64>() < CONVERSION_PER_CLICK {
                let z = standard_normal(rng);
                let delay = (21_600f64.ln() + 1.2 * z).exp().clamp(60.0, 6.0 * 86_400.0) as i64;
                let conv = self.event(
                    EventType::CampaignConversion,
                    r,
                    bid,
                    serve,
                    when + delay,
                    None,
                );
                self.pending.push(conv);
            }
            if self.rng.random::<f64>() < 0.25 {
                let again = when + 10 + (self.rng.random::<f64>() * 7_200.0) as i64;
                let c = self.click(r, bid, variant, serve, again, false);
                self.pending.push(c);
            }
        }
        if self.rng.random::<f64>() < 0.02 {
            let when = serve + 5 + (self.rng.random::<f64>() * 85.0) as i64;
            let c = self.click(r, bid, variant, serve, when, true);
            self.pending.push(c);
        }
        // Opens: machine opens within minutes of delivery for the recipients
        // whose mail app fetches every message; human opens after a
        // log-normal delay (median 20 minutes); both for some.
        let rng = &mut self.outcome_rng;
        if rng.random::<f64>() < MACHINE_OPENERS {
            let when = serve + 20 + (rng.random::<f64>() * 280.0) as i64;
            let o = self.event(EventType::Open, r, bid, serve, when, Some("true"));
            self.pending.push(o);
        }
        let rng = &mut self.outcome_rng;
        if rng.random::<f64>() < self.open_rates[vi] {
            let z = standard_normal(rng);
            let when = serve + (1_200f64.ln() + 1.2 * z).exp().clamp(10.0, 5.0 * 86_400.0) as i64;
            let o = self.event(EventType::Open, r, bid, serve, when, Some("false"));
            self.pending.push(o);
        }
        let rng = &mut self.outcome_rng;
        if rng.random::<f64>() < self.unsubscribe_rates[vi] {
            let when = serve + 60 + (-7_200.0 * (1.0 - rng.random::<f64>()).ln()) as i64;
            let u = self.event(EventType::Unsubscribe, r, bid, serve, when, None);
            self.pending.push(u);
        }
        Ok(())
    }

    /// An open, unsubscribe or conversion record of `recipient`, served at `served`.
    fn event(
        &mut self,
        kind: EventType,
        recipient: u64,
        braze_id: &str,
        served: i64,
        time: i64,
        machine_open: Option<&'static str>,
    ) -> Pending {
        let mut p = self.click(recipient, braze_id, VariantId(0), served, time, false);
        p.record.kind = kind;
        p.record.url = String::new();
        p.record.machine_open = machine_open;
        p.record.user_agent = match machine_open {
            Some("true") => "Mozilla/5.0".to_string(),
            _ => "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148".to_string(),
        };
        p
    }

    /// The Currents files (one per event type) of the events that happened
    /// before `now`, plus a few redelivered from the previous delivery; empty
    /// when there is nothing to deliver.
    pub(crate) fn currents_files(&mut self, now: i64) -> Vec<CurrentsFile> {
        let mut due: Vec<EventRecord> = Vec::new();
        let mut i = 0;
        while i < self.pending.len() {
            if self.pending[i].time < now {
                due.push(self.pending.swap_remove(i).record);
            } else {
                i += 1;
            }
        }
        // At-least-once delivery: some events of the previous delivery come again.
        due.append(&mut self.redeliver);
        due.sort_by_key(|c| c.time);
        for c in &due {
            if self.rng.random::<f64>() < 0.01 {
                self.redeliver.push(c.clone());
            }
        }
        let mut files = Vec::new();
        for kind in [
            EventType::Click,
            EventType::Open,
            EventType::Unsubscribe,
            EventType::CampaignConversion,
        ] {
            let of_kind: Vec<EventRecord> =
                due.iter().filter(|c| c.kind == kind).cloned().collect();
            if of_kind.is_empty() {
                continue;
            }
            let sync: [u8; 16] = self.rng.random();
            files.push(CurrentsFile {
                kind,
                bytes: write_file(kind, &of_kind, sync),
                records: of_kind.len() as u64,
            });
        }
        files
    }

    fn uuid(&mut self) -> String {
        let a: u128 = self.rng.random();
        let h = format!("{a:032x}");
        format!(
            "{}-{}-4{}-a{}-{}",
            &h[0..8],
            &h[8..12],
            &h[13..16],
            &h[17..20],
            &h[20..32]
        )
    }

    /// Click delay in seconds: log-normal, median 40 minutes, most within hours,
    /// a tail of days.
    fn click_delay(&mut self) -> i64 {
        let z = standard_normal(&mut self.rng);
        let secs = (2_400.0_f64.ln() + 1.5 * z).exp();
        secs.clamp(15.0, 10.0 * 86_400.0) as i64
    }

    fn click(
        &mut self,
        recipient: u64,
        braze_id: &str,
        variant: VariantId,
        served: i64,
        time: i64,
        bot: bool,
    ) -> Pending {
        let email = format!("shopper.{recipient}@mail.example.net");
        let lid = format!("{:012x}", self.rng.random::<u64>() >> 16);
        let url = format!(
            "https://shop.example.com/spring-sale?utm_source=braze&utm_medium=email&utm_campaign=spring&dov={variant}.{served}&email={}&lid={lid}",
            email.replace('@', "%40")
        );
        let user_agent = if bot {
            "Mozilla/5.0 (compatible; LinkScanner/2.1; +https://security.example.org/bot)"
                .to_string()
        } else {
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36".to_string()
        };
        Pending {
            time,
            record: EventRecord {
                kind: EventType::Click,
                id: self.uuid(),
                user_id: braze_id.to_string(),
                external_user_id: format!("cust-{recipient:08}"),
                email_address: email,
                time,
                url,
                user_agent,
                send_id: format!("send-{:x}", served / BATCH_SECS),
                dispatch_id: format!("dispatch-{:x}", served / BATCH_SECS),
                link_id: lid,
                suspected_bot: bot,
                machine_open: None,
            },
        }
    }
}

/// A standard normal draw by Box–Muller (the example's own simulation noise).
fn standard_normal(rng: &mut Pcg64) -> f64 {
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// The Braze user id of `recipient`: 24 hex characters, like an ObjectId.
fn braze_id(seed: u64, recipient: u64) -> String {
    let mut r = Pcg64::seed_from_u64(seed ^ recipient.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    format!("{:024x}", r.random::<u128>() >> 32)
}
