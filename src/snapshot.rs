//! What the two stateful halves ([`crate::attribution`] and [`crate::optimiser`])
//! share about snapshots: the restore error and the JSON encoding with its
//! format-version check.
//!
//! Errors never echo the snapshot's bytes or values (a snapshot may hold
//! pseudonymous keys and host labels): a parse failure reports only where it
//! happened, an inconsistency only which invariant broke.

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why a snapshot cannot be restored.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RestoreError {
    /// The snapshot was written in another format version.
    #[error("snapshot format version {found} is not supported (this build reads {supported})")]
    UnsupportedVersion {
        /// The version in the snapshot.
        found: u32,
        /// The version this build writes and reads.
        supported: u32,
    },
    /// The bytes are not a snapshot (JSON syntax or shape).
    #[error("malformed snapshot at {0}")]
    Malformed(JsonPosition),
    /// The snapshot parses but breaks an invariant; the text names it.
    #[error("corrupt snapshot: {0}")]
    Corrupt(&'static str),
}

/// Where snapshot bytes stopped parsing: 1-based line and column (0 when the
/// input ended early). It holds nothing of the bytes themselves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JsonPosition {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

impl fmt::Display for JsonPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

fn malformed(e: &serde_json::Error) -> RestoreError {
    // Only the position: serde's message may quote the offending value.
    RestoreError::Malformed(JsonPosition {
        line: e.line(),
        column: e.column(),
    })
}

/// A snapshot as JSON bytes (floats round-trip exactly).
pub(crate) fn to_json<T: Serialize>(snapshot: &T) -> Vec<u8> {
    // Snapshots hold strings, integers, finite floats, sequences and validated
    // durations (in range by construction), and a Vec writer cannot fail.
    serde_json::to_vec(snapshot).expect("a snapshot always serialises to JSON")
}

/// Parses a whole snapshot; any failure is [`RestoreError::Malformed`].
pub(crate) fn from_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, RestoreError> {
    serde_json::from_slice(bytes).map_err(|e| malformed(&e))
}

/// Parses a snapshot after checking its `format_version` field, so that a
/// snapshot of another version is reported as such rather than as malformed.
pub(crate) fn from_json_checked<T: DeserializeOwned>(
    bytes: &[u8],
    supported: u32,
) -> Result<T, RestoreError> {
    #[derive(serde::Deserialize)]
    struct VersionProbe {
        format_version: u32,
    }
    let probe: VersionProbe = from_json(bytes)?;
    check_version(probe.format_version, supported)?;
    from_json(bytes)
}

/// [`RestoreError::UnsupportedVersion`] unless `found == supported`.
pub(crate) fn check_version(found: u32, supported: u32) -> Result<(), RestoreError> {
    if found == supported {
        Ok(())
    } else {
        Err(RestoreError::UnsupportedVersion { found, supported })
    }
}

// Fields at their defaults are left out of snapshots and reports, so a
// snapshot of an earlier version restores and writes back byte for byte.

/// `skip_serializing_if` for counters.
pub(crate) fn is_zero(x: &u64) -> bool {
    *x == 0
}

/// `skip_serializing_if` for float quantities.
pub(crate) fn is_zero_f64(x: &f64) -> bool {
    *x == 0.0
}

/// `skip_serializing_if` for flags.
pub(crate) fn is_false(x: &bool) -> bool {
    !*x
}

/// Serde adapters that keep a `TimeDelta` in the JSON number format of its
/// older `*_secs` field: whole seconds as an integer, or seconds as a float.
pub(crate) mod secs {
    use chrono::TimeDelta;
    use serde::de::Error as _;
    use serde::ser::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    const OUT_OF_RANGE: &str = "duration out of range";

    /// Whole seconds as `i64`.
    pub(crate) mod i64 {
        use super::*;

        pub(crate) fn serialize<S: Serializer>(d: &TimeDelta, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_i64(d.num_seconds())
        }

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<TimeDelta, D::Error> {
            let n = <i64 as Deserialize>::deserialize(d)?;
            TimeDelta::try_seconds(n).ok_or_else(|| D::Error::custom(OUT_OF_RANGE))
        }
    }

    /// Optional whole seconds as `i64`.
    pub(crate) mod opt_i64 {
        use super::*;

        pub(crate) fn serialize<S: Serializer>(
            d: &Option<TimeDelta>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match d {
                Some(d) => s.serialize_some(&d.num_seconds()),
                None => s.serialize_none(),
            }
        }

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<TimeDelta>, D::Error> {
            match Option::<i64>::deserialize(d)? {
                None => Ok(None),
                Some(n) => TimeDelta::try_seconds(n)
                    .map(Some)
                    .ok_or_else(|| D::Error::custom(OUT_OF_RANGE)),
            }
        }
    }

    /// Whole seconds as `u32`.
    pub(crate) mod u32 {
        use super::*;

        pub(crate) fn serialize<S: Serializer>(d: &TimeDelta, s: S) -> Result<S::Ok, S::Error> {
            let n = <u32 as TryFrom<i64>>::try_from(d.num_seconds())
                .map_err(|_| S::Error::custom(OUT_OF_RANGE))?;
            s.serialize_u32(n)
        }

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<TimeDelta, D::Error> {
            let n = <u32 as Deserialize>::deserialize(d)?;
            Ok(TimeDelta::seconds(i64::from(n)))
        }
    }

    /// Seconds as `f64` (nanosecond precision).
    pub(crate) mod f64 {
        use super::*;

        pub(crate) fn serialize<S: Serializer>(d: &TimeDelta, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_f64(to_f64(*d))
        }

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<TimeDelta, D::Error> {
            let x = <f64 as Deserialize>::deserialize(d)?;
            from_f64(x).ok_or_else(|| D::Error::custom(OUT_OF_RANGE))
        }
    }

    /// Optional seconds as `f64` (nanosecond precision).
    pub(crate) mod opt_f64 {
        use super::*;

        pub(crate) fn serialize<S: Serializer>(
            d: &Option<TimeDelta>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match d {
                Some(d) => s.serialize_some(&to_f64(*d)),
                None => s.serialize_none(),
            }
        }

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<TimeDelta>, D::Error> {
            match Option::<f64>::deserialize(d)? {
                None => Ok(None),
                Some(x) => from_f64(x)
                    .map(Some)
                    .ok_or_else(|| D::Error::custom(OUT_OF_RANGE)),
            }
        }
    }

    /// A duration in seconds, as `f64`. Exact for whole seconds below 2^53.
    pub(crate) fn to_f64(d: TimeDelta) -> f64 {
        d.num_seconds() as f64 + f64::from(d.subsec_nanos()) * 1e-9
    }

    /// Seconds as a duration, rounded to the nanosecond; `None` when not
    /// finite or out of `TimeDelta`'s range.
    pub(crate) fn from_f64(x: f64) -> Option<TimeDelta> {
        // Well inside TimeDelta's range of about ±2.9e11 years.
        const LIMIT: f64 = 9.0e15;
        if !(x.is_finite() && x.abs() < LIMIT) {
            return None;
        }
        let whole = x.floor();
        let mut nanos = ((x - whole) * 1e9).round() as i64;
        let mut secs = whole as i64;
        if nanos >= 1_000_000_000 {
            secs += 1;
            nanos -= 1_000_000_000;
        }
        TimeDelta::try_seconds(secs)?.checked_add(&TimeDelta::nanoseconds(nanos))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn float_seconds_round_trip() {
            for x in [0.0, 1.0, 1.5, 300.0, 259_200.0, 604_800.0, -2.25, 1e12] {
                let d = from_f64(x).expect("in range");
                assert_eq!(to_f64(d), x);
            }
            assert_eq!(from_f64(0.1).map(|d| d.subsec_nanos()), Some(100_000_000));
            assert_eq!(from_f64(f64::NAN), None);
            assert_eq!(from_f64(f64::INFINITY), None);
            assert_eq!(from_f64(1e300), None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_never_quotes_the_input() {
        #[derive(Debug, serde::Deserialize)]
        struct S {
            #[allow(dead_code, reason = "only the parse failure matters")]
            n: u32,
        }
        let e = from_json::<S>(br#"{"n": "jane@example.com"}"#).expect_err("a string is no u32");
        let text = format!("{e} {e:?}");
        assert!(!text.contains("jane"), "{text}");
        assert!(matches!(
            e,
            RestoreError::Malformed(JsonPosition { line: 1, .. })
        ));
    }

    #[test]
    fn version_is_checked_before_the_shape() {
        #[derive(Debug, serde::Deserialize)]
        struct S {
            #[allow(dead_code, reason = "only the version check matters")]
            format_version: u32,
            #[allow(dead_code, reason = "only the version check matters")]
            other: u32,
        }
        assert_eq!(
            from_json_checked::<S>(br#"{"format_version": 9}"#, 1).expect_err("version 9"),
            RestoreError::UnsupportedVersion {
                found: 9,
                supported: 1
            }
        );
        assert!(matches!(
            from_json_checked::<S>(br#"{"format_version": 1}"#, 1),
            Err(RestoreError::Malformed(_))
        ));
    }
}
