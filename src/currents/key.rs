//! S3 object keys of Currents files.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};

use super::events::EventType;

/// What the S3 (or Azure/GCS) object key of a Currents file says, parsed leniently.
///
/// Braze's keys look like
/// `<prefix>/dataexport.<cluster>.S3.integration.<id>/event_type=users.messages.email.Click/date=2024-05-01-13/<schema-id or version=N>/<zone>/dataexport.<cluster>.S3.integration.<id>+<partition>+<offset>.avro`.
/// Naming may change, so the parser finds the `event_type=`, `date=` and
/// `version=` segments anywhere and treats everything else as opaque.
///
/// ```
/// use dynopt::currents::{EventType, ObjectKey};
/// let key = ObjectKey::parse(
///     "currents/dataexport.prod-03.S3.integration.5a5c/event_type=users.messages.email.Click/\
///      date=2024-05-01-13/332/0/dataexport.prod-03.S3.integration.5a5c+0+1234.avro",
/// )?;
/// assert_eq!(key.event_type, Some(EventType::Click));
/// assert_eq!(key.queue_hour.map(|t| t.to_rfc3339()).as_deref(), Some("2024-05-01T13:00:00+00:00"));
/// assert_eq!((key.partition, key.offset), (Some(0), Some(1234)));
/// # Ok::<(), dynopt::currents::ObjectKeyError>(())
/// ```
///
/// Keys order by queue hour (keys without one first), then by path, so a
/// sorted list of keys is the order Braze queued the files in; they hash and
/// compare as their whole parse, so they can key a set of processed files.
///
/// ```
/// use dynopt::currents::ObjectKey;
/// let a = ObjectKey::parse("b/event_type=users.messages.email.Click/date=2024-05-01-13/f+0+9.avro")?;
/// let b = ObjectKey::parse("a/event_type=users.messages.email.Click/date=2024-05-01-14/f+0+1.avro")?;
/// let c = ObjectKey::parse("c/event_type=users.messages.email.Click/date=2024-05-01-14/f+0+1.avro")?;
/// let mut keys = vec![c.clone(), b.clone(), a.clone()];
/// keys.sort();
/// assert_eq!(keys, [a, b, c]);
/// # Ok::<(), dynopt::currents::ObjectKeyError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ObjectKey {
    /// The key as given to [`parse`](Self::parse).
    pub path: String,
    /// The event type of the `event_type=` segment, when it names one the crate
    /// decodes (an email or conversion type).
    pub event_type: Option<EventType>,
    /// The raw `event_type=` value (also for types the crate does not decode, such as push).
    pub raw_event_type: Option<String>,
    /// The UTC hour the events were queued (`date=YYYY-MM-DD-HH`; `date=YYYY-MM-DD` gives hour 0).
    pub queue_hour: Option<DateTime<Utc>>,
    /// The `version=N` segment, when present.
    pub version: Option<u32>,
    /// The partition of the `...+<partition>+<offset>.avro` file name.
    pub partition: Option<u64>,
    /// The offset of the `...+<partition>+<offset>.avro` file name.
    pub offset: Option<u64>,
}

/// The key has none of the recognised parts (`event_type=`, `date=`,
/// `version=`, or a `+<partition>+<offset>` file name).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "not a Braze Currents object key: no event_type=, date=, version= or +partition+offset part"
)]
pub struct ObjectKeyError;

fn parse_hour(v: &str) -> Option<DateTime<Utc>> {
    let mut parts = v.trim().splitn(4, '-');
    let y: i32 = parts.next()?.parse().ok()?;
    let m: u32 = parts.next()?.parse().ok()?;
    let d: u32 = parts.next()?.parse().ok()?;
    let h: u32 = match parts.next() {
        Some(h) => h.parse().ok()?,
        None => 0,
    };
    let date = NaiveDate::from_ymd_opt(y, m, d)?;
    let naive = date.and_hms_opt(h, 0, 0)?;
    Utc.from_local_datetime(&naive).single()
}

impl ObjectKey {
    /// Parses an object key (or a path or URL ending in one). Lenient: unknown
    /// segments are ignored, malformed values are `None`. Fails only when the
    /// key has none of the recognised parts. Never panics.
    pub fn parse(key: &str) -> Result<ObjectKey, ObjectKeyError> {
        let mut k = ObjectKey {
            path: key.to_owned(),
            ..ObjectKey::default()
        };
        let mut found = false;
        let segments: Vec<&str> = key.split(['/', '\\']).collect();
        for seg in &segments {
            if let Some(v) = seg.strip_prefix("event_type=") {
                found = true;
                k.raw_event_type = Some(v.to_owned());
                k.event_type = EventType::from_name(v.trim());
            } else if let Some(v) = seg.strip_prefix("date=") {
                found = true;
                k.queue_hour = parse_hour(v);
            } else if let Some(v) = seg.strip_prefix("version=") {
                found = true;
                k.version = v.trim().parse().ok();
            }
        }
        if let Some(name) = segments.last() {
            let stem = name
                .strip_suffix(".avro")
                .or_else(|| name.strip_suffix(".AVRO"))
                .unwrap_or(name);
            let mut parts = stem.rsplit('+');
            if let (Some(off), Some(part), Some(_)) = (parts.next(), parts.next(), parts.next())
                && let (Ok(p), Ok(o)) = (part.parse::<u64>(), off.parse::<u64>())
            {
                found = true;
                k.partition = Some(p);
                k.offset = Some(o);
            }
        }
        if found { Ok(k) } else { Err(ObjectKeyError) }
    }
}

