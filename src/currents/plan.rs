//! The decoding plan: a compiled writer schema, one operation per writer field
//! ("read this wire type into typed slot `i`" or "skip this Avro type"), and
//! the hot loop that walks it per record. Compilation is in `compile`.

use super::cursor::{Code, Cur, Fail, Val, time_from};
use super::events::{EventType, Typed};
use super::schema::{Node, NodeId, Schema};
use crate::vocab::RecipientKey;

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
    /// A value of this writer type, kept as its encoded bytes.
    Raw(NodeId),
    /// A general union into a typed field: index into `Plan::unions`.
    Union(u32),
    /// Skip a value of this writer type.
    Skip(NodeId),
}

pub(crate) const NO_NULL: u8 = u8::MAX;

/// One operation per writer field.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Op {
    pub(crate) wire: Wire,
    pub(crate) slot: u8,
    /// The branch index that is `null`, or `NO_NULL`.
    pub(crate) null_idx: u8,
    /// 0 when the writer type is not a union, else the number of branches.
    pub(crate) union_len: u8,
}

/// A compiled writer schema.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) event_type: EventType,
    pub(crate) ops: Vec<Op>,
    /// The operations that read or skip at least one byte, with their writer
    /// field index: fields of zero-size types (`null`, empty records) cost
    /// nothing per record.
    pub(crate) live: Vec<(u32, Op)>,
    pub(crate) unions: Vec<Vec<Option<Wire>>>,
    pub(crate) field_nodes: Vec<NodeId>,
    /// The writer fields of types that take at least one byte, with how each
    /// is skipped.
    pub(crate) sized: Vec<(u32, Skip)>,
    /// Per writer field, the number of `sized` fields before it; one more
    /// entry (the count of `sized`) at the end.
    pub(crate) rank: Vec<u32>,
    pub(crate) names: Vec<String>,
    pub(crate) schema: Schema,
    pub(crate) max_depth: usize,
    /// `Some(n)` when the writer's fields are the first `n` typed fields in
    /// order with canonical types: decoded by `Typed::decode_prefix`.
    pub(crate) prefix: Option<usize>,
}

impl Plan {
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
        for (i, op) in &self.live {
            let start = cur.pos;
            if let Err(code) = self.run(op, cur, ev, key) {
                return Err(Fail {
                    code,
                    pos: start,
                    field: Some(*i as usize),
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
            Wire::Raw(node) => {
                let start = cur.pos;
                self.skip(node, cur, 0)?;
                ev.set(
                    slot,
                    Val::Raw(cur.buf.get(start..cur.pos).unwrap_or_default()),
                );
            }
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
            Wire::Union(_) => return Err(Code::Union { n: 0 }),
        }
        Ok(())
    }

    /// Skips one value of writer type `node`, validating what it reads.
    /// Skips one top-level field: [`Plan::skip`], without its walk for the
    /// common shapes.
    #[inline(always)]
    fn skip_field(&self, skip: Skip, cur: &mut Cur<'_>) -> Result<(), Code> {
        match skip {
            Skip::Prim(p) => p.skip(cur),
            Skip::Union(branches, n) => {
                let start = cur.pos;
                let idx = cur.long()?;
                match usize::try_from(idx)
                    .ok()
                    .and_then(|i| branches.get(i).filter(|_| i < n))
                {
                    Some(b) => b.skip(cur),
                    None => {
                        cur.pos = start;
                        Err(Code::Union { n })
                    }
                }
            }
            Skip::Node(node) => self.skip(node, cur, 0),
        }
    }

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
                    return Err(Code::Enum { n: *n });
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
                        Err(Code::Union { n: bs.len() })
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

    /// Walks one record, returning its start and the end of every field that
    /// takes at least one byte (zero-size fields cost nothing): the ranges of
    /// the record's fields follow with [`Plan::span_of`].
    pub(crate) fn bounds(&self, cur: &mut Cur<'_>, out: &mut Vec<usize>) -> Result<(), Fail> {
        out.clear();
        out.push(cur.pos);
        for &(i, skip) in &self.sized {
            let start = cur.pos;
            if let Err(code) = self.skip_field(skip, cur) {
                return Err(Fail {
                    code,
                    pos: start,
                    field: Some(i as usize),
                });
            }
            out.push(cur.pos);
        }
        Ok(())
    }

    /// The byte range of writer field `i` in a record whose [`Plan::bounds`]
    /// are `bounds` (empty when out of range).
    #[inline]
    pub(crate) fn span_of(&self, bounds: &[usize], i: usize) -> std::ops::Range<usize> {
        let at = |k: usize| {
            self.rank
                .get(k)
                .and_then(|&r| bounds.get(r as usize))
                .copied()
        };
        match (at(i), at(i + 1)) {
            (Some(a), Some(b)) => a..b,
            _ => 0..0,
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
            if self.schema.zero_size[*node as usize] {
                out.push(start..start);
                continue;
            }
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

/// How a top-level field is skipped: a primitive, or a union of up to two
/// primitives (`["null", "string"]`), without the generic walk; anything else
/// by [`Plan::skip`]. Same checks and errors as the walk.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Skip {
    Prim(Prim),
    /// The branches (the first `n` are used) and their count.
    Union([Prim; 2], usize),
    Node(NodeId),
}

/// A primitive type, as skipped.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Prim {
    Null,
    Bool,
    Int,
    Long,
    Bytes,
    Fixed(usize),
}

impl Prim {
    fn of(node: &Node) -> Option<Prim> {
        Some(match node {
            Node::Null => Prim::Null,
            Node::Boolean => Prim::Bool,
            Node::Int => Prim::Int,
            Node::Long => Prim::Long,
            Node::Float => Prim::Fixed(4),
            Node::Double => Prim::Fixed(8),
            Node::Bytes | Node::String => Prim::Bytes,
            Node::Fixed(n) => Prim::Fixed(*n),
            _ => return None,
        })
    }

    #[inline(always)]
    fn skip(self, cur: &mut Cur<'_>) -> Result<(), Code> {
        match self {
            Prim::Null => Ok(()),
            Prim::Bool => cur.boolean().map(drop),
            Prim::Int => cur.int().map(drop),
            Prim::Long => cur.long().map(drop),
            Prim::Bytes => cur.bytes().map(drop),
            Prim::Fixed(n) => cur.advance(n),
        }
    }
}

impl Skip {
    /// How the top-level field of type `node` is skipped (`max_depth`: a
    /// union needs one level, as in the walk).
    pub(crate) fn of(schema: &Schema, node: NodeId, max_depth: usize) -> Skip {
        let at = |id: NodeId| schema.nodes.get(id as usize);
        match at(node) {
            Some(Node::Union(bs)) if max_depth >= 1 && bs.len() <= 2 => {
                let mut prims = [Prim::Null; 2];
                for (slot, b) in prims.iter_mut().zip(bs) {
                    match at(*b).and_then(Prim::of) {
                        Some(p) => *slot = p,
                        None => return Skip::Node(node),
                    }
                }
                Skip::Union(prims, bs.len())
            }
            Some(n) => Prim::of(n).map_or(Skip::Node(node), Skip::Prim),
            None => Skip::Node(node),
        }
    }
}
