//! A small hand-written SVG chart: allocation over time (stacked areas) and the
//! posteriors at the end (Beta densities). Series carry `data-*` attributes so
//! tests can read the numbers back.

use std::fmt::Write as _;

/// One point of the allocation chart.
pub(crate) struct AllocationPoint {
    /// Hours since the broadcast started.
    pub(crate) hours: f64,
    /// The progress line's label (batch number or tail marker).
    pub(crate) label: String,
    /// Share of traffic per variant (sums to 1).
    pub(crate) shares: Vec<f64>,
}

/// A guardrail verdict on the chart: a dashed vertical line at the hour a
/// wording was first capped or retired, and its status in the legend.
pub(crate) struct GuardrailMark {
    /// The variant's position in `names`.
    pub(crate) variant: usize,
    /// Hours since the start when the status first acted (`None`: never).
    pub(crate) hours: Option<f64>,
    /// The final status label (`ok`, `watch`, `capped`, `retired`).
    pub(crate) status: String,
    /// The metric, for the line's label.
    pub(crate) metric: String,
}

/// A variant's posterior at the end.
pub(crate) struct Posterior {
    pub(crate) name: String,
    pub(crate) alpha: f64,
    pub(crate) beta: f64,
    pub(crate) true_rate: f64,
}

const PALETTE: &[&str] = &[
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac",
];

