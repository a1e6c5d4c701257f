//! Kubernetes `Status` bodies: the errors both kubectl and kube-rs parse.

use serde_json::{Value, json};

/// One entry of `details.causes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    /// A machine-readable reason, e.g. `FieldValueInvalid` or `FieldManagerConflict`.
    pub reason: String,
    /// The human-readable message.
    pub message: String,
    /// The field path, e.g. `metadata.name` or `.data.a`.
    pub field: String,
}

/// An API error, rendered as a `Status` with the given HTTP code.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status code (also `Status.code`).
    pub code: u16,
    /// `Status.reason`, e.g. `NotFound`.
    pub reason: &'static str,
    /// `Status.message`.
    pub message: String,
    /// `Status.details` (name, group, kind, causes, retryAfterSeconds), if any.
    pub details: Option<Value>,
}

/// What a [`ApiError`] is about: the resource (plural), its group and the object name.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// API group, empty for the core group.
    pub group: &'a str,
    /// Plural resource name, e.g. `configmaps`.
    pub resource: &'a str,
    /// Object name (may be empty).
    pub name: &'a str,
}

impl Subject<'_> {
    /// `configmaps` or `deployments.apps`, as Kubernetes writes resources in messages.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.resource.to_string()
        } else {
            format!("{}.{}", self.resource, self.group)
        }
    }

    fn details(&self) -> Value {
        let mut d = json!({"name": self.name, "kind": self.resource});
        if !self.group.is_empty() {
            d["group"] = json!(self.group);
        }
        d
    }
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    /// 404 NotFound for an object.
    pub fn not_found(s: Subject<'_>) -> Self {
        Self {
            details: Some(s.details()),
            ..Self::new(
                404,
                "NotFound",
                format!("{} \"{}\" not found", s.qualified(), s.name),
            )
        }
    }

    /// 404 NotFound for a path the server does not serve.
    pub fn path_not_found(path: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("the server could not find the requested resource ({path})"),
        )
    }

    /// 409 AlreadyExists on create.
    pub fn already_exists(s: Subject<'_>) -> Self {
        Self {
            details: Some(s.details()),
            ..Self::new(
                409,
                "AlreadyExists",
                format!("{} \"{}\" already exists", s.qualified(), s.name),
            )
        }
    }

    /// 409 Conflict for a stale resourceVersion.
    pub fn conflict(s: Subject<'_>) -> Self {
        Self::conflict_msg(
            s,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// 409 Conflict with a custom explanation.
    pub fn conflict_msg(s: Subject<'_>, why: &str) -> Self {
        Self {
            details: Some(s.details()),
            ..Self::new(
                409,
                "Conflict",
                format!(
                    "Operation cannot be fulfilled on {} \"{}\": {why}",
                    s.qualified(),
                    s.name
                ),
            )
        }
    }

    /// 409 Conflict for server-side apply field-manager conflicts.
    pub fn apply_conflicts(s: Subject<'_>, causes: Vec<Cause>) -> Self {
        let n = causes.len();
        let lines: Vec<String> = causes
            .iter()
            .map(|c| format!("{}: {}", c.message, c.field))
            .collect();
        let message = if n == 1 {
            format!("Apply failed with 1 conflict: {}", lines[0])
        } else {
            format!("Apply failed with {n} conflicts: {}", lines.join("\n"))
        };
        let mut details = s.details();
        details["causes"] = causes_json(&causes);
        Self {
            details: Some(details),
            ..Self::new(409, "Conflict", message)
        }
    }

    /// 422 Invalid with field causes; `kind` is the object's Kind.
    pub fn invalid(kind: &str, s: Subject<'_>, causes: Vec<Cause>) -> Self {
        let msgs: Vec<String> = causes
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect();
        let joined = if msgs.len() == 1 {
            msgs[0].clone()
        } else {
            format!("[{}]", msgs.join(", "))
        };
        let mut details = json!({"name": s.name, "kind": kind, "causes": causes_json(&causes)});
        if !s.group.is_empty() {
            details["group"] = json!(s.group);
        }
        Self {
            details: Some(details),
            ..Self::new(
                422,
                "Invalid",
                format!("{kind} \"{}\" is invalid: {joined}", s.name),
            )
        }
    }

    /// 400 BadRequest.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// 403 Forbidden.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, "Forbidden", message)
    }

    /// 405 MethodNotAllowed.
    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(405, "MethodNotAllowed", message)
    }

    /// 415 UnsupportedMediaType.
    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/merge-patch+json, application/json-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml (got {content_type:?})"
            ),
        )
    }

    /// 410 Expired: the requested resourceVersion is older than the retained history.
    pub fn expired(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    /// 500 InternalError.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalError", message)
    }

    /// An injected fault with the given code (500, 503, 429, 409, or any other).
    pub fn injected(code: u16) -> Self {
        match code {
            409 => Self::new(409, "Conflict", "injected fault: conflict"),
            429 => Self {
                details: Some(json!({"retryAfterSeconds": 1})),
                ..Self::new(
                    429,
                    "TooManyRequests",
                    "injected fault: too many requests, please try again later",
                )
            },
            503 => Self::new(
                503,
                "ServiceUnavailable",
                "injected fault: the server is currently unable to handle the request",
            ),
            410 => Self::expired("injected fault: too old resource version"),
            404 => Self::new(404, "NotFound", "injected fault: not found"),
            _ => Self::new(
                code,
                "InternalError",
                "injected fault: an error on the server (\"injected\") has prevented the request from succeeding",
            ),
        }
    }

    /// The `Status` object.
    pub fn to_status(&self) -> Value {
        let mut v = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(d) = &self.details {
            v["details"] = d.clone();
        }
        v
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.code, self.reason, self.message)
    }
}

impl std::error::Error for ApiError {}

fn causes_json(causes: &[Cause]) -> Value {
    Value::Array(
        causes
            .iter()
            .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
            .collect(),
    )
}

/// A `Status` of success, as returned by some deletes.
pub fn success_status(s: Subject<'_>, uid: &str) -> Value {
    let mut details = s.details();
    details["uid"] = json!(uid);
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_body() {
        let e = ApiError::not_found(Subject {
            group: "",
            resource: "configmaps",
            name: "cm1",
        });
        let s = e.to_status();
        assert_eq!(s["message"], "configmaps \"cm1\" not found");
        assert_eq!(s["code"], 404);
        assert_eq!(s["details"]["kind"], "configmaps");
        let e = ApiError::not_found(Subject {
            group: "apps",
            resource: "deployments",
            name: "d",
        });
        assert_eq!(e.message, "deployments.apps \"d\" not found");
        assert_eq!(e.to_status()["details"]["group"], "apps");
    }

    #[test]
    fn apply_conflict_body() {
        let e = ApiError::apply_conflicts(
            Subject {
                group: "",
                resource: "configmaps",
                name: "c",
            },
            vec![Cause {
                reason: "FieldManagerConflict".into(),
                message: "conflict with \"a\" using v1".into(),
                field: ".data.x".into(),
            }],
        );
        assert_eq!(e.code, 409);
        assert_eq!(e.reason, "Conflict");
        assert_eq!(
            e.message,
            "Apply failed with 1 conflict: conflict with \"a\" using v1: .data.x"
        );
        assert_eq!(
            e.to_status()["details"]["causes"][0]["reason"],
            "FieldManagerConflict"
        );
    }
}
