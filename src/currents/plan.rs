//! The decoding plan: each writer schema is compiled once into a compact list of
//! operations, one per writer field: "read this wire type into typed slot `i`" or
//! "skip this Avro type". The hot loop walks the list per record.

use std::borrow::Cow;

use chrono::{DateTime, Utc};

use super::error::{DecodeError, DecodeErrorKind};
use super::events::{EventType, FieldKind};
use super::sanitized::RECIPIENT_KEY_FIELD;
use super::schema::{Node, NodeId, Schema, TopRecord, WriterField};
use crate::vocab::RecipientKey;

/// A decoded value on its way into a typed field.
pub(crate) enum Val<'a> {
    Str(&'a str),
    Long(i64),
    Time(DateTime<Utc>),
    Bool(bool),
    List(Vec<Cow<'a, str>>),
}

/// Implemented (by the `events!` macro) for every typed event struct: store a
/// value into the field at `slot` (the index in `FIELDS`).
pub(crate) trait Typed<'a>: Sized {
    fn set(&mut self, slot: usize, v: Val<'a>);

    /// Straight-line decoding of the first `n` typed fields, for writer schemas
    /// whose fields are exactly those, in `FIELDS` order, with the canonical
    /// Braze types (see [`canonical`]).
    fn decode_prefix(&mut self, cur: &mut Cur<'a>, n: usize) -> Result<(), Fail>;
}

/// The writer type each field kind has in Braze's schemas, as the plan compiles
/// it: required fields are bare, optional ones `["null", T]`.
fn canonical(kind: FieldKind, op: &Op) -> bool {
    let (wire, optional) = match kind {
        FieldKind::RequiredString | FieldKind::RequiredPiiString => (Wire::Str, false),
        FieldKind::RequiredTime => (Wire::IntTime, false),
        FieldKind::Time => (Wire::IntTime, true),
        FieldKind::Int => (Wire::Int, true),
        FieldKind::Bool => (Wire::Bool, true),
        FieldKind::StringList => (Wire::StrList, true),
        FieldKind::String | FieldKind::PiiString | FieldKind::Url => (Wire::Str, true),
    };
    op.wire == wire
        && if optional {
            op.union_len == 2 && op.null_idx == 0
        } else {
            op.union_len == 0
        }
}

/// How to read one value from the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wire {
    Str,
    Int,
    Long,
    IntTime,
    LongTime,
    Bool,
    StrList,
    RecipientKey,
    /// A general union into a typed field: index into `Plan::unions`.
    Union(u32),
    /// Skip a value of this writer type.
    Skip(NodeId),
}

const NO_NULL: u8 = u8::MAX;

/// One operation per writer field.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Op {
    wire: Wire,
    slot: u8,
    /// The branch index that is `null`, or `NO_NULL`.
    null_idx: u8,
    /// 0 when the writer type is not a union, else the number of branches.
    union_len: u8,
}

/// A compiled writer schema.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) event_type: EventType,
    ops: Vec<Op>,
    unions: Vec<Vec<Option<Wire>>>,
    field_nodes: Vec<NodeId>,
    pub(crate) names: Vec<String>,
    schema: Schema,
    max_depth: usize,
    /// `Some(n)` when the writer's fields are the first `n` typed fields in
    /// order with canonical types: decoded by `Typed::decode_prefix`.
    prefix: Option<usize>,
}

/// The low-level failure inside a record; converted to a [`DecodeError`] with
/// the offset and field name by the caller.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Code {
    Truncated,
    Length { len: i64, remaining: usize },
    Utf8,
    Bool(u8),
    Varint,
    IntRange(i64),
    TimeRange(i64),
    Union { idx: i64, n: usize },
    Enum { idx: i64, n: usize },
    Depth,
    Key,
}

