//! The snapshot service: per-cluster desired state over HTTP, for syncers running apart from
//! the importer (`nomos-syncer --source http://importer:port`).
//!
//! One importer fetches and parses each commit once and builds desired state once per distinct
//! cluster name; any number of syncers long-poll the state of their own cluster.
//!
//! # Endpoints
//!
//! | request | answer |
//! |---|---|
//! | `GET /v1/clusters/{cluster}/snapshot[?wait=30s]` | `200` + a [`ClusterSnapshot`] (JSON) with an `ETag`, or `304` (see below) |
//! | `GET /v1/status` | `200` + a [`ServiceStatus`] (JSON): commit, clusters built, import errors |
//! | `POST /webhook` | a Git host's push notification: triggers a fetch at once (see [`crate::webhook`]) |
//! | `GET /healthz` | `200` while the process serves |
//! | `GET /readyz` | `200` once a first snapshot was published, `503` before |
//!
//! `{cluster}` is the cluster name used by cluster selectors: ASCII letters, digits, `.`, `_` and
//! `-`, at most 253 characters; the empty name (`/v1/clusters//snapshot`) is the unnamed
//! cluster. A name the importer does not build yet is added to the set it builds for and a fetch
//! is triggered; until that import is done the answer carries `"state": null`.
//!
//! # Caching and long polls
//!
//! The `ETag` (a quoted lowercase hex SHA-256) covers everything in the answer: the cluster's
//! desired-state hash, the commit it comes from, and the errors of the latest import attempt.
//! It changes exactly when the answer would. A request with `If-None-Match: <etag>`:
//!
//! * without `wait` (or `wait=0`) gets `304 Not Modified` at once when nothing changed;
//! * with `wait=D` (`500ms`, `30s`, `2m`, or plain seconds; capped by
//!   [`ServeConfig::max_wait`]) is held until the cluster's answer changes (then `200`) or `D`
//!   has passed (then `304`). Every new commit wakes it (the answer names the commit, which
//!   the syncer reports as synced), and so do new import errors; building another cluster or
//!   re-importing the same commit does not.
//!
//! # Deltas
//!
//! A syncer that holds a state of the cluster names it with `?base=<desired-state hash>`. If
//! that state is one of the last few the importer published for the cluster
//! ([`DELTA_BASES`]), the answer's `state` carries only the objects that are not in the base,
//! with a `delta` saying how to interleave them with the base's objects:
//!
//! ```json
//! "state": {
//!   "commit": "…",
//!   "desired": {"cluster": "…", "sync": {…}, "source": {…}, "objects": [{…one changed object…}], "hash": "9a0b…"},
//!   "delta": {"base": "77c1…", "runs": [{"base": [0, 6951]}, {"new": 1}, {"base": [6952, 3058]}]}
//! }
//! ```
//!
//! Runs are read in order: `{"base": [from, len]}` takes `len` objects of the base state from
//! index `from`, `{"new": n}` the next `n` objects of `desired.objects`. The result is the full
//! state, which the syncer verifies like any other (every object against its hash, the objects
//! against the state's `hash`), so a wrong delta can only be refused, never applied. A base
//! the importer no longer knows, or a change to more than half of the objects, gets the full
//! state. A commit changing one object of 10,000 thus sends one object instead of ~7 MB.
//!
//! # The snapshot document (`application/json`)
//!
//! ```json
//! {
//!   "apiVersion": "nomos.dev/v1",
//!   "cluster": "prod-east",
//!   "format": "hierarchy",
//!   "etag": "5f1c…",
//!   "state": {
//!     "commit": "2f4e…",
//!     "desired": {
//!       "cluster": "prod-east",
//!       "sync": {"kind": "RootSync", "name": "root-sync", "namespace": "config-management-system"},
//!       "source": {"repo": "https://git.example.com/policy", "branch": "main", "revision": "", "commit": "2f4e…", "dir": "config"},
//!       "objects": [
//!         {"id": {"group": "", "kind": "Namespace", "namespace": "", "name": "shop"},
//!          "gvk": {"group": "", "version": "v1", "kind": "Namespace"},
//!          "manifest": {"apiVersion": "v1", "kind": "Namespace", "metadata": {…}},
//!          "managed": true, "source_path": "config/namespaces/shop/ns.yaml", "hash": "c3d4…"}
//!       ],
//!       "hash": "9a0b…"
//!     },
//!     "warnings": [{"code": "KNV1021", "message": "…", "object": "ConfigMap/shop/app"}]
//!   },
//!   "import": {"commit": "7b7b…", "errors": [{"code": "KNV1036", "message": "…", "paths": ["config/bad.yaml"]}]}
//! }
//! ```
//!
//! * `state` is the **last good** state of the cluster, or `null` while none exists (no commit
//!   imported yet, or the cluster was just added). `desired` is `nomos_core`'s
//!   [`DesiredState`] in its serde form: objects fully stamped, in apply order, each `hash` the
//!   SHA-256 of the manifest's canonical JSON, the state's `hash` the SHA-256 over the objects'
//!   hashes in order (optional per-object fields such as `mutation_ignore` and `depends_on`
//!   appear when set). A syncer applies it as is.
//! * `import` is the **latest import attempt**: its commit (`null` when fetching failed before a
//!   commit was known) and its errors (empty when it was published). Non-empty errors mean the
//!   newest commit could not be used: a syncer reports them and keeps `state` in force; nothing is
//!   pruned because of them.
//! * `warnings` are non-blocking errors (KNV1021…) of the commit `state` comes from.
//! * `format` and `desired.sync` tell how the objects were parsed and stamped: a syncer refuses a
//!   state stamped for another RootSync/RepoSync or format than its own
//!   ([`ClusterSnapshot::verified_state`]).
//!
//! Diagnostics carry `code` (`KNVnnnn`), `message`, and optionally `object`
//! (`Kind/name` or `Kind/namespace/name`) and `paths`.

