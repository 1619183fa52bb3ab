//! One decompressed block of records and the iterators over its records.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::Arc;

use super::cursor::{Cur, Fail};
use super::error::{DecodeError, DecodeErrorKind};
use super::events::Event;
use super::plan::Plan;
use crate::vocab::RecipientKey;

/// One decompressed block of records.
///
/// Holds the record bytes borrowed from the file (null codec) or owned
/// (deflate). Iterate its records with [`events`](Block::events),
/// [`keyed_events`](Block::keyed_events) or [`record_spans`](Block::record_spans).
pub struct Block<'f> {
    pub(super) data: Cow<'f, [u8]>,
    pub(super) count: u64,
    pub(super) offset: u64,
    pub(super) data_offset: Option<u64>,
    pub(super) plan: Arc<Plan>,
}

impl std::fmt::Debug for Block<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Block")
            .field("count", &self.count)
            .field("offset", &self.offset)
            .field("len", &self.data.len())
            .finish()
    }
}

impl<'f> Block<'f> {
    /// The record count the block header claims.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The file offset of the block start (its record count).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The decompressed record bytes.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The typed events of the block, borrowing their strings from it. Checks
    /// that the claimed count of records consumes the block's bytes exactly.
    pub fn events(&self) -> Events<'_> {
        Events { walk: self.walk() }
    }

    /// Each event with its `recipient_key` (for files written by `sanitize`
    /// with a pseudonymizer; `None` when absent or null, and always for Braze files).
    pub fn keyed_events(&self) -> KeyedEvents<'_> {
        KeyedEvents { walk: self.walk() }
    }

    /// [`Block::keyed_events`] into a closure: each event goes to `f` by value
    /// as it is decoded (not moved through an iterator's item), until `f`
    /// returns `false`; the first error ends the walk.
    #[inline]
    pub(crate) fn for_each_keyed(
        &self,
        mut f: impl FnMut(Event<'_>, Option<RecipientKey>) -> bool,
    ) -> Result<(), DecodeError> {
        let mut walk = self.walk();
        loop {
            let mut key = None;
            match walk.event(&mut key) {
                None => return Ok(()),
                Some(Ok(ev)) => {
                    if !f(ev, key) {
                        return Ok(());
                    }
                }
                Some(Err(e)) => return Err(e),
            }
        }
    }

    /// Per record, the byte range (within [`data`](Block::data)) of every writer
    /// field, in writer order. Validates the Avro encoding of every field but
    /// does not check the UTF-8 of strings.
    pub fn record_spans(&self) -> RecordSpans<'_> {
        RecordSpans { walk: self.walk() }
    }

    fn walk(&self) -> Walk<'_> {
        Walk {
            cur: Cur::new(&self.data),
            plan: &self.plan,
            count: self.count,
            index: 0,
            done: false,
            offset: self.offset,
            data_offset: self.data_offset,
        }
    }
}

/// Shared iteration state over the records of a block.
struct Walk<'b> {
    cur: Cur<'b>,
    plan: &'b Plan,
    count: u64,
    index: u64,
    done: bool,
    offset: u64,
    data_offset: Option<u64>,
}

impl<'b> Walk<'b> {
    fn error(&self, fail: Fail) -> DecodeError {
        let mut e = fail.code.into_error();
        e = self.locate(e, fail.pos).with_record(self.index);
        if let Some(f) = fail.field.and_then(|i| self.plan.names.get(i)) {
            e = e.with_field(f.clone());
        }
        e
    }

    fn locate(&self, e: DecodeError, pos: usize) -> DecodeError {
        match self.data_offset {
            Some(d) => e.at(d + pos as u64).in_block(pos as u64),
            None => e.at(self.offset).in_block(pos as u64),
        }
    }

    /// Before each record: `Some(Err)` on a count mismatch, `Some(Ok)` to go on,
    /// `None` when done.
    #[inline]
    fn before(&mut self) -> Option<Result<(), DecodeError>> {
        if self.done {
            return None;
        }
        let at_end = self.cur.remaining() == 0;
        if self.index == self.count {
            self.done = true;
            if at_end {
                return None;
            }
            let e = DecodeError::new(DecodeErrorKind::RecordCountMismatch).with_detail(format!(
                "{} bytes remain after the records the block claims",
                self.cur.remaining()
            ));
            return Some(Err(self.locate(e, self.cur.pos)));
        }
        if at_end {
            self.done = true;
            let e = DecodeError::new(DecodeErrorKind::RecordCountMismatch).with_detail(format!(
                "the block holds {} records, fewer than it claims",
                self.index
            ));
            return Some(Err(self.locate(e, self.cur.pos)));
        }
        Some(Ok(()))
    }