impl Code {
    pub(crate) fn into_error(self) -> DecodeError {
        use DecodeErrorKind as K;
        match self {
            Code::Truncated => DecodeError::new(K::Truncated),
            Code::Length { len, remaining } => {
                DecodeError::new(K::LengthOutOfRange).with_detail(if len < 0 {
                    format!("negative length {len}")
                } else {
                    format!("length {len} exceeds the {remaining} bytes remaining")
                })
            }
            Code::Utf8 => DecodeError::new(K::InvalidUtf8),
            Code::Bool(b) => DecodeError::new(K::InvalidBool).with_detail(format!("byte {b:#04x}")),
            Code::Varint => DecodeError::new(K::IntOutOfRange)
                .with_detail("varint longer than 10 bytes or beyond 64 bits"),
            Code::IntRange(v) => DecodeError::new(K::IntOutOfRange)
                .with_detail(format!("{v} is outside the int range")),
            Code::TimeRange(v) => DecodeError::new(K::IntOutOfRange)
                .with_detail(format!("{v} seconds is outside the time range")),
            Code::Union { idx, n } => DecodeError::new(K::BadUnionIndex)
                .with_detail(format!("branch {idx} of a {n}-branch union")),
            Code::Enum { idx, n } => DecodeError::new(K::BadUnionIndex)
                .with_detail(format!("symbol {idx} of a {n}-symbol enum")),
            Code::Depth => DecodeError::new(K::TooDeep),
            Code::Key => DecodeError::new(K::InvalidRecipientKey),
        }
    }
}

/// A failure inside a record: what, where (position in the block data of the
/// start of the failing field's value) and which writer field.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fail {
    pub(crate) code: Code,
    pub(crate) pos: usize,
    pub(crate) field: Option<usize>,
}

/// A cursor over block data. Reads never advance past the end, and a failed
/// read of a primitive leaves the position where the primitive started.
///
/// Strings are validated through a window of already-validated UTF-8 (`valid`,
/// starting at `valid_start` in `buf`): a run of bytes that looks like UTF-8 is
/// validated at once with SIMD (`simdutf8`), which is several times faster than
/// validating each short string, and slicing a `&str` at char boundaries needs
/// no unsafe code. A string starts right after its length varint, whose last
/// byte is ASCII, so a valid string lies inside the run scanned from its first
/// byte; anything else falls back to validating the string alone.
pub(crate) struct Cur<'a> {
    pub(crate) buf: &'a [u8],
    pub(crate) pos: usize,
    valid: &'a str,
    valid_start: usize,
}

