//! YAML reading and writing the way Kubernetes tooling does it (YAML 1.1 scalar rules).
//!
//! PLACEHOLDER: the interface below is the contract; the implementation is being written.

use serde_json::Value;

/// Bounds that keep a hostile file from hanging or exhausting memory.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest accepted input, in bytes.
    pub max_bytes: usize,
    /// Deepest accepted nesting of mappings and sequences.
    pub max_depth: usize,
    /// Most nodes a file may expand to, counting every alias expansion.
    pub max_nodes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_bytes: 32 << 20, max_depth: 200, max_nodes: 2_000_000 }
    }
}

/// A 1-based line and column in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Pos {
    pub line: u32,
    pub column: u32,
}

/// One non-empty document of a stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// Index of the document in the stream (0-based, counting empty documents too).
    pub index: usize,
    /// Where the document's root node starts.
    pub pos: Pos,
    pub value: Value,
}
