//! Schema to operations: each writer schema is compiled once into a [`Plan`],
//! one operation per writer field, resolved by name against the typed event.

use super::error::{DecodeError, DecodeErrorKind};
use super::events::EventType;
use super::kind::{FieldKind, Target};
use super::plan::{NO_NULL, Op, Plan, Skip, Wire};
use super::sanitized::RECIPIENT_KEY_FIELD;
use super::schema::{Node, NodeId, Schema, TopRecord, WriterField};

/// Whether `op` reads the writer type a field of `kind` has in Braze's own
/// schemas (required fields bare, optional ones `["null", T]`, times and
/// integers as `int`): such fields can be read straight-line by [`Slot::read`](super::kind::Slot).
fn canonical(kind: FieldKind, op: &Op) -> bool {
    let (target, required) = kind.target();
    let wire = match target {
        Target::Str => Wire::Str,
        Target::Time => Wire::IntTime,
        Target::Long => Wire::Int,
        Target::Bool => Wire::Bool,
        Target::List => Wire::StrList,
        // Raw values are walked with their writer type: never straight-line.
        Target::Raw => return false,
    };
    op.wire == wire
        && if required {
            op.union_len == 0
        } else {
            op.union_len == 2 && op.null_idx == 0
        }
}

fn direct_wire(schema: &Schema, node: NodeId, t: Target) -> Option<Wire> {
    match &schema.nodes[node as usize] {
        Node::String => (t == Target::Str).then_some(Wire::Str),
        Node::Int => match t {
            Target::Time => Some(Wire::IntTime),
            Target::Long => Some(Wire::Int),
            Target::Str | Target::Bool | Target::List | Target::Raw => None,
        },
        Node::Long => match t {
            Target::Time => Some(Wire::LongTime),
            Target::Long => Some(Wire::Long),
            Target::Str | Target::Bool | Target::List | Target::Raw => None,
        },
        Node::Boolean => (t == Target::Bool).then_some(Wire::Bool),
        Node::Array(item) => match t {
            Target::List => (schema.nodes[*item as usize] == Node::String).then_some(Wire::StrList),
            Target::Raw => Some(Wire::Raw(node)),
            Target::Str | Target::Time | Target::Long | Target::Bool => None,
        },
        Node::Null
        | Node::Float
        | Node::Double
        | Node::Bytes
        | Node::Fixed(_)
        | Node::Enum(_)
        | Node::Map(_)
        | Node::Record(_)
        | Node::Union(_) => None,
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
                let (target, required) = def.kind.target();
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
            let required = def.kind.is_required();
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
        let live = ops
            .iter()
            .enumerate()
            .filter(|(_, op)| !matches!(op.wire, Wire::Skip(n) if schema.zero_size[n as usize]))
            .filter_map(|(i, op)| Some((u32::try_from(i).ok()?, *op)))
            .collect();
        let (sized, rank) = sized_fields(&field_nodes, &schema, max_depth);
        Ok((
            Plan {
                event_type,
                ops,
                live,
                unions,
                field_nodes,
                sized,
                rank,
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
}

/// The writer fields that take at least one byte (with how each is skipped),
/// and per writer field the number of such fields before it (one more entry
/// at the end): a record's field boundaries then cost nothing per zero-size
/// field.
fn sized_fields(
    field_nodes: &[NodeId],
    schema: &Schema,
    max_depth: usize,
) -> (Vec<(u32, Skip)>, Vec<u32>) {
    let mut sized = Vec::new();
    let mut rank = Vec::with_capacity(field_nodes.len() + 1);
    for (i, &node) in field_nodes.iter().enumerate() {
        rank.push(u32::try_from(sized.len()).unwrap_or(u32::MAX));
        if !schema
            .zero_size
            .get(node as usize)
            .copied()
            .unwrap_or(false)
        {
            sized.push((
                u32::try_from(i).unwrap_or(u32::MAX),
                Skip::of(schema, node, max_depth),
            ));
        }
    }
    rank.push(u32::try_from(sized.len()).unwrap_or(u32::MAX));
    (sized, rank)
}

#[cfg(test)]
mod tests {
    use super::*;

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
