//! Writer schema parsing: the JSON of `avro.schema` into a small arena of type nodes.
//!
//! `apache-avro`'s parser drops `doc` and Kafka-Connect `connect.doc` attributes,
//! which carry Braze's `[PII]` tags, so the schema is read with `serde_json`.

use std::collections::HashMap;

use serde_json::Value;

use super::error::{DecodeError, DecodeErrorKind};

/// Index of a node in [`Schema::nodes`].
pub(crate) type NodeId = u32;

/// One Avro type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Node {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes,
    String,
    Fixed(usize),
    Enum(usize),
    Array(NodeId),
    Map(NodeId),
    Record(Vec<NodeId>),
    Union(Vec<NodeId>),
}

/// A parsed schema: an arena of nodes; records refer to their fields' types by id.
#[derive(Clone, Debug)]
pub(crate) struct Schema {
    pub(crate) nodes: Vec<Node>,
    /// Whether a node always encodes to zero bytes (null, empty records, `fixed(0)`).
    pub(crate) zero_size: Vec<bool>,
}

/// How a writer type holds text: what `sanitize` needs to check and rewrite a
/// kept value's bytes without decoding the record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TextShape {
    /// A `string`, bare (`None`) or as branch `n` of a union whose other
    /// branches are all `null`.
    Str(Option<i64>),
    /// An `array<string>`, bare or as such a union branch.
    StrList(Option<i64>),
    /// Anything else.
    Other,
}

impl Schema {
    /// The [`TextShape`] of writer type `node`.
    pub(crate) fn text_shape(&self, node: NodeId) -> TextShape {
        if let Some(shape) = self.text_of(node) {
            return shape(None);
        }
        let Node::Union(branches) = &self.nodes[node as usize] else {
            return TextShape::Other;
        };
        let mut found = None;
        for (i, b) in branches.iter().enumerate() {
            if self.nodes[*b as usize] == Node::Null {
                continue;
            }
            match (self.text_of(*b), found) {
                (Some(shape), None) => found = Some(shape(i64::try_from(i).ok())),
                // A second non-null branch, or one that is not text.
                (Some(_), Some(_)) | (None, _) => return TextShape::Other,
            }
        }
        found.unwrap_or(TextShape::Other)
    }

    /// The text shape constructor of a bare `string` or `array<string>`.
    fn text_of(&self, node: NodeId) -> Option<fn(Option<i64>) -> TextShape> {
        match &self.nodes[node as usize] {
            Node::String => Some(TextShape::Str),
            Node::Array(item) => (self.nodes[*item as usize] == Node::String)
                .then_some(TextShape::StrList as fn(Option<i64>) -> TextShape),
            Node::Null
            | Node::Boolean
            | Node::Int
            | Node::Long
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
}

/// A field of the top-level writer record.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct WriterField {
    /// The field name.
    pub name: String,
    /// Whether the field's documentation (`doc`, or `connect.doc` inside its type)
    /// starts with Braze's `[PII]` tag.
    pub pii_tag: bool,
    /// Whether the typed event has a field of this name (or, in a sanitized file,
    /// whether it is the `recipient_key` field).
    pub known: bool,
    /// The field's `doc` attribute, when present.
    pub doc: Option<String>,
    /// The field's type as compact JSON, exactly as the writer declared it.
    pub type_json: String,
    /// The field's full JSON object (name, type, doc, default, ...), compact.
    pub field_json: String,
}

/// The parsed top-level record.
pub(crate) struct TopRecord {
    pub(crate) name: String,
    pub(crate) namespace: Option<String>,
    pub(crate) fields: Vec<(WriterField, NodeId)>,
    pub(crate) schema: Schema,
}

fn bad(reason: impl Into<String>) -> DecodeError {
    DecodeError::new(DecodeErrorKind::BadSchema(reason.into()))
}

struct Parser {
    nodes: Vec<Node>,
    names: HashMap<String, NodeId>,
    max_depth: usize,
    max_nodes: usize,
}

impl Parser {
    fn push(&mut self, n: Node) -> Result<NodeId, DecodeError> {
        if self.nodes.len() >= self.max_nodes {
            return Err(bad("schema has too many types"));
        }
        self.nodes.push(n);
        u32::try_from(self.nodes.len() - 1).map_err(|_| bad("schema has too many types"))
    }

    fn full_name(name: &str, ns: Option<&str>) -> String {
        if name.contains('.') {
            name.to_owned()
        } else {
            match ns {
                Some(ns) if !ns.is_empty() => format!("{ns}.{name}"),
                _ => name.to_owned(),
            }
        }
    }