    #[inline(always)]
    fn event(&mut self, key: &mut Option<RecipientKey>) -> Option<Result<Event<'b>, DecodeError>> {
        if let Err(e) = self.before()? {
            return Some(Err(e));
        }
        let plan = self.plan;
        let cur = &mut self.cur;
        let mut ev = Event::empty(plan.event_type);
        let r = ev.decode_with(plan, cur, key);
        match r {
            Ok(()) => {
                self.index += 1;
                Some(Ok(ev))
            }
            Err(fail) => {
                self.done = true;
                Some(Err(self.error(fail)))
            }
        }
    }
}

/// Iterator over the typed events of a [`Block`]. After an error it ends.
pub struct Events<'b> {
    walk: Walk<'b>,
}

impl<'b> Iterator for Events<'b> {
    type Item = Result<Event<'b>, DecodeError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.walk.event(&mut None)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = usize::try_from(self.walk.count - self.walk.index).unwrap_or(usize::MAX);
        (0, left.checked_add(1))
    }
}

/// Iterator over the typed events of a [`Block`] with their recipient keys.
pub struct KeyedEvents<'b> {
    walk: Walk<'b>,
}

impl<'b> Iterator for KeyedEvents<'b> {
    type Item = Result<(Event<'b>, Option<RecipientKey>), DecodeError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let mut key = None;
        let ev = self.walk.event(&mut key)?;
        Some(ev.map(|e| (e, key)))
    }
}

/// The byte range of every writer field of one record, in writer order.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordSpan {
    /// One range (within [`Block::data`]) per writer field.
    pub fields: Vec<Range<usize>>,
}

impl RecordSpan {
    /// The range of the whole record.
    pub fn record(&self) -> Range<usize> {
        match (self.fields.first(), self.fields.last()) {
            (Some(a), Some(b)) => a.start..b.end,
            _ => 0..0,
        }
    }
}

impl Block<'_> {
    /// The records' field boundaries, one record at a time (see
    /// [`Plan::bounds`]): [`Block::record_spans`] without a range per
    /// zero-size field.
    pub(crate) fn record_bounds(&self) -> RecordBounds<'_> {
        RecordBounds { walk: self.walk() }
    }

    /// The byte range of writer field `i` of a record with `bounds`.
    #[inline]
    pub(crate) fn span_of(&self, bounds: &[usize], i: usize) -> Range<usize> {
        self.plan.span_of(bounds, i)
    }
}

/// The records of a block as field boundaries (see [`Block::record_bounds`]).
pub(crate) struct RecordBounds<'b> {
    walk: Walk<'b>,
}

impl RecordBounds<'_> {
    /// The next record's boundaries into `out`; `None` after the last record
    /// or an error.
    pub(crate) fn next_into(&mut self, out: &mut Vec<usize>) -> Option<Result<(), DecodeError>> {
        if let Err(e) = self.walk.before()? {
            return Some(Err(e));
        }
        match self.walk.plan.bounds(&mut self.walk.cur, out) {
            Ok(()) => {
                self.walk.index += 1;
                Some(Ok(()))
            }
            Err(fail) => {
                self.walk.done = true;
                Some(Err(self.walk.error(fail)))
            }
        }
    }
}

/// Iterator over the [`RecordSpan`]s of a [`Block`]. After an error it ends.
pub struct RecordSpans<'b> {
    walk: Walk<'b>,
}

