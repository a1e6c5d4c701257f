//! Compiled form of an OpenAPI v3 schema: an arena of nodes, built once from JSON and walked by
//! the validator without any further lookups by name.

use std::sync::OnceLock;

use serde_json::{Map, Value};

use super::PathSegment;

/// Index of a node in its [`Arena`].
pub(crate) type NodeId = u32;

pub(crate) const T_OBJECT: u8 = 1;
pub(crate) const T_ARRAY: u8 = 2;
pub(crate) const T_STRING: u8 = 4;
pub(crate) const T_INTEGER: u8 = 8;
pub(crate) const T_NUMBER: u8 = 16;
pub(crate) const T_BOOLEAN: u8 = 32;

/// The `format`s the validator enforces; every other format is accepted as is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Format {
    #[default]
    Other,
    Int32,
    Int64,
    Byte,
}

/// Rarely present numeric and size bounds, boxed to keep [`Node`] small.
#[derive(Debug, Default)]
pub(crate) struct Bounds {
    pub minimum: Option<f64>,
    pub maximum: Option<f64>,
    pub exclusive_minimum: bool,
    pub exclusive_maximum: bool,
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
    pub min_items: Option<u64>,
    pub max_items: Option<u64>,
    pub min_properties: Option<u64>,
    pub max_properties: Option<u64>,
}

/// A `pattern`, compiled on first use. `None` inside means the expression is beyond what
/// `regex-lite` supports (Unicode classes, …): it is then not enforced.
#[derive(Debug)]
pub(crate) struct Pattern {
    pub source: Box<str>,
    pub regex: OnceLock<Option<regex_lite::Regex>>,
}

impl Pattern {
    pub fn get(&self) -> Option<&regex_lite::Regex> {
        self.regex
            .get_or_init(|| regex_lite::Regex::new(&self.source).ok())
            .as_ref()
    }
}

/// One schema node.
#[derive(Debug, Default)]
pub(crate) struct Node {
    /// Allowed JSON types (`T_*` bits); 0 means any.
    pub types: u8,
    pub nullable: bool,
    pub int_or_string: bool,
    /// A `resource.Quantity` of a built-in kind: a number, or a string in quantity syntax.
    pub quantity: bool,
    /// Unknown fields are kept (`x-kubernetes-preserve-unknown-fields` or `additionalProperties: true`).
    pub preserve_unknown: bool,
    pub embedded_resource: bool,
    /// The schema has a `default`: the API server fills the field in before validating.
    pub has_default: bool,
    pub format: Format,
    /// `$ref` to a built-in definition (by index); the node has nothing else then.
    pub reference: Option<u32>,
    /// Sorted by name.
    pub properties: Vec<(Box<str>, NodeId)>,
    pub required: Vec<Box<str>>,
    pub additional: Option<NodeId>,
    pub items: Option<NodeId>,
    pub enum_values: Option<Vec<Value>>,
    pub all_of: Vec<NodeId>,
    pub any_of: Vec<NodeId>,
    pub one_of: Vec<NodeId>,
    pub not: Option<NodeId>,
    pub bounds: Option<Box<Bounds>>,
    pub pattern: Option<Box<Pattern>>,
}

impl Node {
    pub fn property(&self, name: &str) -> Option<NodeId> {
        self.properties
            .binary_search_by(|(k, _)| (**k).cmp(name))
            .ok()
            .map(|i| self.properties[i].1)
    }

    /// An object value of this schema must not carry fields outside `properties`.
    pub fn closed(&self) -> bool {
        !self.preserve_unknown
            && self.additional.is_none()
            && (self.types & T_OBJECT != 0 || !self.properties.is_empty())
    }
}

/// The nodes of one schema (a built-in definition, or one version of a CRD); the root is node 0.
#[derive(Debug, Default)]
pub(crate) struct Arena {
    pub nodes: Vec<Node>,
}

/// A problem found while compiling a schema.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CompileIssue {
    pub path: Vec<PathSegment>,
    pub message: String,
}

/// How JSON is turned into nodes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CompileOptions {
    /// `$ref` is an integer index of a built-in definition (the shipped data); otherwise `$ref`
    /// is reported as unsupported (CRD schemas may not use it).
    pub builtin_refs: bool,
    /// Every object keeps unknown fields (CRDs with `preserveUnknownFields: true`).
    pub open_objects: bool,
}

/// A step of the compiler's current path, borrowed until an issue needs it.
#[derive(Clone, Copy)]
enum Step<'v> {
    Key(&'v str),
    Index(usize),
}

