//! Event stream → `serde_json::Value`, with an explicit stack (no recursion),
//! limits checked as events arrive, and go-yaml v2 / sigs.k8s.io/yaml
//! conversion rules.

use super::error::{YamlError, YamlErrorKind};
use super::resolve::{Scalar, float_key, is_go_timestamp, resolve_plain, scalar_warning};
use super::{Document, Limits, Parsed, Pos, ScalarWarning};
use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Span, Tag};
use serde_json::{Map, Number, Value};
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;

const CORE_PREFIX: &str = "tag:yaml.org,2002:";

/// saphyr-parser's own cap on nested flow collections (`[[[...`).
const FLOW_DEPTH_CAP: usize = 255;

/// An explicit tag, classified.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum TagKind<'a> {
    /// No tag.
    None,
    /// The non-specific tag `!`.
    NonSpecific,
    /// `!!name` (or its long form): the name.
    Core(&'a str),
    /// Any other tag.
    Other,
}

pub(crate) fn tag_kind(tag: Option<&Tag>) -> TagKind<'_> {
    let Some(t) = tag else { return TagKind::None };
    if t.handle.is_empty() && t.suffix == "!" {
        return TagKind::NonSpecific;
    }
    if t.handle == CORE_PREFIX {
        return TagKind::Core(&t.suffix);
    }
    if t.handle.is_empty()
        && let Some(name) = t.suffix.strip_prefix(CORE_PREFIX)
    {
        return TagKind::Core(name);
    }
    TagKind::Other
}

const SCALAR_CORE_TAGS: &[&str] = &[
    "str",
    "int",
    "float",
    "bool",
    "null",
    "binary",
    "timestamp",
    "merge",
];

/// A resolved scalar; `Text` means "the scalar's own text, as a string".
pub(crate) enum Res {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Text,
    Owned(String),
}

fn describe(s: Scalar) -> String {
    match s {
        Scalar::Null => "null".to_owned(),
        Scalar::Bool(b) => format!("the boolean {b}"),
        Scalar::Int(_) | Scalar::UInt(_) => "an integer".to_owned(),
        Scalar::Float(_) => "a float".to_owned(),
        Scalar::Str => "a string".to_owned(),
    }
}

/// Resolves a scalar with its style and tag, as go-yaml v2 does.
pub(crate) fn resolve_scalar(
    text: &str,
    style: ScalarStyle,
    tag: TagKind<'_>,
    pos: Pos,
) -> Result<Res, YamlError> {
    let from = |s: Scalar| match s {
        Scalar::Null => Res::Null,
        Scalar::Bool(b) => Res::Bool(b),
        Scalar::Int(i) => Res::Int(i),
        Scalar::UInt(u) => Res::UInt(u),
        Scalar::Float(f) => Res::Float(f),
        Scalar::Str => Res::Text,
    };
    match tag {
        TagKind::None if style == ScalarStyle::Plain => Ok(from(resolve_plain(text))),
        TagKind::None | TagKind::NonSpecific | TagKind::Other => Ok(Res::Text),
        TagKind::Core(name) => {
            let bad = |what: String| {
                YamlError::at(
                    YamlErrorKind::InvalidTag,
                    pos,
                    format!(
                        "!!{name} tag on {text:?}, which {what}; fix the value or remove the tag"
                    ),
                )
            };
            match name {
                "str" => Ok(Res::Text),
                "binary" => {
                    use base64::prelude::{BASE64_STANDARD, Engine as _};
                    // Go's StdEncoding skips line breaks.
                    let compact: Vec<u8> =
                        text.bytes().filter(|&b| b != b'\n' && b != b'\r').collect();
                    match BASE64_STANDARD.decode(&compact) {
                        Ok(bytes) => Ok(Res::Owned(String::from_utf8_lossy(&bytes).into_owned())),
                        Err(e) => Err(bad(format!("is not valid base64 ({e})"))),
                    }
                }
                "int" | "float" | "bool" | "null" => {
                    let r = resolve_plain(text);
                    match (name, r) {
                        ("int", Scalar::Int(_) | Scalar::UInt(_))
                        | ("float", Scalar::Float(_))
                        | ("bool", Scalar::Bool(_))
                        | ("null", Scalar::Null) => Ok(from(r)),
                        #[allow(clippy::cast_precision_loss)]
                        ("float", Scalar::Int(i)) => Ok(Res::Float(i as f64)),
                        _ => Err(bad(format!("Kubernetes reads as {}", describe(r)))),
                    }
                }
                "timestamp" => {
                    if is_go_timestamp(text) {
                        Ok(Res::Text)
                    } else {
                        Err(bad("is not a timestamp Kubernetes understands".to_owned()))
                    }
                }
                "map" | "seq" | "merge" => Err(bad(format!(
                    "is a scalar, not a {}",
                    match name {
                        "map" => "mapping",
                        "seq" => "sequence",
                        _ => "merge key",
                    }
                ))),
                _ => Ok(Res::Text),
            }
        }
    }
}

