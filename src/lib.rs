//! # dynopt
//!
//! The pure core of a real-time language optimiser for email sent through
//! Braze. A brand has several wordings (variants) of a subject line or body
//! copy; at send time Braze asks the host for each recipient's wording through
//! Connected Content; Braze Currents later exports what recipients did as Avro
//! files; dynopt turns those files into clean, attributed outcomes and shifts
//! traffic toward the wording that wins, by Thompson sampling.
//!
//! ## What dynopt does not do
//!
//! - **No I/O.** It never opens a file, a socket or an S3 object: bytes in,
//!   values and bytes out. The host reads Currents files and stores snapshots.
//! - **No clock.** Every time-dependent call takes `now` (a
//!   `chrono::DateTime<Utc>`): replaying the same inputs gives the same outputs.
//! - **No global RNG.** Every random choice takes the host's `R: Rng + ?Sized`;
//!   the same seed gives the same decisions.
//! - **No personal data past the filter.** Raw events keep personal fields in
//!   [`pii::Pii`], which cannot be serialised and prints `[REDACTED]`;
//!   [`pii::CleanEvent`] has no personal field at all.
//!
//! ## The flow
//!
//! ```text
//!  Connected Content call ─► optimiser: assign(experiment, recipient) ─► variant + tag ─► email is sent
//!         │                         ▲                                    (links carry the tag)
//!         └─► attribution: record_exposure(experiment, recipient, variant, now)
//!                                   │ updates: exposures (variant, when), clicks (variant, exposed at, clicked at)
//!  Braze file bytes ─► currents: decode ─► Event (holds PII) ─► pii: Filter ─► CleanEvent ─► attribution
//!                                       └► pii: sanitize ─► PII-free Avro ─► currents: decode ─► CleanEvent
//! ```
//!
//! Four modules, one job each, data flowing one way:
//! - [`currents`]: Braze Currents email events and Avro Object Container File
//!   decoding ([`currents::Reader`], [`currents::decode_file`], [`currents::ObjectKey`]);
//! - [`pii`]: the allowlist [`pii::Policy`], the [`pii::Filter`] to clean events,
//!   URL scrubbing, the [`pii::Pseudonymizer`] and the sanitising rewrite [`pii::sanitize`];
//! - [`attribution`]: exposures and clean events to per-variant outcomes,
//!   exactly once ([`attribution::Attribution`]);
//! - [`optimiser`]: Thompson sampling, allocation, sticky assignment, reports
//!   and the stopping rule ([`optimiser::Optimiser`]).
//!
//! The customer side (which holds personal data) may run only
//! [`pii::sanitize`] and hand the PII-free files to the optimising side, which
//! decodes them straight into clean events. See [`guide`] for the Braze side
//! (Connected Content, the link tag, the Current), [`scaling`] for sizing a
//! deployment and [`design`] for the rules the code follows (`docs/design.md`).
//!
//! ## A complete host loop
//!
//! ```
//! use chrono::{DateTime, Duration, TimeZone, Utc};
//! use dynopt::attribution::{Attribution, AttributionConfig, AttributionSnapshot, Mode, Scope};
//! use dynopt::currents::{encode_long, encode_opt_str, encode_str, Codec, DecodeOptions, OcfWriter};
//! use dynopt::optimiser::{Optimiser, OptimiserConfig, OptimiserSnapshot};
//! use dynopt::pii::{sanitize, Filter, Policy, Pseudonymizer, RecipientKey, SanitizeOptions};
//! use dynopt::{serve, ExperimentId, Update};
//! use rand::SeedableRng;
//!
//! type Error = Box<dyn std::error::Error>;
//! const SECRET: &[u8] = b"shared-with-the-braze-template";
//!
//! // ---- Set-up (or restore from snapshots, below) ----
//! let experiment = ExperimentId::new("spring-subject");
//! let mut opt = Optimiser::new();
//! let exp = opt.add_experiment(experiment.clone(), OptimiserConfig::default())?;
//! exp.add_variant("Spring is here: 20% off")?;
//! exp.add_variant("20% off ends Sunday")?;
//! let mut attr = Attribution::new();
//! attr.add_experiment(
//!     experiment.clone(),
//!     AttributionConfig::new(Scope::campaign("cmp-1"), Mode::ExposureJoin),
//! )?;
//! let mut rng = rand::rngs::StdRng::seed_from_u64(7); // the host's generator
//! let t0 = Utc.with_ymd_and_hms(2026, 3, 20, 9, 0, 0).unwrap();
//!
//! // ---- The Connected Content handler: GET /assign?rk=<hmac_sha256_hex of ${braze_id}> ----
//! fn connected_content(
//!     opt: &Optimiser, attr: &mut Attribution, experiment: &ExperimentId,
//!     rk_hex: &str, now: DateTime<Utc>,
//! ) -> Result<String, Error> {
//!     let key = RecipientKey::from_hex(rk_hex)?;        // first 16 bytes of the HMAC
//!     // Assigns (sticky) and records the exposure; a re-render (plain text,
//!     // AMP, preview) gets the variant recorded the first time.
//!     let served = serve(opt, attr, experiment, key, now)?;
//!     Ok(format!(r#"{{"variant":{},"tag":"{}"}}"#, served.variant, served.tag))
//! }
//! // Braze's Liquid `{{ ${braze_id} | hmac_sha256_hex: '...' }}` gives this hex:
//! let braze_id = "5f1a2b3c4d5e6f7a8b9c0d1e";
//! let rk = Pseudonymizer::keyed(SECRET).key_for(braze_id).expect("not redacted").to_string();
//! let body = connected_content(&opt, &mut attr, &experiment, &rk, t0)?;
//! assert!(body.contains("\"tag\""));
//!
//! // ---- The worker: every few minutes a Currents file arrives ----
//! // (Here we write a one-click Braze file ourselves; a host reads it from S3.)
//! let schema = r#"{"type":"record","name":"Click","namespace":"dataexport.S3.inner.users.messages.email",
//!   "fields":[{"name":"id","type":"string"},{"name":"user_id","type":"string","doc":"[PII] Braze user ID"},
//!   {"name":"time","type":"int"},{"name":"campaign_id","type":["null","string"],"default":null},
//!   {"name":"email_address","type":"string","doc":"[PII] email"},
//!   {"name":"url","type":["null","string"],"default":null}]}"#;
//! let writer = OcfWriter::new(schema, Codec::Deflate, &[], [9; 16]);
//! let (mut braze_file, mut records) = (Vec::new(), Vec::new());
//! writer.header(&mut braze_file);
//! encode_str("0b8e5c52-9f4e-4c1e-8d7a-3f2b1c0d9e8f", &mut records);
//! encode_str(braze_id, &mut records);
//! encode_long((t0 + Duration::minutes(40)).timestamp(), &mut records);
//! encode_opt_str(Some("cmp-1"), &mut records);
//! encode_str("jane@example.com", &mut records);
//! encode_opt_str(Some("https://shop.example.com/?dov=0&email=jane%40example.com"), &mut records);
//! writer.write_block(1, &records, &mut braze_file);
//!
//! // Customer side: strip personal data, add the pseudonymous recipient key.
//! let sanitized = sanitize(&braze_file, &SanitizeOptions::new()
//!     .with_pseudonymizer(Pseudonymizer::keyed(SECRET)))?;
//! assert!(!sanitized.bytes.windows(4).any(|w| w == b"jane"));
//!
//! // Optimising side: decode straight into clean events, attribute, learn.
//! let now = t0 + Duration::minutes(45);
//! let clean = Filter::new(Policy::new()).clean_file(&sanitized.bytes, &DecodeOptions::default());
//! assert!(clean.error.is_none());
//! for event in &clean.events {
//!     attr.handle_event(event, now);
//! }
//! let mut updates: Vec<Update> = Vec::new();
//! attr.drain_updates(&mut updates); // always drain after a change
//! for update in &updates {
//!     opt.apply(update)?;
//! }
//! assert_eq!(attr.report().clicks.attributed, 1);
//!
//! // Every few minutes: recompute the allocation that `assign` serves from.
//! opt.recompute_all(now, &mut rng);
//! let report = opt.experiment(&experiment).expect("added above").report(now, &mut rng);
//! assert_eq!(report.variants.iter().map(|v| v.clicks).sum::<u64>(), 1);
//!
//! // ---- Snapshots: plain serde values the host stores where it likes ----
//! let opt_bytes = opt.snapshot().to_json();
//! let attr_bytes = attr.snapshot().to_json();
//! let opt2 = Optimiser::restore(OptimiserSnapshot::from_json(&opt_bytes)?)?;
//! let attr2 = Attribution::restore(AttributionSnapshot::from_json(&attr_bytes)?)?;
//! let someone = RecipientKey([3; 16]);
//! assert_eq!(opt2.assign(&experiment, &someone)?, opt.assign(&experiment, &someone)?);
//! assert_eq!(attr2.report(), attr.report());
//! # Ok::<(), Error>(())
//! ```
//!
//! ## Errors and panics
//!
//! Bad input (corrupt Avro, odd object keys and URLs, garbage snapshots) gives a
//! typed error and never a panic; a panic is a bug. Decoding errors name the
//! byte offset and the field.

// The field list's group expansion walks every event's fields one token at a time.
#![recursion_limit = "512"]

#[macro_use]
mod fields;

pub mod attribution;
pub mod currents;
pub mod optimiser;
pub mod pii;
mod serve;
mod snapshot;
mod vocab;
mod wire;

pub mod guide {
    #![doc = include_str!("../docs/braze-setup.md")]
}

pub mod scaling {
    #![doc = include_str!("../docs/scaling.md")]
}

pub mod design {
    #![doc = include_str!("../docs/design.md")]
}

pub use serve::{ServeError, Served, serve};
pub use snapshot::{JsonPosition, RestoreError};
pub use vocab::{
    ExperimentId, Guardrail, InvalidRecipientKey, Pii, RecipientKey, Reward, Update, VariantId,
};