impl<'a> Cur<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Cur {
            buf,
            pos: 0,
            valid: "",
            valid_start: 0,
        }
    }

    pub(crate) fn at(buf: &'a [u8], pos: usize) -> Self {
        Cur {
            buf,
            pos,
            valid: "",
            valid_start: 0,
        }
    }

    /// The UTF-8 string at `s..e` of `buf`, from the validated window when possible.
    #[inline(always)]
    fn utf8(&mut self, s: usize, e: usize) -> Option<&'a str> {
        let off = s.wrapping_sub(self.valid_start);
        let end = e.wrapping_sub(self.valid_start);
        let v = self.valid;
        if end <= v.len() && off <= end && v.is_char_boundary(off) && v.is_char_boundary(end) {
            // Both ends checked: the slice cannot fail.
            return Some(&v[off..end]);
        }
        self.refill(s, e)
    }

    #[inline(never)]
    fn refill(&mut self, s: usize, e: usize) -> Option<&'a str> {
        let rest = &self.buf[s..];
        let run = utf8_run(rest);
        if run >= e - s {
            // Validate the whole run at once (long runs are several times
            // faster than many short strings) and slice strings out of it.
            if let Ok(window) = simdutf8::basic::from_utf8(&rest[..run]) {
                self.valid = window;
                self.valid_start = s;
                return window.get(..e - s);
            }
        }
        std::str::from_utf8(&self.buf[s..e]).ok()
    }

    #[inline]
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// A zig-zag varint `long`.
    #[inline(always)]
    pub(crate) fn long(&mut self) -> Result<i64, Code> {
        let Some(&b) = self.buf.get(self.pos) else {
            return Err(Code::Truncated);
        };
        if b < 0x80 {
            self.pos += 1;
            return Ok(((b >> 1) as i64) ^ -((b & 1) as i64));
        }
        self.long_slow()
    }

    #[inline(never)]
    fn long_slow(&mut self) -> Result<i64, Code> {
        let mut v: u64 = 0;
        let mut shift = 0u32;
        let mut p = self.pos;
        loop {
            let Some(&b) = self.buf.get(p) else {
                return Err(Code::Truncated);
            };
            p += 1;
            if shift == 63 && b > 1 {
                // The tenth byte may only carry the last bit.
                return Err(Code::Varint);
            }
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                break;
            }
            shift += 7;
            if shift > 63 {
                return Err(Code::Varint);
            }
        }
        self.pos = p;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    /// A zig-zag varint `int` (within the 32-bit range).
    #[inline(always)]
    pub(crate) fn int(&mut self) -> Result<i64, Code> {
        let start = self.pos;
        let v = self.long()?;
        if i32::try_from(v).is_err() {
            self.pos = start;
            return Err(Code::IntRange(v));
        }
        Ok(v)
    }

    #[inline(always)]
    pub(crate) fn boolean(&mut self) -> Result<bool, Code> {
        match self.buf.get(self.pos) {
            Some(0) => {
                self.pos += 1;
                Ok(false)
            }
            Some(1) => {
                self.pos += 1;
                Ok(true)
            }
            Some(&b) => Err(Code::Bool(b)),
            None => Err(Code::Truncated),
        }
    }

    /// A length prefix, checked against the bytes remaining after it.
    #[inline(always)]
    fn len(&mut self) -> Result<usize, Code> {
        let start = self.pos;
        let len = self.long()?;
        let remaining = self.remaining();
        match usize::try_from(len) {
            Ok(n) if n <= remaining => Ok(n),
            _ => {
                self.pos = start;
                Err(Code::Length { len, remaining })
            }
        }
    }

    #[inline(always)]
    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], Code> {
        let n = self.len()?;
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    #[inline(always)]
    pub(crate) fn str(&mut self) -> Result<&'a str, Code> {
        let start = self.pos;
        let n = self.len()?;
        let s = self.pos;
        match self.utf8(s, s + n) {
            Some(v) => {
                self.pos = s + n;
                Ok(v)
            }
            None => {
                self.pos = start;
                Err(Code::Utf8)
            }
        }
    }

    /// An `array<string>`, strings borrowed.
    pub(crate) fn str_list(&mut self) -> Result<Vec<Cow<'a, str>>, Code> {
        let mut out = Vec::new();
        loop {
            let (n, _) = self.block_count(false)?;
            if n == 0 {
                return Ok(out);
            }
            // `n` is bounded by the bytes remaining; keep the reservation modest anyway.
            out.reserve(n.min(64));
            for _ in 0..n {
                out.push(Cow::Borrowed(self.str()?));
            }
        }
    }

    /// The branch of a `["null", T]` union: `false` for null, `true` for `T`.
    #[inline(always)]
    pub(crate) fn present(&mut self) -> Result<bool, Code> {
        match self.buf.get(self.pos) {
            Some(0) => {
                self.pos += 1;
                Ok(false)
            }
            Some(2) => {
                self.pos += 1;
                Ok(true)
            }
            Some(_) => {
                let start = self.pos;
                let idx = self.long()?;
                self.pos = start;
                Err(Code::Union { idx, n: 2 })
            }
            None => Err(Code::Truncated),
        }
    }

    /// An `int` of UNIX seconds.
    #[inline(always)]
    pub(crate) fn int_time(&mut self) -> Result<DateTime<Utc>, Code> {
        let v = self.int()?;
        time_from(v)
    }

    #[inline]
    fn advance(&mut self, n: usize) -> Result<(), Code> {
        if n > self.remaining() {
            return Err(Code::Truncated);
        }
        self.pos += n;
        Ok(())
    }

    /// The item count of the next array or map block (0 ends the value).
    /// Negative counts are followed by the block's byte size, which is checked
    /// and returned.
    #[inline]
    fn block_count(&mut self, zero_size_items: bool) -> Result<(usize, Option<usize>), Code> {
        let start = self.pos;
        let c = self.long()?;
        let (count, size) = if c < 0 {
            let Some(abs) = c.checked_neg() else {
                self.pos = start;
                return Err(Code::Length {
                    len: c,
                    remaining: self.remaining(),
                });
            };
            let size = self.len()?;
            (abs, Some(size))
        } else {
            (c, None)
        };
        let remaining = self.remaining();
        match usize::try_from(count) {
            // Every item that is not zero-size takes at least one byte.
            Ok(n) if zero_size_items || n <= remaining => Ok((n, size)),
            _ => {
                self.pos = start;
                Err(Code::Length {
                    len: count,
                    remaining,
                })
            }
        }
    }
}