/// Turns a resolved key into the string sigs.k8s.io/yaml makes of it.
pub(crate) fn key_string(r: Res, text: Cow<'_, str>, pos: Pos) -> Result<String, YamlError> {
    Ok(match r {
        Res::Text => text.into_owned(),
        Res::Owned(s) => s,
        Res::Bool(b) => if b { "true" } else { "false" }.to_owned(),
        Res::Int(i) => i.to_string(),
        Res::Float(f) => float_key(f),
        Res::UInt(u) => {
            return Err(YamlError::at(
                YamlErrorKind::UnsupportedKey,
                pos,
                format!(
                    "mapping key {u} is an integer above 9223372036854775807, which Kubernetes cannot use as a key; quote it: \"{u}\""
                ),
            ));
        }
        Res::Null => return Err(null_key(pos)),
    })
}

fn null_key(pos: Pos) -> YamlError {
    YamlError::at(
        YamlErrorKind::UnsupportedKey,
        pos,
        "mapping key is null (empty, ~ or null), which Kubernetes cannot use as a key; quote it (\"null\") if you mean the string",
    )
}

/// The key string of an already-built value (an alias used as a key).
fn value_key(v: &Value, pos: Pos) -> Result<String, YamlError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Null => Err(null_key(pos)),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Ok(i.to_string())
            } else if let Some(u) = n.as_u64() {
                key_string(Res::UInt(u), Cow::Borrowed(""), pos)
            } else {
                Ok(float_key(n.as_f64().unwrap_or(f64::NAN)))
            }
        }
        Value::Array(_) | Value::Object(_) => Err(collection_key(pos, v.is_array())),
    }
}

fn collection_key(pos: Pos, seq: bool) -> YamlError {
    YamlError::at(
        YamlErrorKind::UnsupportedKey,
        pos,
        format!(
            "a {} cannot be a mapping key (JSON object keys are strings)",
            if seq { "sequence" } else { "mapping" }
        ),
    )
}

pub(crate) fn non_finite(f: f64, text: &str, pos: Pos) -> YamlError {
    let what = if f.is_nan() {
        "not a number"
    } else {
        "infinity"
    };
    YamlError::at(
        YamlErrorKind::NonFiniteFloat,
        pos,
        format!(
            "`{text}` is a YAML 1.1 float ({what}) that JSON cannot represent; quote it: \"{text}\""
        ),
    )
}

pub(crate) fn syntax(e: &ScanError) -> YamlError {
    YamlError::at(
        YamlErrorKind::Syntax,
        Pos::from_marker(e.marker()),
        e.info().to_owned(),
    )
}

/// Whether a key scalar is go-yaml's merge key `<<`.
pub(crate) fn is_merge_key(text: &str, style: ScalarStyle, tag: TagKind<'_>) -> bool {
    text == "<<"
        && match tag {
            TagKind::None | TagKind::NonSpecific => style == ScalarStyle::Plain,
            TagKind::Core(name) => name == "merge",
            TagKind::Other => false,
        }
}

enum AnchorVal {
    Value(Value),
    NonFinite(f64, String),
}

struct Anchored {
    val: AnchorVal,
    nodes: usize,
    height: usize,
}

enum PendingKey {
    Key(String),
    Merge,
}

enum Kind {
    Seq(Vec<Value>),
    Map {
        map: Map<String, Value>,
        key: Option<PendingKey>,
        /// Mappings merged in with `<<`, highest priority first.
        merges: Vec<Map<String, Value>>,
        /// Where the `<<` key was, if any.
        merge_pos: Option<Pos>,
    },
}

struct Frame {
    kind: Kind,
    anchor: usize,
    pos: Pos,
    nodes_at_start: usize,
    /// Height of the tallest child (a scalar is 0).
    child_height: usize,
}

