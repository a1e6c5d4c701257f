//! The validation walk.

use serde_json::{Map, Value};

use super::builtin::Loaded;
use super::node::{
    Arena, Format, Node, NodeId, T_ARRAY, T_BOOLEAN, T_INTEGER, T_NUMBER, T_OBJECT, T_STRING,
    describe_types,
};
use super::{PathSegment, SchemaError, SchemaErrorKind, quantity, render_path};

#[derive(Clone, Copy)]
enum Seg<'v> {
    Key(&'v str),
    Index(usize),
}

pub(crate) struct Run<'s> {
    pub builtin: &'static Loaded,
    pub group: &'s str,
    pub version: &'s str,
    pub kind: &'s str,
    /// CRD semantics: a `null` for a non-nullable field is pruned by the API server, not an error.
    pub custom: bool,
    pub errors: Vec<SchemaError>,
    pub limit: usize,
    /// Inside `allOf`/`anyOf`/`oneOf`/`not`: value checks only, unknown fields are not judged there.
    branch_depth: u32,
}

impl<'s> Run<'s> {
    pub fn new(
        builtin: &'static Loaded,
        (group, version, kind): (&'s str, &'s str, &'s str),
        custom: bool,
        limit: usize,
    ) -> Self {
        Run {
            builtin,
            group,
            version,
            kind,
            custom,
            errors: Vec::new(),
            limit,
            branch_depth: 0,
        }
    }

    pub fn run(&mut self, arena: &Arena, root: NodeId, value: &Value) {
        let mut path = Vec::with_capacity(16);
        self.node(arena, root, value, &mut path);
    }

    fn full(&self) -> bool {
        self.errors.len() >= self.limit
    }

    fn label(&self) -> String {
        if self.group.is_empty() {
            format!("{}/{}", self.kind, self.version)
        } else {
            format!("{}.{}/{}", self.kind, self.group, self.version)
        }
    }

    fn error(&mut self, path: &[Seg<'_>], kind: SchemaErrorKind, message: String) {
        if self.full() {
            return;
        }
        let path = path
            .iter()
            .map(|s| match s {
                Seg::Key(k) => PathSegment::Key((*k).to_owned()),
                Seg::Index(i) => PathSegment::Index(*i),
            })
            .collect();
        self.errors.push(SchemaError {
            path,
            kind,
            message,
        });
    }

    fn node<'v>(&mut self, arena: &Arena, id: NodeId, value: &'v Value, path: &mut Vec<Seg<'v>>) {
        if self.full() {
            return;
        }
        let n = &arena.nodes[id as usize];
        if let Some(def) = n.reference {
            let builtin = self.builtin;
            return self.node(builtin.def(def), 0, value, path);
        }
        if value.is_null() {
            if !(n.nullable || self.custom || (n.types == 0 && !n.int_or_string && !n.quantity)) {
                self.error(
                    path,
                    SchemaErrorKind::Type,
                    format!("expected {}, got null", describe_types(n)),
                );
            }
            return;
        }
        if !type_matches(n, value) {
            let message = format!(
                "expected {}, got {}",
                describe_types(n),
                describe_value(value)
            );
            self.error(path, SchemaErrorKind::Type, message);
            return;
        }
        match value {
            Value::Object(map) => self.object(arena, n, map, path),
            Value::Array(items) => {
                if let Some(item) = n.items {
                    for (i, v) in items.iter().enumerate() {
                        if self.full() {
                            break;
                        }
                        path.push(Seg::Index(i));
                        self.node(arena, item, v, path);
                        path.pop();
                    }
                }
                if let Some(b) = &n.bounds {
                    let len = items.len() as u64;
                    if let Some(min) = b.min_items.filter(|m| len < *m) {
                        self.error(
                            path,
                            SchemaErrorKind::Value,
                            format!("must have at least {min} item(s), has {len}"),
                        );
                    }
                    if let Some(max) = b.max_items.filter(|m| len > *m) {
                        self.error(
                            path,
                            SchemaErrorKind::Value,
                            format!("must have at most {max} item(s), has {len}"),
                        );
                    }
                }
            }
            Value::String(s) => self.string(n, s, path),
            Value::Number(_) => self.number(n, value, path),
            Value::Bool(_) | Value::Null => {}
        }
        if let Some(values) = &n.enum_values
            && !values.iter().any(|e| json_eq(e, value))
        {
            let shown: Vec<String> = values.iter().take(12).map(|v| v.to_string()).collect();
            let more = if values.len() > 12 { ", …" } else { "" };
            self.error(
                path,
                SchemaErrorKind::Value,
                format!(
                    "unsupported value {}: must be one of {}{more}",
                    describe_short(value),
                    shown.join(", ")
                ),
            );
        }
        if !(n.all_of.is_empty() && n.any_of.is_empty() && n.one_of.is_empty() && n.not.is_none()) {
            self.combinators(arena, n, value, path);
        }
    }

    fn object<'v>(
        &mut self,
        arena: &Arena,
        n: &Node,
        map: &'v Map<String, Value>,
        path: &mut Vec<Seg<'v>>,
    ) {
        // The top of an object, and an embedded resource, always allow apiVersion, kind and
        // metadata (validated as ObjectMeta, whatever the schema says about it).
        let embedded = n.embedded_resource || (path.is_empty() && self.branch_depth == 0);
        let closed = n.closed() && self.branch_depth == 0;
        for r in &n.required {
            let prop = n.property(r).map(|p| &arena.nodes[p as usize]);
            // A defaulted field is filled in before validation.
            let defaulted = prop.is_some_and(|p| p.has_default);
            let present = match map.get(&**r) {
                None => defaulted,
                // A CRD's non-nullable null is pruned (then defaulted) before validation.
                Some(Value::Null) if self.custom => prop.is_some_and(|p| p.nullable) || defaulted,
                Some(_) => true,
            };
            if !present {
                self.error(
                    path,
                    SchemaErrorKind::Required,
                    format!("missing required field \"{r}\""),
                );
            }
        }
        for (key, v) in map {
            if self.full() {
                return;
            }
            path.push(Seg::Key(key));
            if embedded && key == "metadata" {
                let builtin = self.builtin;
                let meta = builtin.def(builtin.object_meta);
                self.node(meta, 0, v, path);
            } else if let Some(p) = n.property(key) {
                self.node(arena, p, v, path);
            } else if let Some(ap) = n.additional {
                self.node(arena, ap, v, path);
            } else if embedded && (key == "apiVersion" || key == "kind") {
                if !(v.is_string() || v.is_null()) {
                    let message = format!("expected string, got {}", describe_value(v));
                    self.error(path, SchemaErrorKind::Type, message);
                }
            } else if closed {
                let message = self.unknown_field(n, key, &path[..path.len() - 1], embedded);
                self.error(path, SchemaErrorKind::UnknownField, message);
            }
            path.pop();
        }
        if let Some(b) = &n.bounds {
            let len = map.len() as u64;
            if let Some(min) = b.min_properties.filter(|m| len < *m) {
                self.error(
                    path,
                    SchemaErrorKind::Value,
                    format!("must have at least {min} field(s), has {len}"),
                );
            }
            if let Some(max) = b.max_properties.filter(|m| len > *m) {
                self.error(
                    path,
                    SchemaErrorKind::Value,
                    format!("must have at most {max} field(s), has {len}"),
                );
            }
        }
    }

