//! The serving layout: which variant owns which slices of `[0, 2^64)`.
//!
//! Each active variant owns a set of slices whose total length is its share.
//! When shares move, only the mass that must move changes owner: a variant
//! losing share gives up whole slices, smallest first, then the end of its
//! smallest remaining slice; the freed mass goes to the variants gaining
//! share, preferring the neighbour of each freed piece (so slices coalesce).
//! The audience that changes variant is then exactly the total-variation
//! distance between the old and the new shares (see docs/design.md,
//! *Sticky assignment*). The update is a pure function of the old layout and
//! the new shares, so replicas that apply the same changes agree.

use siphasher::sip::SipHasher24;

use crate::vocab::ExperimentId;

/// The per-experiment SipHash-2-4 key: `k0`, `k1` are SipHash-2-4 under the
/// key `(salt, 0)` of `"dynopt/assign/k0/"` (or `k1`) followed by the
/// experiment id's UTF-8 bytes.
pub fn assign_key(salt: u64, experiment: &ExperimentId) -> (u64, u64) {
    let h = |tag: &[u8]| {
        let mut msg = Vec::with_capacity(tag.len() + experiment.as_str().len());
        msg.extend_from_slice(tag);
        msg.extend_from_slice(experiment.as_str().as_bytes());
        SipHasher24::new_with_keys(salt, 0).hash(&msg)
    };
    (h(b"dynopt/assign/k0/"), h(b"dynopt/assign/k1/"))
}

/// The point of a recipient on `[0, 2^64)`: SipHash-2-4 under `(k0, k1)` of the
/// recipient's bytes. A variant whose slice of the cumulative allocation
/// (scaled to `2^64`) contains the point is served.
#[inline]
pub fn assign_point(k0: u64, k1: u64, recipient: &[u8]) -> u64 {
    SipHasher24::new_with_keys(k0, k1).hash(recipient)
}

/// `2^64`, the length of the whole line.
pub(super) const FULL: u128 = 1 << 64;

/// Most slices a layout may hold; beyond this it is rebuilt contiguously
/// (a full reshuffle, far beyond anything a real campaign reaches).
pub(super) const MAX_SLICES: usize = 1024;

/// No owner (freed mass waiting for a new owner).
const FREE: usize = usize::MAX;

/// Integer lengths (in units of `2^-64`) of the shares, summing to `2^64`
/// exactly; the rounding remainder goes to the largest share. Shares must be
/// finite, non-negative and not all zero (all zero gives all zero lengths).
pub(super) fn lengths(shares: &[f64]) -> Vec<u128> {
    let total: f64 = shares.iter().sum();
    if !(total.is_finite() && total > 0.0) {
        return vec![0; shares.len()];
    }
    // `as` saturates, which keeps every length within [0, 2^64].
    let mut out: Vec<u128> = shares
        .iter()
        .map(|&s| ((s / total) * FULL as f64) as u128)
        .map(|x| x.min(FULL))
        .collect();
    let sum: u128 = out.iter().sum();
    let big = (0..shares.len())
        .max_by(|&a, &b| shares[a].total_cmp(&shares[b]).then(b.cmp(&a)))
        .unwrap_or(0);
    if let Some(x) = out.get_mut(big) {
        if sum > FULL {
            *x = x.saturating_sub(sum - FULL);
        } else {
            *x += FULL - sum;
        }
    }
    // A share so small that another's rounding pushed the sum over is
    // fixed by one more pass (never needed with shares summing to 1).
    if out.iter().sum::<u128>() != FULL {
        let mut acc = 0u128;
        for x in out.iter_mut() {
            let take = (*x).min(FULL - acc);
            *x = take;
            acc += take;
        }
        if let Some(x) = out.get_mut(big) {
            *x += FULL - acc;
        }
    }
    out
}

