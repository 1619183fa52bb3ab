//! The experiments the service runs: a JSON file, or the demo experiment.

use serde_json::Value;

/// Which Click events belong to an experiment.
#[derive(Clone, Debug)]
pub(crate) enum ScopeDef {
    Campaign {
        campaign: String,
        variation: Option<String>,
    },
    CanvasStep(String),
}

/// One experiment: its id (the `exp=` of the Connected Content URL), its
/// Braze scope and its wordings in variant-id order.
#[derive(Clone, Debug)]
pub(crate) struct ExperimentDef {
    pub(crate) id: String,
    pub(crate) scope: ScopeDef,
    pub(crate) url_tag: bool,
    pub(crate) variants: Vec<String>,
    pub(crate) control: Option<usize>,
}

/// The demo experiment of `docs/braze-setup.md`, used without `--experiments`.
pub(crate) fn demo() -> Vec<ExperimentDef> {
    vec![ExperimentDef {
        id: "spring-subject".into(),
        scope: ScopeDef::Campaign {
            campaign: "cmp-1".into(),
            variation: None,
        },
        url_tag: false,
        variants: vec![
            "Our spring sale starts today".into(),
            "20% off ends Sunday".into(),
            "Fresh picks for spring, 20% off".into(),
        ],
        control: Some(0),
    }]
}

/// Parses the experiments file:
///
/// ```json
/// {"experiments": [{"id": "spring-subject", "campaign": "cmp-1",
///   "variation": null, "canvas_step": null, "mode": "exposure-join",
///   "variants": ["Our spring sale starts today", "20% off ends Sunday"],
///   "control": 0}]}
/// ```
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
            (Some(c), None) => ScopeDef::Campaign {
                campaign: c.to_owned(),
                variation: e["variation"].as_str().map(str::to_owned),
            },
            (None, Some(s)) => ScopeDef::CanvasStep(s.to_owned()),
            _ => return Err(at("exactly one of `campaign` and `canvas_step`")),
        };
        let url_tag = match e["mode"].as_str().unwrap_or("exposure-join") {
            "exposure-join" => false,
            "url-tag" => true,
            _ => return Err(at("`mode` is `exposure-join` or `url-tag`")),
        };
        let variants: Vec<String> = e["variants"]
            .as_array()
            .ok_or_else(|| at("no `variants` array"))?
            .iter()
            .map(|l| l.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or_else(|| at("variants are strings"))?;
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
        if out.iter().any(|d: &ExperimentDef| d.id == id) {
            return Err(at("duplicate `id`"));
        }
        out.push(ExperimentDef {
            id: id.to_owned(),
            scope,
            url_tag,
            variants,
            control,
        });
    }
    if out.is_empty() {
        return Err("no experiments".into());
    }
    Ok(out)
}
