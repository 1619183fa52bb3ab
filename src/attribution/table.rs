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

//! The bit layout of a record's `meta` word is private to this file: callers
//! build and read records through [`Rec`]'s and [`RecMut`]'s methods, and a
//! snapshot stores the word as [`Rec::bits`] and loads it with
//! [`Rec::from_bits`].

/// Bit set in [`Rec::meta`] for an occupied slot (an empty slot has `meta == 0`).
const OCCUPIED: u32 = 1 << 31;
/// The recipient of this exposure has clicked (its reward is counted).
const CLICKED: u32 = 1 << 30;
/// The recipient of this exposure has opened (a human open is counted).
const OPENED: u32 = 1 << 29;
/// The recipient of this exposure has a machine open counted.
const MACHINE_OPENED: u32 = 1 << 15;
/// The recipient of this exposure has converted (the conversion is counted).
const CONVERTED: u32 = 1 << 14;
/// The recipient of this exposure has unsubscribed (counted).
const UNSUBSCRIBED: u32 = 1 << 13;
/// The recipient of this exposure has complained of spam (counted).
const SPAM: u32 = 1 << 12;
/// The email of this exposure hard-bounced (counted).
const BOUNCED: u32 = 1 << 11;
/// The outcome flags below the probe distance (bit 10 is spare).
const LOW_FLAGS: u32 = MACHINE_OPENED | CONVERTED | UNSUBSCRIBED | SPAM | BOUNCED;
/// The low 10 bits hold the variant's index in its experiment (earlier
/// versions used 16 bits; snapshots with more than [`VARIANT_SLOTS`]
/// variants are refused on restore, so every index they hold fits).
const VARIANT_MASK: u32 = 0x3FF;
/// Every bit a valid record may have set (outside the table).
const KNOWN_BITS: u32 = OCCUPIED | CLICKED | OPENED | LOW_FLAGS | VARIANT_MASK;

/// An outcome counted at most once per tracked exposure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flag {
    /// The first human open.
    Opened,
    /// The first machine open.
    MachineOpened,
    /// The first conversion that counts.
    Converted,
    /// The first unsubscribe.
    Unsubscribed,
    /// The first spam complaint.
    Spam,
    /// The first hard bounce.
    Bounced,
}

impl Flag {
    fn bit(self) -> u32 {
        match self {
            Flag::Opened => OPENED,
            Flag::MachineOpened => MACHINE_OPENED,
            Flag::Converted => CONVERTED,
            Flag::Unsubscribed => UNSUBSCRIBED,
            Flag::Spam => SPAM,
            Flag::Bounced => BOUNCED,
        }
    }
}
/// How many variant indices a record can hold (`0..VARIANT_SLOTS`).
pub(crate) const VARIANT_SLOTS: usize = VARIANT_MASK as usize;
/// Inside the table, bits 16..29 hold the record's probe distance from its
/// home slot, so probing never rehashes resident keys.
const DIST_SHIFT: u32 = 16;
const DIST_MAX: u32 = (1 << 13) - 1;
const DIST_MASK: u32 = DIST_MAX << DIST_SHIFT;

const SHARDS: usize = 256;

/// How full a table may get before a shard grows, and by how much it grows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Density {
    /// Up to 95% full, growing by 25%: 25–32 bytes per record (exposures).
    Compact,
    /// Up to 80% full, doubling: fewer moves, shorter probes (dedup state).
    Fast,
}

impl Density {
    fn full(self, len: usize, cap: usize) -> bool {
        match self {
            Density::Compact => len * 20 > cap * 19,
            Density::Fast => len * 5 > cap * 4,
        }
    }

    fn grown(self, cap: usize) -> usize {
        match self {
            Density::Compact => (cap + cap / 4).max(8),
            Density::Fast => (cap * 2).max(8),
        }
    }
}

/// One record: 16-byte key, flags and variant index, time in UNIX seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rec {
    pub(crate) key: [u8; 16],
    meta: u32,
    pub(crate) time: u32,
}

impl Rec {
    /// A tracked exposure of the variant with index `variant` (below
    /// [`VARIANT_SLOTS`]), neither clicked nor opened.
    pub(crate) fn exposure(key: [u8; 16], variant: u32, time: u32) -> Rec {
        debug_assert!((variant as usize) < VARIANT_SLOTS);
        Rec {
            key,
            meta: OCCUPIED | (variant & VARIANT_MASK),
            time,
        }
    }

    /// A unique clicker of the variant with index `variant`.
    pub(crate) fn clicker(key: [u8; 16], variant: u32, time: u32) -> Rec {
        Rec {
            meta: Rec::exposure(key, variant, time).meta | CLICKED,
            ..Rec::exposure(key, variant, time)
        }
    }

