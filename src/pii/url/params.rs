//! Query parameters: splitting on every separator Braze links use, and the
//! normalised names the identifier lists are compared by.

/// The parameters of a query string: separated by `&`, `;` and the
/// HTML-escaped `&amp;` (whose `amp;` is not a parameter).
pub(super) struct Params<'q> {
    rest: Option<&'q str>,
    after_amp: bool,
}

impl<'q> Params<'q> {
    pub(super) fn new(q: &'q str) -> Self {
        Params {
            rest: Some(q),
            after_amp: false,
        }
    }
}

impl<'q> Iterator for Params<'q> {
    type Item = &'q str;
    fn next(&mut self) -> Option<&'q str> {
        loop {
            let rest = self.rest?;
            let (item, sep) = match memchr::memchr2(b'&', b';', rest.as_bytes()) {
                Some(i) => {
                    self.rest = Some(&rest[i + 1..]);
                    (&rest[..i], Some(rest.as_bytes()[i]))
                }
                None => {
                    self.rest = None;
                    (rest, None)
                }
            };
            let was_after_amp = self.after_amp;
            self.after_amp = sep == Some(b'&');
            if was_after_amp && sep == Some(b';') && item.eq_ignore_ascii_case("amp") {
                // `&amp;`: the escape itself, not a parameter.
                continue;
            }
            return Some(item);
        }
    }
}

/// The normalised form of a byte of a parameter name: ASCII lowercase, and no
/// separator (`-`, `_`, `.`, space, brackets).
pub(super) fn norm_byte(b: u8) -> Option<u8> {
    match b {
        b'-' | b'_' | b'.' | b' ' | b'[' | b']' => None,
        _ => Some(b.to_ascii_lowercase()),
    }
}

/// Normalises `name` into `buf`; `None` when it does not fit.
pub(super) fn normalize_into(name: &[u8], buf: &mut [u8]) -> Option<usize> {
    let mut n = 0;
    for &c in name {
        if let Some(c) = norm_byte(c) {
            *buf.get_mut(n)? = c;
            n += 1;
        }
    }
    Some(n)
}

pub(super) fn normalize_vec(name: &[u8]) -> Vec<u8> {
    name.iter().copied().filter_map(norm_byte).collect()
}

/// Whether `name`, normalised, equals `norm` (already normalised).
pub(super) fn norm_eq(name: &[u8], norm: &[u8]) -> bool {
    let mut it = name.iter().copied().filter_map(norm_byte);
    for &c in norm {
        if it.next() != Some(c) {
            return false;
        }
    }
    it.next().is_none()
}