/// The contiguous layout: owners in position order (the layout of crate
/// versions before minimal movement).
pub(super) fn contiguous(lens: &[u128]) -> Vec<(u64, usize)> {
    let mut out = Vec::new();
    let mut at = 0u128;
    for (i, &l) in lens.iter().enumerate() {
        if l == 0 {
            continue;
        }
        if at < FULL {
            out.push((at as u64, i));
        }
        at += l;
    }
    out
}

/// Slices of `layout` as `(start, end, owner)` with `u128` ends.
fn spans(layout: &[(u64, usize)]) -> Vec<(u128, u128, usize)> {
    layout
        .iter()
        .enumerate()
        .map(|(i, &(s, o))| {
            let end = layout.get(i + 1).map_or(FULL, |n| u128::from(n.0));
            (u128::from(s), end, o)
        })
        .collect()
}

/// Whether `layout` covers `[0, 2^64)` with strictly increasing starts.
pub(super) fn is_valid(layout: &[(u64, usize)]) -> bool {
    layout.first().is_some_and(|f| f.0 == 0) && layout.windows(2).all(|w| w[0].0 < w[1].0)
}

/// Length owned by each of `nv` positions.
pub(super) fn owned(layout: &[(u64, usize)], nv: usize) -> Vec<u128> {
    let mut have = vec![0u128; nv];
    for (s, e, o) in spans(layout) {
        if let Some(h) = have.get_mut(o) {
            *h += e - s;
        }
    }
    have
}

/// The layout after the shares move to `lens` (one length per position,
/// summing to `2^64`), changing the owner of as little mass as possible.
pub(super) fn relayout(old: &[(u64, usize)], lens: &[u128]) -> Vec<(u64, usize)> {
    let nv = lens.len();
    if !is_valid(old) || lens.iter().sum::<u128>() != FULL {
        return contiguous(lens);
    }
    let mut iv: Vec<(u128, u128, usize)> = spans(old)
        .into_iter()
        .map(|(s, e, o)| (s, e, if o < nv { o } else { FREE }))
        .collect();
    let mut have = vec![0u128; nv];
    for &(s, e, o) in &iv {
        if o != FREE {
            have[o] += e - s;
        }
    }
    // Losers free whole slices, smallest first, then the end of one.
    for o in 0..nv {
        let Some(mut excess) = have[o].checked_sub(lens[o]).filter(|&x| x > 0) else {
            continue;
        };
        let mut mine: Vec<usize> = (0..iv.len()).filter(|&j| iv[j].2 == o).collect();
        mine.sort_by_key(|&j| (iv[j].1 - iv[j].0, std::cmp::Reverse(iv[j].0)));
        for j in mine {
            let (s, e, _) = iv[j];
            if e - s <= excess {
                iv[j].2 = FREE;
                excess -= e - s;
            } else {
                iv[j].1 = e - excess;
                iv.push((e - excess, e, FREE));
                excess = 0;
            }
            if excess == 0 {
                break;
            }
        }
        have[o] = lens[o];
    }
    iv.sort_by_key(|x| x.0);
    let mut need: Vec<u128> = (0..nv).map(|o| lens[o] - have[o].min(lens[o])).collect();
    // Gainers take the freed pieces, preferring the pieces' neighbours.
    let mut out: Vec<(u128, u128, usize)> = Vec::with_capacity(iv.len() + nv);
    for j in 0..iv.len() {
        let (mut s, mut e, o) = iv[j];
        if o != FREE {
            out.push((s, e, o));
            continue;
        }
        let right = iv.get(j + 1).map(|x| x.2).filter(|&r| r != FREE);
        while s < e {
            let left = out.last().filter(|x| x.1 == s).map(|x| x.2);
            let pick = |c: Option<usize>| c.filter(|&c| c < nv && need[c] > 0);
            if let Some(l) = pick(left) {
                let take = need[l].min(e - s);
                out.push((s, s + take, l));
                need[l] -= take;
                s += take;
            } else if let Some(r) = pick(right) {
                let take = need[r].min(e - s);
                // The tail goes to the right neighbour; it is pushed now and
                // the output is sorted at the end.
                out.push((e - take, e, r));
                need[r] -= take;
                e -= take;
            } else if let Some(g) = (0..nv).find(|&g| need[g] > 0) {
                let take = need[g].min(e - s);
                out.push((s, s + take, g));
                need[g] -= take;
                s += take;
            } else {
                // Cannot happen when both sides sum to 2^64; fall back safely.
                return contiguous(lens);
            }
        }
    }
    if need.iter().any(|&n| n > 0) {
        return contiguous(lens);
    }
    out.sort_by_key(|x| x.0);
    let mut merged: Vec<(u64, usize)> = Vec::with_capacity(out.len());
    for (s, e, o) in out {
        if s >= e {
            continue;
        }
        if merged.last().is_some_and(|m| m.1 == o) {
            continue;
        }
        // Starts are below 2^64 (every piece ends at most at 2^64 and is non-empty).
        merged.push((u64::try_from(s).unwrap_or(u64::MAX), o));
    }
    if merged.len() > MAX_SLICES {
        return contiguous(lens);
    }
    merged
}

