//! YAML reading and writing the way Kubernetes tooling does it (YAML 1.1 scalar rules).
//!
//! `kubectl` and Config Sync decode manifests with `sigs.k8s.io/yaml`, which
//! uses go-yaml **v2**: plain (unquoted) scalars are resolved by YAML 1.1
//! rules, so `on` is `true`, `NO` is `false` and `0755` is 493. This module
//! reproduces that reading, turns each document into a [`serde_json::Value`]
//! (as `sigs.k8s.io/yaml` turns it into JSON), and writes values back as
//! block YAML that reads back identically.
//!
//! ```
//! use nomos_core::yaml::{parse, Limits};
//! use serde_json::json;
//!
//! let text = "\
//! apiVersion: v1
//! kind: ConfigMap
//! metadata:
//!   name: settings
//! data:
//!   mode: 0755
//! ";
//! let parsed = parse(text, &Limits::default()).unwrap();
//! assert_eq!(parsed.documents.len(), 1);
//! assert_eq!(parsed.documents[0].value["data"]["mode"], json!(493));
//! // 0755 means 755 to YAML 1.2 tools: the reader says so.
//! assert!(parsed.warnings[0].message.contains("octal number 0755 = 493"));
//! ```
//!
//! # Choices where Kubernetes' reader leaves room
//!
//! * **Duplicate keys** are an error (go-yaml v2 keeps the last silently).
//! * **Tags**: `!!str`, `!!int`, `!!float`, `!!bool`, `!!null`, `!!timestamp`
//!   and `!!binary` behave as in go-yaml v2 (`!!int x` is an
//!   [`InvalidTag`](YamlErrorKind::InvalidTag) error, `!!float 1` is `1.0`,
//!   `!!binary` is base64-decoded). `!!map`/`!!seq` must sit on a mapping /
//!   sequence, and scalar tags must not sit on a collection (go-yaml v2 ignores
//!   such a mismatch; we reject it). Any other tag — `!foo`, the non-specific
//!   `!`, `!!set` — makes a scalar the string it spells (exactly as go-yaml
//!   v2 does: `!foo 12` is `"12"`) and is ignored on a collection.
//! * **Keys** become strings as `sigs.k8s.io/yaml` does it: a plain key is
//!   resolved first, then a bool becomes `"true"`/`"false"`, an integer its
//!   decimal form and a float Go's `FormatFloat(f, 'g', -1, 32)` (so `on: x`
//!   has the key `"true"`, `0x1F: x` the key `"31"`, `1.5: x` the key `"1.5"`
//!   and `.inf: x` the key `".inf"`). A null key and an integer key above
//!   `i64::MAX` are [`UnsupportedKey`](YamlErrorKind::UnsupportedKey) errors,
//!   as they are for `sigs.k8s.io/yaml`; so is a mapping or sequence key.
//! * **Merge keys** (`<<: *base`, `<<: [*a, *b]`) are supported; explicit
//!   keys win wherever they appear in the mapping, and earlier mappings in a
//!   merge list win over later ones. (go-yaml v2 instead lets a `<<` that
//!   comes *after* an explicit key override it.)
//! * **Non-finite floats** (`.inf`, `.nan`) are floats for
//!   [`resolve_plain`] but a [`NonFiniteFloat`](YamlErrorKind::NonFiniteFloat)
//!   error in a value: JSON cannot hold them, and kubectl fails there too.
//! * **Numbers** keep their YAML type: `1e3` and `08` are `f64` numbers. (Kubernetes'
//!   own JSON step would turn an integral float into an integer; compare
//!   numbers numerically if that matters.)

mod error;
mod locate;
mod reader;
mod resolve;
mod writer;

pub use error::{YamlError, YamlErrorKind};
pub use resolve::{Scalar, resolve_plain};

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
        Limits {
            max_bytes: 32 << 20,
            max_depth: 200,
            max_nodes: 2_000_000,
        }
    }
}

/// A 1-based line and column in a file.
///
/// Columns count characters (Unicode scalar values), not bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Pos {
    /// Line number, starting at 1.
    pub line: u32,
    /// Column number, starting at 1.
    pub column: u32,
}

/// One non-empty document of a stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// Index of the document in the stream (0-based, counting empty documents too).
    pub index: usize,
    /// Where the document's root node starts.
    pub pos: Pos,
    /// The document, converted to JSON the way `sigs.k8s.io/yaml` does.
    pub value: Value,
}

/// The result of reading a file: its non-empty documents and the warnings
/// about scalars that YAML 1.1 and YAML 1.2 tools read differently.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Parsed {
    /// The non-empty documents, in order.
    pub documents: Vec<Document>,
    /// One warning per plain value scalar whose meaning differs between
    /// YAML 1.1 (Kubernetes) and YAML 1.2 (many editors and linters), in
    /// file order.
    pub warnings: Vec<ScalarWarning>,
}

/// A plain scalar that Kubernetes (YAML 1.1) and YAML 1.2 tools read
/// differently, such as `NO` (false vs `"NO"`) or `0755` (493 vs 755).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScalarWarning {
    /// Where the scalar starts.
    pub pos: Pos,
    /// The scalar as written.
    pub text: String,
    /// What each reads it as, and how to write it unambiguously.
    pub message: String,
}

