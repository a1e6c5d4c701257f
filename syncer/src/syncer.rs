//! The syncer: compiles source snapshots once per distinct cluster name (or takes desired state
//! built by a remote importer, [`Syncer::start_remote`]) and feeds one independent worker per
//! cluster.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use nomos_cluster::{ClusterClient, ExecOptions, Sleeper, TokioSleeper};
use nomos_core::desired::{self, DesiredState, SourceInfo, StampOptions, SyncIdentity};
use nomos_core::plan::PlanOptions;
use nomos_core::{Code, Repository, SourceFormat};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::clock::{Clock, SystemClock};
use crate::fight::FightConfig;
use crate::source::{Snapshot, short};
use crate::status::{StatusError, SyncStatus};
use crate::worker::{self, DesiredUpdate};

/// Settings shared by every cluster.
#[derive(Clone)]
pub struct SyncerConfig {
    pub format: SourceFormat,
    /// Whose objects these are (default: the root-sync).
    pub sync: SyncIdentity,
    /// Shown in the `git-context` annotation (the policy directory).
    pub source_repo: String,
    /// The `source` label of the parser metric: `dir` or `git`.
    pub source_kind: &'static str,
    /// Kubernetes version for schema checks of built-in kinds (`None`: no schema checks).
    pub k8s_version: Option<String>,
    /// Plan the whole cluster again this often, drift or not (stripped labels, missed events).
    pub resync_period: Duration,
    /// First wait after a failed sync; doubles up to `retry_max`.
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// Refuse mass prunes unless allowed (see [`PlanOptions`]).
    pub allow_mass_prune: bool,
    /// Concurrency of listing live state.
    pub list_concurrency: usize,
    /// Drift correction: watch managed kinds (off: only full syncs).
    pub remediate: bool,
    pub fight: FightConfig,
    /// Execution settings (field manager, force, per-item retries, its sleeper).
    pub exec: ExecOptions,
    pub clock: Arc<dyn Clock>,
    pub sleeper: Arc<dyn Sleeper>,
    /// Event metrics (Config Sync's names: applies, reconcile, parser and remediate durations,
    /// fights, conflicts, drift-correction latency), shared with the monitor's endpoint.
    pub metrics: Arc<nomos_monitor::Metrics>,
    /// Full syncs (list, plan, apply) running at once across this syncer's clusters: bounds the
    /// memory of many clusters listing their live state together. Drift correction is not
    /// limited by it, and an unreachable cluster fails fast and frees its slot.
    pub full_sync_slots: Arc<tokio::sync::Semaphore>,
}

impl Default for SyncerConfig {
    fn default() -> Self {
        SyncerConfig {
            format: SourceFormat::Hierarchy,
            sync: SyncIdentity::default(),
            source_repo: String::new(),
            source_kind: "dir",
            k8s_version: Some(nomos_core::k8s::default_version().to_string()),
            resync_period: Duration::from_secs(3600),
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(300),
            allow_mass_prune: false,
            list_concurrency: 8,
            remediate: true,
            fight: FightConfig::default(),
            exec: ExecOptions::default(),
            clock: Arc::new(SystemClock),
            sleeper: Arc::new(TokioSleeper),
            metrics: Arc::new(nomos_monitor::Metrics::default()),
            full_sync_slots: Arc::new(tokio::sync::Semaphore::new(8)),
        }
    }
}

impl std::fmt::Debug for SyncerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncerConfig")
            .field("format", &self.format)
            .field("sync", &self.sync)
            .field("resync_period", &self.resync_period)
            .field("retry_base", &self.retry_base)
            .field("retry_max", &self.retry_max)
            .field("fight", &self.fight)
            .finish_non_exhaustive()
    }
}

impl SyncerConfig {
    pub(crate) fn plan_options(&self) -> PlanOptions {
        PlanOptions {
            sync: self.sync.clone(),
            implicit_namespaces: self.format == SourceFormat::Unstructured,
            allow_mass_prune: self.allow_mass_prune,
            ..PlanOptions::default()
        }
    }

