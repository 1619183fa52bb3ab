//! A compact hash table of 24-byte records keyed by 16-byte keys.
//!
//! Used for tracked exposures, unique clickers and seen Currents event ids.
//! Layout: 256 shards (chosen by the low byte of a mixed hash of the key),
//! each an open-addressing Robin Hood table whose slots are the records
//! themselves (no separate index, no pointers). A shard grows by 25% when it
//! is 95% full, so the table stays between about 76% and 95% full and a
//! record costs 24 / load bytes (25–32 bytes); only one shard (1/256 of the
//! table) is ever reallocated at a time, so the peak during growth stays
//! close to the live size.

/// Bit set in [`Rec::meta`] for an occupied slot (an empty slot has `meta == 0`).
pub(crate) const OCCUPIED: u32 = 1 << 31;
/// The recipient of this exposure has clicked (its reward is counted).
pub(crate) const CLICKED: u32 = 1 << 30;
/// The recipient of this exposure has opened (a human open is counted).
pub(crate) const OPENED: u32 = 1 << 29;
/// The low 16 bits hold the variant's index in its experiment.
pub(crate) const VARIANT_MASK: u32 = 0xFFFF;
/// Every bit a valid record may have set.
pub(crate) const KNOWN_BITS: u32 = OCCUPIED | CLICKED | OPENED | VARIANT_MASK;

const SHARDS: usize = 256;
/// Grow when `len / cap > 19 / 20`.
const LOAD_NUM: usize = 19;
const LOAD_DEN: usize = 20;

/// One record: 16-byte key, flags and variant index, time in UNIX seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rec {
    pub(crate) key: [u8; 16],
    pub(crate) meta: u32,
    pub(crate) time: u32,
}

const EMPTY: Rec = Rec {
    key: [0; 16],
    meta: 0,
    time: 0,
};

fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^= k >> 33;
    k
}

/// Mixes the whole key so that structured keys (counters, small test keys)
/// spread as well as HMAC outputs do. Not DoS-resistant: keys are pseudonyms.
fn hash(key: &[u8; 16]) -> u64 {
    let mut a = [0u8; 8];
    let mut b = [0u8; 8];
    a.copy_from_slice(&key[..8]);
    b.copy_from_slice(&key[8..]);
    fmix64(u64::from_le_bytes(a) ^ fmix64(u64::from_le_bytes(b)).rotate_left(29))
}

/// The home slot: the high bits of the hash scaled to the capacity.
fn home(h: u64, cap: usize) -> usize {
    ((u128::from(h) * cap as u128) >> 64) as usize
}

#[derive(Clone, Debug, Default)]
struct Shard {
    slots: Vec<Rec>,
    len: usize,
}

impl Shard {
    fn dist(i: usize, home: usize, cap: usize) -> usize {
        if i >= home { i - home } else { i + cap - home }
    }

    fn find(&self, key: &[u8; 16], h: u64) -> Option<usize> {
        let cap = self.slots.len();
        if cap == 0 {
            return None;
        }
        let mut i = home(h, cap);
        let mut d = 0;
        while d <= cap {
            let s = &self.slots[i];
            if s.meta == 0 {
                return None;
            }
            if s.key == *key {
                return Some(i);
            }
            if Self::dist(i, home(hash(&s.key), cap), cap) < d {
                return None;
            }
            i += 1;
            if i == cap {
                i = 0;
            }
            d += 1;
        }
        None
    }

    /// Inserts a record whose key is absent; the caller made room.
    fn place(slots: &mut [Rec], mut cur: Rec) {
        let cap = slots.len();
        let mut i = home(hash(&cur.key), cap);
        let mut d = 0;
        // The table is never full (load <= 95%), so an empty slot is reached.
        for _ in 0..=cap {
            let s = &mut slots[i];
            if s.meta == 0 {
                *s = cur;
                return;
            }
            let sd = Self::dist(i, home(hash(&s.key), cap), cap);
            if sd < d {
                std::mem::swap(s, &mut cur);
                d = sd;
            }
            i += 1;
            if i == cap {
                i = 0;
            }
            d += 1;
        }
    }

    fn rebuild(&mut self, new_cap: usize) {
        let old = std::mem::take(&mut self.slots);
        let mut slots = Vec::with_capacity(new_cap);
        slots.resize(new_cap, EMPTY);
        for r in old.into_iter().filter(|r| r.meta != 0) {
            Self::place(&mut slots, r);
        }
        self.slots = slots;
    }

    fn insert(&mut self, rec: Rec) {
        let cap = self.slots.len();
        if (self.len + 1) * LOAD_DEN > cap * LOAD_NUM {
            self.rebuild((cap + cap / 4).max(8));
        }
        Self::place(&mut self.slots, rec);
        self.len += 1;
    }
}

