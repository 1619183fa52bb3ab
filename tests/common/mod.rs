//! Shared test support, one module tree for every integration test:
//! - [`fixtures`]: the independent generator of Currents files for every published
//!   schema shape, with the values written;
//! - [`records`]: hand-encoded records written with `dynopt`'s `OcfWriter`, and the
//!   check of a decoded event against them.

#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test crate uses a different part of the shared support"
)]

pub mod fixtures;
pub mod records;

/// The standard base64 alphabet.
const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Base64 of `s`: the standard alphabet with `=` padding, or the URL-safe one
/// without padding.
pub fn base64(s: &[u8], url_safe: bool) -> String {
    let mut out = String::new();
    for chunk in s.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            let mut c = B64[((n >> (18 - 6 * i)) & 63) as usize];
            if url_safe {
                c = match c {
                    b'+' => b'-',
                    b'/' => b'_',
                    c => c,
                };
            }
            out.push(char::from(c));
        }
    }
    if !url_safe {
        while !out.len().is_multiple_of(4) {
            out.push('=');
        }
    }
    out
}