fn colour(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

/// Renders the whole chart; the legend marks `names[control]` as the control
/// and every wording a guardrail acted on, whose cap is drawn as a dashed line.
pub(crate) fn render(
    names: &[String],
    control: Option<usize>,
    points: &[AllocationPoint],
    posteriors: &[Posterior],
    send_hours: f64,
    guardrails: &[GuardrailMark],
    conversions: &[u64],
) -> String {
    let (w, h) = (900.0, 360.0);
    let (left, right, top, bottom) = (60.0, 160.0, 40.0, 40.0);
    let pw = w - left - right;
    let ph = h - top - bottom;
    let total_h = 2.0 * h + 20.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{total_h}" viewBox="0 0 {w} {total_h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{left}" y="24" font-size="15">Allocation during the send: share of each batch served per variant (recomputed every 5 minutes)</text>"#
    );
    // The send only: after it nobody is served, so there is no allocation to draw.
    let x = |hours: f64| left + pw * hours.clamp(0.0, send_hours) / send_hours.max(1e-9);
    let y = |share: f64| top + ph * (1.0 - share);

    // Stacked areas: band i spans cumulative[i-1]..cumulative[i].
    let k = names.len();
    let mut lower = vec![0.0; points.len()];
    for (i, name) in names.iter().enumerate() {
        let upper: Vec<f64> = points
            .iter()
            .zip(&lower)
            .map(|(p, lo)| lo + p.shares.get(i).copied().unwrap_or(0.0))
            .collect();
        let mut d = String::new();
        for (j, p) in points.iter().enumerate() {
            let _ = write!(
                d,
                "{}{:.2},{:.2} ",
                if j == 0 { "M" } else { "L" },
                x(p.hours),
                y(upper[j])
            );
        }
        for (j, p) in points.iter().enumerate().rev() {
            let _ = write!(d, "L{:.2},{:.2} ", x(p.hours), y(lower[j]));
        }
        d.push('Z');
        let values: Vec<String> = points
            .iter()
            .map(|p| format!("{:.4}", p.shares.get(i).copied().unwrap_or(0.0)))
            .collect();
        let _ = writeln!(
            s,
            r#"<path class="allocation" data-variant="{name}" data-values="{}" d="{d}" fill="{}" fill-opacity="0.85" stroke="white" stroke-width="0.5"/>"#,
            values.join(","),
            colour(i)
        );
        let mark = guardrails
            .iter()
            .find(|g| g.variant == i && g.status != "ok");
        let legend = match (control == Some(i), mark) {
            (true, _) => format!("{name} (control)"),
            (false, Some(g)) => format!("{name} ({}: {})", g.status, g.metric),
            (false, None) => name.clone(),
        };
        let _ = writeln!(
            s,
            r#"<rect x="{:.1}" y="{:.1}" width="12" height="12" fill="{}"/><text class="legend" data-variant="{name}" x="{:.1}" y="{:.1}">{legend}</text>"#,
            w - right + 15.0,
            top + 18.0 * i as f64,
            colour(i),
            w - right + 32.0,
            top + 18.0 * i as f64 + 10.0
        );
        lower = upper;
    }
    for g in guardrails {
        let Some(hours) = g.hours else { continue };
        let gx = x(hours);
        let name = names.get(g.variant).map_or("?", String::as_str);
        let _ = writeln!(
            s,
            r#"<line class="guardrail" data-variant="{name}" data-hours="{hours:.4}" x1="{gx:.1}" y1="{top:.1}" x2="{gx:.1}" y2="{:.1}" stroke="black" stroke-dasharray="4 3"/><text x="{:.1}" y="{:.1}" font-size="11">{name} {}: {}</text>"#,
            top + ph,
            gx + 4.0,
            top + 14.0,
            g.status,
            g.metric
        );
    }
    // The conversion stream: unique converters per variant, under the legend.
    let cy = top + 18.0 * names.len() as f64 + 24.0;
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{cy:.1}" font-size="11">conversions (3 days):</text>"#,
        w - right + 15.0
    );
    for (i, (name, n)) in names.iter().zip(conversions).enumerate() {
        let _ = writeln!(
            s,
            r#"<text class="conversions" data-variant="{name}" data-value="{n}" x="{:.1}" y="{:.1}" font-size="11">{name}: {n}</text>"#,
            w - right + 15.0,
            cy + 14.0 * (i as f64 + 1.0)
        );
    }
    let labels: Vec<&str> = points.iter().map(|p| p.label.as_str()).collect();
    let hours: Vec<String> = points.iter().map(|p| format!("{:.4}", p.hours)).collect();
    let _ = writeln!(
        s,
        r#"<g class="x-points" data-labels="{}" data-hours="{}"></g>"#,
        labels.join(","),
        hours.join(",")
    );
    let xticks: Vec<(f64, String)> = (0..=send_hours as i64)
        .map(|hr| (x(hr as f64), format!("{hr}h")))
        .collect();
    axes(
        &mut s,
        (left, top, pw, ph),
        &xticks,
        "time since the first send (the throttled send)",
        &["0%", "50%", "100%"],
    );
    let _ = k;

    // Posterior densities.
    let off = h + 20.0;
    let _ = writeln!(
        s,
        r#"<text x="{left}" y="{:.1}" font-size="15">Posterior click rate per variant at the end (dashed: hidden true rate)</text>"#,
        off + 24.0
    );
    let (lo, hi) = posterior_range(posteriors);
    let grid: Vec<f64> = (0..=200)
        .map(|i| lo + (hi - lo) * i as f64 / 200.0)
        .collect();
    let dens: Vec<Vec<f64>> = posteriors
        .iter()
        .map(|p| grid.iter().map(|&t| beta_pdf(t, p.alpha, p.beta)).collect())
        .collect();
    let max_d = dens
        .iter()
        .flatten()
        .copied()
        .fold(0.0_f64, f64::max)
        .max(1e-12);
    let px = |t: f64| left + pw * (t - lo) / (hi - lo);
    let py = |d: f64| off + top + ph * (1.0 - d / max_d);
    for (i, (p, ds)) in posteriors.iter().zip(&dens).enumerate() {
        let pts: Vec<String> = grid
            .iter()
            .zip(ds)
            .map(|(t, d)| format!("{:.2},{:.2}", px(*t), py(*d)))
            .collect();
        let _ = writeln!(
            s,
            r#"<polyline class="posterior" data-variant="{}" data-alpha="{:.3}" data-beta="{:.3}" points="{}" fill="none" stroke="{}" stroke-width="2"/>"#,
            p.name,
            p.alpha,
            p.beta,
            pts.join(" "),
            colour(i)
        );
        if p.true_rate > lo && p.true_rate < hi {
            let _ = writeln!(
                s,
                r#"<line x1="{x:.2}" x2="{x:.2}" y1="{:.2}" y2="{:.2}" stroke="{}" stroke-dasharray="4 3"/>"#,
                off + top,
                off + top + ph,
                colour(i),
                x = px(p.true_rate)
            );
        }
        let _ = writeln!(
            s,
            r#"<rect x="{:.1}" y="{:.1}" width="12" height="12" fill="{}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            w - right + 15.0,
            off + top + 18.0 * i as f64,
            colour(i),
            w - right + 32.0,
            off + top + 18.0 * i as f64 + 10.0,
            p.name
        );
    }
    let _ = writeln!(
        s,
        r#"<line x1="{left}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="black"/>"#,
        left + pw,
        off + top + ph,
        off + top + ph
    );
    for (value, label) in round_ticks(lo, hi) {
        let _ = writeln!(
            s,
            r#"<text class="posterior-tick" data-value="{value}" x="{:.1}" y="{:.1}" text-anchor="middle">{label}</text>"#,
            px(value),
            off + top + ph + 16.0
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">click-through rate</text>"#,
        left + pw / 2.0,
        off + top + ph + 32.0
    );
    s.push_str("</svg>\n");
    s
}

fn axes(
    s: &mut String,
    frame: (f64, f64, f64, f64),
    xticks: &[(f64, String)],
    xlabel: &str,
    yticks: &[&str],
) {
    let (left, top, pw, ph) = frame;
    let _ = writeln!(
        s,
        r#"<line x1="{left}" x2="{left}" y1="{top}" y2="{:.1}" stroke="black"/><line x1="{left}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="black"/>"#,
        top + ph,
        left + pw,
        top + ph,
        top + ph
    );
    for (j, t) in yticks.iter().enumerate() {
        let frac = j as f64 / (yticks.len() - 1).max(1) as f64;
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{t}</text>"#,
            left - 6.0,
            top + ph * (1.0 - frac) + 4.0
        );
    }
    for (px, label) in xticks {
        let _ = writeln!(
            s,
            r#"<text x="{px:.1}" y="{:.1}" text-anchor="middle">{label}</text>"#,
            top + ph + 16.0
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{xlabel}</text>"#,
        left + pw / 2.0,
        top + ph + 32.0
    );
}

/// The tick step for a span of rates: 1, 2 or 5 times a power of ten, giving
/// 3 to 7 intervals (0.1%, 0.2%, 0.5%, 1%, ...).
fn tick_step(span: f64) -> f64 {
    let raw = (span / 5.0).max(1e-12);
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|step| span / step <= 7.0)
        .unwrap_or(10.0 * magnitude)
}

