//! Diagnostics: KNV-coded errors and warnings, rendered exactly as Config Sync prints them.
//!
//! A [`Diagnostic`] carries its code, a message body, the resources it is about and where they
//! were declared. [`render`] formats a set of them as `nomos vet` prints them:
//! `N error(s)`, then each error numbered, de-duplicated and sorted by text.

use std::fmt;

use serde::Serialize;

use crate::object::{Gvk, Object, Origin};
use crate::yaml::Pos;

/// A Config Sync error code (the number after `KNV`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Code(pub u16);

macro_rules! codes {
    ($($name:ident = $n:expr, $doc:expr;)*) => {
        impl Code {
            $(#[doc = $doc] pub const $name: Code = Code($n);)*
        }
    };
}

codes! {
    ILLEGAL_NAMESPACE_SUBDIRECTORY = 1003, "A Namespace directory has a subdirectory.";
    ILLEGAL_SELECTOR_ANNOTATION = 1004, "A selector annotation where it is not allowed.";
    ILLEGAL_MANAGEMENT_ANNOTATION = 1005, "`configmanagement.gke.io/managed` with a value other than `disabled`.";
    OBJECT_PARSE = 1006, "An object does not match its schema.";
    ILLEGAL_ABSTRACT_NAMESPACE_OBJECT_KIND = 1007, "A kind with hierarchyMode `none` in an abstract namespace.";
    ILLEGAL_METADATA_NAMESPACE = 1009, "`metadata.namespace` does not match the directory.";
    ILLEGAL_ANNOTATION = 1010, "A reserved annotation declared in source.";
    ILLEGAL_LABEL = 1011, "A reserved label declared in source.";
    UNKNOWN_SELECTOR = 1013, "A selector annotation names no declared selector.";
    INVALID_SELECTOR = 1014, "A selector is invalid or empty.";
    MISSING_REPO = 1017, "`system/` declares no Repo.";
    ILLEGAL_TOP_LEVEL_NAMESPACE = 1019, "A Namespace directly in `namespaces/`.";
    INVALID_NAMESPACE_NAME = 1020, "A Namespace name differs from its directory.";
    UNKNOWN_KIND = 1021, "No CRD or API resource is known for the kind.";
    UNSUPPORTED_REPO_VERSION = 1027, "Repo `spec.version` is not supported.";
    NAME_COLLISION = 1029, "Two objects with the same identity.";
    MISSING_OBJECT_NAME = 1031, "`metadata.name` is empty.";
    ILLEGAL_HIERARCHICAL_KIND = 1032, "Repo or HierarchyConfig in an unstructured repository.";
    ILLEGAL_NAMESPACE = 1034, "The `config-management-system` Namespace is declared.";
    INVALID_METADATA_NAME = 1036, "`metadata.name` is not a valid name.";
    ILLEGAL_KIND_IN_NAMESPACES = 1038, "A NamespaceSelector in a Namespace directory.";
    INCORRECT_TOP_LEVEL_DIRECTORY = 1039, "An object in the wrong top-level directory.";
    UNSUPPORTED_RESOURCE_IN_HIERARCHY_CONFIG = 1041, "HierarchyConfig names an unsupported resource.";
    ILLEGAL_HIERARCHY_MODE = 1042, "An invalid hierarchyMode.";
    UNSUPPORTED_OBJECT = 1043, "A kind that may not be declared.";
    UNSYNCABLE_RESOURCES = 1044, "An abstract directory with objects but no Namespace below.";
    ILLEGAL_FIELDS = 1045, "A field that must not be declared in source.";
    CLUSTER_SCOPED_RESOURCE_IN_HIERARCHY_CONFIG = 1046, "HierarchyConfig names a cluster-scoped kind.";
    UNSUPPORTED_CRD_REMOVAL = 1047, "A CRD removed while its custom resources remain.";
    INVALID_CRD_NAME = 1048, "A CRD name is not `<plural>.<group>`.";
    DEPRECATED_GROUP_KIND = 1050, "A deprecated group and kind.";
    ILLEGAL_NAMESPACE_ON_CLUSTER_SCOPED = 1052, "A cluster-scoped object declares a namespace.";
    MISSING_NAMESPACE_ON_NAMESPACED = 1053, "A namespaced object has both a namespace and a namespace selector.";
    INVALID_ANNOTATION_VALUE = 1054, "A non-string annotation or label value.";
    INVALID_NAMESPACE = 1055, "A namespace that is not a valid DNS-1123 label.";
    MANAGED_RESOURCE_IN_UNMANAGED_NAMESPACE = 1056, "A managed object in an unmanaged Namespace.";
    ILLEGAL_DEPTH_LABEL = 1057, "A user label ending in `.tree.hnc.x-k8s.io/depth`.";
    BAD_SCOPE = 1058, "A namespace repository declares an object outside its namespace.";
    MANAGEMENT_CONFLICT = 1060, "An object managed by another reconciler.";
    INVALID_SYNC = 1061, "An invalid RootSync or RepoSync spec (source settings or credentials).";
    INVALID_API_RESOURCES = 1064, "A malformed `api-resources.txt`.";
    MALFORMED_CRD = 1065, "A CustomResourceDefinition that cannot be parsed.";
    CLUSTER_SELECTOR_ANNOTATION_CONFLICT = 1066, "Both cluster-selector annotations.";
    SELF_RECONCILE = 1069, "A RootSync or RepoSync that configures its own reconciler.";
    MAX_OBJECT_COUNT = 1070, "More objects than `--threshold`.";
    PATH = 2001, "A file could not be read or parsed.";
    SOURCE = 2004, "The source could not be fetched.";
    FIGHT = 2005, "Excessive updates: a fight with another controller.";
    EMPTY_SOURCE = 2006, "A commit would delete every Namespace.";
    APPLIER = 2009, "Apply or prune failed.";
    RESOURCE = 2010, "A generic error about a resource.";
    MULTIPLE_SINGLETONS = 2012, "More than one Repo, or more than one Namespace in a directory.";
    INTERNAL = 9998, "An internal error (a bug).";
}

impl Code {
    /// `KNV1009`.
    pub fn knv(self) -> String {
        format!("KNV{}", self.0)
    }

    /// Errors of these codes do not stop the pipeline (Config Sync: 1021 and 1067).
    pub fn is_blocking(self) -> bool {
        !matches!(self.0, 1021 | 1067)
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KNV{}", self.0)
    }
}

/// Error (fails `vet`) or warning (printed, does not fail).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// A resource an error is about, as printed in the error's resource block.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Default)]
pub struct ResourceRef {
    /// The `source:` line: the source path (prefix + file), empty when unknown.
    pub source: String,
    pub namespace: String,
    pub name: String,
    pub group: String,
    pub version: String,
    pub kind: String,
    /// File relative to the policy directory, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Position of the object (or of the offending field) in `file`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pos: Option<Pos>,
}

impl ResourceRef {
    /// Describe `object`; `source_prefix` is prepended to its file path for the `source:` line.
    pub fn of(object: &Object, source_prefix: &str) -> ResourceRef {
        let gvk: Gvk = object.gvk();
        ResourceRef {
            source: join_source(source_prefix, &object.origin.file),
            namespace: object.namespace().to_string(),
            name: object.name().to_string(),
            group: gvk.group,
            version: gvk.version,
            kind: gvk.kind,
            file: Some(object.origin.file.to_string()),
            pos: Some(object.origin.pos),
        }
    }

    /// `Kind/name` or `Kind/namespace/name`, as status objects name the object of an error.
    pub fn kind_and_name(&self) -> String {
        if self.namespace.is_empty() {
            format!("{}/{}", self.kind, self.name)
        } else {
            format!("{}/{}/{}", self.kind, self.namespace, self.name)
        }
    }

    /// Same object, pointing at a more precise position in its file.
    pub fn at(mut self, pos: Pos) -> ResourceRef {
        self.pos = Some(pos);
        self
    }

    fn block(&self) -> String {
        let mut s = String::new();
        if !self.source.is_empty() {
            s.push_str("source: ");
            s.push_str(&self.source);
            s.push('\n');
        }
        if !self.namespace.is_empty() {
            s.push_str("namespace: ");
            s.push_str(&self.namespace);
            s.push('\n');
        }
        push_field(&mut s, "metadata.name:", &self.name);
        push_field(&mut s, "group:", &self.group);
        push_field(&mut s, "version:", &self.version);
        s.push_str("kind:");
        if !self.kind.is_empty() {
            s.push(' ');
            s.push_str(&self.kind);
        }
        s
    }
}

fn push_field(s: &mut String, label: &str, value: &str) {
    s.push_str(label);
    if !value.is_empty() {
        s.push(' ');
        s.push_str(value);
    }
    s.push('\n');
}

/// Join a source prefix and a relative file path with `/`.
pub fn join_source(prefix: &str, file: &str) -> String {
    if prefix.is_empty() {
        file.to_string()
    } else if prefix.ends_with('/') {
        format!("{prefix}{file}")
    } else {
        format!("{prefix}/{file}")
    }
}

/// One KNV error or warning.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    /// The message body, without the code prefix and without resource blocks.
    pub message: String,
    /// Resources the error is about (printed as blocks).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<ResourceRef>,
    /// Paths the error is about (printed as `path: <p>` lines), for path errors.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    /// The file and position most relevant to a person fixing it (first resource or path).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pos: Option<Pos>,
}