/// The length of the prefix of `b` that looks like UTF-8: ASCII 16 bytes at a
/// time, multi-byte characters by their lead and continuation bytes. It only
/// chooses where a validation window ends: `str::from_utf8` decides validity.
#[inline]
fn utf8_run(b: &[u8]) -> usize {
    const HIGH: u64 = u64::from_le_bytes([0x80; 8]);
    let word = |c: &[u8]| {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        u64::from_le_bytes(w)
    };
    let mut i = 0;
    loop {
        while let Some(c) = b.get(i..i + 32) {
            if (word(&c[..8]) | word(&c[8..16]) | word(&c[16..24]) | word(&c[24..])) & HIGH != 0 {
                break;
            }
            i += 32;
        }
        while let Some(c) = b.get(i..i + 8) {
            let x = word(c) & HIGH;
            if x != 0 {
                i += (x.trailing_zeros() / 8) as usize;
                break;
            }
            i += 8;
        }
        let Some(&lead) = b.get(i) else {
            return i;
        };
        if lead < 0x80 {
            i += 1;
            continue;
        }
        let width = match lead {
            0xc2..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xf4 => 4,
            _ => return i,
        };
        match b.get(i + 1..i + width) {
            Some(cont) if cont.iter().all(|c| (0x80..0xc0).contains(c)) => i += width,
            _ => return i,
        }
    }
}

fn time_from(secs: i64) -> Result<DateTime<Utc>, Code> {
    DateTime::from_timestamp(secs, 0).ok_or(Code::TimeRange(secs))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    Str,
    Time,
    Long,
    Bool,
    List,
}

fn target_of(kind: FieldKind) -> (Target, bool) {
    match kind {
        FieldKind::RequiredString | FieldKind::RequiredPiiString => (Target::Str, true),
        FieldKind::RequiredTime => (Target::Time, true),
        FieldKind::Time => (Target::Time, false),
        FieldKind::Int => (Target::Long, false),
        FieldKind::Bool => (Target::Bool, false),
        FieldKind::StringList => (Target::List, false),
        // String, PiiString, Url and any future string kind.
        _ => (Target::Str, false),
    }
}

fn direct_wire(schema: &Schema, node: NodeId, t: Target) -> Option<Wire> {
    match (&schema.nodes[node as usize], t) {
        (Node::String, Target::Str) => Some(Wire::Str),
        (Node::Int, Target::Time) => Some(Wire::IntTime),
        (Node::Long, Target::Time) => Some(Wire::LongTime),
        (Node::Int, Target::Long) => Some(Wire::Int),
        (Node::Long, Target::Long) => Some(Wire::Long),
        (Node::Boolean, Target::Bool) => Some(Wire::Bool),
        (Node::Array(item), Target::List) if schema.nodes[*item as usize] == Node::String => {
            Some(Wire::StrList)
        }
        _ => None,
    }
}