pub(crate) struct Compiler<'v> {
    options: CompileOptions,
    arena: Arena,
    path: Vec<Step<'v>>,
    pub issues: Vec<CompileIssue>,
}

impl<'v> Compiler<'v> {
    pub fn new(options: CompileOptions) -> Self {
        Compiler {
            options,
            arena: Arena::default(),
            path: Vec::new(),
            issues: Vec::new(),
        }
    }

    /// Compiles `schema` as the root of a new arena.
    pub fn compile_root(mut self, schema: &'v Value) -> (Arena, Vec<CompileIssue>) {
        self.compile(schema);
        (self.arena, self.issues)
    }

    /// Adds a node built by the caller; returns its id.
    pub fn push(arena: &mut Arena, node: Node) -> NodeId {
        arena.nodes.push(node);
        (arena.nodes.len() - 1) as NodeId
    }

    fn issue(&mut self, message: String) {
        let path = self
            .path
            .iter()
            .map(|s| match s {
                Step::Key(k) => PathSegment::Key((*k).to_owned()),
                Step::Index(i) => PathSegment::Index(*i),
            })
            .collect();
        self.issues.push(CompileIssue { path, message });
    }

    fn child(&mut self, key: &'v str, schema: &'v Value) -> NodeId {
        self.path.push(Step::Key(key));
        let id = self.compile(schema);
        self.path.pop();
        id
    }

    fn children(&mut self, key: &'v str, list: &'v Value) -> Vec<NodeId> {
        let Some(list) = list.as_array() else {
            self.issue(format!("\"{key}\" must be a list of schemas"));
            return Vec::new();
        };
        self.path.push(Step::Key(key));
        let ids = list
            .iter()
            .enumerate()
            .map(|(i, s)| {
                self.path.push(Step::Index(i));
                let id = self.compile(s);
                self.path.pop();
                id
            })
            .collect();
        self.path.pop();
        ids
    }

    fn compile(&mut self, schema: &'v Value) -> NodeId {
        let id = Self::push(&mut self.arena, Node::default());
        let mut node = Node::default();
        match schema {
            Value::Object(map) => self.fill(&mut node, map),
            // JSON Schema allows `true` (anything) / `false` (nothing) as schemas.
            Value::Bool(true) => node.preserve_unknown = true,
            Value::Bool(false) => {
                node.preserve_unknown = true;
                node.not = Some(Self::push(
                    &mut self.arena,
                    Node {
                        preserve_unknown: true,
                        ..Node::default()
                    },
                ));
            }
            _ => self.issue("a schema must be an object".to_owned()),
        }
        if self.options.open_objects {
            node.preserve_unknown = true;
        }
        self.arena.nodes[id as usize] = node;
        id
    }

