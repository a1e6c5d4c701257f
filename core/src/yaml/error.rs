//! The reader's error type.

use super::Pos;
use std::fmt;

/// What went wrong while reading a YAML (or JSON) file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum YamlErrorKind {
    /// Not well-formed YAML (or, for [`parse_json`](super::parse_json), not JSON).
    Syntax,
    /// A mapping names the same key twice.
    DuplicateKey,
    /// The input is larger than [`Limits::max_bytes`](super::Limits::max_bytes).
    TooLarge,
    /// Nesting deeper than [`Limits::max_depth`](super::Limits::max_depth).
    TooDeep,
    /// More nodes (alias expansions included) than
    /// [`Limits::max_nodes`](super::Limits::max_nodes).
    TooManyNodes,
    /// A float that JSON cannot hold (`.inf`, `-.inf`, `.nan`).
    NonFiniteFloat,
    /// An explicit tag that does not fit its node (`!!int abc`, `!!seq` on a mapping, bad `!!binary`).
    InvalidTag,
    /// A mapping key that cannot become a JSON object key (a mapping, a
    /// sequence, a null, or an integer above `i64::MAX`).
    UnsupportedKey,
    /// A merge key (`<<`) whose value is not a mapping or a sequence of mappings.
    InvalidMerge,
    /// An alias (`*name`) with no anchor (`&name`) before it in the same document.
    UnknownAnchor,
}

/// An error with its 1-based position.
///
/// `Display` reads like `line 12, column 5: duplicate key "name" (first
/// defined at line 3); remove one of them`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct YamlError {
    /// The kind of error.
    pub kind: YamlErrorKind,
    /// Where it happened, when known.
    pub pos: Option<Pos>,
    /// What happened and, where possible, how to fix it (no position prefix).
    pub message: String,
}

impl YamlError {
    pub(crate) fn new(kind: YamlErrorKind, pos: Option<Pos>, message: impl Into<String>) -> Self {
        YamlError {
            kind,
            pos,
            message: message.into(),
        }
    }

    pub(crate) fn at(kind: YamlErrorKind, pos: Pos, message: impl Into<String>) -> Self {
        Self::new(kind, Some(pos), message)
    }
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.pos {
            Some(p) => write!(f, "line {}, column {}: {}", p.line, p.column, self.message),
            None => f.write_str(&self.message),
        }
    }
}
