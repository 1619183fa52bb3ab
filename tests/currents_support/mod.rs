//! Helpers shared by the `currents_*` integration tests.
#![allow(unreachable_pub)]
pub mod shapes;