    fn fill(&mut self, node: &mut Node, map: &'v Map<String, Value>) {
        if let Some(r) = map.get("$ref") {
            match r.as_u64() {
                Some(index) if self.options.builtin_refs => {
                    node.reference = Some(index as u32);
                    return;
                }
                _ => self.issue("\"$ref\" is not supported in a CRD schema".to_owned()),
            }
        }
        if let Some(t) = map.get("type") {
            self.fill_type(node, t);
        }
        let flag = |k: &str| map.get(k).and_then(Value::as_bool).unwrap_or(false);
        node.nullable |= flag("nullable");
        node.int_or_string = flag("x-kubernetes-int-or-string");
        node.quantity = flag("x-nomos-quantity");
        node.preserve_unknown = flag("x-kubernetes-preserve-unknown-fields");
        node.embedded_resource = flag("x-kubernetes-embedded-resource");
        node.has_default = map.contains_key("default");
        node.format = match map.get("format").and_then(Value::as_str) {
            Some("int32") => Format::Int32,
            Some("int64") => Format::Int64,
            Some("byte") => Format::Byte,
            _ => Format::Other,
        };
        if let Some(props) = map.get("properties") {
            match props.as_object() {
                Some(props) => {
                    self.path.push(Step::Key("properties"));
                    let mut list: Vec<(Box<str>, NodeId)> = props
                        .iter()
                        .map(|(k, v)| (Box::from(k.as_str()), self.child(k, v)))
                        .collect();
                    self.path.pop();
                    list.sort_by(|a, b| a.0.cmp(&b.0));
                    node.properties = list;
                }
                None => self.issue("\"properties\" must be a map of schemas".to_owned()),
            }
        }
        if let Some(req) = map.get("required") {
            match req.as_array() {
                Some(req) => {
                    node.required = req
                        .iter()
                        .filter_map(Value::as_str)
                        .map(Box::from)
                        .collect();
                }
                None => self.issue("\"required\" must be a list of field names".to_owned()),
            }
        }
        match map.get("additionalProperties") {
            None | Some(Value::Bool(false)) => {}
            Some(Value::Bool(true)) => node.preserve_unknown = true,
            Some(s) => node.additional = Some(self.child("additionalProperties", s)),
        }
        match map.get("items") {
            None => {}
            // OpenAPI v3.0 allows only one schema; a tuple form is not used by Kubernetes.
            Some(Value::Array(_)) => self.issue("\"items\" must be a single schema".to_owned()),
            Some(s) => node.items = Some(self.child("items", s)),
        }
        if let Some(e) = map.get("enum") {
            match e.as_array() {
                Some(values) => node.enum_values = Some(values.clone()),
                None => self.issue("\"enum\" must be a list".to_owned()),
            }
        }
        if let Some(l) = map.get("allOf") {
            node.all_of = self.children("allOf", l);
        }
        if let Some(l) = map.get("anyOf") {
            node.any_of = self.children("anyOf", l);
        }
        if let Some(l) = map.get("oneOf") {
            node.one_of = self.children("oneOf", l);
        }
        if let Some(s) = map.get("not") {
            node.not = Some(self.child("not", s));
        }
        if let Some(p) = map.get("pattern") {
            match p.as_str() {
                Some(src) => {
                    node.pattern = Some(Box::new(Pattern {
                        source: src.into(),
                        regex: OnceLock::new(),
                    }))
                }
                None => self.issue("\"pattern\" must be a string".to_owned()),
            }
        }
        let num = |k: &str| map.get(k).and_then(Value::as_f64);
        let count = |k: &str| map.get(k).and_then(Value::as_u64);
        let bounds = Bounds {
            minimum: num("minimum"),
            maximum: num("maximum"),
            exclusive_minimum: flag("exclusiveMinimum"),
            exclusive_maximum: flag("exclusiveMaximum"),
            min_length: count("minLength"),
            max_length: count("maxLength"),
            min_items: count("minItems"),
            max_items: count("maxItems"),
            min_properties: count("minProperties"),
            max_properties: count("maxProperties"),
        };
        if bounds.minimum.is_some()
            || bounds.maximum.is_some()
            || bounds.min_length.is_some()
            || bounds.max_length.is_some()
            || bounds.min_items.is_some()
            || bounds.max_items.is_some()
            || bounds.min_properties.is_some()
            || bounds.max_properties.is_some()
        {
            node.bounds = Some(Box::new(bounds));
        }
    }

    fn fill_type(&mut self, node: &mut Node, t: &Value) {
        let mut one = |name: &str, this: &mut Self| match name {
            "object" => node.types |= T_OBJECT,
            "array" => node.types |= T_ARRAY,
            "string" => node.types |= T_STRING,
            "integer" => node.types |= T_INTEGER,
            "number" => node.types |= T_NUMBER,
            "boolean" => node.types |= T_BOOLEAN,
            "null" => node.nullable = true,
            other => this.issue(format!(
                "unknown type {other:?}: expected object, array, string, integer, number or boolean"
            )),
        };
        match t {
            Value::String(s) => one(s, self),
            Value::Array(list) => {
                for s in list {
                    match s.as_str() {
                        Some(s) => one(s, self),
                        None => self.issue("\"type\" must be a string".to_owned()),
                    }
                }
            }
            _ => self.issue("\"type\" must be a string".to_owned()),
        }
    }
}

/// Describes the types of a node for messages: `integer`, `integer or string`, ….
pub(crate) fn describe_types(node: &Node) -> String {
    if node.int_or_string {
        return "integer or string".to_owned();
    }
    if node.quantity {
        return "quantity (a number or a string such as \"500m\" or \"1Gi\")".to_owned();
    }
    let names: Vec<&str> = [
        (T_OBJECT, "object"),
        (T_ARRAY, "array"),
        (T_STRING, "string"),
        (T_INTEGER, "integer"),
        (T_NUMBER, "number"),
        (T_BOOLEAN, "boolean"),
    ]
    .iter()
    .filter(|(bit, _)| node.types & bit != 0)
    .map(|(_, n)| *n)
    .collect();
    match names.len() {
        0 => "any value".to_owned(),
        _ => names.join(" or "),
    }
}