    fn unknown_field(&self, n: &Node, key: &str, parent: &[Seg<'_>], embedded: bool) -> String {
        let mut names: Vec<&str> = n.properties.iter().map(|(k, _)| &**k).collect();
        if embedded {
            for extra in ["apiVersion", "kind", "metadata"] {
                if n.property(extra).is_none() {
                    names.push(extra);
                }
            }
        }
        let owned: Vec<PathSegment> = parent
            .iter()
            .map(|s| match s {
                Seg::Key(k) => PathSegment::Key((*k).to_owned()),
                Seg::Index(i) => PathSegment::Index(*i),
            })
            .collect();
        let at = if owned.is_empty() {
            String::new()
        } else {
            format!(" {}", render_path(&owned))
        };
        let mut message = format!("unknown field \"{key}\" in {}{at}", self.label());
        if let Some(s) = suggest(key, &names) {
            message.push_str(&format!(" (did you mean \"{s}\"?)"));
        } else if names.is_empty() {
            message.push_str(" (no fields are allowed here)");
        } else if names.len() <= 12 {
            names.sort_unstable();
            message.push_str(&format!(" (allowed: {})", names.join(", ")));
        }
        message
    }

    fn string(&mut self, n: &Node, s: &str, path: &[Seg<'_>]) {
        if n.quantity && !quantity::is_valid(s) {
            self.error(
                path,
                SchemaErrorKind::Value,
                format!(
                    "invalid quantity {}: expected a number with an optional suffix such as 500m, 2k, 1Gi or 1e3",
                    describe_short_str(s)
                ),
            );
        }
        if n.format == Format::Byte && !is_base64(s) {
            let hint = if self.kind == "Secret" && self.group.is_empty() {
                " (put plain text under stringData instead of data)"
            } else {
                ""
            };
            self.error(
                path,
                SchemaErrorKind::Value,
                format!("invalid base64 data{hint}"),
            );
        }
        if let Some(b) = &n.bounds
            && (b.min_length.is_some() || b.max_length.is_some())
        {
            let len = s.chars().count() as u64;
            if let Some(min) = b.min_length.filter(|m| len < *m) {
                self.error(
                    path,
                    SchemaErrorKind::Value,
                    format!("must be at least {min} character(s) long"),
                );
            }
            if let Some(max) = b.max_length.filter(|m| len > *m) {
                self.error(
                    path,
                    SchemaErrorKind::Value,
                    format!("must be at most {max} character(s) long, is {len}"),
                );
            }
        }
        if let Some(p) = &n.pattern
            && let Some(re) = p.get()
            && !re.is_match(s)
        {
            self.error(
                path,
                SchemaErrorKind::Value,
                format!(
                    "{} does not match the pattern {}",
                    describe_short_str(s),
                    p.source
                ),
            );
        }
    }

    fn number(&mut self, n: &Node, value: &Value, path: &[Seg<'_>]) {
        if n.types & (T_INTEGER | T_NUMBER) != 0 || n.int_or_string {
            match n.format {
                Format::Int32
                    if value_as_i128(value)
                        .is_some_and(|v| v < i32::MIN as i128 || v > i32::MAX as i128) =>
                {
                    self.error(
                        path,
                        SchemaErrorKind::Value,
                        format!("{value} is out of range for a 32-bit integer"),
                    );
                }
                Format::Int64
                    if value_as_i128(value)
                        .is_some_and(|v| v < i64::MIN as i128 || v > i64::MAX as i128) =>
                {
                    self.error(
                        path,
                        SchemaErrorKind::Value,
                        format!("{value} is out of range for a 64-bit integer"),
                    );
                }
                _ => {}
            }
        }
        let Some(b) = &n.bounds else { return };
        let Some(x) = value.as_f64() else { return };
        if let Some(min) = b.minimum {
            if b.exclusive_minimum && x <= min {
                self.error(
                    path,
                    SchemaErrorKind::Value,
                    format!("must be greater than {min}, is {value}"),
                );
            } else if x < min {
                self.error(
                    path,
                    SchemaErrorKind::Value,
                    format!("must be greater than or equal to {min}, is {value}"),
                );
            }
        }
        if let Some(max) = b.maximum {
            if b.exclusive_maximum && x >= max {
                self.error(
                    path,
                    SchemaErrorKind::Value,
                    format!("must be less than {max}, is {value}"),
                );
            } else if x > max {
                self.error(
                    path,
                    SchemaErrorKind::Value,
                    format!("must be less than or equal to {max}, is {value}"),
                );
            }
        }
    }

    /// Whether `value` satisfies node `id` (no errors are kept).
    fn matches<'v>(
        &mut self,
        arena: &Arena,
        id: NodeId,
        value: &'v Value,
        path: &mut Vec<Seg<'v>>,
    ) -> bool {
        let (len, limit) = (self.errors.len(), self.limit);
        self.limit = len + 1;
        self.branch_depth += 1;
        self.node(arena, id, value, path);
        self.branch_depth -= 1;
        let ok = self.errors.len() == len;
        self.errors.truncate(len);
        self.limit = limit;
        ok
    }

    /// The first error `value` gets against node `id`, for hints.
    fn first_error<'v>(
        &mut self,
        arena: &Arena,
        id: NodeId,
        value: &'v Value,
        path: &mut Vec<Seg<'v>>,
    ) -> Option<SchemaError> {
        let (len, limit) = (self.errors.len(), self.limit);
        self.limit = len + 1;
        self.branch_depth += 1;
        self.node(arena, id, value, path);
        self.branch_depth -= 1;
        let first = self.errors.drain(len..).next();
        self.limit = limit;
        first
    }

    fn combinators<'v>(
        &mut self,
        arena: &Arena,
        n: &Node,
        value: &'v Value,
        path: &mut Vec<Seg<'v>>,
    ) {
        if !n.all_of.is_empty() {
            self.branch_depth += 1;
            for &b in &n.all_of {
                self.node(arena, b, value, path);
            }
            self.branch_depth -= 1;
        }
        if !n.any_of.is_empty()
            && !n
                .any_of
                .iter()
                .any(|&b| self.matches(arena, b, value, path))
        {
            let hint = self.hint(arena, n.any_of[0], value, path);
            self.error(
                path,
                SchemaErrorKind::Value,
                format!(
                    "does not match any of the {} allowed alternatives (anyOf){hint}",
                    n.any_of.len()
                ),
            );
        }
        if !n.one_of.is_empty() {
            let matched = n
                .one_of
                .iter()
                .filter(|&&b| self.matches(arena, b, value, path))
                .count();
            if matched == 0 {
                let hint = self.hint(arena, n.one_of[0], value, path);
                self.error(
                    path,
                    SchemaErrorKind::Value,
                    format!(
                        "does not match any of the {} allowed alternatives (oneOf){hint}",
                        n.one_of.len()
                    ),
                );
            } else if matched > 1 {
                self.error(
                    path,
                    SchemaErrorKind::Value,
                    format!(
                        "matches {matched} of the alternatives where exactly one is allowed (oneOf)"
                    ),
                );
            }
        }
        if let Some(not) = n.not
            && self.matches(arena, not, value, path)
        {
            self.error(
                path,
                SchemaErrorKind::Value,
                "matches a schema it must not match (not)".to_owned(),
            );
        }
    }