use nomos_daemon::stopped;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode, header};
use nomos_core::desired::{DesiredObject, DesiredState, SyncIdentity, SyncKind};
use nomos_core::diag::ResourceRef;
use nomos_core::{Diagnostic, SourceFormat};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use crate::webhook::{self, WebhookConfig};
use crate::{ImportOutcome, Sleeper, Snapshot};

/// The `apiVersion` of [`ClusterSnapshot`] documents.
pub const API_VERSION: &str = "nomos.dev/v1";

/// Longest cluster name accepted in a path.
pub const MAX_CLUSTER_NAME: usize = 253;

/// The snapshot of one cluster, as served (see the module documentation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSnapshot {
    pub api_version: String,
    pub cluster: String,
    /// `hierarchy` or `unstructured`.
    pub format: String,
    /// The `ETag` of this answer, without quotes.
    pub etag: String,
    /// The last good desired state of the cluster, if any.
    pub state: Option<WireState>,
    /// The latest import attempt.
    pub import: ImportStatus,
}

/// A cluster's desired state at one commit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireState {
    pub commit: String,
    /// `nomos_core`'s desired state, as its serde form (with `delta`: only the new objects).
    pub desired: Arc<DesiredState>,
    /// Non-blocking errors of the commit.
    #[serde(default)]
    pub warnings: Vec<WireDiagnostic>,
    /// How to rebuild the objects from a state the syncer holds (see the module documentation);
    /// resolved by [`ClusterSnapshot::resolve_delta`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta: Option<WireDelta>,
}

/// The objects of a state as runs of a base state's objects and new ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireDelta {
    /// The desired-state hash of the base.
    pub base: String,
    pub runs: Vec<DeltaRun>,
}

/// One run of a [`WireDelta`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeltaRun {
    /// `len` objects of the base, from index `from`.
    Base(usize, usize),
    /// The next `n` objects of the answer's `desired.objects`.
    New(usize),
}

/// How many recent states per cluster can serve as a delta's base.
pub const DELTA_BASES: usize = 4;

/// A published state of one cluster as a delta base: its hash and the first 16 bytes of each
/// object's hash, in order (about 16 bytes per object instead of the object).
#[derive(Debug, PartialEq, Eq)]
pub struct StateIndex {
    pub hash: String,
    pub objects: Vec<u128>,
}

impl StateIndex {
    pub fn of(d: &DesiredState) -> StateIndex {
        StateIndex {
            hash: d.hash.clone(),
            objects: d.objects.iter().map(|o| short_hash(&o.hash)).collect(),
        }
    }
}

/// The first 16 bytes of a hex SHA-256 (0 for anything else: such an object is then sent).
fn short_hash(hex: &str) -> u128 {
    hex.get(..32)
        .and_then(|h| u128::from_str_radix(h, 16).ok())
        .unwrap_or(0)
}

/// `d` as a delta from `base`: the objects not in the base and the runs; `None` when more than
/// half of the objects would be sent anyway.
fn delta(d: &DesiredState, base: &StateIndex) -> Option<(Vec<DesiredObject>, WireDelta)> {
    let at: HashMap<u128, usize> = base
        .objects
        .iter()
        .enumerate()
        .filter(|(_, h)| **h != 0)
        .map(|(i, h)| (*h, i))
        .collect();
    let mut runs: Vec<DeltaRun> = Vec::new();
    let mut fresh = Vec::new();
    for o in &d.objects {
        let h = short_hash(&o.hash);
        match at.get(&h).filter(|_| h != 0) {
            Some(&i) => match runs.last_mut() {
                Some(DeltaRun::Base(from, len)) if *from + *len == i => *len += 1,
                _ => runs.push(DeltaRun::Base(i, 1)),
            },
            None => {
                fresh.push(o.clone());
                match runs.last_mut() {
                    Some(DeltaRun::New(n)) => *n += 1,
                    _ => runs.push(DeltaRun::New(1)),
                }
            }
        }
    }
    (fresh.len() * 2 <= d.objects.len()).then(|| {
        (
            fresh,
            WireDelta {
                base: base.hash.clone(),
                runs,
            },
        )
    })
}

/// The latest import attempt.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ImportStatus {
    /// The commit attempted (`None`: fetching failed before a commit was known).
    pub commit: Option<String>,
    /// Why it could not be used (empty: it was published).
    #[serde(default)]
    pub errors: Vec<WireDiagnostic>,
}

