//! The host service: only the dynopt calls a real deployment makes, nothing
//! simulated. Copy this file into a service and wire its methods to the
//! Connected Content endpoint, the Currents worker and a timer.
//!
//! - [`Host::serve`]: the Connected Content handler (assign, record the exposure);
//! - [`Host::sanitize`]: the customer side's step on each Currents file (strip
//!   personal data, add the pseudonymous recipient key);
//! - [`Host::ingest`]: the optimising side's step on each sanitized file (decode
//!   into clean events, attribute, expire old state, apply the updates);
//! - [`Host::recompute`]: every few minutes, the allocation `serve` answers from;
//! - [`Host::report`], [`Host::accounting`], [`Host::posterior`]: what dashboards read.
//!
//! Errors are plain strings here; a service would keep the library's error types.

use chrono::{DateTime, Utc};
use dynopt::attribution::{Accounting, Attribution, AttributionConfig, Mode, Scope};
use dynopt::currents::DecodeOptions;
use dynopt::optimiser::{GuardrailRule, Optimiser, OptimiserConfig, Posterior, Report};
use dynopt::pii::{
    Filter, Policy, Pseudonymizer, RecipientKey, SanitizeOptions, SanitizeOutcome, sanitize,
};
use dynopt::{ExperimentId, Guardrail, Update, VariantId};
use rand::SeedableRng;
use rand_pcg::Pcg64;

/// The control's fixed share of the traffic (the brand's own copy).
pub(crate) const CONTROL_SHARE: f64 = 0.10;

/// Where the experiment runs in Braze: the campaign and message variation whose
/// clicks are attributed to it.
pub(crate) struct BrazeScope<'a> {
    pub(crate) campaign_id: &'a str,
    pub(crate) message_variation_id: &'a str,
}

/// One experiment served, attributed and optimised.
pub(crate) struct Host {
    experiment: ExperimentId,
    optimiser: Optimiser,
    attribution: Attribution,
    /// The optimising side's decoder and policy for sanitized files.
    filter: Filter,
    /// The customer side's sanitizer, keyed with the secret shared with the Braze template.
    sanitize: SanitizeOptions,
    /// The host's generator, for allocation recomputes and reports.
    rng: Pcg64,
    updates: Vec<Update>,
}

impl Host {
    /// Sets up `experiment` with one variant per wording (ids in order) and
    /// its attribution scope. The first wording is the brand's own copy: it is
    /// the control, kept at [`CONTROL_SHARE`] of the traffic, and every other
    /// variant's uplift is reported against it. `secret` is the key the Braze
    /// template's `hmac_sha256_hex` uses.
    pub(crate) fn new(
        experiment: ExperimentId,
        wordings: &[String],
        scope: BrazeScope<'_>,
        secret: &[u8],
        seed: u64,
    ) -> Result<(Host, Vec<VariantId>), String> {
        let mut optimiser = Optimiser::new();
        let mut config = OptimiserConfig::default();
        config.salt = seed;
        config.control_share = CONTROL_SHARE;
        // Unsubscribes may not exceed the control's by more than half
        // (default rule: credibly, P > 0.99, with 2,000 exposures a side).
        config.guardrails = vec![GuardrailRule::new(Guardrail::Unsubscribe)];
        let exp = optimiser
            .add_experiment(experiment.clone(), config)
            .map_err(|e| e.to_string())?;
        let mut ids = Vec::with_capacity(wordings.len());
        for wording in wordings {
            ids.push(
                exp.add_variant(wording.clone())
                    .map_err(|e| e.to_string())?,
            );
        }
        if let Some(&control) = ids.first() {
            exp.set_control(Some(control)).map_err(|e| e.to_string())?;
        }
        let mut attribution = Attribution::new();
        let mut attribution_config = AttributionConfig::new(
            Scope::campaign(scope.campaign_id).with_variation(scope.message_variation_id),
            Mode::ExposureJoin,
        );
        // Opens, conversions and unsubscribes join the exposures too;
        // unsubscribes go to the optimiser's guardrail.
        attribution_config.guardrails = vec![Guardrail::Unsubscribe];
        // Purchases (the campaign's conversion events) count for three days.
        attribution_config.conversion_window = Some(chrono::TimeDelta::days(3));
        attribution
            .add_experiment(experiment.clone(), attribution_config)
            .map_err(|e| e.to_string())?;
        let host = Host {
            experiment,
            optimiser,
            attribution,
            filter: Filter::new(Policy::new()),
            sanitize: SanitizeOptions::new().with_pseudonymizer(Pseudonymizer::keyed(secret)),
            rng: Pcg64::seed_from_u64(seed.wrapping_add(0x5EED)),
            updates: Vec::new(),
        };
        Ok((host, ids))
    }

