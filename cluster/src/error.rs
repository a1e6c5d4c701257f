//! Typed errors of the adapter.

use crate::retry::{Classify, Retry, classify};

/// Errors of cluster operations.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The kubeconfig could not be read or did not describe a usable cluster.
    #[error("kubeconfig: {0}")]
    Kubeconfig(#[from] kube::config::KubeconfigError),
    /// Not running in a pod, or the pod's service account could not be read.
    #[error(
        "no in-cluster configuration (run inside a pod with a service account, or pass --kubeconfig)"
    )]
    InCluster(#[from] kube::config::InClusterError),
    /// The API server (or the transport to it) failed.
    #[error("{}", describe(.0))]
    Kube(#[from] kube::Error),
    /// The cluster does not serve this group/version/kind (a missing CRD, a typo, an old server).
    #[error("no resource type for {gvk} on the cluster (is its CustomResourceDefinition applied?)")]
    UnknownKind { gvk: String },
    /// The object is not a Kubernetes object (no apiVersion, kind or name).
    #[error("invalid object: {0}")]
    InvalidObject(String),
    /// A bug in nomos (a task panicked): the operation's outcome is unknown.
    #[error("internal error (a bug in nomos-rs, please report it): {0}")]
    Internal(String),
    /// A response or request body could not be (de)serialized.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
}

impl Error {
    /// The HTTP status of an API error, if this is one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Kube(kube::Error::Api(s)) => Some(s.code),
            _ => None,
        }
    }
}

impl Classify for Error {
    fn retry(&self) -> Retry {
        match self {
            Error::Kube(e) => classify(e),
            _ => Retry::Never,
        }
    }
}

/// A short, human-readable rendering of a kube error (the API's own message for API errors,
/// instead of kube's `ApiError: … (Status { … })` debug dump).
pub fn describe(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) if !s.message.is_empty() => {
            if s.reason.is_empty() {
                format!("{} (HTTP {})", s.message, s.code)
            } else {
                format!("{}: {} (HTTP {})", s.reason, s.message, s.code)
            }
        }
        other => other.to_string(),
    }
}

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;
