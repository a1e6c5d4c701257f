//! # nomos-testcluster: an in-memory, Kubernetes-compatible API server
//!
//! **This is a fake.** It stores objects and serves the Kubernetes HTTP API well enough for
//! kubectl 1.32 and kube-rs to work against it, but it runs **no controllers** (nothing creates
//! Pods for a Deployment, no garbage collection by `ownerReferences`, no ServiceAccount or
//! `kube-root-ca.crt` per namespace), **no admission** (no webhooks, no quota, no RBAC: every
//! request is allowed) and **no defaulting or schema validation** (objects are stored as sent;
//! `fieldValidation=Strict` is accepted and ignored). It exists so that the syncer, the monitor
//! and the demo have clusters to talk to, many at once, with faults on demand. kubectl is the
//! referee: `../shared/tools/kubectl-battery.sh URL` must pass against it.
//!
//! ## Ways in
//!
//! ```no_run
//! use nomos_testcluster::{Cluster, Fault};
//! use serde_json::json;
//! # async fn demo() -> Result<(), nomos_testcluster::Error> {
//! let cluster = Cluster::new();
//! // In process: a tower::Service, for `kube::Client::new(cluster.service(), "default")`.
//! let _svc = cluster.service();
//! // Over loopback, for kubectl and for kube-rs through a kubeconfig:
//! let served = cluster.serve("127.0.0.1:0".parse().unwrap()).await?;
//! let _kubeconfig_yaml = served.kubeconfig(); // server: http://127.0.0.1:PORT
//! // Faults:
//! cluster.faults().inject(Fault::error(503).verb("get").resource("configmaps").times(2));
//! cluster.faults().expire_next_watches(1); // the next watch gets 410 Gone
//! cluster.faults().drop_watches();         // cut open watch streams
//! cluster.faults().set_reachable(false);   // connection refused until set_reachable(true)
//! // Drift, written by someone else:
//! cluster.external("kubectl-edit").merge_patch("v1", "ConfigMap", Some("default"), "app",
//!     &json!({"data": {"drifted": "yes"}})).ok();
//! # Ok(()) }
//! ```
//!
//! Many clusters in one process are just many [`Cluster`] values, each with its own store and
//! (if served) its own port. The binary `nomos-testcluster` serves N of them on consecutive ports.
//!
//! ## What it implements
//!
//! * Discovery: `/version`, `/api`, `/api/v1`, `/apis`, `/apis/{g}`, `/apis/{g}/{v}` (legacy
//!   JSON) and aggregated discovery (`apidiscovery.k8s.io/v2` on `/api` and `/apis` when the
//!   `Accept` header asks for it, as kubectl 1.32 and kube-rs `Discovery::run_aggregated` do),
//!   with the common built-in kinds of Kubernetes 1.32 (scope, verbs, short names, categories,
//!   `/status` subresources) and every served version of every CRD, updated the moment a CRD is
//!   created or deleted. CRDs become `Established` at once.
//! * `/openapi/v3` and per-group-version documents holding, per kind, a PATCH operation with
//!   `x-kubernetes-group-version-kind` and the `fieldValidation` parameter: what kubectl's
//!   field-validation probe needs (no schemas). `/openapi/v2` is 404, which kubectl tolerates.
//! * list (label selectors with `=`, `==`, `!=`, `in`, `notin`, exists, `!`; field selectors
//!   `path=value`/`!=` on any field; `limit`/`continue`), get, create (201, `generateName`,
//!   `dryRun=All`), replace (resourceVersion precondition → 409 Conflict), delete (body read:
//!   preconditions, dryRun; finalizers → `deletionTimestamp` and 202, removal when the last
//!   finalizer goes), deletecollection, patch (JSON merge, JSON patch, strategic merge, apply),
//!   watch (newline-delimited JSON events, bookmarks, `sendInitialEvents` with the
//!   `k8s.io/initial-events-end` bookmark, 410 Expired when the resourceVersion is older than
//!   the retained event log, clean close at `timeoutSeconds`), the `/status` subresource.
//! * Metadata: uid, creationTimestamp, one monotonically increasing resourceVersion per cluster,
//!   generation (bumped only by changes outside metadata and status). A write that changes
//!   nothing bumps nothing and emits no event. Namespaces scope their objects; creating in a
//!   missing namespace is 404, in a terminating one 403; deleting a Namespace deletes what it
//!   contains. Deleting a CRD deletes its custom resources.
//! * Server-side apply with `managedFields` (see [`managed`]): per-manager `Apply` and `Update`
//!   entries, conflicts (409 with `FieldManagerConflict` causes) unless `force=true`, removal
//!   of fields a manager applied before and omits now (unless someone else owns them), no-op
//!   re-applies. `managedFields` are writable by clients (`[{}]` clears them).
//! * `Status` bodies with the codes and reasons of the API server; 415 for unsupported media
//!   types (protobuf included); 422 for invalid or missing names.
//! * Faults ([`Fault`], [`Faults`]) and an admin endpoint under `/admin/` (see
//!   [below](crate#admin-endpoint)).
//! * Persistence: [`ClusterConfig::state_file`], [`Cluster::save`], [`Cluster::load`].
//!
//! ## Admin endpoint
//!
//! Never subject to faults: `POST /admin/faults` (`{"code":503,"verb":"get","resource":"configmaps",
//! "times":3}`, or `{"latencyMs":200}`, optional `"fraction":0.5`), `DELETE /admin/faults`,
//! `POST /admin/watches/drop`, `POST /admin/watches/expire?count=N`, `POST /admin/compact`,
//! `POST /admin/unreachable?seconds=S` (back after S seconds), `GET /admin/state`, and
//! `/admin/external/<api path>`: any API request, faults bypassed, to write drift with curl.
//!
//! ## Known fidelity gaps
//!
//! * **Server-side apply treats every list as atomic**: no list-map merging by key
//!   (`containers` by `name`, `ports` by `containerPort`…, `x-kubernetes-list-type: map`), no
//!   set lists. Two managers owning different elements of one list conflict instead. This is
//!   the known next step.
//! * **Strategic merge patch** knows list merge keys only from `$setElementOrder` directives and a
//!   small table (containers, env, volumes, volumeMounts, conditions, ownerReferences,
//!   finalizers…); other built-in lists are replaced as in a JSON merge patch.
//! * Apply patches must be JSON (YAML is not parsed; kubectl and kube-rs send JSON).
//! * `managedFields` entries carry no `.` markers and no `k:`/`v:`/`i:` keys; the conflict
//!   message format follows the API server, but ownership of Update managers is approximate.
//!   Unverified against a real server: whether a CSA-created field conflicts on a later SSA.
//! * No defaulting, no schema validation, no unknown-field rejection (`fieldValidation` is
//!   ignored), no admission, no RBAC, no authentication (any or no token is accepted).
//! * No controllers and no garbage collection: `ownerReferences` and `propagationPolicy` are
//!   stored and ignored; Deployments never get ReplicaSets or status.
//! * Lists always serve the current state (`resourceVersion`/`resourceVersionMatch` on a list
//!   are ignored); `continue` tokens resume after the last key, not from a snapshot.
//! * Multi-version CRDs: objects are stored once and only `apiVersion` is rewritten (the `None`
//!   conversion strategy); no conversion webhooks.
//! * No `/scale` subresource, no `pods/log`, `exec`, `portforward`, `proxy`, no
//!   `authorization.k8s.io` reviews (`kubectl auth can-i` fails); no Table output (kubectl
//!   prints client-side); no protobuf (kubectl generators such as `kubectl create configmap`
//!   without `--dry-run=client`, `kubectl scale` and `kubectl rollout` fail with 415).
//! * OpenAPI documents carry no schemas: `kubectl explain` finds nothing, and client-side
//!   `kubectl apply` computes its patches without OpenAPI (from compiled-in types for built-ins,
//!   as a JSON merge patch for custom resources).
//! * Namespace deletion is synchronous (no lingering `Terminating` phase unless finalizers hold
//!   objects in it); a CRD deletion removes its custom resources even if they have finalizers.
//! * Name validation is by kind family (RFC 1123 subdomain, label for namespaces, path segment
//!   for RBAC); label keys and values are not validated.

mod api;
pub mod body;
pub mod clock;
mod cluster;
pub mod discovery;
pub mod faults;
pub mod kubeconfig;
pub mod managed;
pub mod meta;
pub mod patch;
pub mod resources;
mod router;
mod server;
mod service;
pub mod status;
pub mod store;
mod watch;

pub use body::Body;
pub use clock::{Clock, ManualClock, SystemClock};
pub use cluster::{Cluster, ClusterConfig, ExternalActor};
pub use faults::{Fault, FaultAction, Faults};
pub use kubeconfig::kubeconfig;
pub use server::ServeHandle;
pub use service::{ClusterService, ServiceError};
pub use status::ApiError;

/// Errors of the library's own operations (serving, persistence, external writes).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A socket or file operation failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// A state file could not be read.
    #[error("invalid state file: {0}")]
    Snapshot(String),
    /// The API refused a write.
    #[error("api: {0}")]
    Api(#[from] ApiError),
}