struct Builder<'t> {
    text: &'t str,
    limits: &'t Limits,
    json: bool,
    nodes: usize,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Anchored>,
    root: Option<(Value, Pos)>,
    doc_count: usize,
    documents: Vec<Document>,
    warnings: Vec<ScalarWarning>,
}

/// Reads `text` (see [`super::parse`] and [`super::parse_json`]).
pub(crate) fn read(text: &str, limits: &Limits, json: bool) -> Result<Parsed, YamlError> {
    if text.len() > limits.max_bytes {
        return Err(YamlError::new(
            YamlErrorKind::TooLarge,
            None,
            format!(
                "input is {} bytes, more than the limit of {} bytes",
                text.len(),
                limits.max_bytes
            ),
        ));
    }
    let fixed;
    let mut src = text;
    if json {
        let body = text.trim_start_matches(['\u{feff}', ' ', '\t', '\r', '\n']);
        let Some(first) = body.chars().next() else {
            return Ok(Parsed::default());
        };
        if !matches!(first, '{' | '[' | '"' | '-' | '0'..='9' | 't' | 'f' | 'n') {
            let pos = pos_of_byte(text, text.len() - body.len());
            return Err(not_json(
                pos,
                "a JSON file must hold one JSON value (an object, array, string, number, true, false or null)",
            ));
        }
        if let Some(s) = fix_surrogate_escapes(text) {
            fixed = s;
            src = &fixed;
        }
    }
    let mut b = Builder {
        text: src,
        limits,
        json,
        nodes: 0,
        stack: Vec::new(),
        anchors: HashMap::new(),
        root: None,
        doc_count: 0,
        documents: Vec::new(),
        warnings: Vec::new(),
    };
    let mut parser = Parser::new_from_str(src);
    while let Some(ev) = parser.next_event() {
        let (ev, span) = ev.map_err(|e| {
            if e.info() == "recursion limit exceeded" {
                // saphyr-parser stops at 255 nested flow collections, and its
                // look-ahead can get there before our own depth check does.
                YamlError::at(
                    YamlErrorKind::TooDeep,
                    Pos::from_marker(e.marker()),
                    format!(
                        "nesting deeper than {} levels",
                        limits.max_depth.min(FLOW_DEPTH_CAP)
                    ),
                )
            } else {
                syntax(&e)
            }
        })?;
        if b.event(ev, span)? {
            break;
        }
    }
    Ok(Parsed {
        documents: b.documents,
        warnings: b.warnings,
    })
}

fn not_json(pos: Pos, msg: &str) -> YamlError {
    YamlError::at(YamlErrorKind::Syntax, pos, format!("not JSON: {msg}"))
}

fn pos_of_byte(text: &str, byte: usize) -> Pos {
    let before = &text[..byte];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Pos {
        line: u32::try_from(line).unwrap_or(u32::MAX),
        column: u32::try_from(col).unwrap_or(u32::MAX),
    }
}

