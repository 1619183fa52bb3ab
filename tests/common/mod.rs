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
