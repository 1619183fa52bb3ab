//! URL scrubbing: properties over generated URLs and a seeded mutation fuzz.
//!
//! `DYNOPT_FUZZ_ITERS` sets the number of mutated inputs (default 5,000).

use dynopt::pii::{UrlScrubber, scrub_url};
use proptest::prelude::*;
use rand::{Rng, RngExt, SeedableRng};
use rand_pcg::Pcg64;

/// Whether `s` is made of URL bytes only and every `%` starts a `%XX` escape.
fn is_valid_url_text(s: &str) -> bool {
    let b = s.as_bytes();
    b.iter().enumerate().all(|(i, &c)| {
        if c == b'%' {
            b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
        } else {
            c.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&'()*+,;=".contains(&c)
        }
    })
}

/// Percent-decodes repeatedly (independent of the crate's decoder).
fn fully_decoded(s: &str) -> String {
    let mut cur = s.replace('+', " ");
    for _ in 0..4 {
        let b = cur.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%'
                && let (Some(h), Some(l)) = (
                    b.get(i + 1).and_then(|c| char::from(*c).to_digit(16)),
                    b.get(i + 2).and_then(|c| char::from(*c).to_digit(16)),
                )
            {
                out.push((h * 16 + l) as u8);
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        cur = String::from_utf8_lossy(&out).into_owned();
    }
    cur
}

/// The query and fragment of a URL, fully decoded.
fn tail_decoded(s: &str) -> String {
    let start = s.find(['?', '#']).unwrap_or(s.len());
    fully_decoded(&s[start..])
}

fn percent_encode_all(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02X}")).collect()
}

#[derive(Debug, Clone)]
enum Planted {
    Email {
        local: String,
        domain: String,
        encoding: u8,
    },
    Phone(String),
    Token {
        name: &'static str,
        value: String,
    },
}

fn planted() -> impl Strategy<Value = Planted> {
    prop_oneof![
        (
            "[a-z]{3,8}\\.[a-z0-9]{4,10}",
            "[a-z]{3,8}\\.(com|org|io)",
            0u8..4
        )
            .prop_map(|(local, domain, encoding)| Planted::Email {
                local,
                domain,
                encoding
            }),
        prop_oneof![
            "\\+[1-9][0-9]{9,11}",
            "\\([0-9]{3}\\) [0-9]{3}-[0-9]{4}",
            "[0-9]{3}\\.[0-9]{3}\\.[0-9]{4}",
            "[0-9]{7,12}",
        ]
        .prop_map(Planted::Phone),
        (
            prop::sample::select(vec!["token", "t", "uid", "user_id", "e", "email", "TOKEN"]),
            "[A-Za-z]{6,16}"
        )
            .prop_map(|(name, value)| Planted::Token { name, value }),
    ]
}

impl Planted {
    /// `name=value` as it appears in the query string.
    fn param(&self, name: &str) -> String {
        match self {
            Planted::Email {
                local,
                domain,
                encoding,
            } => {
                let email = format!("{local}@{domain}");
                let v = match encoding {
                    0 => email,
                    1 => email.replace('@', "%40"),
                    2 => email.replace('@', "%2540"),
                    _ => percent_encode_all(&email),
                };
                format!("{name}={v}")
            }
            Planted::Phone(p) => {
                let v = p.replace(' ', "+").replace('(', "%28").replace(')', "%29");
                format!("{name}={v}")
            }
            Planted::Token { name, value } => format!("{name}={value}"),
        }
    }