/// A KNV error or warning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireDiagnostic {
    /// `KNV2004`, …
    pub code: String,
    pub message: String,
    /// `Kind/name` or `Kind/namespace/name` of the object concerned, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
}

impl WireDiagnostic {
    pub fn from_diagnostic(d: &Diagnostic) -> WireDiagnostic {
        let object = d.resources.first().map(ResourceRef::kind_and_name);
        WireDiagnostic {
            code: d.code.knv(),
            message: d.message.clone(),
            object,
            paths: d.paths.clone(),
        }
    }
}

/// Why a received [`ClusterSnapshot`] cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error(
        "unsupported snapshot apiVersion {0:?} (expected {API_VERSION:?}); upgrade the older of importer and syncer"
    )]
    ApiVersion(String),
    #[error("the snapshot has no desired state yet")]
    NoState,
    #[error(
        "the importer stamps objects for {theirs}, this syncer is {ours}: give both the same RootSync/RepoSync"
    )]
    Sync { theirs: String, ours: String },
    #[error(
        "the importer parses the repository as {theirs}, this syncer is set to {ours}: give both the same --source-format"
    )]
    Format { theirs: String, ours: String },
    #[error(
        "the snapshot for cluster {cluster:?} is inconsistent: object {object} does not match its hash"
    )]
    ObjectHash { cluster: String, object: String },
    #[error(
        "the snapshot for cluster {cluster:?} is inconsistent: its objects hash to {computed}, not {declared}"
    )]
    Hash {
        cluster: String,
        declared: String,
        computed: String,
    },
    #[error(
        "the snapshot for cluster {cluster:?} is a delta from state {base}, which this syncer does not hold (it will ask for the whole state)"
    )]
    DeltaBase { cluster: String, base: String },
    #[error(
        "the snapshot for cluster {cluster:?} is a delta that does not fit its base or its objects (it will ask for the whole state)"
    )]
    DeltaRuns { cluster: String },
}

fn sync_name(s: &SyncIdentity) -> String {
    let kind = match s.kind {
        SyncKind::RootSync => "RootSync",
        SyncKind::RepoSync => "RepoSync",
    };
    format!("{kind} {}/{}", s.namespace, s.name)
}

impl ClusterSnapshot {
    /// Turn a delta answer into the full state, taking the unchanged objects from `base` (the
    /// state the request named). Answers without a delta are left as they are. Verify the
    /// result with [`ClusterSnapshot::verified_state`].
    pub fn resolve_delta(&mut self, base: Option<&DesiredState>) -> Result<(), DecodeError> {
        let cluster = self.cluster.clone();
        let Some(state) = self.state.as_mut() else {
            return Ok(());
        };
        let Some(delta) = state.delta.take() else {
            return Ok(());
        };
        let base = base
            .filter(|b| b.hash == delta.base)
            .ok_or_else(|| DecodeError::DeltaBase {
                cluster: cluster.clone(),
                base: delta.base.clone(),
            })?;
        let bad = || DecodeError::DeltaRuns {
            cluster: cluster.clone(),
        };
        let desired = Arc::make_mut(&mut state.desired);
        let mut fresh = std::mem::take(&mut desired.objects).into_iter();
        let mut objects = Vec::with_capacity(base.objects.len() + fresh.len());
        for run in &delta.runs {
            match *run {
                DeltaRun::Base(from, len) => {
                    let end = from.checked_add(len).ok_or_else(bad)?;
                    objects.extend_from_slice(base.objects.get(from..end).ok_or_else(bad)?);
                }
                DeltaRun::New(n) => {
                    for _ in 0..n {
                        objects.push(fresh.next().ok_or_else(bad)?);
                    }
                }
            }
        }
        if fresh.next().is_some() {
            return Err(bad());
        }
        desired.objects = objects;
        Ok(())
    }

    /// Check that the document can be applied by a syncer with identity `sync` and format
    /// `format`, and that every object matches its hash and the state its hash; returns the
    /// state's commit and desired state (the last good ones).
    pub fn verified_state(
        &self,
        sync: &SyncIdentity,
        format: SourceFormat,
    ) -> Result<(&str, &Arc<DesiredState>), DecodeError> {
        if self.api_version != API_VERSION {
            return Err(DecodeError::ApiVersion(self.api_version.clone()));
        }
        if self.format != format.as_str() {
            return Err(DecodeError::Format {
                theirs: self.format.clone(),
                ours: format.as_str().into(),
            });
        }
        let state = self.state.as_ref().ok_or(DecodeError::NoState)?;
        let d = &state.desired;
        if d.sync != *sync {
            return Err(DecodeError::Sync {
                theirs: sync_name(&d.sync),
                ours: sync_name(sync),
            });
        }
        let mut all = Sha256::new();
        for o in &d.objects {
            if o.manifest.hash() != o.hash {
                return Err(DecodeError::ObjectHash {
                    cluster: self.cluster.clone(),
                    object: o.id.to_string(),
                });
            }
            all.update(o.hash.as_bytes());
        }
        let computed = hex(&all.finalize());
        if computed != d.hash {
            return Err(DecodeError::Hash {
                cluster: self.cluster.clone(),
                declared: d.hash.clone(),
                computed,
            });
        }
        Ok((&state.commit, d))
    }
}