    fn register(&mut self, name: &str, ns: Option<&str>, id: NodeId) -> Result<(), DecodeError> {
        let full = Self::full_name(name, ns);
        if self.names.insert(full, id).is_some() {
            return Err(bad(format!("type `{name}` defined twice")));
        }
        Ok(())
    }

    fn lookup(&self, name: &str, ns: Option<&str>) -> Option<NodeId> {
        self.names
            .get(&Self::full_name(name, ns))
            .or_else(|| self.names.get(name))
            .copied()
    }

    fn parse(&mut self, v: &Value, ns: Option<&str>, depth: usize) -> Result<NodeId, DecodeError> {
        if depth > self.max_depth {
            return Err(bad("schema nested too deeply"));
        }
        match v {
            Value::String(s) => self.named_or_primitive(s, ns),
            Value::Array(branches) => {
                let mut ids = Vec::with_capacity(branches.len().min(64));
                for b in branches {
                    ids.push(self.parse(b, ns, depth + 1)?);
                }
                if ids.is_empty() {
                    return Err(bad("empty union"));
                }
                self.push(Node::Union(ids))
            }
            Value::Object(o) => {
                let ty = o
                    .get("type")
                    .ok_or_else(|| bad("type object without `type`"))?;
                let ty_name = match ty {
                    Value::String(s) => s.as_str(),
                    // {"type": {...}} or {"type": [...]}: a wrapped schema.
                    other => return self.parse(other, ns, depth + 1),
                };
                match ty_name {
                    "record" | "error" => {
                        let name = o
                            .get("name")
                            .and_then(Value::as_str)
                            .ok_or_else(|| bad("record without a name"))?;
                        let own_ns = o.get("namespace").and_then(Value::as_str).or(ns);
                        let id = self.push(Node::Record(Vec::new()))?;
                        self.register(name, own_ns, id)?;
                        let child_ns = if name.contains('.') {
                            name.rsplit_once('.').map(|(n, _)| n)
                        } else {
                            own_ns
                        };
                        let fields = o
                            .get("fields")
                            .and_then(Value::as_array)
                            .ok_or_else(|| bad(format!("record `{name}` without fields")))?;
                        let mut ids = Vec::with_capacity(fields.len().min(1024));
                        for f in fields {
                            let fty = f
                                .get("type")
                                .ok_or_else(|| bad(format!("a field of `{name}` has no type")))?;
                            ids.push(self.parse(fty, child_ns, depth + 1)?);
                        }
                        self.nodes[id as usize] = Node::Record(ids);
                        Ok(id)
                    }
                    "enum" => {
                        let name = o
                            .get("name")
                            .and_then(Value::as_str)
                            .ok_or_else(|| bad("enum without a name"))?;
                        let n = o
                            .get("symbols")
                            .and_then(Value::as_array)
                            .map(Vec::len)
                            .ok_or_else(|| bad(format!("enum `{name}` without symbols")))?;
                        let own_ns = o.get("namespace").and_then(Value::as_str).or(ns);
                        let id = self.push(Node::Enum(n))?;
                        self.register(name, own_ns, id)?;
                        Ok(id)
                    }
                    "fixed" => {
                        let name = o
                            .get("name")
                            .and_then(Value::as_str)
                            .ok_or_else(|| bad("fixed without a name"))?;
                        let size = o
                            .get("size")
                            .and_then(Value::as_u64)
                            .and_then(|s| usize::try_from(s).ok())
                            .ok_or_else(|| bad(format!("fixed `{name}` without a valid size")))?;
                        let own_ns = o.get("namespace").and_then(Value::as_str).or(ns);
                        let id = self.push(Node::Fixed(size))?;
                        self.register(name, own_ns, id)?;
                        Ok(id)
                    }
                    "array" => {
                        let items = o.get("items").ok_or_else(|| bad("array without items"))?;
                        let item = self.parse(items, ns, depth + 1)?;
                        self.push(Node::Array(item))
                    }
                    "map" => {
                        let values = o.get("values").ok_or_else(|| bad("map without values"))?;
                        let value = self.parse(values, ns, depth + 1)?;
                        self.push(Node::Map(value))
                    }
                    other => self.named_or_primitive(other, ns),
                }
            }
            _ => Err(bad("a schema must be a string, an object or an array")),
        }
    }