impl Plan {
    /// Compiles the writer record for `event_type`. `sanitized` files may lack
    /// `user_id`/`email_address` and may carry a `recipient_key` field.
    pub(crate) fn compile(
        top: TopRecord,
        event_type: EventType,
        sanitized: bool,
        max_depth: usize,
    ) -> Result<(Plan, Vec<WriterField>), DecodeError> {
        let fields_def = event_type.fields();
        let schema = top.schema;
        let mut ops = Vec::with_capacity(top.fields.len());
        let mut unions = Vec::new();
        let mut field_nodes = Vec::with_capacity(top.fields.len());
        let mut names = Vec::with_capacity(top.fields.len());
        let mut writer_fields = Vec::with_capacity(top.fields.len());
        let mut seen = vec![false; fields_def.len()];
        for (mut wf, node) in top.fields {
            let typed = fields_def
                .iter()
                .enumerate()
                .find(|(_, d)| d.name == wf.name);
            let op = if let Some((slot, def)) = typed {
                seen[slot] = true;
                let (target, required) = target_of(def.kind);
                let incompatible = || {
                    DecodeError::new(DecodeErrorKind::IncompatibleFieldType)
                        .with_field(wf.name.clone())
                        .with_detail(format!(
                            "writer type {} cannot be read as {:?}",
                            wf.type_json, def.kind
                        ))
                };
                let slot = u8::try_from(slot).map_err(|_| incompatible())?;
                Self::typed_op(&schema, node, target, required, slot, &mut unions)
                    .ok_or_else(incompatible)?
            } else if sanitized && wf.name == RECIPIENT_KEY_FIELD {
                Self::typed_op(&schema, node, Target::Str, false, 0, &mut unions)
                    .filter(|op| op.wire == Wire::Str)
                    .map(|op| Op {
                        wire: Wire::RecipientKey,
                        ..op
                    })
                    .ok_or_else(|| {
                        DecodeError::new(DecodeErrorKind::IncompatibleFieldType)
                            .with_field(RECIPIENT_KEY_FIELD)
                            .with_detail("recipient_key must be a string or [\"null\",\"string\"]")
                    })?
            } else {
                Op {
                    wire: Wire::Skip(node),
                    slot: 0,
                    null_idx: NO_NULL,
                    union_len: 0,
                }
            };
            wf.known = !matches!(op.wire, Wire::Skip(_));
            ops.push(op);
            field_nodes.push(node);
            names.push(wf.name.clone());
            writer_fields.push(wf);
        }
        for (def, seen) in fields_def.iter().zip(&seen) {
            let required = matches!(
                def.kind,
                FieldKind::RequiredString | FieldKind::RequiredPiiString | FieldKind::RequiredTime
            );
            let may_lack = sanitized && matches!(def.name, "user_id" | "email_address");
            if required && !seen && !may_lack {
                return Err(DecodeError::new(DecodeErrorKind::MissingRequiredField)
                    .with_field(def.name)
                    .with_detail(format!("a {event_type} file must have `{}`", def.name)));
            }
        }
        let prefix = (ops.len() <= fields_def.len()
            && ops
                .iter()
                .zip(fields_def)
                .enumerate()
                .all(|(i, (op, def))| usize::from(op.slot) == i && canonical(def.kind, op))
            && names.iter().zip(fields_def).all(|(n, d)| n == d.name))
        .then_some(ops.len());
        Ok((
            Plan {
                event_type,
                ops,
                unions,
                field_nodes,
                names,
                schema,
                max_depth,
                prefix,
            },
            writer_fields,
        ))
    }

    fn typed_op(
        schema: &Schema,
        node: NodeId,
        target: Target,
        required: bool,
        slot: u8,
        unions: &mut Vec<Vec<Option<Wire>>>,
    ) -> Option<Op> {
        if let Some(wire) = direct_wire(schema, node, target) {
            return Some(Op {
                wire,
                slot,
                null_idx: NO_NULL,
                union_len: 0,
            });
        }
        let Node::Union(branches) = &schema.nodes[node as usize] else {
            return None;
        };
        let union_len = u8::try_from(branches.len()).ok().filter(|n| *n < NO_NULL)?;
        let mut table = Vec::with_capacity(branches.len());
        for b in branches {
            if schema.nodes[*b as usize] == Node::Null {
                if required {
                    return None;
                }
                table.push(None);
            } else {
                table.push(Some(direct_wire(schema, *b, target)?));
            }
        }
        let nulls: Vec<usize> = (0..table.len()).filter(|i| table[*i].is_none()).collect();
        let values: Vec<Wire> = table.iter().flatten().copied().collect();
        let same = values.windows(2).all(|w| w[0] == w[1]);
        if nulls.len() <= 1 && !values.is_empty() && same && values.len() + nulls.len() <= 2 {
            let null_idx = nulls
                .first()
                .and_then(|i| u8::try_from(*i).ok())
                .unwrap_or(NO_NULL);
            return Some(Op {
                wire: values[0],
                slot,
                null_idx,
                union_len,
            });
        }
        if values.is_empty() {
            return None;
        }
        let k = u32::try_from(unions.len()).ok()?;
        unions.push(table);
        Some(Op {
            wire: Wire::Union(k),
            slot,
            null_idx: NO_NULL,
            union_len,
        })
    }

