//! Fast Beta sampling: `Beta(a, b) = X / (X + Y)` with `X ~ Gamma(a)`, `Y ~ Gamma(b)`
//! drawn by Marsaglia and Tsang's method (ziggurat normals from `rand_distr`).

use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

/// A Beta posterior over a click rate: `Beta(alpha, beta)`.
///
/// Sampling costs two Gamma draws (Marsaglia–Tsang, with the squeeze test that
/// avoids a logarithm in about 98% of draws). Shapes below 1 use the boost
/// `Gamma(a) = Gamma(a + 1) · U^(1/a)` in log space, so tiny shapes never give NaN.
///
/// ```
/// use dynopt::optimiser::Posterior;
/// use rand::SeedableRng;
/// let p = Posterior::new(3.0, 7.0).expect("positive finite shapes");
/// assert!((p.mean() - 0.3).abs() < 1e-12);
/// let mut rng = rand::rngs::StdRng::seed_from_u64(1);
/// let x = p.sample(&mut rng);
/// assert!((0.0..=1.0).contains(&x));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Posterior {
    alpha: f64,
    beta: f64,
}

impl Posterior {
    /// `Beta(1, 1)`, the uniform distribution.
    pub const UNIFORM: Posterior = Posterior {
        alpha: 1.0,
        beta: 1.0,
    };

    /// A Beta distribution; `None` unless both shapes are finite and positive.
    pub fn new(alpha: f64, beta: f64) -> Option<Posterior> {
        (alpha.is_finite() && beta.is_finite() && alpha > 0.0 && beta > 0.0)
            .then_some(Posterior { alpha, beta })
    }

    /// The first shape (prior plus successes).
    pub fn alpha(&self) -> f64 {
        self.alpha
    }

    /// The second shape (prior plus failures).
    pub fn beta(&self) -> f64 {
        self.beta
    }

    /// The mean `alpha / (alpha + beta)`.
    pub fn mean(&self) -> f64 {
        self.alpha / (self.alpha + self.beta)
    }

    /// The variance `ab / ((a + b)^2 (a + b + 1))`.
    pub fn variance(&self) -> f64 {
        let s = self.alpha + self.beta;
        self.alpha * self.beta / (s * s * (s + 1.0))
    }

    /// One draw in `[0, 1]`.
    #[inline]
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        Sampler::new(*self).sample(rng)
    }
}

/// A Beta sampler with the Marsaglia–Tsang constants precomputed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Sampler {
    a: GammaShape,
    b: GammaShape,
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct GammaShape {
    /// `shape - 1/3` of the boosted shape (`shape + 1` when `shape < 1`).
    d: f64,
    /// `1 / sqrt(9 d)`.
    c: f64,
    /// `1 / shape` when `shape < 1` (boost), else 0.
    inv_shape: f64,
}

impl GammaShape {
    fn new(shape: f64) -> GammaShape {
        let (boosted, inv_shape) = if shape < 1.0 {
            (shape + 1.0, 1.0 / shape)
        } else {
            (shape, 0.0)
        };
        let d = boosted - 1.0 / 3.0;
        GammaShape {
            d,
            c: 1.0 / (9.0 * d).sqrt(),
            inv_shape,
        }
    }

    /// A draw of `Gamma(boosted shape)`.
    #[inline]
    fn sample_boosted<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        loop {
            let x: f64 = StandardNormal.sample(rng);
            let v = 1.0 + self.c * x;
            if v <= 0.0 {
                continue;
            }
            let v = v * v * v;
            let u = open_unit(rng);
            let x2 = x * x;
            if u < 1.0 - 0.0331 * x2 * x2 {
                return self.d * v;
            }
            if u.ln() < 0.5 * x2 + self.d * (1.0 - v + v.ln()) {
                return self.d * v;
            }
        }
    }

    /// `ln` of a draw of `Gamma(shape)` (used when the boost is active).
    #[inline]
    fn ln_sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        let g = self.sample_boosted(rng).ln();
        if self.inv_shape > 0.0 {
            g + open_unit(rng).ln() * self.inv_shape
        } else {
            g
        }
    }
}

/// A uniform draw in `(0, 1)`.
#[inline]
fn open_unit<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    // 52 random mantissa bits, offset by half a step so 0 never occurs.
    ((rng.next_u64() >> 12) as f64 + 0.5) * (1.0 / 4_503_599_627_370_496.0)
}

impl Sampler {
    pub(crate) fn new(p: Posterior) -> Sampler {
        Sampler {
            a: GammaShape::new(p.alpha),
            b: GammaShape::new(p.beta),
        }
    }

    #[inline]
    pub(crate) fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        if self.a.inv_shape == 0.0 && self.b.inv_shape == 0.0 {
            let x = self.a.sample_boosted(rng);
            let y = self.b.sample_boosted(rng);
            // Both draws are positive (d > 0, v > 0), so the ratio is in (0, 1).
            x / (x + y)
        } else {
            // Log space: a tiny shape can underflow X and Y to 0 together.
            let lx = self.a.ln_sample(rng);
            let ly = self.b.ln_sample(rng);
            let r = 1.0 / (1.0 + (ly - lx).exp());
            if r.is_nan() { 0.5 } else { r }
        }
    }
}