/// A summary of what the importer serves (`GET /v1/status`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceStatus {
    /// The commit of the snapshot in force.
    pub commit: Option<String>,
    /// Its hash (over every cluster's desired-state hash).
    pub hash: Option<String>,
    /// Object count per cluster name built.
    pub clusters: BTreeMap<String, usize>,
    /// Cluster names requested and not built yet.
    pub pending: Vec<String>,
    pub import: ImportStatus,
}

/// What the service serves: the snapshot in force and the latest attempt.
#[derive(Debug, Clone, Default)]
pub struct Published {
    pub snapshot: Option<Arc<Snapshot>>,
    /// Commit attempted last (`None`: the fetch failed) and its errors (empty: published).
    pub attempt_commit: Option<String>,
    pub attempt_errors: Vec<Diagnostic>,
}

/// Collects import outcomes for the service (feed it from [`crate::run`]'s `on_outcome`).
#[derive(Debug)]
pub struct Hub {
    tx: watch::Sender<Published>,
    /// Per cluster name, the last [`DELTA_BASES`] states published (oldest first).
    bases: Mutex<BTreeMap<String, VecDeque<Arc<StateIndex>>>>,
}

impl Default for Hub {
    fn default() -> Self {
        Hub::new()
    }
}

impl Hub {
    pub fn new() -> Hub {
        Hub {
            tx: watch::channel(Published::default()).0,
            bases: Mutex::default(),
        }
    }

    /// A recent state of `cluster` with desired-state hash `hash`, to answer with a delta.
    pub fn base(&self, cluster: &str, hash: &str) -> Option<Arc<StateIndex>> {
        let bases = self.bases.lock().unwrap_or_else(|e| e.into_inner());
        bases.get(cluster)?.iter().find(|b| b.hash == hash).cloned()
    }

    fn remember(&self, s: &Snapshot) {
        let mut bases = self.bases.lock().unwrap_or_else(|e| e.into_inner());
        bases.retain(|name, _| s.per_cluster.contains_key(name));
        for (name, d) in &s.per_cluster {
            let q = bases.entry(name.clone()).or_default();
            if q.back().is_some_and(|b| b.hash == d.hash) {
                continue;
            }
            q.push_back(Arc::new(StateIndex::of(d)));
            while q.len() > DELTA_BASES {
                q.pop_front();
            }
        }
    }

    /// Record one import outcome; wakes the long polls whose answer it changes.
    pub fn record(&self, outcome: &ImportOutcome) {
        if let ImportOutcome::Published(s) = outcome {
            self.remember(s);
        }
        self.tx.send_if_modified(|p| match outcome {
            ImportOutcome::Published(s) => {
                p.snapshot = Some(s.clone());
                p.attempt_commit = Some(s.commit.clone());
                p.attempt_errors.clear();
                true
            }
            ImportOutcome::Unchanged { commit, errors } => {
                let changed = p.attempt_commit.as_deref() != Some(commit.as_str())
                    || p.attempt_errors != *errors;
                p.attempt_commit = Some(commit.clone());
                p.attempt_errors = errors.clone();
                changed
            }
            ImportOutcome::Rejected { commit, errors } => {
                let changed = p.attempt_commit != *commit || p.attempt_errors != *errors;
                p.attempt_commit = commit.clone();
                p.attempt_errors = errors.clone();
                changed
            }
        });
    }

    /// What is served now.
    pub fn current(&self) -> Published {
        self.tx.borrow().clone()
    }

    fn subscribe(&self) -> watch::Receiver<Published> {
        self.tx.subscribe()
    }
}

/// Settings of the service.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The format the importer parses with (told to syncers).
    pub format: SourceFormat,
    /// Longest `?wait=` honoured.
    pub max_wait: Duration,
    /// Most cluster names built; requests for more new names get `429`.
    pub max_clusters: usize,
    /// `POST /webhook`; `None`: the endpoint answers `404`.
    pub webhook: Option<WebhookConfig>,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            format: SourceFormat::Hierarchy,
            max_wait: Duration::from_secs(60),
            max_clusters: 10_000,
            webhook: None,
        }
    }
}

/// The service's shared state.
pub struct Service {
    cfg: ServeConfig,
    hub: Arc<Hub>,
    names: watch::Sender<Vec<String>>,
    trigger: mpsc::Sender<()>,
    sleeper: Arc<dyn Sleeper>,
}

impl Service {
    /// A service publishing what `hub` records. `names` is the cluster set the run loop builds
    /// for (see [`crate::run_with_names`]); new names are added to it and `trigger` fires an
    /// import. `sleeper` times long polls.
    pub fn new(
        cfg: ServeConfig,
        hub: Arc<Hub>,
        names: watch::Sender<Vec<String>>,
        trigger: mpsc::Sender<()>,
        sleeper: Arc<dyn Sleeper>,
    ) -> Service {
        Service {
            cfg,
            hub,
            names,
            trigger,
            sleeper,
        }
    }

    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// Ask for an import now (coalesced with one already pending).
    pub fn trigger(&self) {
        let _ = self.trigger.try_send(());
    }