/// JSON escapes a non-BMP character as a UTF-16 surrogate pair
/// (`\ud83d\ude00`), which YAML does not accept; rewrite each pair as YAML's
/// `\U0001f600`. Returns `None` when there is nothing to rewrite.
fn fix_surrogate_escapes(text: &str) -> Option<String> {
    fn hex4(b: &[u8]) -> Option<u32> {
        let s = std::str::from_utf8(b.get(..4)?).ok()?;
        u32::from_str_radix(s, 16).ok()
    }
    let bytes = text.as_bytes();
    if !bytes
        .windows(3)
        .any(|w| w[0] == b'\\' && w[1] == b'u' && (w[2] | 0x20) == b'd')
    {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut last = 0;
    let mut i = 0;
    let mut changed = false;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => in_string = !in_string,
            b'\\' if in_string => {
                if bytes.get(i + 1) == Some(&b'u')
                    && let Some(hi) = hex4(&bytes[i + 2..])
                    && bytes.get(i + 6..i + 8) == Some(b"\\u".as_slice())
                    && let Some(lo) = hex4(&bytes[i + 8..])
                    && (0xD800..0xDC00).contains(&hi)
                    && (0xDC00..0xE000).contains(&lo)
                {
                    let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                    out.push_str(&text[last..i]);
                    let _ = write!(out, "\\U{c:08X}");
                    i += 12;
                    last = i;
                    changed = true;
                    continue;
                }
                i += 2;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    if !changed {
        return None;
    }
    out.push_str(&text[last..]);
    Some(out)
}

/// JSON's number grammar, or `true`/`false`/`null`.
fn is_json_literal(s: &str) -> bool {
    if matches!(s, "true" | "false" | "null") {
        return true;
    }
    let b = s.as_bytes();
    let mut i = 0;
    if b.first() == Some(&b'-') {
        i = 1;
    }
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
        }
        _ => return false,
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    i == b.len()
}

impl Builder<'_> {
    fn count(&mut self, n: usize, pos: Pos) -> Result<(), YamlError> {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > self.limits.max_nodes {
            return Err(YamlError::at(
                YamlErrorKind::TooManyNodes,
                pos,
                format!(
                    "the document expands to more than {} nodes (aliases included); is this an alias bomb?",
                    self.limits.max_nodes
                ),
            ));
        }
        Ok(())
    }

    fn check_depth(&self, height: usize, pos: Pos) -> Result<(), YamlError> {
        if self.stack.len().saturating_add(height) > self.limits.max_depth {
            return Err(YamlError::at(
                YamlErrorKind::TooDeep,
                pos,
                format!("nesting deeper than {} levels", self.limits.max_depth),
            ));
        }
        Ok(())
    }

    fn expecting_key(&self) -> bool {
        matches!(
            self.stack.last(),
            Some(Frame {
                kind: Kind::Map { key: None, .. },
                ..
            })
        )
    }

    /// Handles one event; `true` at the end of the stream.
    fn event(&mut self, ev: Event<'_>, span: Span) -> Result<bool, YamlError> {
        let pos = Pos::from_marker(&span.start);
        match ev {
            Event::StreamStart | Event::Nothing => {}
            Event::StreamEnd => return Ok(true),
            Event::DocumentStart(explicit) => {
                self.doc_count += 1;
                self.anchors.clear();
                if self.json && (explicit || self.doc_count > 1) {
                    return Err(not_json(
                        pos,
                        "a JSON file holds exactly one value (no --- documents)",
                    ));
                }
            }
            Event::DocumentEnd => {
                if let Some((value, pos)) = self.root.take()
                    && !value.is_null()
                {
                    self.documents.push(Document {
                        index: self.doc_count - 1,
                        pos,
                        value,
                    });
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                self.scalar(text, style, anchor, tag.as_deref(), pos)?;
            }
            Event::Alias(id) => self.alias(id, pos)?,
            Event::SequenceStart(anchor, tag) => {
                self.start(false, anchor, tag.as_deref(), pos, span)?;
            }
            Event::MappingStart(anchor, tag) => {
                self.start(true, anchor, tag.as_deref(), pos, span)?;
            }
            Event::SequenceEnd | Event::MappingEnd => self.end()?,
        }
        Ok(false)
    }

    fn scalar(
        &mut self,
        text: Cow<'_, str>,
        style: ScalarStyle,
        anchor: usize,
        tag: Option<&Tag>,
        pos: Pos,
    ) -> Result<(), YamlError> {
        self.count(1, pos)?;
        let tag = tag_kind(tag);
        let key = self.expecting_key();
        if self.json {
            self.json_checks(anchor, tag != TagKind::None, pos)?;
            let ok = match style {
                ScalarStyle::DoubleQuoted => true,
                ScalarStyle::Plain => !key && is_json_literal(&text),
                _ => false,
            };
            if !ok {
                let what = if key {
                    "object keys must be double-quoted strings"
                } else {
                    "strings must be double-quoted; numbers, true, false and null as in JSON"
                };
                return Err(not_json(pos, what));
            }
        }
        if key {
            if is_merge_key(&text, style, tag) {
                return self.set_merge_key(pos);
            }
            let r = resolve_scalar(&text, style, tag, pos)?;
            if anchor != 0 {
                let val = match &r {
                    Res::Float(f) if !f.is_finite() => AnchorVal::NonFinite(*f, text.to_string()),
                    _ => AnchorVal::Value(res_value(&r, &text).unwrap_or(Value::Null)),
                };
                self.anchors.insert(
                    anchor,
                    Anchored {
                        val,
                        nodes: 1,
                        height: 0,
                    },
                );
            }
            let k = key_string(r, text, pos)?;
            return self.set_key(k, pos);
        }
        let r = resolve_scalar(&text, style, tag, pos)?;
        if style == ScalarStyle::Plain
            && tag == TagKind::None
            && !matches!(r, Res::Text | Res::Null)
        {
            let s = match r {
                Res::Bool(b) => Scalar::Bool(b),
                Res::Int(i) => Scalar::Int(i),
                Res::UInt(u) => Scalar::UInt(u),
                Res::Float(f) => Scalar::Float(f),
                _ => Scalar::Str,
            };
            if let Some(message) = scalar_warning(&text, s) {
                self.warnings.push(ScalarWarning {
                    pos,
                    text: text.to_string(),
                    message,
                });
            }
        }
        if self.json && matches!(r, Res::Text) && style == ScalarStyle::Plain {
            return Err(not_json(pos, "number out of range"));
        }
        let value = match r {
            Res::Text => Value::String(text.into_owned()),
            Res::Owned(s) => Value::String(s),
            Res::Float(f) if !f.is_finite() => return Err(non_finite(f, &text, pos)),
            other => res_value(&other, "").unwrap_or(Value::Null),
        };
        if anchor != 0 {
            self.anchors.insert(
                anchor,
                Anchored {
                    val: AnchorVal::Value(value.clone()),
                    nodes: 1,
                    height: 0,
                },
            );
        }
        self.push_value(value, pos, 0, false)
    }

    fn json_checks(&self, anchor: usize, tagged: bool, pos: Pos) -> Result<(), YamlError> {
        if anchor != 0 {
            return Err(not_json(pos, "anchors (&name) are YAML-only"));
        }
        if tagged {
            return Err(not_json(pos, "tags (!name) are YAML-only"));
        }
        Ok(())
    }

    fn set_merge_key(&mut self, pos: Pos) -> Result<(), YamlError> {
        let Some(Frame {
            kind: Kind::Map { key, merge_pos, .. },
            ..
        }) = self.stack.last_mut()
        else {
            return Ok(());
        };
        if let Some(first) = *merge_pos {
            return Err(duplicate("<<", pos, Some(first)));
        }
        *merge_pos = Some(pos);
        *key = Some(PendingKey::Merge);
        Ok(())
    }

    fn set_key(&mut self, k: String, pos: Pos) -> Result<(), YamlError> {
        let text = self.text;
        let doc = self.doc_count.saturating_sub(1);
        let Some(Frame {
            kind: Kind::Map { map, key, .. },
            pos: map_pos,
            ..
        }) = self.stack.last_mut()
        else {
            return Ok(());
        };
        if map.contains_key(&k) {
            let first = super::locate::first_key_pos(text, doc, *map_pos, &k);
            return Err(duplicate(&k, pos, first));
        }
        *key = Some(PendingKey::Key(k));
        Ok(())
    }

    fn alias(&mut self, id: usize, pos: Pos) -> Result<(), YamlError> {
        if self.json {
            return Err(not_json(pos, "aliases (*name) are YAML-only"));
        }
        let Some(a) = self.anchors.get(&id) else {
            return Err(YamlError::at(
                YamlErrorKind::UnknownAnchor,
                pos,
                format!(
                    "alias {} refers to no anchor defined earlier in this document",
                    alias_name(self.text, pos)
                ),
            ));
        };
        let (nodes, height) = (a.nodes, a.height);
        self.count(nodes, pos)?;
        if self.expecting_key() {
            let a = &self.anchors[&id];
            let k = match &a.val {
                AnchorVal::Value(v) => value_key(v, pos)?,
                AnchorVal::NonFinite(f, _) => float_key(*f),
            };
            return self.set_key(k, pos);
        }
        self.check_depth(height, pos)?;
        let v = match &self.anchors[&id].val {
            AnchorVal::Value(v) => v.clone(),
            AnchorVal::NonFinite(f, text) => return Err(non_finite(*f, text, pos)),
        };
        self.push_value(v, pos, height, true)
    }

    fn start(
        &mut self,
        map: bool,
        anchor: usize,
        tag: Option<&Tag>,
        pos: Pos,
        span: Span,
    ) -> Result<(), YamlError> {
        if self.expecting_key() {
            return Err(collection_key(pos, !map));
        }
        self.count(1, pos)?;
        self.check_depth(1, pos)?;
        let tag = tag_kind(tag);
        if let TagKind::Core(name) = tag {
            let (mine, other) = if map { ("map", "seq") } else { ("seq", "map") };
            if name == other || SCALAR_CORE_TAGS.contains(&name) {
                return Err(YamlError::at(
                    YamlErrorKind::InvalidTag,
                    pos,
                    format!(
                        "!!{name} tag on a {}; remove the tag or write !!{mine}",
                        if map { "mapping" } else { "sequence" }
                    ),
                ));
            }
        }
        if self.json {
            self.json_checks(anchor, tag != TagKind::None, pos)?;
            if self.stack.is_empty() {
                let c = self.text.chars().nth(span.start.index());
                if c != Some(if map { '{' } else { '[' }) {
                    return Err(not_json(pos, "block-style YAML collections are not JSON"));
                }
            }
        }
        let kind = if map {
            Kind::Map {
                map: Map::new(),
                key: None,
                merges: Vec::new(),
                merge_pos: None,
            }
        } else {
            Kind::Seq(Vec::new())
        };
        self.stack.push(Frame {
            kind,
            anchor,
            pos,
            nodes_at_start: self.nodes - 1,
            child_height: 0,
        });
        Ok(())
    }

    fn end(&mut self) -> Result<(), YamlError> {
        let Some(frame) = self.stack.pop() else {
            return Ok(());
        };
        let value = match frame.kind {
            Kind::Seq(items) => Value::Array(items),
            Kind::Map {
                mut map, merges, ..
            } => {
                for source in merges {
                    for (k, v) in source {
                        map.entry(k).or_insert(v);
                    }
                }
                Value::Object(map)
            }
        };
        let height = frame.child_height + 1;
        if frame.anchor != 0 {
            self.anchors.insert(
                frame.anchor,
                Anchored {
                    val: AnchorVal::Value(value.clone()),
                    nodes: self.nodes - frame.nodes_at_start,
                    height,
                },
            );
        }
        self.push_value(value, frame.pos, height, false)
    }

    fn push_value(
        &mut self,
        value: Value,
        pos: Pos,
        height: usize,
        from_alias: bool,
    ) -> Result<(), YamlError> {
        let Some(frame) = self.stack.last_mut() else {
            self.root = Some((value, pos));
            return Ok(());
        };
        frame.child_height = frame.child_height.max(height);
        match &mut frame.kind {
            Kind::Seq(items) => items.push(value),
            Kind::Map {
                map, key, merges, ..
            } => match key.take() {
                Some(PendingKey::Key(k)) => {
                    map.insert(k, value);
                }
                Some(PendingKey::Merge) => match value {
                    Value::Object(m) => merges.push(m),
                    Value::Array(items) if !from_alias => {
                        for item in items {
                            match item {
                                Value::Object(m) => merges.push(m),
                                _ => return Err(bad_merge(pos)),
                            }
                        }
                    }
                    _ => return Err(bad_merge(pos)),
                },
                None => {}
            },
        }
        Ok(())
    }
}

fn res_value(r: &Res, text: &str) -> Option<Value> {
    Some(match r {
        Res::Null => Value::Null,
        Res::Bool(b) => Value::Bool(*b),
        Res::Int(i) => Value::Number(Number::from(*i)),
        Res::UInt(u) => Value::Number(Number::from(*u)),
        Res::Float(f) => Value::Number(Number::from_f64(*f)?),
        Res::Text => Value::String(text.to_owned()),
        Res::Owned(s) => Value::String(s.clone()),
    })
}

fn bad_merge(pos: Pos) -> YamlError {
    YamlError::at(
        YamlErrorKind::InvalidMerge,
        pos,
        "a merge key (<<) needs a mapping, an alias of a mapping, or a sequence of those",
    )
}

fn duplicate(key: &str, pos: Pos, first: Option<Pos>) -> YamlError {
    let first = first.map_or(String::new(), |p| {
        format!(" (first defined at line {})", p.line)
    });
    YamlError::at(
        YamlErrorKind::DuplicateKey,
        pos,
        format!("duplicate key {key:?}{first}; remove one of them"),
    )
}

/// `*name` as written at `pos` (for error messages).
fn alias_name(text: &str, pos: Pos) -> String {
    let line = text.lines().nth(pos.line as usize - 1).unwrap_or("");
    let rest: String = line
        .chars()
        .skip(pos.column as usize - 1)
        .take_while(|c| !c.is_whitespace() && !matches!(c, ',' | ']' | '}'))
        .collect();
    if rest.starts_with('*') {
        rest
    } else {
        "*".to_owned() + &rest
    }
}
