//! `serde_json::Value` → block YAML that reads back (by go-yaml v2 rules, and
//! by YAML 1.2 tools) as the same value.

use super::resolve::{Core12, Scalar, format_float, resolve_core12, resolve_plain};
use serde_json::{Map, Value};
use std::fmt::Write as _;

/// Keys longer than this (in characters, as written) use the explicit `? `
/// form: YAML limits implicit keys to 1024 characters.
const MAX_IMPLICIT_KEY: usize = 1000;

pub(crate) fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(m) if !m.is_empty() => write_map(&mut out, m, 0, false),
        Value::Array(a) if !a.is_empty() => write_seq(&mut out, a, 0, false),
        _ => {
            // A root scalar: a block scalar's content goes at column 2 (at
            // the root, the indentation indicator is the column itself).
            write_inline(&mut out, value, 2);
            out.push('\n');
        }
    }
    out
}

fn indent(out: &mut String, n: usize) {
    for _ in 0..n {
        out.push(' ');
    }
}

/// Writes a mapping whose keys sit at column `ind`. With `first_inline`, the
/// first key's indentation has already been written (after `- `).
fn write_map(out: &mut String, m: &Map<String, Value>, ind: usize, first_inline: bool) {
    for (i, (k, v)) in m.iter().enumerate() {
        if i > 0 || !first_inline {
            indent(out, ind);
        }
        let start = out.len();
        write_key(out, k);
        let explicit = out[start..].chars().count() > MAX_IMPLICIT_KEY;
        if explicit {
            out.insert_str(start, "? ");
            out.push('\n');
            indent(out, ind);
        }
        out.push(':');
        match v {
            Value::Object(c) if !c.is_empty() => {
                out.push('\n');
                write_map(out, c, ind + 2, false);
            }
            Value::Array(a) if !a.is_empty() => {
                out.push('\n');
                // After an explicit `? key`, indent the sequence so it cannot
                // be mistaken for a sibling.
                write_seq(out, a, if explicit { ind + 2 } else { ind }, false);
            }
            _ => {
                out.push(' ');
                write_inline(out, v, ind + 2);
                out.push('\n');
            }
        }
    }
}

/// Writes a sequence whose dashes sit at column `ind`.
fn write_seq(out: &mut String, a: &[Value], ind: usize, first_inline: bool) {
    for (i, v) in a.iter().enumerate() {
        if i > 0 || !first_inline {
            indent(out, ind);
        }
        out.push('-');
        match v {
            Value::Object(c) if !c.is_empty() => {
                out.push(' ');
                write_map(out, c, ind + 2, true);
            }
            Value::Array(c) if !c.is_empty() => {
                out.push(' ');
                write_seq(out, c, ind + 2, true);
            }
            _ => {
                out.push(' ');
                write_inline(out, v, ind + 2);
                out.push('\n');
            }
        }
    }
}

/// Writes a scalar or an empty collection after `key: ` or `- `. A literal
/// block scalar's lines go at column `content_ind`.
fn write_inline(out: &mut String, v: &Value, content_ind: usize) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                let _ = write!(out, "{i}");
            } else if let Some(u) = n.as_u64() {
                let _ = write!(out, "{u}");
            } else {
                out.push_str(&format_float(n.as_f64().unwrap_or(0.0)));
            }
        }
        Value::String(s) => write_string(out, s, content_ind),
        Value::Array(_) => out.push_str("[]"),
        Value::Object(_) => out.push_str("{}"),
    }
}

fn write_key(out: &mut String, k: &str) {
    // `<<` would be a merge key; anything that resolves to a non-string
    // would be re-stringified (`yes` → "true"); a key never uses a block
    // scalar.
    if k == "<<" || !plain_ok(k) {
        write_double_quoted(out, k);
    } else {
        out.push_str(k);
    }
}

fn write_string(out: &mut String, s: &str, content_ind: usize) {
    if plain_ok(s) {
        out.push_str(s);
    } else if literal_ok(s) {
        write_literal(out, s, content_ind);
    } else {
        write_double_quoted(out, s);
    }
}

