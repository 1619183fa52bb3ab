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
//! - [`currents`]: Braze Currents email and conversion events and Avro Object Container File
//!   decoding ([`currents::Reader`], [`currents::decode_file`], [`currents::ObjectKey`]);
//! - [`pii`]: the allowlist [`pii::Policy`], the [`pii::Filter`] to clean events
//!   (from Avro files, or from Custom HTTP JSON bodies with [`pii::Filter::clean_http`]),
//!   URL scrubbing, the [`pii::Pseudonymizer`] and the sanitising rewrite [`pii::sanitize`];
//! - [`attribution`]: exposures and clean events to per-variant outcomes,
//!   exactly once ([`attribution::Attribution`]);
//! - [`optimiser`]: Thompson sampling, allocation, sticky assignment, reports
//!   and the stopping rule ([`optimiser::Optimiser`]).
//!
//! On top of them, [`host`] is the facade a service uses: one
//! [`host::Host`] per set of experiments (serve, ingest, recompute, report,
//! publish an [`host::Allocation`], one compact binary snapshot, the
//! exposure journal).
//!
//! The customer side (which holds personal data) may run only
//! [`pii::sanitize`] and hand the PII-free files to the optimising side, which
//! decodes them straight into clean events. See [`guide`] for the Braze side
//! (Connected Content, the link tag, the Current), [`scaling`] for sizing a
//! deployment and [`design`] for the rules the code follows (`docs/design.md`).
//!
//! ## A complete host loop
//!
//! [`host::Host`] owns the optimiser and attribution of a set of experiments,
//! one [`host::ExperimentDef`] each; the lower-level [`optimiser::Optimiser`]
//! and [`attribution::Attribution`] stay public for hosts that want them.
//!
//! ```
//! use dynopt::attribution::{Mode, Scope};
//! use dynopt::chrono::{Duration, TimeZone, Utc};
//! use dynopt::currents::ObjectKey;
//! use dynopt::host::{ExperimentDef, Host};
//! use dynopt::rand::{rngs::StdRng, SeedableRng};
//! use dynopt::{ExperimentId, RecipientKey};
//! # use dynopt::currents::{encode_long, encode_opt_str, encode_str, Codec, OcfWriter};
//! # use dynopt::pii::{sanitize, Pseudonymizer, SanitizeOptions};
//! # const SECRET: &[u8] = b"shared-with-the-braze-template";
//! # let braze_id = "5f1a2b3c4d5e6f7a8b9c0d1e";
//! # let rk_hex = Pseudonymizer::keyed(SECRET).key_for(braze_id).expect("not redacted").to_string();
//! # let t0 = Utc.with_ymd_and_hms(2026, 3, 20, 9, 0, 0).unwrap();
//! # let (now, mut rng, mut journal) = (t0 + Duration::minutes(45), StdRng::seed_from_u64(7), Vec::new());
//! # // A one-click Braze file, sanitized on the customer side (pii::sanitize).
//! # let schema = r#"{"type":"record","name":"Click","namespace":"dataexport.S3.inner.users.messages.email",
//! #   "fields":[{"name":"id","type":"string"},{"name":"user_id","type":"string","doc":"[PII] Braze user ID"},
//! #   {"name":"time","type":"int"},{"name":"campaign_id","type":["null","string"],"default":null},
//! #   {"name":"email_address","type":"string","doc":"[PII] email"},
//! #   {"name":"url","type":["null","string"],"default":null}]}"#;
//! # let writer = OcfWriter::new(schema, Codec::Deflate, &[], [9; 16]);
//! # let (mut braze_file, mut records) = (Vec::new(), Vec::new());
//! # writer.header(&mut braze_file);
//! # encode_str("0b8e5c52-9f4e-4c1e-8d7a-3f2b1c0d9e8f", &mut records);
//! # encode_str(braze_id, &mut records);
//! # encode_long((t0 + Duration::minutes(40)).timestamp(), &mut records);
//! # encode_opt_str(Some("cmp-1"), &mut records);
//! # encode_str("jane@example.com", &mut records);
//! # encode_opt_str(Some("https://shop.example.com/?dov=0&email=jane%40example.com"), &mut records);
//! # writer.write_block(1, &records, &mut braze_file);
//! # let file = sanitize(&braze_file, &SanitizeOptions::new().with_pseudonymizer(Pseudonymizer::keyed(SECRET)))?.bytes;
//! # let path = "currents/event_type=users.messages.email.Click/date=2026-03-20-09/0/f+0+1.avro";
//! let mut host = Host::new(); // or Host::restore(&last_snapshot)? plus the journal replayed
//! host.add_experiment(ExperimentDef::new("spring-subject", Scope::campaign("cmp-1"), Mode::ExposureJoin, 0x5eed)
//!     .variant("Spring is here: 20% off").variant("20% off ends Sunday"))?;
//! let id = ExperimentId::new("spring-subject");
//!
//! // Connected Content handler, GET /assign?rk=<hmac_sha256_hex of ${braze_id}>:
//! let (served, entry) = host.serve(&id, RecipientKey::from_hex(&rk_hex)?, t0)?;
//! entry.encode(&mut journal); // durable before answering; a re-render gets the same variant
//! let body = format!(r#"{{"variant":{},"label":"{}","tag":"{}"}}"#, served.variant, served.label, served.tag);
//!
//! // Worker, for each (sanitized) Currents file, by object key; a key seen before is skipped:
//! let report = host.ingest_file(&ObjectKey::parse(path)?, &file, now);
//!
//! // Every few minutes: learn, publish to serving replicas, store one compact snapshot.
//! host.recompute(now, &mut rng);
//! let allocation = std::sync::Arc::new(host.publish());
//! let state: Vec<u8> = host.snapshot();
//! # assert!(body.contains("\"tag\"") && report.error.is_none());
//! # assert_eq!(report.clicks_attributed, 1);
//! # let seeded = || StdRng::seed_from_u64(1);
//! # assert_eq!(Host::restore(&state)?.report(now, &mut seeded()), host.report(now, &mut seeded()));
//! # assert_eq!(allocation.version(), host.allocation_version());
//! # Ok::<(), Box<dyn std::error::Error>>(())
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
pub mod host;
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

/// The `rand` this crate is built with (0.10): use it for the generators
/// you pass in (`dynopt::rand::rngs::StdRng`), since a generator of another
/// major version does not implement this version's traits (the error then
/// names a missing trait, not the version).
pub use rand;

/// The `chrono` this crate is built with (0.4), for the times you pass in.
pub use chrono;

pub use serve::{ServeError, Served, serve};
pub use snapshot::{JsonPosition, RestoreError};
pub use vocab::{
    ExperimentId, Guardrail, InvalidRecipientKey, Pii, RecipientKey, Reward, Text, Update,
    VariantId,
};