    fn hint<'v>(
        &mut self,
        arena: &Arena,
        id: NodeId,
        value: &'v Value,
        path: &mut Vec<Seg<'v>>,
    ) -> String {
        let depth = path.len();
        match self.first_error(arena, id, value, path) {
            Some(e) if e.path.len() <= depth => format!("; the first one fails: {}", e.message),
            Some(e) => format!(
                "; the first one fails at {}: {}",
                render_path(&e.path[depth..]),
                e.message
            ),
            None => String::new(),
        }
    }
}

fn type_matches(n: &Node, v: &Value) -> bool {
    if n.int_or_string {
        return v.is_string() || is_integer(v);
    }
    if n.quantity {
        return v.is_string() || v.is_number();
    }
    if n.types == 0 {
        return true;
    }
    let bit = match v {
        Value::Object(_) => T_OBJECT,
        Value::Array(_) => T_ARRAY,
        Value::String(_) => T_STRING,
        Value::Bool(_) => T_BOOLEAN,
        Value::Number(_) => {
            if n.types & T_NUMBER != 0 || (n.types & T_INTEGER != 0 && is_integer(v)) {
                return true;
            }
            T_NUMBER
        }
        Value::Null => return n.nullable,
    };
    n.types & bit != 0
}

/// An integer, or a float without a fractional part (YAML `3.0` reaches the API server as `3`).
fn is_integer(v: &Value) -> bool {
    match v {
        Value::Number(n) => {
            n.is_i64()
                || n.is_u64()
                || n.as_f64()
                    .is_some_and(|f| f.is_finite() && f.fract() == 0.0)
        }
        _ => false,
    }
}