/// Ticks on round rates inside `lo..=hi`: each value and its label in percent.
fn round_ticks(lo: f64, hi: f64) -> Vec<(f64, String)> {
    let step = tick_step(hi - lo);
    // Decimals of the step in percent: 1% -> 0, 0.5% -> 1, 0.02% -> 2.
    let decimals = (-(step * 100.0).log10().floor()).max(0.0) as usize;
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last)
        .map(|i| {
            let value = i as f64 * step;
            (value, format!("{:.decimals$}%", value * 100.0))
        })
        .collect()
}

/// The x range of the posterior chart: every posterior's mean ± 4 sd and every
/// true rate, widened to whole tick steps so that the axis starts and ends on a tick.
fn posterior_range(ps: &[Posterior]) -> (f64, f64) {
    let (lo, hi) = raw_posterior_range(ps);
    let step = tick_step(hi - lo);
    (
        ((lo / step).floor() * step).max(0.0),
        ((hi / step).ceil() * step).min(1.0),
    )
}

fn raw_posterior_range(ps: &[Posterior]) -> (f64, f64) {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for p in ps {
        let n = p.alpha + p.beta;
        let m = p.alpha / n;
        let sd = (m * (1.0 - m) / (n + 1.0)).sqrt();
        lo = lo.min(m - 4.0 * sd).min(p.true_rate);
        hi = hi.max(m + 4.0 * sd).max(p.true_rate);
    }
    if !lo.is_finite() || !hi.is_finite() || hi <= lo {
        return (0.0, 1.0);
    }
    let pad = (hi - lo) * 0.05;
    ((lo - pad).max(0.0), (hi + pad).min(1.0))
}

fn beta_pdf(x: f64, a: f64, b: f64) -> f64 {
    if x <= 0.0 || x >= 1.0 {
        return 0.0;
    }
    ((a - 1.0) * x.ln() + (b - 1.0) * (1.0 - x).ln() - ln_beta(a, b)).exp()
}

fn ln_beta(a: f64, b: f64) -> f64 {
    ln_gamma(a) + ln_gamma(b) - ln_gamma(a + b)
}

/// Lanczos approximation (g = 7, n = 9), accurate to ~1e-13 for x > 0.
fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}
