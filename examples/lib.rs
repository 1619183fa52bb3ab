//! The command-line tools of dynopt are this package's examples, run from the
//! repository root with `cargo run --release --example NAME -- --help`:
//! `campaign` (the main job), `inspect`, `sanitize` and `regret`. The library
//! target is empty; it exists because a package needs one.