    /// A string that must not survive (decoded).
    fn marker(&self) -> String {
        match self {
            Planted::Email { local, .. } => local.clone(),
            Planted::Phone(p) => p.chars().filter(char::is_ascii_digit).collect(),
            Planted::Token { value, .. } => value.clone(),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Planted personal parameters disappear; kept parameters stay in order, byte for byte.
    #[test]
    fn planted_values_are_removed_and_tags_kept(
        host in "[a-z]{3,10}\\.(com|example)",
        path in "(/[a-z0-9_-]{1,8}){0,3}",
        plants in prop::collection::vec((planted(), "[a-z]{1,6}"), 1..4),
        variant in "[a-z0-9]{1,4}",
        serve in prop::option::of(1_500_000_000u32..2_000_000_000),
        // At most six digits in a row: a phone-length run in a `utm_*` value is removed by value.
        utm in "[a-z_]{1,8}[0-9]{0,6}",
        // Letters a-d only: a fragment that spelled `secret`, `token` or `email` would
        // rightly be scrubbed as an identifier parameter.
        fragment in prop::option::of("section-[a-d]{1,8}"),
        order in prop::collection::vec(any::<u8>(), 8),
    ) {
        let dov = match serve {
            Some(s) => format!("dov={variant}.{s}"),
            None => format!("dov={variant}"),
        };
        let kept = [dov, format!("utm_campaign={utm}"), "lid=20240101".to_owned()]; // a date-length run; a phone-length one (`lid=1234567890`) is now removed
        let mut params: Vec<(u8, String, bool)> = kept.iter().enumerate().map(|(i, k)| (order[i], k.clone(), true)).collect();
        for (i, (p, name)) in plants.iter().enumerate() {
            params.push((order[3 + i], p.param(name), false));
        }
        params.sort_by_key(|(o, _, _)| *o);
        let query: Vec<&str> = params.iter().map(|(_, p, _)| p.as_str()).collect();
        let frag = fragment.as_ref().map(|f| format!("#{f}")).unwrap_or_default();
        let url = format!("https://{host}{path}?{}{frag}", query.join("&"));
        let out = scrub_url(&url);
        prop_assert!(is_valid_url_text(&out), "{out}");
        let tail = tail_decoded(&out);
        for (p, _) in &plants {
            let marker = p.marker();
            prop_assert!(!tail.contains(&marker), "{marker} survived in {out}");
            prop_assert!(!tail.contains('@'));
        }
        let want_query: Vec<&str> = params.iter().filter(|(_, _, k)| *k).map(|(_, p, _)| p.as_str()).collect();
        let want = format!("https://{host}{path}?{}{frag}", want_query.join("&"));
        prop_assert_eq!(out.as_ref(), want.as_str());
    }

    /// Any text: no panic, valid output, idempotent, no `@` after the path.
    #[test]
    fn arbitrary_text(s in ".{0,200}") {
        let out = scrub_url(&s);
        prop_assert!(is_valid_url_text(&out), "{out}");
        prop_assert!(!tail_decoded(&out).contains('@'), "{out}");
        let again = scrub_url(&out).into_owned();
        prop_assert_eq!(again.as_str(), out.as_ref());
    }

    /// URL-shaped text built from the characters that matter.
    #[test]
    fn url_shaped_text(s in "(https?://)?[a-z@:%0-9.]{0,12}(/[a-z@%0-9+ .-]{0,10}){0,3}(\\?[a-z0-9@%+=&.() -]{0,40})?(#[a-z0-9@%=&?/.-]{0,20})?") {
        let out = scrub_url(&s);
        prop_assert!(is_valid_url_text(&out), "{out}");
        prop_assert!(!tail_decoded(&out).contains('@'), "{out}");
        let again = scrub_url(&out).into_owned();
        prop_assert_eq!(again.as_str(), out.as_ref());
    }
}

#[test]
fn custom_scrubber_keeps_its_variant_tag() {
    let s = UrlScrubber::default().with_variant_tag("variant");
    assert_eq!(
        s.scrub("https://a.example/?variant=b.1767225600&dov=c.1767225600"),
        "https://a.example/?variant=b.1767225600"
    );
}

const SEEDS: &[&str] = &[
    "https://shop.example.com/sale?utm_source=braze&utm_medium=email&dov=b.1767225600&email=jane%40example.com",
    "https://x.example/p/123?uid=42&token=abcdef&ref=%2B15551234567#section",
    "http://jane:secret@host.example:8080/a/b?c=d&e=f%2540g.com#/route?email=a@b.co&x=1",
    "mailto:jane@example.com?subject=hi",
    "https://a.example/?lid=abc&utm_content=20240101&phone=555-123-4567",
    "",
    "?#@%",
];

const INTERESTING: &[u8] = b"%@?#&=+/:.-()0123456789aAzZ ~\x00\xff";

#[test]
fn mutation_fuzz() {
    let iters: usize = std::env::var("DYNOPT_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000);
    let mut rng = Pcg64::seed_from_u64(0x5c2b_0001);
    let mut changed = 0usize;
    for i in 0..iters {
        let seed = SEEDS[i % SEEDS.len()];
        let mut bytes = seed.as_bytes().to_vec();
        let n = rng.random_range(1..8);
        for _ in 0..n {
            mutate(&mut rng, &mut bytes);
        }
        let s = String::from_utf8_lossy(&bytes);
        let out = scrub_url(&s);
        assert!(is_valid_url_text(&out), "{s:?} -> {out:?}");
        assert!(!tail_decoded(&out).contains('@'), "{s:?} -> {out:?}");
        assert_eq!(scrub_url(&out), out, "not idempotent on {s:?}");
        if out != s {
            changed += 1;
        }
    }
    // The seeds carry personal data: most mutants must have been changed.
    assert!(changed > iters / 2, "{changed} of {iters}");
}

fn mutate<R: Rng + ?Sized>(rng: &mut R, bytes: &mut Vec<u8>) {
    let pick = |rng: &mut R| INTERESTING[rng.random_range(0..INTERESTING.len())];
    match rng.random_range(0..4) {
        0 if !bytes.is_empty() => {
            let i = rng.random_range(0..bytes.len());
            bytes[i] = pick(rng);
        }
        1 => {
            let i = rng.random_range(0..=bytes.len());
            let b = pick(rng);
            bytes.insert(i, b);
        }
        2 if !bytes.is_empty() => {
            let i = rng.random_range(0..bytes.len());
            bytes.remove(i);
        }
        _ if bytes.len() > 2 => {
            let a = rng.random_range(0..bytes.len());
            let b = rng.random_range(a..bytes.len());
            let chunk = bytes[a..b].to_vec();
            let at = rng.random_range(0..=bytes.len());
            bytes.splice(at..at, chunk);
        }
        _ => bytes.push(pick(rng)),
    }
}