    /// Make sure `cluster` is built; `Err` when the cluster limit is reached.
    fn ensure_cluster(&self, cluster: &str, current: &Published) -> Result<(), String> {
        if current
            .snapshot
            .as_ref()
            .is_some_and(|s| s.per_cluster.contains_key(cluster))
        {
            return Ok(());
        }
        let mut added = false;
        let mut full = false;
        self.names.send_if_modified(|names| {
            if names.iter().any(|n| n == cluster) {
                return false;
            }
            if names.len() >= self.cfg.max_clusters {
                full = true;
                return false;
            }
            if names.is_empty() && current.snapshot.is_none() {
                // Building the repository's own clusters, and nothing is built yet: naming one
                // now would narrow the set to it (the others, maybe being built right now,
                // would be dropped by the next import). Once the first snapshot is out, a name
                // it lacks is added to everything it has.
                added = true;
                return false;
            }
            // Keep what is built now (an empty set means "the repository's clusters").
            if let Some(s) = &current.snapshot {
                for k in s.per_cluster.keys() {
                    if !names.contains(k) {
                        names.push(k.clone());
                    }
                }
            }
            names.push(cluster.to_string());
            names.sort();
            added = true;
            true
        });
        if full {
            return Err(format!(
                "the importer already builds {} cluster names (its limit); cannot add {cluster:?}",
                self.cfg.max_clusters
            ));
        }
        if added {
            tracing::info!(cluster = %cluster, "new cluster name requested; importing for it");
            self.trigger();
        }
        Ok(())
    }

    fn status(&self) -> ServiceStatus {
        let p = self.hub.current();
        let clusters: BTreeMap<String, usize> = p
            .snapshot
            .as_ref()
            .map(|s| {
                s.per_cluster
                    .iter()
                    .map(|(k, v)| (k.clone(), v.objects.len()))
                    .collect()
            })
            .unwrap_or_default();
        let pending = self
            .names
            .borrow()
            .iter()
            .filter(|n| !clusters.contains_key(*n))
            .cloned()
            .collect();
        ServiceStatus {
            commit: p.snapshot.as_ref().map(|s| s.commit.clone()),
            hash: p.snapshot.as_ref().map(|s| s.hash.clone()),
            clusters,
            pending,
            import: import_status(&p),
        }
    }
}

fn import_status(p: &Published) -> ImportStatus {
    ImportStatus {
        commit: p.attempt_commit.clone(),
        errors: p
            .attempt_errors
            .iter()
            .map(WireDiagnostic::from_diagnostic)
            .collect(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The ETag of `cluster`'s answer: a hash over everything the answer holds.
pub fn etag(p: &Published, cluster: &str) -> String {
    let mut h = Sha256::new();
    let mut field = |s: &str| {
        h.update((s.len() as u64).to_le_bytes());
        h.update(s.as_bytes());
    };
    field(API_VERSION);
    field(cluster);
    match p
        .snapshot
        .as_ref()
        .and_then(|s| Some((s, s.per_cluster.get(cluster)?)))
    {
        Some((s, state)) => {
            field("state");
            field(&s.commit);
            field(&state.hash);
            for e in &s.errors {
                field(&e.to_string());
            }
        }
        None => field("no state"),
    }
    field("import");
    field(p.attempt_commit.as_deref().unwrap_or("-"));
    for e in &p.attempt_errors {
        field(&e.to_string());
    }
    hex(&h.finalize())
}

/// The document for `cluster` (see the module documentation), as a delta from `base` when one
/// is given and the delta is smaller.
pub fn cluster_snapshot(
    cfg: &ServeConfig,
    p: &Published,
    cluster: &str,
    base: Option<&StateIndex>,
) -> ClusterSnapshot {
    let state = p.snapshot.as_ref().and_then(|s| {
        let full = s.per_cluster.get(cluster)?;
        let (desired, delta) = match base.and_then(|b| delta(full, b)) {
            Some((objects, d)) => (
                Arc::new(DesiredState {
                    cluster: full.cluster.clone(),
                    sync: full.sync.clone(),
                    source: full.source.clone(),
                    objects,
                    hash: full.hash.clone(),
                }),
                Some(d),
            ),
            None => (full.clone(), None),
        };
        Some(WireState {
            commit: s.commit.clone(),
            desired,
            warnings: s
                .errors
                .iter()
                .map(WireDiagnostic::from_diagnostic)
                .collect(),
            delta,
        })
    });
    ClusterSnapshot {
        api_version: API_VERSION.into(),
        cluster: cluster.to_string(),
        format: cfg.format.as_str().into(),
        etag: etag(p, cluster),
        state,
        import: import_status(p),
    }
}

/// `500ms`, `30s`, `2m`, `1h`, or plain seconds (fractions allowed).
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return None,
    };
    (0.0..1e9)
        .contains(&secs)
        .then(|| Duration::from_secs_f64(secs))
}

fn valid_cluster_name(name: &str) -> bool {
    name.len() <= MAX_CLUSTER_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

type Resp = Response<Full<Bytes>>;

fn text(status: StatusCode, body: impl Into<String>) -> Resp {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Full::new(Bytes::from(body.into())))
        .expect("static response parts")
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Resp {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Full::new(Bytes::from(body)))
        .expect("static response parts")
}

/// Whether an `If-None-Match` value names `etag` (quoted or not, weak or not, or `*`).
fn matches_etag(value: &str, etag: &str) -> bool {
    value.split(',').any(|t| {
        let t = t.trim();
        let t = t.strip_prefix("W/").unwrap_or(t);
        t == "*" || t.trim_matches('"') == etag
    })
}

fn query_param<'a>(query: Option<&'a str>, key: &str) -> Option<&'a str> {
    query?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == key).then_some(v)
    })
}