/// Mass (in units of `2^-64`) whose owner differs between two layouts.
#[cfg(test)]
pub(super) fn moved(a: &[(u64, usize)], b: &[(u64, usize)]) -> u128 {
    let (sa, sb) = (spans(a), spans(b));
    let (mut i, mut j, mut at, mut moved) = (0, 0, 0u128, 0u128);
    while i < sa.len() && j < sb.len() {
        let end = sa[i].1.min(sb[j].1);
        if sa[i].2 != sb[j].2 {
            moved += end - at;
        }
        at = end;
        if sa[i].1 == end {
            i += 1;
        }
        if sb[j].1 == end {
            j += 1;
        }
    }
    moved
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};

    fn tv(a: &[u128], b: &[u128]) -> u128 {
        a.iter().zip(b).map(|(x, y)| x.abs_diff(*y)).sum::<u128>() / 2
    }

    #[test]
    fn lengths_sum_to_the_whole_line() {
        for s in [
            vec![1.0],
            vec![0.3, 0.3, 0.4],
            vec![0.1; 10],
            vec![0.0, 1.0],
        ] {
            assert_eq!(lengths(&s).iter().sum::<u128>(), FULL, "{s:?}");
        }
    }

    #[test]
    fn moves_exactly_the_total_variation_distance() {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(3);
        for k in [2usize, 5, 10, 50] {
            let mut shares = vec![1.0 / k as f64; k];
            let mut lay = contiguous(&lengths(&shares));
            let mut max_slices = 0;
            for _ in 0..2000 {
                let old = lengths(&shares);
                for s in shares.iter_mut() {
                    *s = (*s * (0.5 + rng.random::<f64>())).max(1e-4);
                }
                let new = lengths(&shares);
                let next = relayout(&lay, &new);
                assert!(is_valid(&next));
                assert_eq!(owned(&next, k), new);
                assert_eq!(moved(&lay, &next), tv(&old, &new));
                max_slices = max_slices.max(next.len());
                lay = next;
            }
            assert!(max_slices < MAX_SLICES, "k={k}: {max_slices} slices");
        }
    }

    #[test]
    fn adding_and_retiring_move_the_minimum() {
        let five = lengths(&[0.2; 5]);
        let lay = contiguous(&five);
        let six = lengths(&[1.0 / 6.0; 6]);
        let mut five_of_six = five.clone();
        five_of_six.push(0);
        let added = relayout(&lay, &six);
        assert_eq!(moved(&lay, &added), tv(&five_of_six, &six));
        let four = lengths(&[0.25, 0.25, 0.0, 0.25, 0.25]);
        let retired = relayout(&lay, &four);
        assert_eq!(moved(&lay, &retired), tv(&five, &four));
        assert!(moved(&lay, &retired).abs_diff(FULL / 5) < 1 << 12);
    }
}