    /// A bare key with a time (a seen event id).
    pub(crate) fn marker(key: [u8; 16], time: u32) -> Rec {
        Rec {
            key,
            meta: OCCUPIED,
            time,
        }
    }

    /// The variant index.
    pub(crate) fn variant(&self) -> u32 {
        self.meta & VARIANT_MASK
    }

    /// The same record with another variant index.
    pub(crate) fn with_variant(self, variant: u32) -> Rec {
        Rec {
            meta: (self.meta & !VARIANT_MASK) | (variant & VARIANT_MASK),
            ..self
        }
    }

    /// Whether this is a bare [`marker`](Self::marker).
    pub(crate) fn is_marker(&self) -> bool {
        self.meta == OCCUPIED
    }

    /// The flags and variant index as one word, for a snapshot.
    pub(crate) fn bits(&self) -> u32 {
        self.meta
    }

    /// A record from a snapshot's word; `None` when the word is not one
    /// [`bits`](Self::bits) can give.
    pub(crate) fn from_bits(key: [u8; 16], bits: u32, time: u32) -> Option<Rec> {
        (bits & OCCUPIED != 0 && bits & !KNOWN_BITS == 0).then_some(Rec {
            key,
            meta: bits,
            time,
        })
    }
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
    fn dist(r: &Rec) -> usize {
        ((r.meta & DIST_MASK) >> DIST_SHIFT) as usize
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
            if s.meta == 0 || Self::dist(s) < d {
                return None;
            }
            if s.key == *key {
                return Some(i);
            }
            i += 1;
            if i == cap {
                i = 0;
            }
            d += 1;
        }
        None
    }

    /// Robin Hood insertion of `rec` starting at slot `i`, probe distance `d`.
    /// Returns the record that could not be placed when a probe distance
    /// would overflow (the caller grows and retries with it).
    fn place_from(slots: &mut [Rec], mut i: usize, mut d: u32, rec: Rec) -> Result<(), Rec> {
        let cap = slots.len();
        if cap == 0 {
            return Err(rec);
        }
        let mut cur = rec;
        // The table is never full (load <= 95%), so an empty slot is reached.
        for _ in 0..=cap {
            if d > DIST_MAX {
                return Err(Rec {
                    meta: cur.meta & !DIST_MASK,
                    ..cur
                });
            }
            let s = &mut slots[i];
            if s.meta == 0 {
                cur.meta = (cur.meta & !DIST_MASK) | (d << DIST_SHIFT);
                *s = cur;
                return Ok(());
            }
            let sd = (s.meta & DIST_MASK) >> DIST_SHIFT;
            if sd < d {
                cur.meta = (cur.meta & !DIST_MASK) | (d << DIST_SHIFT);
                std::mem::swap(s, &mut cur);
                d = sd;
            }
            i += 1;
            if i == cap {
                i = 0;
            }
            d += 1;
        }
        Err(cur)
    }

    fn place(slots: &mut [Rec], rec: Rec) -> Result<(), Rec> {
        let start = home(hash(&rec.key), slots.len());
        Self::place_from(slots, start, 0, rec)
    }

    fn rebuild(&mut self, new_cap: usize) {
        let mut cap = new_cap;
        let old = std::mem::take(&mut self.slots);
        loop {
            let mut slots = Vec::with_capacity(cap);
            slots.resize(cap, EMPTY);
            let ok = old
                .iter()
                .filter(|r| r.meta != 0)
                .all(|r| Self::place(&mut slots, *r).is_ok());
            if ok {
                self.slots = slots;
                return;
            }
            // Only reachable with pathological keys: grow until distances fit.
            cap = cap + cap / 4 + 8;
        }
    }

    /// Removes the record at `i` by backward-shift deletion: the following
    /// records of its probe run move one slot back, so no tombstone is needed.
    fn remove_at(&mut self, mut i: usize) {
        let cap = self.slots.len();
        loop {
            let j = if i + 1 == cap { 0 } else { i + 1 };
            let next = self.slots[j];
            if next.meta == 0 || Self::dist(&next) == 0 {
                self.slots[i] = EMPTY;
                break;
            }
            self.slots[i] = Rec {
                meta: next.meta - (1 << DIST_SHIFT),
                ..next
            };
            i = j;
        }
        self.len -= 1;
    }

    /// Removes in place the records `keep` rejects; returns how many.
    fn retain(&mut self, keep: &mut impl FnMut(&Rec) -> bool) -> usize {
        let mut gone = 0;
        let mut i = 0;
        while i < self.slots.len() {
            let r = self.slots[i];
            if r.meta != 0 && !keep(&strip(&r)) {
                // A later record may have moved into slot i: look at it again.
                self.remove_at(i);
                gone += 1;
            } else {
                i += 1;
            }
        }
        gone
    }

    fn make_room(&mut self, density: Density) {
        let cap = self.slots.len();
        if density.full(self.len + 1, cap) {
            self.rebuild(density.grown(cap));
        }
    }

    fn place_retrying(&mut self, rec: Rec) {
        let mut rec = rec;
        while let Err(r) = Self::place(&mut self.slots, rec) {
            // place() leaves the table consistent: the evicted record comes back.
            let cap = self.slots.len();
            self.rebuild(cap + cap / 4 + 8);
            rec = r;
        }
        self.len += 1;
    }

    fn insert(&mut self, rec: Rec, density: Density) {
        self.make_room(density);
        self.place_retrying(rec);
    }

    /// One probe: the index of `rec.key` when present, else inserts `rec`.
    fn get_or_insert(&mut self, rec: Rec, h: u64, density: Density) -> Option<usize> {
        self.make_room(density);
        let cap = self.slots.len();
        let mut i = home(h, cap);
        let mut d: u32 = 0;
        for _ in 0..=cap {
            let s = &self.slots[i];
            if s.meta == 0 || Self::dist(s) < d as usize {
                break;
            }
            if s.key == rec.key {
                return Some(i);
            }
            i += 1;
            if i == cap {
                i = 0;
            }
            d += 1;
        }
        match Self::place_from(&mut self.slots, i, d, rec) {
            Ok(()) => self.len += 1,
            Err(r) => {
                let cap = self.slots.len();
                self.rebuild(cap + cap / 4 + 8);
                self.place_retrying(r);
            }
        }
        None
    }
}

