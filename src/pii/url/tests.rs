//! Unit tests of the URL scrubber.

use super::*;

#[test]
fn removes_emails_phones_and_identifiers() {
    let cases = [
        (
            "https://a.example/p?email=jane@example.com&utm_source=braze",
            "https://a.example/p?utm_source=braze",
        ),
        (
            "https://a.example/p?x=jane%40example.com&y=1",
            "https://a.example/p?y=1",
        ),
        (
            "https://a.example/p?x=jane%2540example.com&y=1",
            "https://a.example/p?y=1",
        ),
        (
            "https://a.example/p?ref=call+%2B1+(555)+123-4567",
            "https://a.example/p",
        ),
        (
            "https://a.example/p?token=abc&t=1&uid=9",
            "https://a.example/p",
        ),
        (
            "https://a.example/p?User_Email=a&AuthToken=b&q=shoes",
            "https://a.example/p?q=shoes",
        ),
        (
            "https://a.example/p?dov=b.1767225600&utm_campaign=20240101&lid=ab123456",
            "https://a.example/p?dov=b.1767225600&utm_campaign=20240101&lid=ab123456",
        ),
        (
            // A phone-length run in a kept parameter is removed (it was kept before).
            "https://a.example/p?utm_campaign=20240101&lid=1234567890",
            "https://a.example/p?utm_campaign=20240101",
        ),
        (
            "https://a.example/p?utm_content=jane@x.io",
            "https://a.example/p",
        ),
        (
            "https://jane:pw@a.example/u/jane%40example.com/x",
            "https://a.example/u/redacted/x",
        ),
        ("mailto:jane@example.com", "mailto:redacted"),
        ("tel:+15551234567", "tel:redacted"),
        (
            "https://a.example/#/r?email=jane@x.io&tab=2",
            "https://a.example/#/r?tab=2",
        ),
        ("https://a.example/#access_token=abc", "https://a.example/"),
        ("https://a.example/#jane@example.com", "https://a.example/"),
        (
            "https://a.example/a b?q=é",
            "https://a.example/a%20b?q=%C3%A9",
        ),
        ("https://a.example/?q=100%", "https://a.example/?q=100%25"),
        ("https://a.example/?&&q=1&&", "https://a.example/?q=1"),
    ];
    for (input, want) in cases {
        assert_eq!(scrub_url(input), want, "{input}");
    }
}

#[test]
fn borrows_when_clean() {
    let u = "https://a.example/p?utm_source=x&dov=a#top";
    assert!(matches!(scrub_url(u), Cow::Borrowed(_)));
    assert!(matches!(scrub_url("https://a.example/p"), Cow::Borrowed(_)));
}

#[test]
fn configurable_names() {
    let s = UrlScrubber::default()
        .with_variant_tag("v")
        .with_identifier("Member")
        .with_kept("order");
    assert_eq!(
        s.scrub("https://a.example/?v=1.1767225600&member=x&order=12345678&dov=2.1767225600"),
        "https://a.example/?v=1.1767225600&order=12345678"
    );
}

proptest::proptest! {
    /// A record's value is found wherever it sits in a text, in any ASCII case,
    /// among other values of any length (the triple filter, built by rolling
    /// keys, agrees with the strided search).
    #[test]
    fn needles_are_found_anywhere(
        vals in proptest::collection::vec("[a-zA-Z0-9@._é+-]{5,30}", 1..5),
        pick in proptest::sample::select(vec![0usize, 1, 2, 3, 4]),
        before in "[a-z0-9 /?=&é-]{0,40}",
        after in "[a-z0-9 /?=&é-]{0,40}",
        upper in proptest::bool::ANY,
    ) {
        let vals: Vec<&str> = vals.iter().map(String::as_str).collect();
        let v = vals[pick % vals.len()];
        let v = if upper { v.to_ascii_uppercase() } else { v.to_ascii_lowercase() };
        let hay = format!("{before}{v}{after}");
        proptest::prop_assert!(Needles::new(&vals).found_in(&hay), "{:?} in {:?}", vals, hay);
    }

    /// The check-only fast path never skips a change the building path makes.
    #[test]
    fn clean_check_agrees_with_rebuild(
        s in "(https?://)?[a-z@:%0-9.A-F]{0,10}(/[a-z@%0-9+.A-F-]{0,8}){0,3}(\\?[a-z0-9@%+=&._A-F-]{0,40})?(#[a-z0-9=&?]{0,6})?"
    ) {
        let sc = UrlScrubber::default();
        if sc.is_clean(&s, &Needles::new(&[]), 0) {
            proptest::prop_assert_eq!(sc.rebuild(&s, &Needles::new(&[]), 0), s.clone());
        }
        let needles = ["abcde1"];
        if sc.is_clean(&s, &Needles::new(&needles), 0) {
            proptest::prop_assert_eq!(sc.rebuild(&s, &Needles::new(&needles), 0), s);
        }
    }
}

#[test]
fn phone_runs() {
    for yes in [
        "5551234",
        "+1 555 123 4567",
        "(555) 123-4567",
        "555.123.4567",
    ] {
        assert!(has_phone_run(yes), "{yes}");
    }
    for no in [
        "123456",
        "12 34 56",
        "a1b2c3d4e5f6g7",
        "1---234567",
        "12-34-56",
    ] {
        assert!(!has_phone_run(no), "{no}");
    }
}

/// Base64 of text may have a single case, or no digit: such tokens are decoded
/// too (only tokens without a letter are not).
#[test]
fn single_case_base64_is_decoded() {
    use super::text::base64_text;
    assert_eq!(base64_text("ZDB0MG00Y20=").as_deref(), Some("d0t0m4cm"));
    assert_eq!(base64_text("QUJDREVGR0g=").as_deref(), Some("ABCDEFGH"));
    assert_eq!(base64_text("12345678"), None);
}