/// The documentation link Config Sync prints after every error.
pub const ERRORS_URL: &str = "https://g.co/cloud/acm-errors";

impl Diagnostic {
    /// An error with a message and no resources.
    pub fn new(code: Code, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            code,
            severity: Severity::Error,
            message: message.into(),
            resources: Vec::new(),
            paths: Vec::new(),
            file: None,
            pos: None,
        }
    }

    /// An error about objects.
    pub fn resource(
        code: Code,
        message: impl Into<String>,
        objects: &[&Object],
        source_prefix: &str,
    ) -> Diagnostic {
        let mut d = Diagnostic::new(code, message);
        for o in objects {
            d = d.with_resource(ResourceRef::of(o, source_prefix));
        }
        d
    }

    /// An error about a path (file or directory, relative to the policy directory).
    pub fn path(
        code: Code,
        message: impl Into<String>,
        path: &str,
        pos: Option<Pos>,
    ) -> Diagnostic {
        let mut d = Diagnostic::new(code, message);
        d.paths.push(path.to_string());
        d.file = Some(path.to_string());
        d.pos = pos;
        d
    }

    pub fn with_resource(mut self, r: ResourceRef) -> Diagnostic {
        if self.file.is_none() {
            self.file = r.file.clone();
            self.pos = r.pos;
        }
        self.resources.push(r);
        self
    }

    pub fn warning(mut self) -> Diagnostic {
        self.severity = Severity::Warning;
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The error's body as Config Sync prints it: message, then resource blocks or path lines.
    pub fn body(&self) -> String {
        let mut out = self.message.clone();
        if !self.resources.is_empty() {
            let mut blocks: Vec<String> = self.resources.iter().map(ResourceRef::block).collect();
            blocks.sort();
            out.push_str("\n\n");
            out.push_str(&blocks.join("\n\n"));
        }
        if !self.paths.is_empty() {
            out.push_str("\n\n");
            let lines: Vec<String> = self.paths.iter().map(|p| format!("path: {p}")).collect();
            out.push_str(&lines.join("\n"));
        }
        out
    }
}

