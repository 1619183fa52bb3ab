//! Attribution: clean events and exposures to per-variant outcomes.