    pub(crate) fn exec_options(&self) -> ExecOptions {
        ExecOptions {
            sync: self.sync.clone(),
            ..self.exec.clone()
        }
    }

    fn stamp(&self) -> StampOptions {
        StampOptions {
            sync: self.sync.clone(),
            source: SourceInfo {
                repo: self.source_repo.clone(),
                ..Default::default()
            },
            format: Some(self.format),
            declared_fields: false,
        }
    }
}

/// One cluster to keep in sync.
#[derive(Debug, Clone)]
pub struct ClusterTarget {
    /// Unique key (the kubeconfig context, or the name).
    pub key: String,
    /// The cluster name for cluster selectors.
    pub cluster_name: String,
    pub client: ClusterClient,
}

impl ClusterTarget {
    pub fn new(
        key: impl Into<String>,
        cluster_name: impl Into<String>,
        client: ClusterClient,
    ) -> Self {
        ClusterTarget {
            key: key.into(),
            cluster_name: cluster_name.into(),
            client,
        }
    }
}

/// The syncer, before it starts.
#[derive(Debug)]
pub struct Syncer {
    cfg: Arc<SyncerConfig>,
}

/// A running syncer: statuses and the end of it.
#[derive(Debug)]
pub struct SyncerHandle {
    statuses: BTreeMap<String, watch::Receiver<SyncStatus>>,
    compilations: Arc<AtomicU64>,
    tasks: Vec<JoinHandle<()>>,
}

impl Syncer {
    pub fn new(cfg: SyncerConfig) -> Self {
        Syncer { cfg: Arc::new(cfg) }
    }

    /// Start one worker per target and the compiler fed by `source`. Everything stops when
    /// `shutdown` turns true (or its sender is dropped). Needs a tokio runtime.
    pub fn start(
        self,
        targets: Vec<ClusterTarget>,
        source: watch::Receiver<Option<Snapshot>>,
        shutdown: watch::Receiver<bool>,
    ) -> SyncerHandle {
        let mut feeds: Vec<(String, watch::Sender<Option<Arc<DesiredUpdate>>>)> = Vec::new();
        let (statuses, mut tasks) = self.spawn_workers(targets, &shutdown, |t| {
            let (desired_tx, desired_rx) = watch::channel(None);
            feeds.push((t.cluster_name.clone(), desired_tx));
            desired_rx
        });
        let compilations = Arc::new(AtomicU64::new(0));
        tasks.push(tokio::spawn(compile_loop(
            self.cfg.clone(),
            source,
            feeds,
            compilations.clone(),
            shutdown,
        )));
        SyncerHandle {
            statuses,
            compilations,
            tasks,
        }
    }

    /// Start one worker per target fed with desired state an importer already built: `source`
    /// long-polls the snapshot of each distinct cluster name (nothing is compiled here, so
    /// [`SyncerHandle::compilations`] stays 0). Stops like [`Syncer::start`].
    pub fn start_remote(
        self,
        targets: Vec<ClusterTarget>,
        source: crate::remote::HttpSource,
        shutdown: watch::Receiver<bool>,
    ) -> SyncerHandle {
        let names: Vec<String> = targets.iter().map(|t| t.cluster_name.clone()).collect();
        let (feeds, mut tasks) = source.spawn(names, self.cfg.clone(), shutdown.clone());
        let (statuses, workers) =
            self.spawn_workers(targets, &shutdown, |t| feeds[&t.cluster_name].clone());
        tasks.extend(workers);
        SyncerHandle {
            statuses,
            compilations: Arc::new(AtomicU64::new(0)),
            tasks,
        }
    }

