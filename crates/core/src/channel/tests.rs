//! Channel tests: driven with explicit time, no runtime.
