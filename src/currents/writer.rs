//! Writing Avro Object Container Files: the low-level writer and binary encoders.

use std::io::Write;

use flate2::Compression;
use flate2::write::DeflateEncoder;

/// The compression codec of a container file's blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Codec {
    /// No compression (`null`), what Braze writes.
    Null,
    /// Raw deflate (RFC 1951, no zlib header), as the Avro specification says.
    Deflate,
}

impl Codec {
    /// The codec's name in the `avro.codec` metadata entry.
    pub const fn name(self) -> &'static str {
        match self {
            Codec::Null => "null",
            Codec::Deflate => "deflate",
        }
    }
}

/// The Avro object container magic.
pub const MAGIC: [u8; 4] = *b"Obj\x01";

/// Appends a zig-zag varint `long` (also the encoding of `int`, enum indices,
/// union branch indices, lengths and block counts).
#[inline]
pub fn encode_long(v: i64, out: &mut Vec<u8>) {
    crate::wire::write_long(v, out);
}

/// Appends Avro `bytes`: the length as a `long`, then the bytes.
#[inline]
pub fn encode_bytes(b: &[u8], out: &mut Vec<u8>) {
    crate::wire::write_bytes(b, out);
}

/// Appends an Avro `string` (UTF-8 bytes, length-prefixed).
#[inline]
pub fn encode_str(s: &str, out: &mut Vec<u8>) {
    encode_bytes(s.as_bytes(), out);
}

/// Appends an Avro `boolean` (one byte, 0 or 1).
#[inline]
pub fn encode_bool(b: bool, out: &mut Vec<u8>) {
    out.push(u8::from(b));
}

/// Appends a value of the union `["null","string"]`: branch 0 for `None`,
/// branch 1 and the string for `Some`.
#[inline]
pub fn encode_opt_str(s: Option<&str>, out: &mut Vec<u8>) {
    match s {
        None => encode_long(0, out),
        Some(s) => {
            encode_long(1, out);
            encode_str(s, out);
        }
    }
}

/// Appends a value of the union `["null","boolean"]`.
#[inline]
pub fn encode_opt_bool(b: Option<bool>, out: &mut Vec<u8>) {
    match b {
        None => encode_long(0, out),
        Some(b) => {
            encode_long(1, out);
            encode_bool(b, out);
        }
    }
}

/// Appends a value of the union `["null","int"]` or `["null","long"]`.
#[inline]
pub fn encode_opt_long(v: Option<i64>, out: &mut Vec<u8>) {
    match v {
        None => encode_long(0, out),
        Some(v) => {
            encode_long(1, out);
            encode_long(v, out);
        }
    }
}

/// Appends an `array<string>` (one block, then the terminating zero count).
pub fn encode_str_array(items: &[&str], out: &mut Vec<u8>) {
    if !items.is_empty() {
        encode_long(i64::try_from(items.len()).unwrap_or(i64::MAX), out);
        for s in items {
            encode_str(s, out);
        }
    }
    encode_long(0, out);
}

/// A low-level Avro Object Container File writer: the caller encodes records
/// (with the `encode_*` helpers) and hands over whole blocks.
///
/// The writer does not check that the record bytes match the schema: that is
/// what makes it useful for crafting corrupt test files too.
///
/// ```
/// use dynopt::currents::{encode_str, Codec, OcfWriter};
/// let schema = r#"{"type":"record","name":"R","fields":[{"name":"s","type":"string"}]}"#;
/// let w = OcfWriter::new(schema, Codec::Deflate, &[("my.key", b"v")], [7; 16]);
/// let mut file = Vec::new();
/// w.header(&mut file);
/// let mut records = Vec::new();
/// encode_str("hello", &mut records);
/// w.write_block(1, &records, &mut file);
/// assert!(file.starts_with(b"Obj\x01"));
/// assert!(file.ends_with(&[7; 16]));
/// ```
#[derive(Clone, Debug)]
pub struct OcfWriter {
    schema_json: String,
    codec: Codec,
    metadata: Vec<(String, Vec<u8>)>,
    sync: [u8; 16],
    level: Compression,
}