    /// The number of writer fields.
    pub(crate) fn len(&self) -> usize {
        self.ops.len()
    }

    /// Decodes one record into a typed event (and the recipient key, if any).
    #[inline]
    pub(crate) fn decode<'a, T: Typed<'a>>(
        &self,
        cur: &mut Cur<'a>,
        ev: &mut T,
        key: &mut Option<RecipientKey>,
    ) -> Result<(), Fail> {
        if let Some(n) = self.prefix {
            return ev.decode_prefix(cur, n);
        }
        for (i, op) in self.ops.iter().enumerate() {
            let start = cur.pos;
            if let Err(code) = self.run(op, cur, ev, key) {
                return Err(Fail {
                    code,
                    pos: start,
                    field: Some(i),
                });
            }
        }
        Ok(())
    }

    #[inline(always)]
    fn run<'a, T: Typed<'a>>(
        &self,
        op: &Op,
        cur: &mut Cur<'a>,
        ev: &mut T,
        key: &mut Option<RecipientKey>,
    ) -> Result<(), Code> {
        let mut wire = op.wire;
        if op.union_len != 0 {
            let start = cur.pos;
            let idx = cur.long()?;
            if idx == i64::from(op.null_idx) {
                return Ok(());
            }
            if !(0..i64::from(op.union_len)).contains(&idx) {
                cur.pos = start;
                return Err(Code::Union {
                    idx,
                    n: op.union_len as usize,
                });
            }
            if let Wire::Union(k) = wire {
                match self.unions[k as usize][idx as usize] {
                    None => return Ok(()),
                    Some(w) => wire = w,
                }
            }
        }
        let slot = op.slot as usize;
        match wire {
            Wire::Str => ev.set(slot, Val::Str(cur.str()?)),
            Wire::Skip(node) => self.skip(node, cur, 0)?,
            Wire::IntTime => {
                let v = cur.int()?;
                ev.set(slot, Val::Time(time_from(v)?));
            }
            Wire::Bool => ev.set(slot, Val::Bool(cur.boolean()?)),
            Wire::LongTime => {
                let start = cur.pos;
                let v = cur.long()?;
                match time_from(v) {
                    Ok(t) => ev.set(slot, Val::Time(t)),
                    Err(e) => {
                        cur.pos = start;
                        return Err(e);
                    }
                }
            }
            Wire::Int => ev.set(slot, Val::Long(cur.int()?)),
            Wire::Long => ev.set(slot, Val::Long(cur.long()?)),
            Wire::StrList => ev.set(slot, Val::List(cur.str_list()?)),
            Wire::RecipientKey => {
                let start = cur.pos;
                let s = cur.str()?;
                if s.len() != 32 {
                    cur.pos = start;
                    return Err(Code::Key);
                }
                match RecipientKey::from_hex(s) {
                    Ok(k) => *key = Some(k),
                    Err(_) => {
                        cur.pos = start;
                        return Err(Code::Key);
                    }
                }
            }
            // A union inside a union table cannot happen (tables hold direct wires).
            Wire::Union(_) => return Err(Code::Union { idx: -1, n: 0 }),
        }
        Ok(())
    }