fn value_as_i128(v: &Value) -> Option<i128> {
    let n = v.as_number()?;
    if let Some(i) = n.as_i64() {
        Some(i as i128)
    } else if let Some(u) = n.as_u64() {
        Some(u as i128)
    } else {
        n.as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() < 1e30)
            .map(|f| f as i128)
    }
}

/// JSON equality with numbers compared by value (`1` equals `1.0`).
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// Go's `base64.StdEncoding` (padding required, line breaks ignored, lenient trailing bits).
fn is_base64(s: &str) -> bool {
    let bytes: Vec<u8> = s.bytes().filter(|b| *b != b'\n' && *b != b'\r').collect();
    if !bytes.len().is_multiple_of(4) {
        return false;
    }
    let pad = bytes.iter().rev().take_while(|b| **b == b'=').count();
    if pad > 2 {
        return false;
    }
    bytes[..bytes.len() - pad]
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
}

fn describe_short_str(s: &str) -> String {
    if s.chars().count() > 60 {
        let cut: String = s.chars().take(57).collect();
        format!("{:?}", format!("{cut}..."))
    } else {
        format!("{s:?}")
    }
}

fn describe_short(v: &Value) -> String {
    match v {
        Value::String(s) => describe_short_str(s),
        Value::Object(_) => "an object".to_owned(),
        Value::Array(_) => "a list".to_owned(),
        other => other.to_string(),
    }
}