/// Mutable access to one record that keeps the table's internal bits intact.
pub(crate) struct RecMut<'a>(&'a mut Rec);

impl RecMut<'_> {
    fn meta(&self) -> u32 {
        self.0.meta & !DIST_MASK
    }

    fn set_meta(&mut self, meta: u32) {
        debug_assert!(meta & OCCUPIED != 0);
        self.0.meta = (self.0.meta & DIST_MASK) | (meta & !DIST_MASK) | OCCUPIED;
    }

    pub(crate) fn time(&self) -> u32 {
        self.0.time
    }

    pub(crate) fn set_time(&mut self, time: u32) {
        self.0.time = time;
    }

    /// The variant index.
    pub(crate) fn variant(&self) -> u32 {
        self.meta() & VARIANT_MASK
    }

    /// Whether the recipient's click has been counted.
    pub(crate) fn clicked(&self) -> bool {
        self.meta() & CLICKED != 0
    }

    /// Marks the click as counted.
    pub(crate) fn mark_clicked(&mut self) {
        let m = self.meta();
        self.set_meta(m | CLICKED);
    }

    /// Whether the outcome is already counted for this exposure.
    pub(crate) fn has(&self, flag: Flag) -> bool {
        self.meta() & flag.bit() != 0
    }

    /// Marks the outcome as counted.
    pub(crate) fn mark(&mut self, flag: Flag) {
        let m = self.meta();
        self.set_meta(m | flag.bit());
    }

    /// Replaces flags, variant and time with those of `rec` (same key).
    pub(crate) fn overwrite(&mut self, rec: Rec) {
        debug_assert!(rec.key == self.0.key);
        self.set_meta(rec.meta);
        self.set_time(rec.time);
    }

    /// Merges another shard's exposure of the same recipient: the earlier
    /// exposure's variant and time stand; the outcome flags are united.
    pub(crate) fn merge_exposure(&mut self, other: &Rec) {
        let flags = (self.meta() | other.meta) & (CLICKED | OPENED | LOW_FLAGS);
        if other.time < self.time() {
            self.overwrite(*other);
        }
        let m = self.meta();
        self.set_meta(m | flags);
    }
}

fn strip(r: &Rec) -> Rec {
    Rec {
        meta: r.meta & !DIST_MASK,
        ..*r
    }
}

/// The table. Keys are unique; an empty table allocates nothing.
#[derive(Clone, Debug)]
pub(crate) struct KeyTable {
    shards: Vec<Shard>,
    len: usize,
    density: Density,
}

impl KeyTable {
    /// An empty table; allocates nothing until the first insert.
    pub(crate) fn new(density: Density) -> KeyTable {
        KeyTable {
            shards: Vec::new(),
            len: 0,
            density,
        }
    }

    /// A table pre-sized for about `n` records (0: grow on demand).
    pub(crate) fn with_capacity(n: usize, density: Density) -> KeyTable {
        let mut t = KeyTable::new(density);
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

    pub(crate) fn get(&self, key: &[u8; 16]) -> Option<Rec> {
        let h = hash(key);
        let shard = self.shards.get(Self::shard_of(h))?;
        shard.find(key, h).map(|i| strip(&shard.slots[i]))
    }

    pub(crate) fn get_mut(&mut self, key: &[u8; 16]) -> Option<RecMut<'_>> {
        let h = hash(key);
        let shard = self.shards.get_mut(Self::shard_of(h))?;
        let i = shard.find(key, h)?;
        Some(RecMut(&mut shard.slots[i]))
    }