    /// Skips one value of writer type `node`, validating what it reads.
    fn skip(&self, node: NodeId, cur: &mut Cur<'_>, depth: usize) -> Result<(), Code> {
        match &self.schema.nodes[node as usize] {
            Node::Null => Ok(()),
            Node::Boolean => cur.boolean().map(drop),
            Node::Int => cur.int().map(drop),
            Node::Long => cur.long().map(drop),
            Node::Float => cur.advance(4),
            Node::Double => cur.advance(8),
            Node::Bytes | Node::String => cur.bytes().map(drop),
            Node::Fixed(n) => cur.advance(*n),
            Node::Enum(n) => {
                let start = cur.pos;
                let idx = cur.long()?;
                if usize::try_from(idx).map_or(true, |i| i >= *n) {
                    cur.pos = start;
                    return Err(Code::Enum { idx, n: *n });
                }
                Ok(())
            }
            Node::Union(bs) => {
                if depth >= self.max_depth {
                    return Err(Code::Depth);
                }
                let start = cur.pos;
                let idx = cur.long()?;
                match usize::try_from(idx).ok().and_then(|i| bs.get(i)) {
                    Some(b) => self.skip(*b, cur, depth + 1),
                    None => {
                        cur.pos = start;
                        Err(Code::Union { idx, n: bs.len() })
                    }
                }
            }
            Node::Record(fs) => {
                if depth >= self.max_depth {
                    return Err(Code::Depth);
                }
                for f in fs {
                    self.skip(*f, cur, depth + 1)?;
                }
                Ok(())
            }
            Node::Array(item) => self.skip_blocks(None, *item, cur, depth),
            Node::Map(value) => self.skip_blocks(Some(()), *value, cur, depth),
        }
    }

    fn skip_blocks(
        &self,
        map: Option<()>,
        item: NodeId,
        cur: &mut Cur<'_>,
        depth: usize,
    ) -> Result<(), Code> {
        if depth >= self.max_depth {
            return Err(Code::Depth);
        }
        let zero = map.is_none() && self.schema.zero_size[item as usize];
        loop {
            let (n, size) = cur.block_count(zero)?;
            if n == 0 {
                return Ok(());
            }
            if let Some(size) = size {
                // The writer told us the block's byte size: jump over it.
                cur.advance(size)?;
                continue;
            }
            if zero {
                continue;
            }
            for _ in 0..n {
                if map.is_some() {
                    cur.bytes()?;
                }
                self.skip(item, cur, depth + 1)?;
            }
        }
    }

