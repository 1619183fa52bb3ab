//! Thompson-sampling optimiser: outcomes to allocations and assignments.
