//! Shared test support: the file generator and a by-name view of typed events.

#![allow(dead_code, unreachable_pub)]

pub mod fields;
pub mod fixtures;
