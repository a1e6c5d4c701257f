//! Benchmark support for nomos-rs.