    /// Inserts a record whose key must be absent (check with [`get`](Self::get)).
    pub(crate) fn insert_new(&mut self, rec: Rec) {
        debug_assert!(rec.meta & OCCUPIED != 0);
        if self.shards.is_empty() {
            self.shards = vec![Shard::default(); SHARDS];
        }
        let h = hash(&rec.key);
        self.shards[Self::shard_of(h)].insert(rec, self.density);
        self.len += 1;
    }

    /// The record under `rec.key` when present; otherwise inserts `rec` and
    /// returns `None`. One probe sequence.
    pub(crate) fn get_or_insert(&mut self, rec: Rec) -> Option<RecMut<'_>> {
        debug_assert!(rec.meta & OCCUPIED != 0);
        if self.shards.is_empty() {
            self.shards = vec![Shard::default(); SHARDS];
        }
        let h = hash(&rec.key);
        let shard = &mut self.shards[Self::shard_of(h)];
        match shard.get_or_insert(rec, h, self.density) {
            Some(i) => Some(RecMut(&mut shard.slots[i])),
            None => {
                self.len += 1;
                None
            }
        }
    }

    /// Keeps the records for which `keep` is true; returns how many went.
    /// A shard that loses records is rebuilt, smaller when it fell below half full.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&Rec) -> bool) -> usize {
        let mut removed = 0;
        for shard in &mut self.shards {
            let gone = shard.retain(&mut keep);
            if gone > 0 {
                removed += gone;
                let cap = shard.slots.len();
                if shard.len == 0 {
                    shard.slots = Vec::new();
                } else if shard.len * 3 < cap {
                    shard.rebuild((shard.len * 100 / 70).max(8));
                }
            }
        }
        self.len -= removed;
        removed
    }

    /// Every record (with only the bits of [`KNOWN_BITS`]).
    pub(crate) fn iter(&self) -> impl Iterator<Item = Rec> + '_ {
        self.shards
            .iter()
            .flat_map(|s| s.slots.iter().filter(|r| r.meta != 0).map(strip))
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
    fn get_or_insert_matches_get_then_insert() {
        for density in [Density::Compact, Density::Fast] {
            let mut t = KeyTable::new(density);
            let mut inserted = 0;
            for i in 0..50_000u64 {
                let k = key(i * 31 % 20_011);
                let rec = Rec {
                    key: k,
                    meta: OCCUPIED | 7,
                    time: i as u32,
                };
                match t.get_or_insert(rec) {
                    Some(r) => assert!(r.time() < i as u32 && r.meta() == OCCUPIED | 7),
                    None => inserted += 1,
                }
            }
            assert_eq!(inserted, 20_011);
            assert_eq!(t.len(), inserted);
            assert_eq!(t.iter().count(), inserted);
            for i in 0..20_011u64 {
                assert!(t.get(&key(i)).is_some());
            }
        }
    }

    #[test]
    fn retain_in_place_keeps_every_probe_run_intact() {
        // Small, full shards make runs wrap around the end of the slot array.
        let mut t = KeyTable::new(Density::Compact);
        let mut model = std::collections::HashMap::new();
        let mut x: u64 = 1;
        for round in 0..200u32 {
            for _ in 0..300 {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let k = key(x >> 52);
                if t.get(&k).is_none() {
                    t.insert_new(Rec {
                        key: k,
                        meta: OCCUPIED,
                        time: round,
                    });
                    model.insert(k, round);
                }
            }
            let cut = round.saturating_sub(3);
            let removed = t.retain(|r| r.time >= cut);
            let before = model.len();
            model.retain(|_, v| *v >= cut);
            assert_eq!(removed, before - model.len());
            assert_eq!(t.len(), model.len());
            for (k, v) in &model {
                assert_eq!(t.get(k).map(|r| r.time), Some(*v));
            }
        }
        assert_eq!(t.iter().count(), model.len());
    }

    #[test]
    fn record_is_24_bytes() {
        assert_eq!(std::mem::size_of::<Rec>(), 24);
    }

    #[test]
    fn insert_get_retain_against_a_model() {
        let mut t = KeyTable::new(Density::Compact);
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
        if let Some(mut r) = t.get_mut(&key(1)) {
            let m = r.meta();
            r.set_meta(m | CLICKED);
        }
        assert!(t.iter().all(|r| r.meta & !KNOWN_BITS == 0));
        t.retain(|_| false);
        assert_eq!(t.len(), 0);
        assert!(t.get(&key(1)).is_none());
    }
}