impl Iterator for RecordSpans<'_> {
    type Item = Result<RecordSpan, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Err(e) = self.walk.before()? {
            return Some(Err(e));
        }
        let mut fields = Vec::with_capacity(self.walk.plan.len());
        match self.walk.plan.spans(&mut self.walk.cur, &mut fields) {
            Ok(()) => {
                self.walk.index += 1;
                Some(Ok(RecordSpan { fields }))
            }
            Err(fail) => {
                self.walk.done = true;
                Some(Err(self.walk.error(fail)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::currents::{Codec, DecodeOptions, OcfWriter, Reader, encode_long, encode_str};

    /// The required Click fields, first in every test schema.
    const REQUIRED: &str = r#"{"name":"id","type":"string"},{"name":"user_id","type":"string"},{"name":"time","type":"int"},{"name":"email_address","type":"string"}"#;

    /// A null-codec writer of Click records with `fields`, and a file holding
    /// its header.
    fn started(fields: &str) -> (OcfWriter, Vec<u8>) {
        let schema = format!(r#"{{"type":"record","name":"Click","fields":[{fields}]}}"#);
        let w = OcfWriter::new(&schema, Codec::Null, &[], [7; 16]);
        let mut file = Vec::new();
        w.header(&mut file);
        (w, file)
    }

    /// The boundaries give every field the range `record_spans` gives it, for
    /// any mix of zero-size and sized fields.
    #[test]
    fn bounds_agree_with_spans() {
        for mask in 0u32..64 {
            // Six optional fields between the required ones: null when the
            // mask's bit is clear, a string otherwise.
            let mut fields = String::from(REQUIRED);
            for b in 0..6 {
                let ty = if mask & (1 << b) != 0 {
                    "string"
                } else {
                    "null"
                };
                fields.push_str(&format!(r#",{{"name":"x{b}","type":"{ty}"}}"#));
            }
            let (w, mut file) = started(&fields);
            let mut rec = Vec::new();
            for r in 0..5 {
                encode_str(&format!("e{r}"), &mut rec);
                encode_str("u", &mut rec);
                encode_long(r, &mut rec);
                encode_str("a@b.c", &mut rec);
                for b in 0..6 {
                    if mask & (1 << b) != 0 {
                        encode_str(&"v".repeat(b * r as usize), &mut rec);
                    }
                }
            }
            w.write_block(5, &rec, &mut file);
            let mut reader = Reader::new(&file, &DecodeOptions::default()).expect("reads");
            let block = reader.next_block().expect("a block").expect("valid");
            let spans: Vec<_> = block.record_spans().map(|s| s.expect("valid")).collect();
            let mut walk = block.record_bounds();
            let mut bounds = Vec::new();
            let mut n = 0;
            while let Some(r) = walk.next_into(&mut bounds) {
                r.expect("valid");
                let want = &spans[n].fields;
                let got: Vec<_> = (0..want.len()).map(|i| block.span_of(&bounds, i)).collect();
                assert_eq!(&got, want, "mask {mask:b}, record {n}");
                n += 1;
            }
            assert_eq!(n, 5);
        }
    }

    use proptest::strategy::Strategy as _;

    proptest::proptest! {
        /// The boundaries and `record_spans` agree on every record of any mix
        /// of field types (primitives, unions of primitives, and the shapes
        /// walked in full), on valid and broken bytes: the same ranges, or
        /// the same error.
        #[test]
        fn bounds_agree_with_spans_on_any_bytes(
            types in proptest::collection::vec(proptest::sample::select(vec![
                r#""null""#, r#""boolean""#, r#""int""#, r#""long""#, r#""float""#,
                r#""double""#, r#""string""#, r#""bytes""#,
                r#"{"type":"fixed","name":"F","size":3}"#,
                r#"{"type":"enum","name":"E","symbols":["a","b"]}"#,
                r#"["null","string"]"#, r#"["string","null"]"#, r#"["null","long"]"#,
                r#"["int"]"#, r#"["null","int","string"]"#,
                r#"{"type":"array","items":"string"}"#, r#"{"type":"map","values":"long"}"#,
                r#"["null",{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}]"#,
            ]), 1..7),
            records in 1u64..4,
            tail in proptest::collection::vec(proptest::prop_oneof![
                (0u8..8).prop_map(|b| vec![b]),
                proptest::num::u8::ANY.prop_map(|b| vec![b]),
                // A varint past the `int` range (2^32), and one past 64 bits.
                proptest::strategy::Just(vec![0x80, 0x80, 0x80, 0x80, 0x20]),
                proptest::strategy::Just(vec![0xFF; 11]),
            ], 0..40),
        ) {
            let tail: Vec<u8> = tail.concat();
            let mut fields = String::from(REQUIRED);
            for (b, ty) in types.iter().enumerate() {
                // Named types are defined once: later uses refer to them.
                let ty = if types[..b].contains(ty) && ty.contains(r#""name""#) {
                    let name = if ty.contains("fixed") { "F" } else if ty.contains("enum") { "E" } else { "R" };
                    if ty.starts_with('[') { format!(r#"["null","{name}"]"#) } else { format!(r#""{name}""#) }
                } else {
                    (*ty).to_owned()
                };
                fields.push_str(&format!(r#",{{"name":"x{b}","type":{ty}}}"#));
            }
            let (w, mut file) = started(&fields);
            let mut rec = Vec::new();
            encode_str("e", &mut rec);
            encode_str("u", &mut rec);
            encode_long(1, &mut rec);
            encode_str("a@b.c", &mut rec);
            rec.extend_from_slice(&tail);
            w.write_block(records, &rec, &mut file);
            let Ok(mut reader) = Reader::new(&file, &DecodeOptions::default()) else {
                return Ok(());
            };
            let Some(Ok(block)) = reader.next_block() else {
                return Ok(());
            };
            let mut spans = block.record_spans();
            let mut walk = block.record_bounds();
            let mut bounds = Vec::new();
            loop {
                match (spans.next(), walk.next_into(&mut bounds)) {
                    (None, None) => break,
                    (Some(Ok(s)), Some(Ok(()))) => {
                        let got: Vec<_> = (0..s.fields.len()).map(|i| block.span_of(&bounds, i)).collect();
                        proptest::prop_assert_eq!(got, s.fields);
                    }
                    (Some(Err(a)), Some(Err(b))) => {
                        proptest::prop_assert_eq!(a, b);
                        break;
                    }
                    (a, b) => proptest::prop_assert!(false, "spans {:?}, bounds {:?}", a, b),
                }
            }
        }
    }
}