impl OcfWriter {
    /// A writer for `schema_json` with `codec`, extra `metadata` entries (written
    /// after `avro.schema` and `avro.codec`) and the 16-byte `sync` marker.
    pub fn new(
        schema_json: &str,
        codec: Codec,
        metadata: &[(&str, &[u8])],
        sync: [u8; 16],
    ) -> Self {
        OcfWriter {
            schema_json: schema_json.to_owned(),
            codec,
            metadata: metadata
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.to_vec()))
                .collect(),
            sync,
            level: Compression::default(),
        }
    }

    /// Sets the deflate compression level (0 to 9; default 6).
    pub fn with_compression_level(mut self, level: u32) -> Self {
        self.level = Compression::new(level.min(9));
        self
    }

    /// The codec.
    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// The sync marker.
    pub fn sync_marker(&self) -> [u8; 16] {
        self.sync
    }

    /// Appends the file header: magic, metadata map and sync marker.
    pub fn header(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&MAGIC);
        let entries = 2 + self.metadata.len();
        encode_long(i64::try_from(entries).unwrap_or(i64::MAX), out);
        encode_str("avro.schema", out);
        encode_str(&self.schema_json, out);
        encode_str("avro.codec", out);
        encode_str(self.codec.name(), out);
        for (k, v) in &self.metadata {
            encode_str(k, out);
            encode_bytes(v, out);
        }
        encode_long(0, out);
        out.extend_from_slice(&self.sync);
    }

    /// Appends one block: the record count, the (compressed) byte size, the
    /// record bytes and the sync marker.
    pub fn write_block(&self, count: u64, record_bytes: &[u8], out: &mut Vec<u8>) {
        encode_long(i64::try_from(count).unwrap_or(i64::MAX), out);
        match self.codec {
            Codec::Null => encode_bytes(record_bytes, out),
            Codec::Deflate => {
                let mut enc = DeflateEncoder::new(
                    Vec::with_capacity(record_bytes.len() / 2 + 64),
                    self.level,
                );
                enc.write_all(record_bytes)
                    .expect("writing into a Vec cannot fail");
                let compressed = enc.finish().expect("writing into a Vec cannot fail");
                encode_bytes(&compressed, out);
            }
        }
        out.extend_from_slice(&self.sync);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_encoding_matches_the_avro_spec() {
        // Examples from the Avro specification.
        let cases: [(i64, &[u8]); 6] = [
            (0, &[0x00]),
            (-1, &[0x01]),
            (1, &[0x02]),
            (-2, &[0x03]),
            (2, &[0x04]),
            (-64, &[0x7f]),
        ];
        for (v, bytes) in cases {
            let mut out = Vec::new();
            encode_long(v, &mut out);
            assert_eq!(out, bytes, "{v}");
        }
        let mut out = Vec::new();
        encode_long(64, &mut out);
        assert_eq!(out, [0x80, 0x01]);
        out.clear();
        encode_long(i64::MIN, &mut out);
        assert_eq!(out.len(), 10);
    }

    #[test]
    fn apache_avro_reads_what_we_write() {
        let schema = r#"{"type":"record","name":"R","fields":[
            {"name":"s","type":"string"},{"name":"o","type":["null","string"]},
            {"name":"b","type":["null","boolean"]},{"name":"n","type":"long"},
            {"name":"a","type":{"type":"array","items":"string"}}]}"#;
        for codec in [Codec::Null, Codec::Deflate] {
            let w = OcfWriter::new(schema, codec, &[("x", b"y")], [3; 16]);
            let mut file = Vec::new();
            w.header(&mut file);
            let mut recs = Vec::new();
            for i in 0..3 {
                encode_str("héllo", &mut recs);
                encode_opt_str((i % 2 == 0).then_some("x"), &mut recs);
                encode_opt_bool(Some(i == 1), &mut recs);
                encode_long(-5 * i, &mut recs);
                encode_str_array(&["user_agent", "ip_address"][..i as usize], &mut recs);
            }
            w.write_block(3, &recs, &mut file);
            let reader = apache_avro::Reader::new(&file[..]).expect("apache-avro reads the header");
            let values: Vec<_> = reader.collect::<Result<_, _>>().expect("records decode");
            assert_eq!(values.len(), 3);
            let apache_avro::types::Value::Record(fields) = &values[2] else {
                panic!("a record");
            };
            assert_eq!(
                fields[0].1,
                apache_avro::types::Value::String("héllo".into())
            );
            assert_eq!(fields[3].1, apache_avro::types::Value::Long(-10));
        }
    }
}