    /// One worker per target, each reading the desired-state channel `feed` gives it.
    fn spawn_workers(
        &self,
        targets: Vec<ClusterTarget>,
        shutdown: &watch::Receiver<bool>,
        mut feed: impl FnMut(&ClusterTarget) -> crate::remote::Feed,
    ) -> (
        BTreeMap<String, watch::Receiver<SyncStatus>>,
        Vec<JoinHandle<()>>,
    ) {
        let mut statuses = BTreeMap::new();
        let mut tasks = Vec::new();
        for t in targets {
            let (status_tx, status_rx) = watch::channel(SyncStatus {
                cluster: t.key.clone(),
                cluster_name: t.cluster_name.clone(),
                ..Default::default()
            });
            let desired_rx = feed(&t);
            statuses.insert(t.key.clone(), status_rx);
            tasks.push(tokio::spawn(worker::run(
                t,
                self.cfg.clone(),
                desired_rx,
                status_tx,
                shutdown.clone(),
            )));
        }
        (statuses, tasks)
    }
}

impl SyncerHandle {
    /// A snapshot of every cluster's status, by key.
    pub fn statuses(&self) -> Vec<SyncStatus> {
        self.statuses.values().map(|r| r.borrow().clone()).collect()
    }

    /// The status of one cluster.
    pub fn status(&self, key: &str) -> Option<SyncStatus> {
        self.statuses.get(key).map(|r| r.borrow().clone())
    }

    /// A receiver of one cluster's status updates.
    pub fn subscribe(&self, key: &str) -> Option<watch::Receiver<SyncStatus>> {
        self.statuses.get(key).cloned()
    }

    /// Receivers of every cluster's status, by key (for the monitor).
    pub fn subscribe_all(&self) -> BTreeMap<String, watch::Receiver<SyncStatus>> {
        self.statuses.clone()
    }

    /// Desired states computed so far (one per distinct cluster name per valid snapshot).
    pub fn compilations(&self) -> u64 {
        self.compilations.load(Ordering::Relaxed)
    }

    /// Wait for every task to end (after shutdown).
    pub async fn join(self) {
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

async fn compile_loop(
    cfg: Arc<SyncerConfig>,
    mut source: watch::Receiver<Option<Snapshot>>,
    feeds: Vec<(String, watch::Sender<Option<Arc<DesiredUpdate>>>)>,
    compilations: Arc<AtomicU64>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let snap = source.borrow_and_update().clone();
        if let Some(snap) = snap {
            let names: Vec<String> = {
                let mut n: Vec<String> = feeds.iter().map(|(n, _)| n.clone()).collect();
                n.sort();
                n.dedup();
                n
            };
            let cfg2 = cfg.clone();
            let snap2 = snap.clone();
            let t0 = cfg.clock.now();
            let result = compile_on_own_threads(move || compile(&cfg2, &snap2, &names)).await;
            let secs = cfg.clock.now().saturating_duration_since(t0).as_secs_f64();
            match result {
                Ok(per_name) => {
                    for (name, u) in &per_name {
                        let ok = matches!(**u, DesiredUpdate::Good { .. });
                        cfg.metrics
                            .observe_parser(name, ok.into(), "sync", cfg.source_kind, secs);
                    }
                    compilations.fetch_add(
                        per_name
                            .values()
                            .filter(|u| matches!(***u, DesiredUpdate::Good { .. }))
                            .count() as u64,
                        Ordering::Relaxed,
                    );
                    for (name, tx) in &feeds {
                        if let Some(u) = per_name.get(name) {
                            tx.send_replace(Some(u.clone()));
                        }
                    }
                }
                Err(e) => tracing::error!(error = %e, "compiling the source failed"),
            }
        }
        tokio::select! {
            _ = crate::stopped(&mut shutdown) => return,
            r = source.changed() => if r.is_err() { return },
        }
    }
}

/// Run `f` (a compile) on a thread, and its parallel parts on a thread pool, that exist only
/// for it. Compiling parses the whole repository into trees that are freed as soon as the
/// desired state is built; the allocator caches freed memory per thread and idle threads never
/// give it back, so threads that outlive the compile (tokio's blocking pool, rayon's global
/// pool) would keep that peak resident for good. Exiting threads release it: with 10,000
/// objects the syncer stays near 64 MB instead of about 100 MB.
async fn compile_on_own_threads<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("nomos-compile".into())
        .spawn(move || {
            let out = match rayon::ThreadPoolBuilder::new()
                .thread_name(|i| format!("nomos-compile-{i}"))
                .build()
            {
                Ok(pool) => pool.install(f),
                // No threads to spare: compile on this one.
                Err(_) => f(),
            };
            let _ = tx.send(out);
        })
        .map_err(|e| format!("cannot start the compile thread: {e}"))?;
    rx.await
        .map_err(|_| "the compile thread panicked".to_string())
}