    /// Walks one record, returning the byte range of every writer field.
    pub(crate) fn spans(
        &self,
        cur: &mut Cur<'_>,
        out: &mut Vec<std::ops::Range<usize>>,
    ) -> Result<(), Fail> {
        out.clear();
        out.reserve(self.field_nodes.len());
        for (i, node) in self.field_nodes.iter().enumerate() {
            let start = cur.pos;
            if let Err(code) = self.skip(*node, cur, 0) {
                return Err(Fail {
                    code,
                    pos: start,
                    field: Some(i),
                });
            }
            out.push(start..cur.pos);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::currents::writer::encode_long;

    #[test]
    fn varints_round_trip_and_reject_overlong() {
        let values = [
            0i64,
            1,
            -1,
            63,
            -64,
            64,
            300,
            -300,
            i64::from(i32::MAX),
            i64::from(i32::MIN),
            i64::MAX,
            i64::MIN,
        ];
        let mut buf = Vec::new();
        for v in values {
            encode_long(v, &mut buf);
        }
        let mut cur = Cur::new(&buf);
        for v in values {
            assert_eq!(cur.long().ok(), Some(v));
        }
        assert_eq!(cur.remaining(), 0);
        assert!(matches!(cur.long(), Err(Code::Truncated)));

        // 11 bytes of continuation: too long.
        let long = [0xffu8; 11];
        assert!(matches!(Cur::new(&long).long(), Err(Code::Varint)));
        // Tenth byte carrying more than one bit overflows 64 bits.
        let mut over = vec![0xffu8; 9];
        over.push(0x02);
        assert!(matches!(Cur::new(&over).long(), Err(Code::Varint)));
        // Int range.
        let mut b = Vec::new();
        encode_long(i64::from(i32::MAX) + 1, &mut b);
        let mut c = Cur::new(&b);
        assert!(matches!(c.int(), Err(Code::IntRange(_))));
        assert_eq!(c.pos, 0, "failed reads do not advance");
    }

    #[test]
    fn strings_are_bounded_and_validated() {
        let mut b = Vec::new();
        encode_long(1 << 40, &mut b);
        b.extend_from_slice(b"abc");
        assert!(matches!(
            Cur::new(&b).str(),
            Err(Code::Length {
                len: 1_099_511_627_776,
                remaining: 3
            })
        ));
        let mut b = Vec::new();
        encode_long(2, &mut b);
        b.extend_from_slice(&[0xc3, 0x28]);
        assert!(matches!(Cur::new(&b).str(), Err(Code::Utf8)));
        assert!(matches!(Cur::new(&[2]).boolean(), Err(Code::Bool(2))));
    }

    #[test]
    fn utf8_window_slices_only_valid_strings() {
        // Strings separated by length varints >= 64 (non-ASCII bytes), a
        // non-ASCII string, an empty string and finally an invalid one.
        let long = "x".repeat(100);
        let parts: [&[u8]; 6] = [
            b"abc",
            long.as_bytes(),
            "Zürich – ✉".as_bytes(),
            b"",
            b"tail",
            &[b'o', b'k', 0xe2, 0x82],
        ];
        let mut b = Vec::new();
        for p in parts {
            encode_long(p.len() as i64, &mut b);
            b.extend_from_slice(p);
        }
        let mut c = Cur::new(&b);
        assert_eq!(c.str().ok(), Some("abc"));
        assert_eq!(c.str().ok(), Some(long.as_str()));
        assert_eq!(c.str().ok(), Some("Zürich – ✉"));
        assert_eq!(c.str().ok(), Some(""));
        assert_eq!(c.str().ok(), Some("tail"));
        let before = c.pos;
        assert!(matches!(c.str(), Err(Code::Utf8)));
        assert_eq!(c.pos, before);
        assert_eq!(utf8_run(b"0123456789abcdef0123\xff"), 20);
        assert_eq!(utf8_run("0123456789abcdef_é_–_🎉!".as_bytes()), 29);
        assert_eq!(utf8_run(&[b'a', 0xc3, 0x28]), 1);
        assert_eq!(utf8_run(&[b'a', 0xe2, 0x82]), 1);
        assert_eq!(utf8_run(&[0x80]), 0);
        assert_eq!(utf8_run(b""), 0);
    }

    fn plan_for(fields: &[(&str, &str)]) -> Plan {
        let fs: Vec<String> = fields
            .iter()
            .map(|(n, t)| format!(r#"{{"name":"{n}","type":{t}}}"#))
            .collect();
        let json = format!(
            r#"{{"type":"record","name":"Click","fields":[{}]}}"#,
            fs.join(",")
        );
        let top = crate::currents::schema::parse_top(&json, 32).expect("schema");
        Plan::compile(top, EventType::Click, false, 32)
            .expect("plan")
            .0
    }

    #[test]
    fn straight_line_path_only_for_canonical_prefixes() {
        let opt = r#"["null","string"]"#;
        let newest_prefix = [
            ("id", r#""string""#),
            ("user_id", r#""string""#),
            ("dispatch_id", opt),
            ("external_user_id", opt),
            ("time", r#""int""#),
            ("timezone", opt),
            ("campaign_id", opt),
            ("campaign_name", opt),
            ("message_variation_id", opt),
            ("message_variation_name", opt),
            ("email_address", r#""string""#),
        ];
        assert_eq!(plan_for(&newest_prefix).prefix, Some(11));
        // Reordered (2018 order), a widened type, a union in another order, or an
        // unknown field: the generic plan.
        let mut reordered = newest_prefix;
        reordered.swap(2, 3);
        assert_eq!(plan_for(&reordered).prefix, None);
        let mut widened = newest_prefix;
        widened[4].1 = r#""long""#;
        assert_eq!(plan_for(&widened).prefix, None);
        let mut flipped = newest_prefix;
        flipped[5].1 = r#"["string","null"]"#;
        assert_eq!(plan_for(&flipped).prefix, None);
        let mut extra = newest_prefix.to_vec();
        extra.push(("future", r#""long""#));
        assert_eq!(plan_for(&extra).prefix, None);
    }
}