impl fmt::Display for Diagnostic {
    /// `KNV1009: <body>\n\nFor more information, see https://g.co/cloud/acm-errors#knv1009`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}\n\nFor more information, see {}#knv{}",
            self.code,
            self.body(),
            ERRORS_URL,
            self.code.0
        )
    }
}

/// Render errors as `N error(s)` followed by each numbered error, de-duplicated and sorted by text,
/// exactly as Config Sync's multi-error does. Returns the empty string for no errors.
pub fn render(diagnostics: &[Diagnostic]) -> String {
    let texts = sorted_texts(diagnostics);
    if texts.is_empty() {
        return String::new();
    }
    let mut out = format!("{} error(s)\n", texts.len());
    for (i, t) in texts.iter().enumerate() {
        out.push_str(&format!("\n\n[{}] {}\n", i + 1, t));
    }
    out
}

/// The distinct error texts, sorted.
pub fn sorted_texts(diagnostics: &[Diagnostic]) -> Vec<String> {
    let mut texts: Vec<String> = diagnostics.iter().map(|d| d.to_string()).collect();
    texts.sort();
    texts.dedup();
    texts
}

/// Keep one of each identical diagnostic (same text), ordered by text.
pub fn dedup_sorted(mut diagnostics: Vec<Diagnostic>) -> Vec<Diagnostic> {
    let mut keyed: Vec<(String, Diagnostic)> =
        diagnostics.drain(..).map(|d| (d.to_string(), d)).collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    keyed.dedup_by(|a, b| a.0 == b.0);
    keyed.into_iter().map(|(_, d)| d).collect()
}

impl Origin {
    /// A resource block for an object that failed before it could be fully read.
    pub fn resource_ref(&self, source_prefix: &str) -> ResourceRef {
        ResourceRef {
            source: join_source(source_prefix, &self.file),
            file: Some(self.file.to_string()),
            pos: Some(self.pos),
            ..ResourceRef::default()
        }
    }
}

impl Serialize for Pos {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Pos", 2)?;
        st.serialize_field("line", &self.line)?;
        st.serialize_field("column", &self.column)?;
        st.end()
    }
}
