//! One definition per experiment: what attribution and the optimiser each
//! need, plus the variants' labels and parts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::attribution::{AttributionConfig, Mode, Scope};
use crate::optimiser::{DelayModel, GuardrailRule, OptimiserConfig};
use crate::vocab::{ExperimentId, Reward};

/// One variant: a label (what reports show) and, for a multi-part variant,
/// its named parts (for example `subject`, `preheader`, `body`), which the
/// template renders together. A recipient sees all parts of one variant, so
/// one experiment tests whole combinations.
///
/// ```
/// use dynopt::host::VariantDef;
/// let v = VariantDef::new("spring-a")
///     .part("subject", "Spring is here: 20% off")
///     .part("preheader", "Three days only");
/// assert_eq!(v.parts["subject"], "Spring is here: 20% off");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct VariantDef {
    /// The label (also the optimiser's variant label).
    pub label: String,
    /// Named parts, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parts: BTreeMap<String, String>,
}

impl VariantDef {
    /// A variant with a label and no parts.
    pub fn new(label: impl Into<String>) -> VariantDef {
        VariantDef {
            label: label.into(),
            parts: BTreeMap::new(),
        }
    }

    /// Adds (or replaces) a named part.
    pub fn part(mut self, name: impl Into<String>, text: impl Into<String>) -> VariantDef {
        self.parts.insert(name.into(), text.into());
        self
    }
}

impl From<&str> for VariantDef {
    fn from(label: &str) -> VariantDef {
        VariantDef::new(label)
    }
}

impl From<String> for VariantDef {
    fn from(label: String) -> VariantDef {
        VariantDef::new(label)
    }
}

/// One experiment's whole definition for a [`Host`](super::Host): its id,
/// attribution settings (scope, mode, window, ...), optimiser settings
/// (priors, allocation options, the assignment salt), variants and control.
///
/// ```
/// use dynopt::attribution::{Mode, Scope};
/// use dynopt::host::ExperimentDef;
/// let def = ExperimentDef::new("spring-subject", Scope::campaign("cmp-1"), Mode::ExposureJoin, 0x5eed)
///     .variant("Spring is here: 20% off")
///     .variant("20% off ends Sunday")
///     .with_control(0);
/// assert_eq!(def.optimiser.salt, 0x5eed);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ExperimentDef {
    /// The experiment id.
    pub id: ExperimentId,
    /// Attribution settings.
    pub attribution: AttributionConfig,
    /// Optimiser settings; `salt` is the assignment salt (never 0 in a host).
    pub optimiser: OptimiserConfig,
    /// The variants: the `i`-th gets `VariantId(i)`.
    pub variants: Vec<VariantDef>,
    /// The control, as an index into `variants`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control: Option<usize>,
}

impl ExperimentDef {
    /// A definition with default attribution and optimiser settings and the
    /// host's assignment salt (a secret; a [`Host`](super::Host) refuses 0).
    pub fn new(id: impl Into<String>, scope: Scope, mode: Mode, salt: u64) -> ExperimentDef {
        let optimiser = OptimiserConfig {
            salt,
            ..OptimiserConfig::default()
        };
        ExperimentDef {
            id: ExperimentId::new(id),
            attribution: AttributionConfig::new(scope, mode),
            optimiser,
            variants: Vec::new(),
            control: None,
        }
    }

    /// Adds a variant.
    pub fn variant(mut self, variant: impl Into<VariantDef>) -> ExperimentDef {
        self.variants.push(variant.into());
        self
    }

    /// Names the control by its index in `variants`.
    pub fn with_control(mut self, index: usize) -> ExperimentDef {
        self.control = Some(index);
        self
    }

    /// Sets the reward in both configurations, and the optimiser's delay
    /// model to the reward's learned default ([`DelayModel::default_for`]).
    ///
    /// ```
    /// use dynopt::attribution::{Mode, Scope};
    /// use dynopt::host::ExperimentDef;
    /// use dynopt::Reward;
    /// let def = ExperimentDef::new("s", Scope::campaign("c"), Mode::ExposureJoin, 7)
    ///     .with_reward(Reward::Open);
    /// assert_eq!(def.attribution.reward, def.optimiser.reward);
    /// ```
    pub fn with_reward(mut self, reward: Reward) -> ExperimentDef {
        self.attribution.reward = reward;
        self.optimiser.reward = reward;
        self.optimiser.delay = DelayModel::default_for(reward);
        self
    }

    /// Adds a guardrail: the optimiser's rule, and its metric to what
    /// attribution emits.
    pub fn with_guardrail(mut self, rule: GuardrailRule) -> ExperimentDef {
        if !self.attribution.guardrails.contains(&rule.metric) {
            self.attribution.guardrails.push(rule.metric);
        }
        self.optimiser
            .guardrails
            .retain(|r| r.metric != rule.metric);
        self.optimiser.guardrails.push(rule);
        self
    }

    /// Whether the two configurations agree: the same reward kind, and every
    /// guardrail rule's metric emitted by attribution.
    pub(crate) fn consistent(&self) -> bool {
        self.attribution.reward.name() == self.optimiser.reward.name()
            && self
                .optimiser
                .guardrails
                .iter()
                .all(|r| self.attribution.guardrails.contains(&r.metric))
    }
}
