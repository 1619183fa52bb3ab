//! Bounded memory of `Filter::clean_http` (see docs/design.md, *Custom HTTP
//! batches*), measured with a counting global allocator: with `max_body_bytes`
//! set to the body's length, a body the scan accepts never takes more than
//! `HttpOptions::MAX_TREE_FACTOR` times that (plus a small constant), whatever
//! its shape; shapes whose tree would exceed it are refused before parsing.

use std::alloc::System;

use cap::Cap;
use dynopt::currents::{HttpError, HttpOptions};
use dynopt::pii::Filter;

#[global_allocator]
static ALLOC: Cap<System> = Cap::new(System, usize::MAX);

fn event(i: usize) -> String {
    format!(
        r#"{{"event_type":"users.messages.email.Click","id":"0b8e5c52-9f4e-4c1e-8d7a-{i:012}","time":1767225600,"properties":{{"app_group_id":"5a9ee6a2d4c3b3001b3f8a11","campaign_id":"c-{i}","campaign_name":"Spring sale 2026 – subject line test","dispatch_id":"d-{i}","message_variation_id":"m-{i}","send_id":"s-{i}","url":"https://www.acme-shop.com/collections/summer-{i}?utm_source=braze&utm_medium=email&lid=abcd1234&dov=v2.1767222000","link_id":"l-{i}","link_alias":"cta_button_1","is_amp":false,"email_address":"jane.doe{i}@gmail.com","user_agent":"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X)","esp":"sendgrid","from_domain":"mail.acme-shop.com","device_class":"mobile","browser":"Safari","suspected_bot_click_reason":["user_agent"]}},"user":{{"user_id":"5f1a2b3c4d5e6f7a{i:08}","external_user_id":"crm-{i}","timezone":"Europe/Berlin"}}}}"#
    )
}

/// `{"events":[item(0),item(1),...]}`, built in place (no large temporaries:
/// the allocator's high-water mark must come from the call under test).
fn envelope(n: usize, item: impl Fn(usize, &mut String)) -> String {
    let mut out = String::from(r#"{"events":["#);
    for i in 0..n {
        if i > 0 {
            out.push(',');
        }
        item(i, &mut out);
    }
    out.push_str("]}");
    out.shrink_to_fit();
    out
}

fn repeated(out: &mut String, n: usize, sep: &str, piece: impl Fn(usize) -> String) {
    for k in 0..n {
        if k > 0 {
            out.push_str(sep);
        }
        out.push_str(&piece(k));
    }
}

#[test]
fn accepted_bodies_stay_within_the_tree_factor() {
    let f = Filter::default();
    let pad = |n: usize| "p".repeat(n);
    // (label, body): each accepted or refused by the scan; ordered by size, so
    // that the allocator's high-water mark of an earlier case cannot mask a
    // later one (the check uses the mark since the process started).
    let mut cases: Vec<(&str, String)> = vec![
        (
            "real batch of 100",
            envelope(100, |i, o| o.push_str(&event(i))),
        ),
        (
            "one-member objects, padded",
            envelope(1000, |_, o| {
                o.push_str(&format!(r#"{{"properties":{{"a":"{}"}}}}"#, pad(200)))
            }),
        ),
        (
            "arrays of short strings",
            envelope(200, |_, o| {
                o.push_str(r#"{"properties":{"future":["#);
                repeated(o, 200, ",", |_| format!("\"{}\"", pad(8)));
                o.push_str("]}}");
            }),
        ),
        (
            "wide objects",
            envelope(20, |_, o| {
                o.push_str(r#"{"properties":{"#);
                repeated(o, 500, ",", |k| format!(r#""k{k}":"{}""#, pad(12)));
                o.push_str("}}");
            }),
        ),
        (
            "tiny objects",
            envelope(40_000, |_, o| o.push_str(r#"{"a":0}"#)),
        ),
        (
            "arrays of zeros",
            envelope(1, |_, o| {
                o.push_str(r#"{"properties":{"z":["#);
                repeated(o, 200_000, ",", |_| "0".to_owned());
                o.push_str("]}}");
            }),
        ),
    ];
    cases.sort_by_key(|(_, b)| b.len());
    let mut accepted = 0;
    for (label, body) in &cases {
        let mut options = HttpOptions::default();
        options.max_body_bytes = body.len();
        options.max_events = 100_000;
        let limit = body.len() * HttpOptions::MAX_TREE_FACTOR;
        let before = ALLOC.allocated();
        let mark_before = ALLOC.max_allocated();
        let result = f.clean_http(body.as_bytes(), &options);
        let mark = ALLOC.max_allocated();
        // The mark is the process's high-water mark: it rises only when this
        // call goes above every earlier peak.
        let within = |budget: usize| mark <= mark_before.max(before + budget);
        let peak = mark.saturating_sub(before);
        match result {
            Ok(out) => {
                accepted += 1;
                assert!(
                    within(limit + (64 << 10)),
                    "{label}: {peak} bytes at peak for a {}-byte body (limit {limit})",
                    body.len()
                );
                drop(out);
            }
            Err(HttpError::TooComplex { bound, .. }) => {
                assert!(bound > limit, "{label}");
                assert!(within(64 << 10), "{label}: refused before parsing");
            }
            Err(e) => panic!("{label}: {e}"),
        }
        eprintln!(
            "{label}: {} bytes, peak {peak} ({:.1}x)",
            body.len(),
            peak as f64 / body.len() as f64
        );
    }
    assert!(
        accepted >= 3,
        "the padded shapes and the real batch are accepted"
    );
}