/// One step of a path into a document, for [`locate`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PathSegment {
    /// A mapping key (as a string, the way the reader converts keys).
    Key(String),
    /// A sequence index (0-based).
    Index(usize),
}

/// Reads a multi-document YAML stream the way Kubernetes does.
///
/// Empty documents (only comments or whitespace, or a document that is
/// just null) are skipped, but [`Document::index`] counts them. Plain value
/// scalars that YAML 1.2 tools would read differently are reported in
/// [`Parsed::warnings`].
///
/// # Errors
/// A [`YamlError`] with its position for malformed YAML, a duplicate key,
/// an exceeded [`Limits`] bound, a non-finite float, a bad tag, a key that
/// cannot be a JSON key, or a bad merge.
///
/// ```
/// use nomos_core::yaml::{parse, Limits, YamlErrorKind};
///
/// let parsed = parse("a: 1\n---\n# empty\n---\nb: on\n", &Limits::default()).unwrap();
/// assert_eq!(parsed.documents.len(), 2);
/// assert_eq!(parsed.documents[1].index, 2);
/// assert_eq!(parsed.documents[1].value["b"], true);
///
/// let err = parse("name: a\nname: b\n", &Limits::default()).unwrap_err();
/// assert_eq!(err.kind, YamlErrorKind::DuplicateKey);
/// assert_eq!(
///     err.to_string(),
///     "line 2, column 1: duplicate key \"name\" (first defined at line 1); remove one of them"
/// );
/// ```
pub fn parse(text: &str, limits: &Limits) -> Result<Parsed, YamlError> {
    reader::read(text, limits, false)
}

/// Reads a `.json` file with the same machinery as [`parse`] (so positions
/// and duplicate-key detection work the same).
///
/// An empty or whitespace-only file has no documents; otherwise it must hold
/// exactly one JSON value. YAML-only syntax that the event stream reveals is
/// rejected as [`Syntax`](YamlErrorKind::Syntax): block collections, plain
/// words other than `true`/`false`/`null`, numbers outside JSON's grammar,
/// single-quoted or block scalars, unquoted keys, tags, anchors, aliases and
/// a second document. (Comments and trailing commas are not detected.)
/// Escaped UTF-16 surrogate pairs (`"\ud83d\ude00"`) are accepted.
///
/// # Errors
/// As [`parse`], plus the JSON restrictions above.
///
/// ```
/// use nomos_core::yaml::{parse_json, Limits};
///
/// let parsed = parse_json("{\"kind\": \"Namespace\", \"n\": 1e3}", &Limits::default()).unwrap();
/// assert_eq!(parsed.documents[0].value["n"], 1000.0);
/// assert!(parse_json("kind: Namespace", &Limits::default()).is_err());
/// ```
pub fn parse_json(text: &str, limits: &Limits) -> Result<Parsed, YamlError> {
    reader::read(text, limits, true)
}

/// Finds where the node at `path` sits in document `document_index` (as
/// counted by [`Document::index`]) of `text`, by re-reading the text.
///
/// For a [`PathSegment::Key`] step the position is that of the key; for an
/// [`PathSegment::Index`] step, that of the item; an empty path gives the
/// document's root. A path that runs into an alias gives the alias's
/// position, and a key that only comes from a merge (`<<`) gives the
/// position of the `<<` key. `None` if the path does not exist or the text
/// does not parse up to it.
///
/// ```
/// use nomos_core::yaml::{locate, PathSegment, Pos};
///
/// let text = "kind: Pod\nspec:\n  containers:\n  - name: a\n    image: x\n";
/// let path = [
///     PathSegment::Key("spec".into()),
///     PathSegment::Key("containers".into()),
///     PathSegment::Index(0),
///     PathSegment::Key("image".into()),
/// ];
/// assert_eq!(locate(text, 0, &path), Some(Pos { line: 5, column: 5 }));
/// ```
pub fn locate(text: &str, document_index: usize, path: &[PathSegment]) -> Option<Pos> {
    locate::locate(text, document_index, path)
}

/// Writes `value` as one block-style YAML document (no leading `---`,
/// ending with a newline) that [`parse`] reads back as the same value.
///
/// Two-space indentation; a sequence under a key starts at the key's
/// column (`key:\n- a`, like kubectl); keys are sorted; `{}`, `[]` and
/// `null` for empty maps, empty sequences and null; multi-line strings as
/// literal block scalars; any string that would not read back as itself
/// (`"yes"`, `"0755"`, `"1e3"`, `""`, `" lead"`, `"a: b"`, …) double-quoted;
/// floats always with a `.` or an exponent so they stay floats.
///
/// ```
/// use nomos_core::yaml::to_yaml;
/// use serde_json::json;
///
/// let v = json!({"data": {"enabled": "yes", "mode": 493}, "items": ["a", 1.0]});
/// assert_eq!(
///     to_yaml(&v),
///     "data:\n  enabled: \"yes\"\n  mode: 493\nitems:\n- a\n- 1.0\n"
/// );
/// ```
pub fn to_yaml(value: &Value) -> String {
    writer::to_yaml(value)
}

impl Pos {
    pub(crate) fn from_marker(m: &saphyr_parser::Marker) -> Pos {
        Pos {
            line: u32::try_from(m.line()).unwrap_or(u32::MAX),
            column: u32::try_from(m.col() + 1).unwrap_or(u32::MAX),
        }
    }
}