/// Serve on `listener` until `shutdown` turns true (or its sender is dropped). Long polls in
/// progress end with `503` at shutdown.
pub async fn serve(
    listener: TcpListener,
    service: Arc<Service>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let (stream, peer) = tokio::select! {
            _ = stopped(&mut shutdown) => return,
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a connection failed");
                    continue;
                }
            },
        };
        let service = service.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                let service = service.clone();
                let shutdown = shutdown.clone();
                async move { Ok::<_, Infallible>(handle(&service, req, peer, shutdown).await) }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, svc)
                .await;
        });
    }
}

async fn handle(
    service: &Service,
    req: Request<Incoming>,
    peer: std::net::SocketAddr,
    shutdown: watch::Receiver<bool>,
) -> Resp {
    let path = req.uri().path().to_string();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    match (req.method(), segments.as_slice()) {
        (&Method::GET, ["healthz"]) => text(StatusCode::OK, "ok\n"),
        (&Method::GET, ["readyz"]) => {
            let p = service.hub.current();
            if p.snapshot.is_some() {
                text(StatusCode::OK, "ready\n")
            } else {
                let why = p
                    .attempt_errors
                    .first()
                    .map(|e| format!(": {}", e.message))
                    .unwrap_or_default();
                text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("no snapshot yet{why}\n"),
                )
            }
        }
        (&Method::GET, ["v1", "status"]) => json_response(
            StatusCode::OK,
            serde_json::to_vec(&service.status()).unwrap_or_default(),
        ),
        (&Method::GET, ["v1", "clusters", name, "snapshot"]) => {
            let name = name.to_string();
            snapshot(service, req, &name, shutdown).await
        }
        (&Method::POST, ["webhook"]) => webhook_request(service, req, peer).await,
        (_, ["healthz" | "readyz" | "webhook"] | ["v1", "status"])
        | (_, ["v1", "clusters", _, "snapshot"]) => {
            text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n")
        }
        _ => text(
            StatusCode::NOT_FOUND,
            "not found (try GET /v1/clusters/{cluster-name}/snapshot)\n",
        ),
    }
}

async fn snapshot(
    service: &Service,
    req: Request<Incoming>,
    cluster: &str,
    mut shutdown: watch::Receiver<bool>,
) -> Resp {
    if !valid_cluster_name(cluster) {
        return text(
            StatusCode::BAD_REQUEST,
            format!(
                "invalid cluster name {cluster:?}: use ASCII letters, digits, '.', '_' and '-' (at most {MAX_CLUSTER_NAME})\n"
            ),
        );
    }
    let wait = match query_param(req.uri().query(), "wait") {
        None => Duration::ZERO,
        Some(w) => match parse_duration(w) {
            Some(d) => d.min(service.cfg.max_wait),
            None => {
                return text(
                    StatusCode::BAD_REQUEST,
                    format!("invalid wait {w:?}: use e.g. 30s, 500ms or 2m\n"),
                );
            }
        },
    };
    let base = query_param(req.uri().query(), "base").and_then(|h| service.hub.base(cluster, h));
    let if_none_match = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut rx = service.hub.subscribe();
    let first = rx.borrow_and_update().clone();
    if let Err(e) = service.ensure_cluster(cluster, &first) {
        return text(StatusCode::TOO_MANY_REQUESTS, format!("{e}\n"));
    }
    let mut deadline = service.sleeper.sleep(wait);
    let mut p = first;
    loop {
        let tag = etag(&p, cluster);
        let unchanged = if_none_match
            .as_deref()
            .is_some_and(|v| matches_etag(v, &tag));
        if !unchanged {
            let cfg = service.cfg.clone();
            let name = cluster.to_string();
            let base = base.clone();
            // Large states serialize for tens of milliseconds: off the async workers.
            let body = tokio::task::spawn_blocking(move || {
                serde_json::to_vec(&cluster_snapshot(&cfg, &p, &name, base.as_deref()))
            })
            .await;
            return match body {
                Ok(Ok(body)) => {
                    let mut r = json_response(StatusCode::OK, body);
                    r.headers_mut().insert(
                        header::ETAG,
                        format!("\"{tag}\"")
                            .parse()
                            .expect("hex is a valid header value"),
                    );
                    r
                }
                Ok(Err(e)) => text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("encoding the snapshot failed: {e}\n"),
                ),
                Err(e) => text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("encoding the snapshot panicked: {e}\n"),
                ),
            };
        }
        if wait.is_zero() {
            return not_modified(&tag);
        }
        tokio::select! {
            r = rx.changed() => {
                if r.is_err() {
                    return not_modified(&tag);
                }
                p = rx.borrow_and_update().clone();
            }
            () = &mut deadline => return not_modified(&tag),
            () = stopped(&mut shutdown) => {
                return text(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n");
            }
        }
    }
}

