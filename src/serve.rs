//! Serving an email: one call that assigns and records, consistent across
//! re-renders.

use chrono::{DateTime, Utc};

use crate::attribution::{Attribution, Exposure, ExposureError, Tag};
use crate::optimiser::{Optimiser, OptimiserError};
use crate::vocab::{ExperimentId, RecipientKey, VariantId};

/// What a Connected Content answer carries: the variant to render and the
/// tag to put in its links.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Served {
    /// The variant to render.
    pub variant: VariantId,
    /// The link tag (`dov=<tag>`): the variant and when it was first served.
    pub tag: Tag,
    /// The recipient had already been served within the window (a re-render:
    /// HTML, plain text, AMP, preview, resend): this is the variant recorded
    /// then, whatever the allocation says now.
    pub repeat: bool,
}

/// Why [`serve`] could not answer.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The optimiser could not assign (unknown experiment, no active variant).
    #[error(transparent)]
    Optimiser(#[from] OptimiserError),
    /// Attribution could not record the exposure (unknown experiment, too
    /// many variants).
    #[error(transparent)]
    Exposure(#[from] ExposureError),
}

/// The Connected Content handler's one call: serves `recipient` and records
/// the exposure at `now`.
///
/// When attribution already holds a live exposure of this recipient (Braze
/// rendered the message before), the variant recorded then is returned with
/// its original serve time, even if an allocation recompute since would
/// assign another: the email shows the copy the click will be credited to.
/// Otherwise the optimiser's sticky assignment is served and recorded.
///
/// ```
/// use chrono::{TimeDelta, TimeZone, Utc};
/// use dynopt::attribution::{Attribution, AttributionConfig, Mode, Scope};
/// use dynopt::optimiser::{Optimiser, OptimiserConfig};
/// use dynopt::{serve, ExperimentId, RecipientKey};
///
/// let id = ExperimentId::new("subject");
/// let mut opt = Optimiser::new();
/// let exp = opt.add_experiment(id.clone(), OptimiserConfig::default())?;
/// let a = exp.add_variant("A")?;
/// let b = exp.add_variant("B")?;
/// let mut attr = Attribution::new();
/// attr.add_experiment(id.clone(), AttributionConfig::new(Scope::campaign("c1"), Mode::ExposureJoin))?;
/// let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap();
/// let key = RecipientKey([5; 16]);
/// let first = serve(&opt, &mut attr, &id, key, t0)?;
/// assert!(!first.repeat);
/// // The allocation moves everyone to the other variant; the plain-text
/// // render a minute later still gets the first answer.
/// let other = if first.variant == a { b } else { a };
/// opt.experiment_mut(&id).expect("added").set_allocation(&[(other, 1.0)])?;
/// let again = serve(&opt, &mut attr, &id, key, t0 + TimeDelta::minutes(1))?;
/// assert_eq!((again.variant, again.tag, again.repeat), (first.variant, first.tag, true));
/// assert_eq!(again.tag.to_string(), format!("{}.{}", first.variant, t0.timestamp()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn serve(
    optimiser: &Optimiser,
    attribution: &mut Attribution,
    experiment: &ExperimentId,
    recipient: RecipientKey,
    now: DateTime<Utc>,
) -> Result<Served, ServeError> {
    if let Some((variant, at)) = attribution.exposure_of(experiment, &recipient, now) {
        // Counted as a repeat; the recorded variant stands.
        let recorded = match attribution.record_exposure(experiment, recipient, variant, now)? {
            Exposure::Repeat(v) => v,
            Exposure::New => variant,
        };
        return Ok(Served {
            variant: recorded,
            tag: Tag {
                variant: recorded,
                served_at: Some(at),
            },
            repeat: true,
        });
    }
    let assigned = optimiser.assign(experiment, &recipient)?;
    let (variant, repeat) =
        match attribution.record_exposure(experiment, recipient, assigned, now)? {
            Exposure::New => (assigned, false),
            Exposure::Repeat(v) => (v, true),
        };
    let served_at = DateTime::from_timestamp(now.timestamp(), 0);
    Ok(Served {
        variant,
        tag: Tag { variant, served_at },
        repeat,
    })
}
