//! Sticky assignment: the hash is pinned by an independent SipHash-2-4
//! implementation and the published reference vector.

use dynopt::optimiser::{Experiment, OptimiserConfig, assign_key, assign_point};
use dynopt::pii::RecipientKey;
use dynopt::{ExperimentId, VariantId};

/// Reference SipHash-2-4 (Aumasson & Bernstein), written independently of the crate.
fn siphash24(k0: u64, k1: u64, msg: &[u8]) -> u64 {
    let mut v0 = k0 ^ 0x736f6d6570736575;
    let mut v1 = k1 ^ 0x646f72616e646f6d;
    let mut v2 = k0 ^ 0x6c7967656e657261;
    let mut v3 = k1 ^ 0x7465646279746573;
    fn round(v0: &mut u64, v1: &mut u64, v2: &mut u64, v3: &mut u64) {
        *v0 = v0.wrapping_add(*v1);
        *v1 = v1.rotate_left(13);
        *v1 ^= *v0;
        *v0 = v0.rotate_left(32);
        *v2 = v2.wrapping_add(*v3);
        *v3 = v3.rotate_left(16);
        *v3 ^= *v2;
        *v0 = v0.wrapping_add(*v3);
        *v3 = v3.rotate_left(21);
        *v3 ^= *v0;
        *v2 = v2.wrapping_add(*v1);
        *v1 = v1.rotate_left(17);
        *v1 ^= *v2;
        *v2 = v2.rotate_left(32);
    }
    let mut chunks = msg.chunks_exact(8);
    for c in &mut chunks {
        let m = u64::from_le_bytes(c.try_into().unwrap());
        v3 ^= m;
        round(&mut v0, &mut v1, &mut v2, &mut v3);
        round(&mut v0, &mut v1, &mut v2, &mut v3);
        v0 ^= m;
    }
    let rest = chunks.remainder();
    let mut last = (msg.len() as u64 & 0xff) << 56;
    for (i, b) in rest.iter().enumerate() {
        last |= u64::from(*b) << (8 * i);
    }
    v3 ^= last;
    round(&mut v0, &mut v1, &mut v2, &mut v3);
    round(&mut v0, &mut v1, &mut v2, &mut v3);
    v0 ^= last;
    v2 ^= 0xff;
    for _ in 0..4 {
        round(&mut v0, &mut v1, &mut v2, &mut v3);
    }
    v0 ^ v1 ^ v2 ^ v3
}

const PAPER_K0: u64 = 0x0706050403020100;
const PAPER_K1: u64 = 0x0f0e0d0c0b0a0908;

#[test]
fn reference_siphash_matches_the_paper() {
    let msg: Vec<u8> = (0u8..15).collect();
    // Appendix A of the SipHash paper.
    assert_eq!(siphash24(PAPER_K0, PAPER_K1, &msg), 0xa129ca6149be45e5);
}

#[test]
fn assign_point_is_siphash24_of_the_recipient() {
    let recipient: Vec<u8> = (0u8..16).collect();
    // Published reference vector (vectors.h, message length 16).
    assert_eq!(
        assign_point(PAPER_K0, PAPER_K1, &recipient),
        0x3f2acc7f57c29bdb
    );
    for seed in 0u64..200 {
        let k0 = seed.wrapping_mul(0x9e3779b97f4a7c15);
        let k1 = !seed;
        let r: Vec<u8> = (0..16)
            .map(|i| (seed as u8).wrapping_mul(31).wrapping_add(i))
            .collect();
        assert_eq!(assign_point(k0, k1, &r), siphash24(k0, k1, &r));
    }
}

#[test]
fn test_vector_exact_variant() {
    let id = ExperimentId::new("welcome-subject");
    let salt = 0x0123_4567_89ab_cdef;
    let mut tagged = b"dynopt/assign/k0/".to_vec();
    tagged.extend_from_slice(id.as_str().as_bytes());
    let k0 = siphash24(salt, 0, &tagged);
    let mut tagged = b"dynopt/assign/k1/".to_vec();
    tagged.extend_from_slice(id.as_str().as_bytes());
    let k1 = siphash24(salt, 0, &tagged);
    assert_eq!(assign_key(salt, &id), (k0, k1));

    let recipient = RecipientKey(core::array::from_fn(|i| i as u8));
    let h = siphash24(k0, k1, recipient.as_bytes());

    let mut config = OptimiserConfig::default();
    config.salt = salt;
    let mut exp = Experiment::new(id, config).unwrap();
    let v: Vec<VariantId> = (0..3)
        .map(|i| exp.add_variant(format!("v{i}")).unwrap())
        .collect();
    exp.set_allocation(&[(v[0], 0.25), (v[1], 0.25), (v[2], 0.5)])
        .unwrap();
    // Slices [0, 1/4), [1/4, 1/2), [1/2, 1) of 2^64.
    let expected = if h < 1u64 << 62 {
        v[0]
    } else if h < 1u64 << 63 {
        v[1]
    } else {
        v[2]
    };
    assert_eq!(exp.assign(&recipient).unwrap(), expected);
    assert_eq!(exp.assign_bytes(recipient.as_bytes()).unwrap(), expected);
    // The pinned values (from the reference implementation above): a change
    // here breaks stickiness across versions.
    assert_eq!((k0, k1), (0xd23bc71fe9904838, 0x37fa6be278353cf6));
    assert_eq!(h, 0xde8931aa56076095);
    assert_eq!(expected, v[2]);
}

#[test]
fn sticky_deterministic_and_proportional() {
    let id = ExperimentId::new("split");
    let mut exp = Experiment::new(id, OptimiserConfig::default()).unwrap();
    let v: Vec<VariantId> = (0..4)
        .map(|i| exp.add_variant(format!("v{i}")).unwrap())
        .collect();
    let shares = [0.1, 0.2, 0.3, 0.4];
    exp.set_allocation(&v.iter().copied().zip(shares).collect::<Vec<_>>())
        .unwrap();
    let replica = dynopt::optimiser::Experiment::restore(
        dynopt::optimiser::OptimiserSnapshot::from_json(&exp.snapshot().to_json()).unwrap(),
    )
    .unwrap();
    let n = 200_000u32;
    let mut counts = [0u32; 4];
    for i in 0..n {
        let mut key = [0u8; 16];
        key[..4].copy_from_slice(&i.to_le_bytes());
        key[8] = 0xa5;
        let r = RecipientKey(key);
        let a = exp.assign(&r).unwrap();
        assert_eq!(a, exp.assign(&r).unwrap());
        assert_eq!(a, replica.assign(&r).unwrap());
        counts[a.0 as usize] += 1;
    }
    // Chi-square with 3 degrees of freedom: 16.27 is the 0.999 quantile.
    let chi2: f64 = counts
        .iter()
        .zip(shares)
        .map(|(&c, s)| {
            let e = s * f64::from(n);
            (f64::from(c) - e).powi(2) / e
        })
        .sum();
    assert!(chi2 < 16.27, "counts {counts:?} chi2 {chi2}");
}

#[test]
fn different_experiments_and_salts_hash_differently() {
    assert_ne!(
        assign_key(0, &ExperimentId::new("a")),
        assign_key(0, &ExperimentId::new("b"))
    );
    assert_ne!(
        assign_key(0, &ExperimentId::new("a")),
        assign_key(1, &ExperimentId::new("a"))
    );
}