/// Validate a snapshot and build desired state once per distinct cluster name.
pub(crate) fn compile(
    cfg: &SyncerConfig,
    snap: &Snapshot,
    names: &[String],
) -> HashMap<String, Arc<DesiredUpdate>> {
    let mut out = HashMap::new();
    if let Some(e) = &snap.error {
        let u = Arc::new(DesiredUpdate::Invalid {
            token: snap.token.clone(),
            errors: vec![StatusError::new(Code::SOURCE, e.clone(), None)],
        });
        for n in names {
            out.insert(n.clone(), u.clone());
        }
        return out;
    }
    let mut options = nomos_core::Options::new(cfg.format);
    options.source_prefix = cfg.source_repo.clone();
    options.k8s_version = cfg.k8s_version.clone();
    let mut repo = Repository::load(
        &snap.files,
        snap.api_resources
            .as_ref()
            .map(|(p, t)| (p.as_str(), t.as_str())),
        options,
    );
    let stamp = cfg.stamp();
    let update = |repo: &Repository, n: &String, pass: nomos_core::Pass| -> DesiredUpdate {
        if pass.is_syncable() {
            let warnings = pass
                .errors
                .iter()
                .map(StatusError::from_diagnostic)
                .collect();
            let state: DesiredState = desired::build_owned(pass, |o| repo.scope_of(o), &stamp);
            tracing::info!(cluster_name = %n, token = %short(&snap.token), objects = state.objects.len(), "desired state built");
            DesiredUpdate::Good {
                token: snap.token.clone(),
                state: Arc::new(state),
                warnings,
                newer_invalid: None,
            }
        } else {
            tracing::warn!(cluster_name = %n, token = %short(&snap.token), errors = pass.errors.len(), "source has errors; not applied");
            DesiredUpdate::Invalid {
                token: snap.token.clone(),
                errors: pass
                    .errors
                    .iter()
                    .map(StatusError::from_diagnostic)
                    .collect(),
            }
        }
    };
    if let [n] = names {
        // One cluster name: the pass takes the declared objects instead of copying them.
        let pass = repo.take_pass(n);
        out.insert(n.clone(), Arc::new(update(&repo, n, pass)));
    } else {
        // Several: one pass per distinct cluster selection, on every core; names sharing a pass
        // get its state re-stamped with their name.
        for (n, b) in desired::build_clusters(&repo, names, &stamp) {
            let u = match b {
                desired::ClusterBuild::Syncable { state, warnings } => {
                    tracing::info!(cluster_name = %n, token = %short(&snap.token), objects = state.objects.len(), "desired state built");
                    DesiredUpdate::Good {
                        token: snap.token.clone(),
                        state: Arc::new(state),
                        warnings: warnings.iter().map(StatusError::from_diagnostic).collect(),
                        newer_invalid: None,
                    }
                }
                desired::ClusterBuild::Blocked { errors } => {
                    tracing::warn!(cluster_name = %n, token = %short(&snap.token), errors = errors.len(), "source has errors; not applied");
                    DesiredUpdate::Invalid {
                        token: snap.token.clone(),
                        errors: errors.iter().map(StatusError::from_diagnostic).collect(),
                    }
                }
            };
            out.insert(n, Arc::new(u));
        }
    }
    out
}