/// Whether YAML requires escaping `c` (or, for line separators, whether it
/// is safer to escape it).
fn needs_escape(c: char) -> bool {
    matches!(c, '\0'..='\u{1f}' | '\u{7f}'..='\u{9f}' | '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}')
}

/// Whether `s` reads back as itself when written plain, in block context,
/// by go-yaml v2 rules and by the YAML 1.2 core schema alike.
fn plain_ok(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if matches!(
        first,
        '-' | '?'
            | ':'
            | ','
            | '['
            | ']'
            | '{'
            | '}'
            | '#'
            | '&'
            | '*'
            | '!'
            | '|'
            | '>'
            | '\''
            | '"'
            | '%'
            | '@'
            | '`'
            | ' '
    ) || s.starts_with("...")
        || s.ends_with([' ', ':'])
        || s.contains(": ")
        || s.contains(" #")
        || s.chars()
            .any(|c| c == '\t' || c == '\n' || c == '\u{85}' || needs_escape(c))
    {
        return false;
    }
    resolve_plain(s) == Scalar::Str && resolve_core12(s) == Core12::Str
}

/// Whether a multi-line string can be written as a literal block scalar
/// that reads back exactly.
fn literal_ok(s: &str) -> bool {
    s.contains('\n')
        && s.trim_end_matches('\n').contains(|c: char| c != '\n')
        && !s
            .chars()
            .any(|c| c == '\r' || c == '\u{85}' || needs_escape(c) && c != '\n' && c != '\t')
        && s.split('\n').all(|line| {
            // Whitespace-only lines would be taken for indentation.
            line.is_empty() || !line.chars().all(|c| c == ' ' || c == '\t')
        })
}

fn write_literal(out: &mut String, s: &str, content_ind: usize) {
    out.push('|');
    let first_line = s.split('\n').find(|l| !l.is_empty()).unwrap_or("");
    if first_line.starts_with(' ') {
        // Content indentation relative to the parent, which sits 2 columns
        // left of the content.
        out.push('2');
    }
    let body = s.trim_end_matches('\n');
    let trailing = s.len() - body.len();
    match trailing {
        0 => out.push('-'),
        1 => {}
        _ => out.push('+'),
    }
    for line in body.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            indent(out, content_ind);
            out.push_str(line);
        }
    }
    // Extra trailing newlines beyond the one that ends the last line (kept
    // by `|+`); the caller writes the final '\n'.
    for _ in 1..trailing {
        out.push('\n');
    }
}

fn write_double_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c if c <= '\u{ff}' && (needs_escape(c) || c == '\u{85}') => {
                let _ = write!(out, "\\x{:02X}", u32::from(c));
            }
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn layout() {
        let v = json!({
            "a": {"b": [1, {"c": "d", "e": []}], "f": {}},
            "g": [[1, 2], [], {}],
            "h": null,
            "i": "multi\nline\n",
        });
        assert_eq!(
            to_yaml(&v),
            "a:\n  b:\n  - 1\n  - c: d\n    e: []\n  f: {}\ng:\n- - 1\n  - 2\n- []\n- {}\nh: null\ni: |\n  multi\n  line\n"
        );
    }

    #[test]
    fn quoting() {
        let q = |s: &str| to_yaml(&json!(s));
        assert_eq!(q("yes"), "\"yes\"\n");
        assert_eq!(q("0755"), "\"0755\"\n");
        assert_eq!(q(""), "\"\"\n");
        assert_eq!(q("a: b"), "\"a: b\"\n");
        assert_eq!(q("- x"), "\"- x\"\n");
        assert_eq!(q("\ttab"), "\"\\ttab\"\n");
        assert_eq!(q("plain words"), "plain words\n");
        assert_eq!(q("http://x:80/y"), "http://x:80/y\n");
        assert_eq!(q("bell\u{7}"), "\"bell\\x07\"\n");
        assert_eq!(q(" lead\nx"), "|2-\n   lead\n  x\n");
        assert_eq!(
            to_yaml(&json!({"yes": 1, "<<": 2})),
            "\"<<\": 2\n\"yes\": 1\n"
        );
        assert_eq!(to_yaml(&json!(1.0)), "1.0\n");
        assert_eq!(to_yaml(&json!(1e300)), "1e300\n");
    }
}
