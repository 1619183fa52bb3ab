//! A fast non-cryptographic checksum for the binary state and the journal:
//! it detects torn writes and flipped bits, not tampering.

const P1: u64 = 0x9E37_79B1_85EB_CA87;
const P2: u64 = 0xC2B2_AE3D_27D4_EB4F;

fn lane(acc: u64, word: u64) -> u64 {
    (acc ^ word)
        .wrapping_mul(P1)
        .rotate_left(31)
        .wrapping_add(P2)
}

fn fmix(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^= k >> 33;
    k
}

/// 64-bit checksum of `bytes`: four independent lanes over 8-byte words (each
/// step a bijection of the lane, so one changed word always changes its
/// lane), the tail and the length mixed in at the end.
pub(crate) fn checksum(bytes: &[u8]) -> u64 {
    let mut acc = [P1, P2, P1 ^ P2, P1.rotate_left(17)];
    let mut chunks = bytes.chunks_exact(32);
    for c in &mut chunks {
        for (i, a) in acc.iter_mut().enumerate() {
            let mut w = [0u8; 8];
            w.copy_from_slice(&c[i * 8..i * 8 + 8]);
            *a = lane(*a, u64::from_le_bytes(w));
        }
    }
    let rest = chunks.remainder();
    let mut tail = acc[0];
    for (i, c) in rest.chunks(8).enumerate() {
        let mut w = [0u8; 8];
        w[..c.len()].copy_from_slice(c);
        tail = lane(tail ^ (i as u64 + 1), u64::from_le_bytes(w));
    }
    let mut h = bytes.len() as u64;
    for a in [tail, acc[1], acc[2], acc[3]] {
        h = fmix(h ^ a).wrapping_add(P2);
    }
    h
}

/// The checksum folded to 32 bits (journal records).
pub(crate) fn checksum32(bytes: &[u8]) -> u32 {
    let h = checksum(bytes);
    (h ^ (h >> 32)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_single_bit_flip_changes_the_checksum() {
        let data: Vec<u8> = (0..131u32).map(|i| (i * 37 % 251) as u8).collect();
        let base = checksum(&data);
        for i in 0..data.len() * 8 {
            let mut d = data.clone();
            d[i / 8] ^= 1 << (i % 8);
            assert_ne!(checksum(&d), base, "bit {i}");
        }
        assert_ne!(checksum(&data[..130]), base);
        assert_ne!(checksum(&[]), checksum(&[0]));
    }
}
