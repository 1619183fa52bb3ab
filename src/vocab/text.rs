//! Shared immutable text: the string type of clean events.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An immutable string that is cheap to clone: the events of one file that
/// carry the same campaign id, name or user agent share one copy of it.
///
/// It reads as a `&str` (`Deref`, `AsRef<str>`, `Borrow<str>`), compares with
/// `str`, `&str` and `String`, and serializes as a plain string. It is one
/// pointer wide (so is `Option<Text>`), which keeps a clean event small.
///
/// ```
/// use dynopt::Text;
/// let a = Text::from("spring-sale");
/// let b = a.clone(); // the same allocation
/// assert_eq!(a, "spring-sale");
/// assert_eq!(b.len(), 11);
/// assert_eq!(serde_json::to_string(&a)?, "\"spring-sale\"");
/// let some: Option<Text> = Some("x".into());
/// assert_eq!(some.as_deref(), Some("x"));
/// assert_eq!(std::mem::size_of::<Option<Text>>(), std::mem::size_of::<usize>());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Text(Arc<Box<str>>);

impl Text {
    /// The text as a `&str`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `self` and `other` share one allocation.
    pub fn ptr_eq(&self, other: &Text) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Text {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0, f)
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Text {
        Text(Arc::new(Box::from(s)))
    }
}

impl From<String> for Text {
    fn from(s: String) -> Text {
        Text(Arc::new(Box::from(s)))
    }
}

impl From<&String> for Text {
    fn from(s: &String) -> Text {
        Text(Arc::new(Box::from(s.as_str())))
    }
}

impl From<Arc<str>> for Text {
    fn from(s: Arc<str>) -> Text {
        Text(Arc::new(Box::from(&*s)))
    }
}

impl From<Text> for String {
    fn from(t: Text) -> String {
        String::from(&**t.0)
    }
}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        &**self.0 == other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        &**self.0 == *other
    }
}

impl PartialEq<String> for Text {
    fn eq(&self, other: &String) -> bool {
        **self.0 == **other
    }
}

impl PartialEq<Text> for str {
    fn eq(&self, other: &Text) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<Text> for &str {
    fn eq(&self, other: &Text) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<Text> for String {
    fn eq(&self, other: &Text) -> bool {
        **self == *other.as_str()
    }
}

impl Serialize for Text {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Text, D::Error> {
        // Borrowed when the input allows it; owned otherwise.
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Ok(Text::from(s.as_ref()))
    }
}
