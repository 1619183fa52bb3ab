//! The redacting wrapper for values that may hold personal data.

use std::fmt;

/// A value that may hold personal data.
///
/// `Pii<T>` deliberately does **not** implement `serde::Serialize`, and its
/// `Debug` and `Display` print `[REDACTED]`, so a raw personal value cannot
/// reach a log line, a JSON document or a snapshot by accident. The value is
/// reachable only through the explicit [`Pii::expose`] and [`Pii::into_inner`].
///
/// ```
/// use dynopt::pii::Pii;
/// let email = Pii::new("jane@example.com");
/// assert_eq!(format!("{email:?} {email}"), "[REDACTED] [REDACTED]");
/// assert_eq!(*email.expose(), "jane@example.com");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Pii<T>(T);

impl<T> Pii<T> {
    /// Wraps a value that may hold personal data.
    pub const fn new(value: T) -> Self {
        Pii(value)
    }

    /// Reads the personal value. Every call site is a place where PII is handled:
    /// keep them few and reviewed.
    pub const fn expose(&self) -> &T {
        &self.0
    }

    /// Unwraps the personal value.
    pub fn into_inner(self) -> T {
        self.0
    }

    /// Maps the wrapped value, keeping it wrapped.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Pii<U> {
        Pii(f(self.0))
    }
}

impl<T> fmt::Debug for Pii<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl<T> fmt::Display for Pii<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

#[cfg(test)]
mod tests {
    use super::Pii;

    #[test]
    fn debug_and_display_redact() {
        let p = Pii::new(String::from("jane@example.com"));
        assert_eq!(format!("{p:?}"), "[REDACTED]");
        assert_eq!(format!("{p}"), "[REDACTED]");
        assert_eq!(format!("{:?}", Some(p.clone())), "Some([REDACTED])");
        assert_eq!(p.expose(), "jane@example.com");
    }
}