impl PartialOrd for ObjectKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ObjectKey {
    /// Queue hour, then path; the parsed parts break any remaining tie, so the
    /// order agrees with equality.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.queue_hour, &self.path)
            .cmp(&(other.queue_hour, &other.path))
            .then_with(|| {
                (
                    self.event_type,
                    &self.raw_event_type,
                    self.version,
                    self.partition,
                    self.offset,
                )
                    .cmp(&(
                        other.event_type,
                        &other.raw_event_type,
                        other.version,
                        other.partition,
                        other.offset,
                    ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn hour(y: i32, m: u32, d: u32, h: u32) -> Option<DateTime<Utc>> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).single()
    }

    #[test]
    fn realistic_s3_key() {
        let k = ObjectKey::parse(
            "braze-currents/dataexport.prod-03.S3.integration.5a9ee6a2d4c3b3001b3f8a11/\
             event_type=users.messages.email.Open/date=2024-11-03-07/332/0/\
             dataexport.prod-03.S3.integration.5a9ee6a2d4c3b3001b3f8a11+3+0000021876.avro",
        )
        .expect("a Braze key");
        assert_eq!(k.event_type, Some(EventType::Open));
        assert_eq!(k.queue_hour, hour(2024, 11, 3, 7));
        assert_eq!(k.version, None);
        assert_eq!(k.partition, Some(3));
        assert_eq!(k.offset, Some(21876), "leading zeros accepted");
    }

    #[test]
    fn version_segment_azure_and_unpadded_offset() {
        let k = ObjectKey::parse(
            "p/dataexport.prod-01.AzureBlob.integration.abc/event_type=users.messages.email.SoftBounce/\
             date=2026-02-24-23/version=12/1/dataexport.prod-01.AzureBlob.integration.abc+12+7.avro",
        )
        .expect("a key");
        assert_eq!(k.event_type, Some(EventType::SoftBounce));
        assert_eq!(k.version, Some(12));
        assert_eq!(k.queue_hour, hour(2026, 2, 24, 23));
        assert_eq!((k.partition, k.offset), (Some(12), Some(7)));
    }

    #[test]
    fn conversion_keys_in_the_prefix_layout() {
        for (segment, et) in [
            ("users.campaigns.Conversion", EventType::CampaignConversion),
            ("users.canvas.Conversion", EventType::CanvasConversion),
            (
                "users.canvas.experimentstep.Conversion",
                EventType::ExperimentStepConversion,
            ),
        ] {
            let key = format!(
                "currents/dataexport.prod-03.S3.integration.5a9e/event_type={segment}/\
                 date=2026-02-24-09/341/0/dataexport.prod-03.S3.integration.5a9e+1+0000000042.avro"
            );
            let k = ObjectKey::parse(&key).expect("a Braze key");
            assert_eq!(k.event_type, Some(et), "{segment}");
            assert_eq!(k.raw_event_type.as_deref(), Some(segment));
            assert_eq!(k.queue_hour, hour(2026, 2, 24, 9));
            assert_eq!((k.partition, k.offset), (Some(1), Some(42)));
        }
        // The bare record name names none of the three.
        let k = ObjectKey::parse("event_type=Conversion/date=2026-02-24").expect("a key");
        assert_eq!(k.event_type, None);
    }

    #[test]
    fn odd_keys() {
        // Non-email event type: raw kept, typed None.
        let k = ObjectKey::parse(
            "x/event_type=users.messages.pushnotification.Send/date=2024-01-01-00/f+0+1.avro",
        )
        .expect("a key");
        assert_eq!(k.event_type, None);
        assert_eq!(
            k.raw_event_type.as_deref(),
            Some("users.messages.pushnotification.Send")
        );
        assert_eq!(k.queue_hour, hour(2024, 1, 1, 0));

        // Invalid date and hour: None, not an error.
        let k = ObjectKey::parse("event_type=users.messages.email.Click/date=2024-13-40-25/f.avro")
            .expect("a key");
        assert_eq!(k.event_type, Some(EventType::Click));
        assert_eq!(k.queue_hour, None);
        assert_eq!(k.partition, None);

        // Date without hour; short event type; segments reordered.
        let k = ObjectKey::parse("date=2025-07-09/event_type=Click").expect("a key");
        assert_eq!(k.event_type, Some(EventType::Click));
        assert_eq!(k.queue_hour, hour(2025, 7, 9, 0));

        // Huge numbers and garbage do not panic.
        let k = ObjectKey::parse("version=99999999999/x+99999999999999999999999+1.avro")
            .expect("version segment found");
        assert_eq!(k.version, None);
        assert_eq!(k.partition, None);

        // Only the file name.
        let k = ObjectKey::parse("dataexport.prod-03.S3.integration.5a+0+42.avro").expect("a key");
        assert_eq!((k.partition, k.offset), (Some(0), Some(42)));

        for bad in ["", "/", "some/random/file.avro", "a+b+c.avro", "+1", "date"] {
            assert_eq!(ObjectKey::parse(bad), Err(ObjectKeyError), "{bad}");
        }
        // Non-ASCII and odd separators.
        assert!(ObjectKey::parse("é/ü/event_type=é/date=é").is_ok());
    }
}
