//! The experiments the service runs: a JSON file, or the demo experiment.

use dynopt::attribution::{Mode, Scope};
use dynopt::host::{ExperimentDef, VariantDef};
use serde_json::Value;

/// The salt of the demo experiment. A real deployment sets its own secret
/// salt per experiment in the experiments file.
const DEMO_SALT: u64 = 0x6479_6e6f_7074_0001;

/// The demo experiment of `docs/braze-setup.md`, used without `--experiments`.
pub(crate) fn demo() -> Vec<ExperimentDef> {
    vec![
        ExperimentDef::new(
            "spring-subject",
            Scope::campaign("cmp-1"),
            Mode::ExposureJoin,
            DEMO_SALT,
        )
        .variant("Our spring sale starts today")
        .variant("20% off ends Sunday")
        .variant("Fresh picks for spring, 20% off")
        .with_control(0),
    ]
}

/// Parses the experiments file:
///
/// ```json
/// {"experiments": [{"id": "spring-subject", "campaign": "cmp-1",
///   "variation": null, "canvas_step": null, "mode": "exposure-join",
///   "salt": 8023412311,
///   "variants": ["Our spring sale starts today",
///                {"label": "20% off ends Sunday", "parts": {"subject": "...", "preheader": "..."}}],
///   "control": 0}]}
/// ```
///
/// `salt` is the assignment salt (a secret, not 0); keep it for the life of
/// the experiment. A variant is a label or a label with named parts.
pub(crate) fn parse(bytes: &[u8]) -> Result<Vec<ExperimentDef>, String> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    let list = v["experiments"]
        .as_array()
        .ok_or("no `experiments` array")?;
    let mut out = Vec::new();
    for (i, e) in list.iter().enumerate() {
        let at = |m: &str| format!("experiment {i}: {m}");
        let id = e["id"].as_str().ok_or_else(|| at("no `id`"))?;
        if id.is_empty() || id.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(at(
                "`id` must be non-empty, without spaces or control characters",
            ));
        }
        let scope = match (e["campaign"].as_str(), e["canvas_step"].as_str()) {
            (Some(c), None) => match e["variation"].as_str() {
                Some(v) => Scope::campaign(c).with_variation(v),
                None => Scope::campaign(c),
            },
            (None, Some(s)) => Scope::canvas_step(s),
            _ => return Err(at("exactly one of `campaign` and `canvas_step`")),
        };
        let mode = match e["mode"].as_str().unwrap_or("exposure-join") {
            "exposure-join" => Mode::ExposureJoin,
            "url-tag" => Mode::url_tag(),
            _ => return Err(at("`mode` is `exposure-join` or `url-tag`")),
        };
        let salt = e["salt"]
            .as_u64()
            .filter(|&s| s != 0)
            .ok_or_else(|| at("`salt` is a secret non-zero integer"))?;
        let mut variants = Vec::new();
        for v in e["variants"]
            .as_array()
            .ok_or_else(|| at("no `variants` array"))?
        {
            variants.push(match v {
                Value::String(label) => VariantDef::new(label.clone()),
                Value::Object(o) => {
                    let label = o
                        .get("label")
                        .and_then(Value::as_str)
                        .ok_or_else(|| at("a variant object has a `label`"))?;
                    let mut def = VariantDef::new(label);
                    if let Some(parts) = o.get("parts").and_then(Value::as_object) {
                        for (name, text) in parts {
                            let text = text
                                .as_str()
                                .ok_or_else(|| at("variant parts are strings"))?;
                            def = def.part(name.clone(), text);
                        }
                    }
                    def
                }
                _ => return Err(at("a variant is a label or {label, parts}")),
            });
        }
        if variants.is_empty() {
            return Err(at("no variants"));
        }
        let control = match &e["control"] {
            Value::Null => None,
            c => Some(
                c.as_u64()
                    .and_then(|c| usize::try_from(c).ok())
                    .filter(|&c| c < variants.len())
                    .ok_or_else(|| at("`control` is a variant index"))?,
            ),
        };
        if out.iter().any(|d: &ExperimentDef| d.id.as_str() == id) {
            return Err(at("duplicate `id`"));
        }
        let mut def = ExperimentDef::new(id, scope, mode, salt);
        for v in variants {
            def = def.variant(v);
        }
        if let Some(c) = control {
            def = def.with_control(c);
        }
        out.push(def);
    }
    if out.is_empty() {
        return Err("no experiments".into());
    }
    Ok(out)
}