fn not_modified(tag: &str) -> Resp {
    let mut r = Response::builder()
        .status(StatusCode::NOT_MODIFIED)
        .body(Full::new(Bytes::new()))
        .expect("static response parts");
    r.headers_mut().insert(
        header::ETAG,
        format!("\"{tag}\"")
            .parse()
            .expect("hex is a valid header value"),
    );
    r
}

async fn webhook_request(
    service: &Service,
    req: Request<Incoming>,
    peer: std::net::SocketAddr,
) -> Resp {
    let Some(cfg) = &service.cfg.webhook else {
        return text(
            StatusCode::NOT_FOUND,
            "the webhook is disabled: start nomos-importer with --webhook-secret-file\n",
        );
    };
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, cfg.max_body).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            tracing::warn!(peer = %peer, error = %e, "webhook body refused");
            return text(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the payload is larger than {} bytes\n", cfg.max_body),
            );
        }
    };
    match webhook::check(cfg, &parts.headers, &body) {
        webhook::Verdict::Trigger {
            provider,
            reference,
        } => {
            tracing::info!(peer = %peer, provider, reference = reference.as_deref().unwrap_or("-"), "webhook: push; fetching now");
            service.trigger();
            text(StatusCode::ACCEPTED, "fetching\n")
        }
        webhook::Verdict::Ignored { provider, reason } => {
            tracing::info!(peer = %peer, provider, reason = %reason, "webhook ignored");
            text(StatusCode::OK, format!("ignored: {reason}\n"))
        }
        webhook::Verdict::Unauthorized { provider, reason } => {
            tracing::warn!(peer = %peer, provider, reason = %reason, "webhook rejected");
            text(StatusCode::UNAUTHORIZED, format!("{reason}\n"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A state of ConfigMaps `name=value`, hashed as the importer hashes.
    fn state(objects: &[(&str, &str)]) -> DesiredState {
        let objects: Vec<DesiredObject> = objects
            .iter()
            .map(|(name, value)| {
                let manifest = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": name, "namespace": "shop"}, "data": {"k": value}});
                let hash = nomos_core::desired::Manifest::from_value(&manifest).hash();
                serde_json::from_value(serde_json::json!({
                    "id": {"group": "", "kind": "ConfigMap", "namespace": "shop", "name": name},
                    "gvk": {"group": "", "version": "v1", "kind": "ConfigMap"},
                    "manifest": manifest, "managed": true, "source_path": "cm.yaml", "hash": hash,
                }))
                .unwrap()
            })
            .collect();
        let mut all = Sha256::new();
        for o in &objects {
            all.update(o.hash.as_bytes());
        }
        serde_json::from_value(serde_json::json!({
            "cluster": "c", "sync": SyncIdentity::default(),
            "source": nomos_core::desired::SourceInfo::default(), "objects": objects,
            "hash": hex(&all.finalize()),
        }))
        .unwrap()
    }

    fn answer(d: &DesiredState, base: Option<&StateIndex>) -> ClusterSnapshot {
        let mut per_cluster = BTreeMap::new();
        per_cluster.insert("c".to_string(), Arc::new(d.clone()));
        let p = Published {
            snapshot: Some(Arc::new(Snapshot {
                commit: "abc".into(),
                source: Default::default(),
                per_cluster,
                hash: "h".into(),
                errors: Vec::new(),
            })),
            attempt_commit: Some("abc".into()),
            attempt_errors: Vec::new(),
        };
        let cfg = ServeConfig {
            format: SourceFormat::Unstructured,
            ..Default::default()
        };
        // Through the wire form, as a syncer gets it.
        let doc = cluster_snapshot(&cfg, &p, "c", base);
        serde_json::from_slice(&serde_json::to_vec(&doc).unwrap()).unwrap()
    }

    /// A name requested before anything is built does not narrow the repository's own set
    /// (the first import builds it whole); once a snapshot exists, a new name is added to
    /// everything it has.
    #[test]
    fn requested_names_never_drop_clusters_being_built() {
        let (names_tx, names_rx) = watch::channel(Vec::<String>::new());
        let (trigger, mut triggered) = mpsc::channel(1);
        let service = Service::new(
            ServeConfig::default(),
            Arc::new(Hub::new()),
            names_tx,
            trigger,
            Arc::new(crate::TokioSleeper),
        );
        service
            .ensure_cluster("edge", &Published::default())
            .unwrap();
        assert!(
            names_rx.borrow().is_empty(),
            "still the repository's own clusters"
        );
        assert!(triggered.try_recv().is_ok(), "an import was asked for");

        let d = state(&[("a", "1")]);
        let mut per_cluster = BTreeMap::new();
        for name in ["", "prod", "staging"] {
            per_cluster.insert(name.to_string(), Arc::new(d.clone()));
        }
        let built = Published {
            snapshot: Some(Arc::new(Snapshot {
                commit: "abc".into(),
                source: Default::default(),
                per_cluster,
                hash: "h".into(),
                errors: Vec::new(),
            })),
            ..Published::default()
        };
        service.ensure_cluster("prod", &built).unwrap();
        assert!(names_rx.borrow().is_empty(), "prod is built already");
        service.ensure_cluster("edge", &built).unwrap();
        assert_eq!(*names_rx.borrow(), ["", "edge", "prod", "staging"]);
    }

    #[test]
    fn deltas_send_only_new_objects_and_rebuild_the_exact_state() {
        let names: Vec<String> = (0..10).map(|i| format!("cm-{i}")).collect();
        let old: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "1")).collect();
        let base = state(&old);
        // cm-3 changed, cm-7 removed, cm-new added at the end.
        let mut new = old.clone();
        new[3].1 = "2";
        new.remove(7);
        new.push(("cm-new", "1"));
        let next = state(&new);

        let mut doc = answer(&next, Some(&StateIndex::of(&base)));
        let wire = doc.state.as_ref().unwrap();
        let sent: Vec<&str> = wire
            .desired
            .objects
            .iter()
            .map(|o| o.id.name.as_str())
            .collect();
        assert_eq!(sent, ["cm-3", "cm-new"]);
        assert_eq!(
            wire.delta.as_ref().unwrap().runs,
            [
                DeltaRun::Base(0, 3),
                DeltaRun::New(1),
                DeltaRun::Base(4, 3),
                DeltaRun::Base(8, 2),
                DeltaRun::New(1)
            ]
        );
        doc.resolve_delta(Some(&base)).unwrap();
        assert_eq!(doc, answer(&next, None));
        let sync = SyncIdentity::default();
        doc.verified_state(&sync, SourceFormat::Unstructured)
            .unwrap();

        // More than half changed: the whole state.
        let all_new: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "9")).collect();
        let doc = answer(&state(&all_new), Some(&StateIndex::of(&base)));
        assert!(doc.state.as_ref().unwrap().delta.is_none());
        assert_eq!(doc.state.as_ref().unwrap().desired.objects.len(), 10);
    }

    #[test]
    fn a_delta_that_does_not_fit_is_refused() {
        let base = state(&[("a", "1"), ("b", "1"), ("c", "1")]);
        let next = state(&[("a", "1"), ("b", "2"), ("c", "1")]);
        let doc = answer(&next, Some(&StateIndex::of(&base)));
        let other = state(&[("a", "1")]);
        assert!(matches!(
            doc.clone().resolve_delta(Some(&other)),
            Err(DecodeError::DeltaBase { .. })
        ));
        for runs in [
            vec![DeltaRun::Base(0, 4)],                   // past the base's end
            vec![DeltaRun::Base(usize::MAX, 2)],          // overflow
            vec![DeltaRun::Base(0, 1), DeltaRun::New(2)], // more new objects than sent
            vec![DeltaRun::Base(0, 3)],                   // the sent object left over
        ] {
            let mut bad = doc.clone();
            bad.state.as_mut().unwrap().delta.as_mut().unwrap().runs = runs.clone();
            assert!(
                matches!(
                    bad.resolve_delta(Some(&base)),
                    Err(DecodeError::DeltaRuns { .. })
                ),
                "{runs:?}"
            );
        }
        // Runs that fit but reorder objects are caught by the state's hash.
        let mut swapped = doc.clone();
        swapped.state.as_mut().unwrap().delta.as_mut().unwrap().runs =
            vec![DeltaRun::New(1), DeltaRun::Base(0, 1), DeltaRun::Base(2, 1)];
        swapped.resolve_delta(Some(&base)).unwrap();
        let sync = SyncIdentity::default();
        assert!(matches!(
            swapped.verified_state(&sync, SourceFormat::Unstructured),
            Err(DecodeError::Hash { .. })
        ));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse_duration("0"), Some(Duration::ZERO));
        assert_eq!(parse_duration("1d"), None);
        assert_eq!(parse_duration("-1s"), None);
        assert_eq!(parse_duration(""), None);
    }

    #[test]
    fn etag_matching() {
        assert!(matches_etag("\"abc\"", "abc"));
        assert!(matches_etag("W/\"abc\"", "abc"));
        assert!(matches_etag("\"x\", \"abc\"", "abc"));
        assert!(matches_etag("*", "abc"));
        assert!(!matches_etag("\"abd\"", "abc"));
    }

    #[test]
    fn cluster_names() {
        assert!(valid_cluster_name("prod-east.1_a"));
        assert!(valid_cluster_name(""));
        assert!(!valid_cluster_name("a/b"));
        assert!(!valid_cluster_name("a%20b"));
        assert!(!valid_cluster_name(&"a".repeat(254)));
    }

    #[test]
    fn query() {
        assert_eq!(query_param(Some("a=1&wait=30s"), "wait"), Some("30s"));
        assert_eq!(query_param(Some("wait"), "wait"), Some(""));
        assert_eq!(query_param(None, "wait"), None);
    }
}
