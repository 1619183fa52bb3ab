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

/// Renders the whole chart.
pub(crate) fn render(
    names: &[String],
    points: &[AllocationPoint],
    posteriors: &[Posterior],
    send_hours: f64,
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
        r#"<text x="{left}" y="24" font-size="15">Share of recipients served per variant (allocation recomputed every 5 minutes)</text>"#
    );
    let max_hours = points
        .iter()
        .map(|p| p.hours)
        .fold(0.0_f64, f64::max)
        .max(1e-9);
    // Piecewise time axis: the send gets three quarters of the width, the
    // click tail the rest.
    let tail_hours = (max_hours - send_hours).max(1e-9);
    let x = |hours: f64| {
        if hours <= send_hours {
            left + 0.75 * pw * hours / send_hours
        } else {
            left + 0.75 * pw + 0.25 * pw * (hours - send_hours) / tail_hours
        }
    };
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
        let _ = writeln!(
            s,
            r#"<rect x="{:.1}" y="{:.1}" width="12" height="12" fill="{}"/><text x="{:.1}" y="{:.1}">{name}</text>"#,
            w - right + 15.0,
            top + 18.0 * i as f64,
            colour(i),
            w - right + 32.0,
            top + 18.0 * i as f64 + 10.0
        );
        lower = upper;
    }
    let labels: Vec<&str> = points.iter().map(|p| p.label.as_str()).collect();
    let hours: Vec<String> = points.iter().map(|p| format!("{:.4}", p.hours)).collect();
    let _ = writeln!(
        s,
        r#"<g class="x-points" data-labels="{}" data-hours="{}"></g>"#,
        labels.join(","),
        hours.join(",")
    );
    let mut xticks: Vec<(f64, String)> = (0..=send_hours as i64)
        .map(|hr| (x(hr as f64), format!("{hr}h")))
        .collect();
    let mut d = 24.0;
    while send_hours + d <= max_hours + 1e-9 {
        xticks.push((x(send_hours + d), format!("+{}d", (d / 24.0) as i64)));
        d += 24.0;
    }
    let _ = writeln!(
        s,
        r##"<line x1="{sx:.1}" x2="{sx:.1}" y1="{top}" y2="{:.1}" stroke="#333" stroke-dasharray="5 4"/><text x="{:.1}" y="{:.1}">click tail</text>"##,
        top + ph,
        x(send_hours) + 6.0,
        top + 14.0,
        sx = x(send_hours)
    );
    axes(
        &mut s,
        (left, top, pw, ph),
        &xticks,
        "time since the first send (send phase, then the 3-day click tail)",
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
    let ticks = [
        format!("{:.2}%", lo * 100.0),
        format!("{:.2}%", (lo + hi) * 50.0),
        format!("{:.2}%", hi * 100.0),
    ];
    let _ = writeln!(
        s,
        r#"<line x1="{left}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="black"/>"#,
        left + pw,
        off + top + ph,
        off + top + ph
    );
    for (j, t) in ticks.iter().enumerate() {
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{t}</text>"#,
            left + pw * j as f64 / 2.0,
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

fn posterior_range(ps: &[Posterior]) -> (f64, f64) {
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