fn describe_value(v: &Value) -> String {
    match v {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) => format!("string {}", describe_short_str(s)),
        Value::Array(_) => "a list".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}

/// The allowed name closest to a misspelt one, if close enough to be a plausible typo.
fn suggest<'a>(key: &str, names: &[&'a str]) -> Option<&'a str> {
    let lower = key.to_ascii_lowercase();
    if let Some(n) = names.iter().find(|n| n.to_ascii_lowercase() == lower) {
        return Some(n);
    }
    let key_len = key.chars().count();
    let limit = match key_len {
        0..=2 => 0,
        3..=4 => 1,
        5..=8 => 2,
        _ => 3,
    };
    names
        .iter()
        .map(|n| (edit_distance(&lower, &n.to_ascii_lowercase()), *n))
        .filter(|(d, _)| *d <= limit && limit > 0)
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

/// Optimal-string-alignment distance (Levenshtein plus adjacent transpositions).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > 3 {
        return usize::MAX;
    }
    let w = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * w];
    for i in 0..=a.len() {
        d[i * w] = i;
    }
    for (j, cell) in d.iter_mut().enumerate().take(w) {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[(i - 1) * w + j] + 1)
                .min(d[i * w + j - 1] + 1)
                .min(d[(i - 1) * w + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[(i - 2) * w + j - 2] + 1);
            }
            d[i * w + j] = v;
        }
    }
    d[a.len() * w + b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_like_go() {
        assert!(is_base64(""));
        assert!(is_base64("YWJj"));
        assert!(is_base64("YWI="));
        assert!(is_base64("YQ=="));
        assert!(is_base64("YWJj\nZGVm"));
        assert!(
            is_base64("YR=="),
            "Go's StdEncoding accepts non-zero trailing bits"
        );
        assert!(!is_base64("YQ"));
        assert!(!is_base64("hello world"));
        assert!(!is_base64("Y==="));
        assert!(!is_base64("YQ==YQ=="));
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            suggest("replica", &["minReadySeconds", "replicas", "selector"]),
            Some("replicas")
        );
        assert_eq!(
            suggest("contianers", &["containers", "volumes"]),
            Some("containers")
        );
        assert_eq!(
            suggest("ContainerPort", &["containerPort", "name"]),
            Some("containerPort")
        );
        assert_eq!(suggest("zzz", &["containers", "volumes"]), None);
        assert_eq!(edit_distance("abc", "acb"), 1);
    }

    #[test]
    fn integer_and_numbers() {
        assert!(is_integer(&serde_json::json!(3)));
        assert!(is_integer(&serde_json::json!(3.0)));
        assert!(!is_integer(&serde_json::json!(3.5)));
        assert!(json_eq(&serde_json::json!(1), &serde_json::json!(1.0)));
        assert!(!json_eq(&serde_json::json!("1"), &serde_json::json!(1)));
    }
}