    /// The Connected Content handler: the variant for `key` (sticky), recorded
    /// as an exposure at `now`. A second call for the same recipient (Braze
    /// re-rendered the message) gets the variant recorded the first time, even
    /// after an allocation recompute, and is counted once.
    pub(crate) fn serve(
        &mut self,
        key: RecipientKey,
        now: DateTime<Utc>,
    ) -> Result<VariantId, String> {
        let served = dynopt::serve(
            &self.optimiser,
            &mut self.attribution,
            &self.experiment,
            key,
            now,
        )
        .map_err(|e| e.to_string())?;
        Ok(served.variant)
    }

    /// Hands what attribution learnt (exposures, clicks, unsubscribes) to the optimiser.
    /// Call it after serving and after each file.
    pub(crate) fn apply_updates(&mut self) -> Result<(), String> {
        self.updates.clear();
        self.attribution.drain_updates(&mut self.updates);
        for u in &self.updates {
            self.optimiser
                .apply(u)
                .map_err(|e| format!("optimiser rejected an update: {e}"))?;
        }
        Ok(())
    }

    /// Customer side: the PII-free copy of a Currents file as Braze wrote it.
    pub(crate) fn sanitize(
        &self,
        braze_file: &[u8],
        now: DateTime<Utc>,
    ) -> Result<SanitizeOutcome, String> {
        sanitize(braze_file, &self.sanitize).map_err(|e| {
            format!(
                "sanitize failed on the Currents file at t={}: {e}",
                now.timestamp()
            )
        })
    }

    /// Optimising side: decodes a sanitized file, attributes its events,
    /// forgets exposures and dedup state past the window (bounded memory) and
    /// applies the updates.
    pub(crate) fn ingest(&mut self, sanitized: &[u8], now: DateTime<Utc>) -> Result<(), String> {
        let clean = self.filter.clean_file(sanitized, &DecodeOptions::default());
        if let Some(e) = clean.error {
            return Err(format!("decoding a sanitized file failed: {e}"));
        }
        for event in &clean.events {
            self.attribution.handle_event(event, now);
        }
        self.attribution.expire(now);
        self.apply_updates()
    }

    /// Recomputes the allocation that `serve` answers from and returns it.
    pub(crate) fn recompute(
        &mut self,
        now: DateTime<Utc>,
    ) -> Result<Vec<(VariantId, f64)>, String> {
        self.optimiser.recompute_all(now, &mut self.rng);
        Ok(self
            .optimiser
            .experiment(&self.experiment)
            .ok_or("experiment vanished")?
            .allocation())
    }

    /// The optimiser's report on the experiment: leader, P(best), intervals, winner.
    pub(crate) fn report(&mut self, now: DateTime<Utc>) -> Result<Report, String> {
        Ok(self
            .optimiser
            .experiment(&self.experiment)
            .ok_or("experiment vanished")?
            .report(now, &mut self.rng))
    }

    /// Attribution's accounting: every click record by bucket, per experiment and variant.
    pub(crate) fn accounting(&self) -> Accounting {
        self.attribution.report()
    }

    /// A variant's posterior, if the experiment and variant exist.
    pub(crate) fn posterior(&self, variant: VariantId) -> Option<Posterior> {
        self.optimiser
            .experiment(&self.experiment)?
            .posterior(variant)
            .ok()
    }

    /// The experiment served.
    pub(crate) fn experiment(&self) -> &ExperimentId {
        &self.experiment
    }
}