/// The table. Keys are unique; an empty table allocates nothing.
#[derive(Clone, Debug, Default)]
pub(crate) struct KeyTable {
    shards: Vec<Shard>,
    len: usize,
}

impl KeyTable {
    /// A table pre-sized for about `n` records (0: grow on demand).
    pub(crate) fn with_capacity(n: usize) -> KeyTable {
        let mut t = KeyTable::default();
        if n > 0 {
            let per = (n / SHARDS + 1) * 100 / 85 + 1;
            t.shards = (0..SHARDS)
                .map(|_| {
                    let mut s = Shard::default();
                    s.rebuild(per);
                    s
                })
                .collect();
        }
        t
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    fn shard_of(h: u64) -> usize {
        (h & 0xff) as usize
    }

    pub(crate) fn get(&self, key: &[u8; 16]) -> Option<&Rec> {
        let h = hash(key);
        let shard = self.shards.get(Self::shard_of(h))?;
        shard.find(key, h).map(|i| &shard.slots[i])
    }

    pub(crate) fn get_mut(&mut self, key: &[u8; 16]) -> Option<&mut Rec> {
        let h = hash(key);
        let shard = self.shards.get_mut(Self::shard_of(h))?;
        let i = shard.find(key, h)?;
        Some(&mut shard.slots[i])
    }

    /// Inserts a record whose key must be absent (check with [`get`](Self::get)).
    pub(crate) fn insert_new(&mut self, rec: Rec) {
        debug_assert!(rec.meta & OCCUPIED != 0);
        if self.shards.is_empty() {
            self.shards = vec![Shard::default(); SHARDS];
        }
        let h = hash(&rec.key);
        self.shards[Self::shard_of(h)].insert(rec);
        self.len += 1;
    }

    /// Keeps the records for which `keep` is true; returns how many went.
    /// A shard that loses records is rebuilt, smaller when it fell below half full.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&Rec) -> bool) -> usize {
        let mut removed = 0;
        for shard in &mut self.shards {
            let mut gone = 0;
            for s in shard.slots.iter_mut().filter(|s| s.meta != 0) {
                if !keep(s) {
                    *s = EMPTY;
                    gone += 1;
                }
            }
            if gone > 0 {
                shard.len -= gone;
                removed += gone;
                let cap = shard.slots.len();
                let new_cap = if shard.len == 0 {
                    0
                } else if shard.len * 2 < cap {
                    (shard.len * 100 / 85).max(8)
                } else {
                    cap
                };
                // Rebuild even at the same capacity: emptied slots break Robin Hood probe chains.
                shard.rebuild(new_cap);
            }
        }
        self.len -= removed;
        removed
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Rec> {
        self.shards
            .iter()
            .flat_map(|s| s.slots.iter().filter(|r| r.meta != 0))
    }

    /// Heap bytes held (slot arrays and the shard array).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.shards.capacity() * std::mem::size_of::<Shard>()
            + self
                .shards
                .iter()
                .map(|s| s.slots.capacity() * std::mem::size_of::<Rec>())
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u64) -> [u8; 16] {
        let mut k = [0u8; 16];
        k[..8].copy_from_slice(&i.to_le_bytes());
        k
    }

    #[test]
    fn record_is_24_bytes() {
        assert_eq!(std::mem::size_of::<Rec>(), 24);
    }

    #[test]
    fn insert_get_retain_against_a_model() {
        let mut t = KeyTable::default();
        let mut model = std::collections::HashMap::new();
        for i in 0..20_000u64 {
            let k = key(i * 7919 % 30_011);
            if t.get(&k).is_none() {
                t.insert_new(Rec {
                    key: k,
                    meta: OCCUPIED | (i as u32 & VARIANT_MASK),
                    time: i as u32,
                });
                model.insert(k, i as u32);
            }
        }
        assert_eq!(t.len(), model.len());
        for (k, v) in &model {
            assert_eq!(t.get(k).map(|r| r.time), Some(*v));
        }
        assert!(t.get(&key(1_000_000)).is_none());
        let removed = t.retain(|r| r.time % 3 != 0);
        let expect_removed = model.values().filter(|v| *v % 3 == 0).count();
        assert_eq!(removed, expect_removed);
        model.retain(|_, v| *v % 3 != 0);
        assert_eq!(t.len(), model.len());
        assert_eq!(t.iter().count(), model.len());
        for (k, v) in &model {
            assert_eq!(t.get(k).map(|r| r.time), Some(*v));
        }
        if let Some(r) = t.get_mut(&key(1)) {
            r.meta |= CLICKED;
        }
        t.retain(|_| false);
        assert_eq!(t.len(), 0);
        assert!(t.get(&key(1)).is_none());
    }
}
