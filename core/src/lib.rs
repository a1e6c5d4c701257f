//! nomos-core
#![forbid(unsafe_code)]
pub mod schema;
pub mod yaml;