    fn named_or_primitive(&mut self, s: &str, ns: Option<&str>) -> Result<NodeId, DecodeError> {
        let node = match s {
            "null" => Node::Null,
            "boolean" => Node::Boolean,
            "int" => Node::Int,
            "long" => Node::Long,
            "float" => Node::Float,
            "double" => Node::Double,
            "bytes" => Node::Bytes,
            "string" => Node::String,
            name => {
                return self
                    .lookup(name, ns)
                    .ok_or_else(|| bad(format!("unknown type `{name}`")));
            }
        };
        self.push(node)
    }
}

fn zero_sizes(nodes: &[Node]) -> Vec<bool> {
    // 0 = unknown, 1 = in progress, 2 = zero, 3 = non-zero.
    fn visit(nodes: &[Node], state: &mut [u8], id: usize, depth: usize) -> bool {
        match state[id] {
            2 => return true,
            3 | 1 => return false,
            _ => {}
        }
        if depth > 256 {
            return false;
        }
        state[id] = 1;
        let zero = match &nodes[id] {
            Node::Null => true,
            Node::Fixed(n) => *n == 0,
            Node::Record(fs) => fs
                .iter()
                .all(|f| visit(nodes, state, *f as usize, depth + 1)),
            Node::Boolean
            | Node::Int
            | Node::Long
            | Node::Float
            | Node::Double
            | Node::Bytes
            | Node::String
            | Node::Enum(_)
            | Node::Array(_)
            | Node::Map(_)
            | Node::Union(_) => false,
        };
        state[id] = if zero { 2 } else { 3 };
        zero
    }
    let mut state = vec![0u8; nodes.len()];
    (0..nodes.len())
        .map(|i| visit(nodes, &mut state, i, 0))
        .collect()
}

/// Whether a documentation string carries Braze's `[PII]` tag.
fn is_pii_doc(doc: &str) -> bool {
    doc.trim_start().starts_with("[PII]")
}

/// Looks for `connect.doc` (or `doc`) with a `[PII]` tag anywhere inside a
/// field's type: the type object, the branches of a union, array items, map
/// values and the fields of nested records (their `doc` and their types). A type
/// nested deeper than the walk goes is treated as tagged.
fn type_has_pii_tag(ty: &Value, depth: usize) -> bool {
    if depth > 64 {
        return true;
    }
    match ty {
        Value::Object(o) => {
            ["connect.doc", "doc"]
                .iter()
                .any(|k| o.get(*k).and_then(Value::as_str).is_some_and(is_pii_doc))
                || ["type", "items", "values"]
                    .iter()
                    .any(|k| o.get(*k).is_some_and(|t| type_has_pii_tag(t, depth + 1)))
                || o.get("fields").and_then(Value::as_array).is_some_and(|fs| {
                    fs.iter().any(|f| {
                        f.get("doc").and_then(Value::as_str).is_some_and(is_pii_doc)
                            || f.get("type")
                                .is_some_and(|t| type_has_pii_tag(t, depth + 1))
                    })
                })
        }
        Value::Array(bs) => bs.iter().any(|b| type_has_pii_tag(b, depth + 1)),
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => false,
    }
}

/// Parses the writer schema JSON; the top level must be a record.
pub(crate) fn parse_top(json: &str, max_depth: usize) -> Result<TopRecord, DecodeError> {
    let v: Value = serde_json::from_str(json).map_err(|e| {
        // The position only: serde_json's message may quote the input.
        bad(format!(
            "invalid JSON at line {} column {}",
            e.line(),
            e.column()
        ))
    })?;
    let o = v
        .as_object()
        .ok_or_else(|| bad("the top-level schema is not a record"))?;
    if !matches!(o.get("type").and_then(Value::as_str), Some("record")) {
        return Err(bad("the top-level schema is not a record"));
    }
    let mut p = Parser {
        nodes: Vec::new(),
        names: HashMap::new(),
        max_depth,
        max_nodes: json.len().saturating_add(16),
    };
    let top = p.parse(&v, None, 0)?;
    let Node::Record(ids) = &p.nodes[top as usize] else {
        return Err(bad("the top-level schema is not a record"));
    };
    let ids = ids.clone();
    let name = o
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let namespace = o
        .get("namespace")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let json_fields = o
        .get("fields")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("record without fields"))?;
    let mut fields = Vec::with_capacity(ids.len());
    // Linear in the number of fields (a wide header must not be quadratic).
    let mut seen: std::collections::HashSet<&str> =
        std::collections::HashSet::with_capacity(ids.len());
    for (f, id) in json_fields.iter().zip(ids) {
        let fname = f
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("a field has no name"))?;
        let doc = f.get("doc").and_then(Value::as_str).map(str::to_owned);
        let ty = f.get("type").unwrap_or(&Value::Null);
        let pii_tag = doc.as_deref().is_some_and(is_pii_doc) || type_has_pii_tag(ty, 0);
        if !seen.insert(fname) {
            return Err(bad(format!("field `{fname}` appears twice")).with_field(fname));
        }
        fields.push((
            WriterField {
                name: fname.to_owned(),
                pii_tag,
                known: false,
                doc,
                type_json: ty.to_string(),
                field_json: f.to_string(),
            },
            id,
        ));
    }
    let zero_size = zero_sizes(&p.nodes);
    Ok(TopRecord {
        name,
        namespace,
        fields,
        schema: Schema {
            nodes: p.nodes,
            zero_size,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_shapes() {
        let shape = |t: &str| {
            let json =
                format!(r#"{{"type":"record","name":"R","fields":[{{"name":"f","type":{t}}}]}}"#);
            let top = parse_top(&json, 32).expect("a valid schema");
            top.schema.text_shape(top.fields[0].1)
        };
        assert_eq!(shape(r#""string""#), TextShape::Str(None));
        assert_eq!(shape(r#"["null","string"]"#), TextShape::Str(Some(1)));
        assert_eq!(shape(r#"["string","null"]"#), TextShape::Str(Some(0)));
        assert_eq!(
            shape(r#"["null",{"type":"string","connect.doc":"[PII] x"}]"#),
            TextShape::Str(Some(1))
        );
        assert_eq!(shape(r#"["null","int","string"]"#), TextShape::Other);
        assert_eq!(shape(r#"["null","string","string"]"#), TextShape::Other);
        assert_eq!(shape(r#""int""#), TextShape::Other);
        assert_eq!(
            shape(r#"["null",{"type":"array","items":"string"}]"#),
            TextShape::StrList(Some(1))
        );
        assert_eq!(
            shape(r#"{"type":"array","items":"string"}"#),
            TextShape::StrList(None)
        );
        assert_eq!(shape(r#"{"type":"array","items":"int"}"#), TextShape::Other);
    }

    #[test]
    fn parses_fields_docs_and_pii_tags() {
        let json = r#"{"type":"record","name":"Click","namespace":"users.messages.email",
          "fields":[
            {"name":"id","type":"string"},
            {"name":"user_id","type":"string","doc":"[PII] Braze user ID"},
            {"name":"external_user_id","type":["null",{"type":"string","connect.doc":"[PII] ext"}],"default":null},
            {"name":"attrs","type":["null",{"type":"array","items":["null","string"]}]},
            {"name":"nested","type":{"type":"record","name":"N","fields":[{"name":"a","type":"null"}]}},
            {"name":"again","type":"N"},
            {"name":"fx","type":{"type":"fixed","name":"F","size":4}},
            {"name":"en","type":{"type":"enum","name":"E","symbols":["A","B"]}},
            {"name":"m","type":{"type":"map","values":"long"}}
          ]}"#;
        let top = parse_top(json, 32).expect("valid schema");
        assert_eq!(top.name, "Click");
        assert_eq!(top.namespace.as_deref(), Some("users.messages.email"));
        let names: Vec<_> = top.fields.iter().map(|(f, _)| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "id",
                "user_id",
                "external_user_id",
                "attrs",
                "nested",
                "again",
                "fx",
                "en",
                "m"
            ]
        );
        let tags: Vec<_> = top.fields.iter().map(|(f, _)| f.pii_tag).collect();
        assert_eq!(
            tags,
            [false, true, true, false, false, false, false, false, false]
        );
        let nested = top.fields[4].1;
        assert_eq!(top.fields[5].1, nested, "named reference resolves");
        assert!(top.schema.zero_size[nested as usize]);
        assert_eq!(top.schema.nodes[top.fields[6].1 as usize], Node::Fixed(4));
        assert_eq!(top.schema.nodes[top.fields[7].1 as usize], Node::Enum(2));
    }

    #[test]
    fn rejects_bad_schemas() {
        for json in [
            "",
            "[]",
            r#"{"type":"enum","name":"E","symbols":[]}"#,
            r#"{"type":"record","name":"R"}"#,
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":"Nope"}]}"#,
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"a","type":"int"}]}"#,
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":[]}]}"#,
        ] {
            let e = parse_top(json, 32).err().expect("must be refused");
            assert!(
                matches!(e.kind(), DecodeErrorKind::BadSchema(_)),
                "{json}: {e}"
            );
        }
    }

    #[test]
    fn recursive_records_and_depth_limit() {
        let json = r#"{"type":"record","name":"R","fields":[{"name":"next","type":["null","R"]}]}"#;
        let top = parse_top(json, 32).expect("recursive schema parses");
        assert!(!top.schema.zero_size[0]);
        let mut deep = String::from(r#"{"type":"record","name":"R","fields":[{"name":"a","type":"#);
        for _ in 0..40 {
            deep.push_str(r#"{"type":"array","items":"#);
        }
        deep.push_str("\"int\"");
        for _ in 0..40 {
            deep.push('}');
        }
        deep.push_str("}]}");
        assert!(parse_top(&deep, 32).is_err());
        assert!(parse_top(&deep, 64).is_ok());
    }
}
