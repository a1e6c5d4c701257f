//! One cluster's worker: full syncs (retried with backoff), drift correction from watches,
//! fight detection, status.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::runtime::{WatchStreamExt, watcher};
use nomos_cluster::{ClusterClient, LiveState, Mapping};
use nomos_core::desired::{DesiredObject, DesiredState};
use nomos_core::plan::{self, Plan, PlanOptions};
use nomos_core::{Code, GroupKind, Gvk, ObjectId};
use nomos_monitor::metrics::{Controller, Operation, Outcome};
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::fight::{FightDetector, fight_message, other_manager};
use crate::source::short;
use crate::status::{StatusError, SyncStatus};
use crate::syncer::{ClusterTarget, SyncerConfig};

/// Watch events queued between a cluster's watchers and its worker.
const EVENT_QUEUE: usize = 128;

/// What the compiler hands a worker for its cluster name.
#[derive(Debug)]
pub enum DesiredUpdate {
    /// Valid: apply it. `warnings` are non-blocking errors (KNV1021).
    Good {
        token: String,
        state: Arc<DesiredState>,
        warnings: Vec<StatusError>,
        /// A newer source (token, errors) that could not be used, reported while `state`, the
        /// last good one, stays in force (the HTTP source: state and errors come together).
        newer_invalid: Option<(String, Vec<StatusError>)>,
    },
    /// Invalid: report it, keep the last good state.
    Invalid {
        token: String,
        errors: Vec<StatusError>,
    },
}

/// What a watcher tells its worker.
#[derive(Debug)]
enum WatchMsg {
    /// An object changed (`live: None`: deleted or no longer carries our label).
    Changed {
        id: ObjectId,
        live: Option<Value>,
        at: Instant,
    },
    /// A (re)list finished: these objects of the kind carry our label.
    Listed {
        group: String,
        kind: String,
        seen: HashSet<ObjectId>,
        at: Instant,
    },
}

struct Current {
    token: String,
    state: Arc<DesiredState>,
    index: HashMap<ObjectId, usize>,
}

struct Worker {
    target: ClusterTarget,
    cfg: Arc<SyncerConfig>,
    status: SyncStatus,
    status_tx: watch::Sender<SyncStatus>,
    current: Option<Current>,
    source_errors: Vec<StatusError>,
    warnings: Vec<StatusError>,
    sync_errors: Vec<StatusError>,
    remediation_errors: BTreeMap<ObjectId, StatusError>,
    fight_errors: BTreeMap<ObjectId, (StatusError, Instant)>,
    fights: FightDetector,
    deferred: BTreeMap<ObjectId, Instant>,
    watchers: HashMap<(String, String), JoinHandle<()>>,
    events_tx: mpsc::Sender<WatchMsg>,
    next_full: Option<Instant>,
    /// A new desired state that differs from a fully synced one in a few objects: apply just
    /// those (see [`Worker::incremental`]); any doubt falls back to a full sync.
    incremental: Option<Incremental>,
    failures: u32,
}

/// What changed between a fully synced desired state and the next one.
struct Incremental {
    /// Declared objects added or changed (by content hash).
    changed: Vec<ObjectId>,
    /// Objects no longer declared, with the version they were applied as.
    removed: Vec<(ObjectId, Gvk)>,
}

impl Drop for Worker {
    fn drop(&mut self) {
        for (_, h) in self.watchers.drain() {
            h.abort();
        }
    }
}

/// Run one cluster's worker until `shutdown` turns true.
pub(crate) async fn run(
    target: ClusterTarget,
    cfg: Arc<SyncerConfig>,
    desired_rx: watch::Receiver<Option<Arc<DesiredUpdate>>>,
    status_tx: watch::Sender<SyncStatus>,
    shutdown: watch::Receiver<bool>,
) {
    use tracing::Instrument;
    let span =
        tracing::info_span!("cluster", key = %target.key, cluster_name = %target.cluster_name);
    run_inner(target, cfg, desired_rx, status_tx, shutdown)
        .instrument(span)
        .await
}

async fn run_inner(
    target: ClusterTarget,
    cfg: Arc<SyncerConfig>,
    mut desired_rx: watch::Receiver<Option<Arc<DesiredUpdate>>>,
    status_tx: watch::Sender<SyncStatus>,
    mut shutdown: watch::Receiver<bool>,
) {
    // Small on purpose: a watcher's initial list of a large kind would otherwise queue thousands
    // of live objects (with managedFields) here at once; backpressure keeps memory flat.
    let (events_tx, mut events_rx) = mpsc::channel(EVENT_QUEUE);
    let status = status_tx.borrow().clone();
    let mut w = Worker {
        fights: FightDetector::new(cfg.fight.clone()),
        target,
        cfg: cfg.clone(),
        status,
        status_tx,
        current: None,
        source_errors: Vec::new(),
        warnings: Vec::new(),
        sync_errors: Vec::new(),
        remediation_errors: BTreeMap::new(),
        fight_errors: BTreeMap::new(),
        deferred: BTreeMap::new(),
        watchers: HashMap::new(),
        events_tx,
        next_full: None,
        incremental: None,
        failures: 0,
    };
    if let Some(u) = desired_rx.borrow_and_update().clone() {
        w.on_desired(&u);
    }
    loop {
        if *shutdown.borrow() {
            break;
        }
        if w.incremental.is_some() && w.next_full.is_none_or(|t| t > cfg.clock.now()) {
            tokio::select! {
                _ = crate::stopped(&mut shutdown) => break,
                _ = w.incremental() => {}
            }
        }
        if w.next_full.is_some_and(|t| t <= cfg.clock.now()) {
            tokio::select! {
                _ = crate::stopped(&mut shutdown) => break,
                _ = w.full_sync() => {}
            }
        }
        w.process_deferred().await;
        w.publish();
        let wait = w
            .next_deadline()
            .map(|d| d.saturating_duration_since(cfg.clock.now()));
        let sleep = async {
            match wait {
                Some(d) => cfg.sleeper.sleep(d).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = crate::stopped(&mut shutdown) => break,
            r = desired_rx.changed() => {
                if r.is_err() {
                    break;
                }
                let u = desired_rx.borrow_and_update().clone();
                if let Some(u) = u {
                    w.on_desired(&u);
                }
            }
            Some(msg) = events_rx.recv() => {
                w.on_watch(msg).await;
                // Drain what queued meanwhile before publishing.
                let mut n = 0;
                while let Ok(msg) = events_rx.try_recv() {
                    w.on_watch(msg).await;
                    n += 1;
                    if n >= 256 {
                        break;
                    }
                }
            }
            _ = sleep => {}
        }
    }
    w.publish();
}

fn id_of(v: &Value) -> ObjectId {
    ObjectId::of_value(v)
}

impl Worker {
    fn backoff(&self) -> Duration {
        let exp = self.failures.saturating_sub(1).min(20);
        self.cfg
            .retry_base
            .saturating_mul(2u32.saturating_pow(exp))
            .min(self.cfg.retry_max)
    }

    fn on_desired(&mut self, u: &DesiredUpdate) {
        match u {
            DesiredUpdate::Good {
                token,
                state,
                warnings,
                newer_invalid,
            } => {
                let (newest, errors) = newer_invalid.clone().unwrap_or((token.clone(), vec![]));
                self.status.source_token = Some(newest);
                self.source_errors = errors;
                self.warnings = warnings.clone();
                if self.current.as_ref().is_some_and(|c| &c.token == token) {
                    return;
                }
                let index: HashMap<ObjectId, usize> = state
                    .objects
                    .iter()
                    .enumerate()
                    .map(|(i, d)| (d.id.clone(), i))
                    .collect();
                self.fights.retain(|id| index.contains_key(id));
                self.deferred.retain(|id, _| index.contains_key(id));
                self.fight_errors.retain(|id, _| index.contains_key(id));
                self.remediation_errors.clear();
                self.status.managed_objects = state.objects.iter().filter(|d| d.managed).count();
                self.status.managed_kinds = state
                    .objects
                    .iter()
                    .filter(|d| d.managed)
                    .map(|d| GroupKind {
                        group: d.id.group.clone(),
                        kind: d.id.kind.clone(),
                    })
                    .collect();
                tracing::info!(token = %short(token), objects = state.objects.len(), "new desired state");
                let incremental = self.incremental_from(state, &index);
                self.current = Some(Current {
                    token: token.clone(),
                    state: state.clone(),
                    index,
                });
                self.failures = 0;
                match incremental {
                    Some(inc) => {
                        tracing::info!(
                            changed = inc.changed.len(),
                            removed = inc.removed.len(),
                            "applying the difference only"
                        );
                        self.incremental = Some(inc);
                    }
                    None => {
                        self.incremental = None;
                        self.next_full = Some(self.cfg.clock.now());
                    }
                }
            }
            DesiredUpdate::Invalid { token, errors } => {
                tracing::warn!(token = %short(token), errors = errors.len(), "source invalid; keeping the last good state");
                self.status.source_token = Some(token.clone());
                self.source_errors = errors.clone();
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let deferred = self
            .deferred
            .keys()
            .filter_map(|id| self.fights.suppressed_until(id));
        let fights = self.fight_errors.values().map(|(_, t)| *t);
        self.next_full
            .into_iter()
            .chain(deferred)
            .chain(fights)
            .min()
    }

    fn publish(&mut self) {
        let now = self.cfg.clock.now();
        self.fight_errors.retain(|_, (_, until)| *until > now);
        let mut errors: Vec<StatusError> = Vec::new();
        errors.extend(self.source_errors.iter().cloned());
        errors.extend(self.sync_errors.iter().cloned());
        errors.extend(self.remediation_errors.values().cloned());
        errors.extend(self.fight_errors.values().map(|(e, _)| e.clone()));
        let synced = errors.is_empty()
            && self
                .current
                .as_ref()
                .is_some_and(|c| self.status.commit.as_deref() == Some(c.token.as_str()));
        errors.extend(self.warnings.iter().cloned());
        self.status.errors = errors;
        self.status.synced = synced;
        let s = self.status.clone();
        self.status_tx.send_if_modified(|old| {
            if *old == s {
                false
            } else {
                *old = s;
                true
            }
        });
    }

    /// Count an applier execution in the status and the metrics (`secs`: its duration).
    fn record_apply(&mut self, report: &nomos_cluster::ExecReport, token: &str, secs: f64) {
        let (key, m) = (self.target.key.as_str(), &self.cfg.metrics);
        let ops = [
            (Operation::Apply, Outcome::Success, report.applies),
            (Operation::Delete, Outcome::Success, report.deletes),
            (Operation::Apply, Outcome::Error, report.failed),
        ];
        for (op, outcome, n) in ops {
            m.apply_operations_by(key, Controller::Applier, op, outcome, n as u64);
        }
        let ok = report.is_success().into();
        m.observe_apply(key, Some(token), ok, secs, self.cfg.clock.wall());
        self.status.applies += report.applies as u64;
        self.status.prunes += report.deletes as u64;
        self.status.retries += u64::from(report.retries);
    }

    /// When the current state is fully synced (its commit applied, no error outstanding) and
    /// `next` differs from it in a few objects, what changed. `None` asks for a full sync:
    /// nothing synced yet, outstanding errors, a large change, a change of the implicit
    /// Namespaces of an unstructured repository, or anything the mass-prune safety checks
    /// would look at (every Namespace gone, more than half of the objects pruned).
    fn incremental_from(
        &self,
        next: &DesiredState,
        next_index: &HashMap<ObjectId, usize>,
    ) -> Option<Incremental> {
        let cur = self.current.as_ref()?;
        let clean = self.status.commit.as_deref() == Some(cur.token.as_str())
            && self.sync_errors.is_empty()
            && self.remediation_errors.is_empty()
            && self.next_full.is_none_or(|t| t > self.cfg.clock.now())
            && self.incremental.is_none();
        if !clean {
            return None;
        }
        let old = &cur.state;
        let mut changed = Vec::new();
        for d in &next.objects {
            match cur.index.get(&d.id) {
                Some(&i)
                    if old.objects[i].hash == d.hash && old.objects[i].managed == d.managed => {}
                _ => changed.push(d.id.clone()),
            }
        }
        let removed: Vec<(ObjectId, Gvk)> = old
            .objects
            .iter()
            .filter(|d| !next_index.contains_key(&d.id))
            .map(|d| (d.id.clone(), d.gvk.clone()))
            .collect();
        let total = changed.len() + removed.len();
        if total == 0 {
            return Some(Incremental { changed, removed });
        }
        // Large changes go through the full path (one listing beats many gets).
        if total > 256.max(next.objects.len() / 10) {
            return None;
        }
        let namespaces = |s: &DesiredState| -> (std::collections::BTreeSet<String>, usize) {
            (
                s.objects
                    .iter()
                    .map(|d| d.id.namespace.clone())
                    .filter(|n| !n.is_empty())
                    .collect(),
                s.objects
                    .iter()
                    .filter(|d| d.id.group.is_empty() && d.id.kind == "Namespace")
                    .count(),
            )
        };
        let (old_ns, old_decl) = namespaces(old);
        let (new_ns, new_decl) = namespaces(next);
        let plan_opts = self.cfg.plan_options();
        if plan_opts.implicit_namespaces && old_ns != new_ns {
            return None;
        }
        if old_decl > 0 && new_decl == 0 {
            return None; // KNV2006 territory: let the full plan refuse it
        }
        if removed.len() * 2 > old.objects.len() {
            return None;
        }
        Some(Incremental { changed, removed })
    }

    /// Apply only what changed since the last fully synced state: read the changed and removed
    /// objects one by one, plan them (creates, updates, prunes, abandons) and execute. Falls
    /// back to a full sync when anything fails.
    async fn incremental(&mut self) {
        let Some(inc) = self.incremental.take() else {
            return;
        };
        let Some(cur) = &self.current else { return };
        let (state, token) = (cur.state.clone(), cur.token.clone());
        let t0 = self.cfg.clock.now();
        let cfg = self.cfg.clone();
        let client = self.target.client.clone();
        // The objects to look at, with the versions to read them by.
        let mut partial_objects = Vec::with_capacity(inc.changed.len());
        let mut reads: Vec<(ObjectId, Gvk)> = Vec::new();
        for id in &inc.changed {
            if let Some(&i) = cur.index.get(id) {
                let d = &state.objects[i];
                partial_objects.push(d.clone());
                reads.push((id.clone(), d.gvk.clone()));
            }
        }
        reads.extend(inc.removed.iter().cloned());
        let gets = futures::future::join_all(reads.iter().map(|(id, gvk)| {
            let client = &client;
            async move {
                let ns = (!id.namespace.is_empty()).then_some(id.namespace.as_str());
                client.get(gvk, ns, &id.name).await
            }
        }))
        .await;
        let mut live = Vec::new();
        for r in gets {
            match r {
                Ok(Some(v)) => live.push(v),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "incremental sync could not read an object; full sync");
                    self.next_full = Some(cfg.clock.now());
                    return;
                }
            }
        }
        let partial = DesiredState {
            cluster: state.cluster.clone(),
            sync: state.sync.clone(),
            source: state.source.clone(),
            objects: partial_objects,
            hash: String::new(),
        };
        let opts = PlanOptions {
            implicit_namespaces: false,
            // Checked against the whole state in `incremental_from`.
            max_prune_fraction: None,
            ..cfg.plan_options()
        };
        let p = plan::plan(&partial, &live, &opts);
        let report = nomos_cluster::execute(&p, &client, &cfg.exec_options()).await;
        let secs = cfg.clock.now().saturating_duration_since(t0).as_secs_f64();
        self.record_apply(&report, &token, secs);
        tracing::info!(
            token = %short(&token),
            applies = report.applies,
            deletes = report.deletes,
            failed = report.failed,
            "incremental sync"
        );
        if !report.is_success() || !p.errors.is_empty() {
            // Report through the full path (it lists, plans everything and records errors).
            self.next_full = Some(cfg.clock.now());
            return;
        }
        cfg.metrics
            .observe_reconcile(&self.target.key, Outcome::Success, secs);
        if cfg.remediate {
            self.ensure_watchers(&state).await;
        }
        self.status.commit = Some(token);
        self.status.last_sync = Some(cfg.clock.wall());
    }

    /// Read the live state, plan, apply; record the reconcile's duration and outcome.
    async fn full_sync(&mut self) {
        let t0 = self.cfg.clock.now();
        if self.current.is_none() {
            self.next_full = None;
            return;
        }
        self.full_sync_inner().await;
        let ok = self.status.reachable && self.sync_errors.is_empty();
        self.cfg.metrics.observe_reconcile(
            &self.target.key,
            ok.into(),
            self.cfg
                .clock
                .now()
                .saturating_duration_since(t0)
                .as_secs_f64(),
        );
    }

    async fn full_sync_inner(&mut self) {
        // A full sync covers whatever an incremental one was going to do.
        self.incremental = None;
        let Some(cur) = &self.current else {
            self.next_full = None;
            return;
        };
        let state = cur.state.clone();
        let token = cur.token.clone();
        let cfg = self.cfg.clone();
        // Held until the end of this sync (see `SyncerConfig::full_sync_slots`).
        let _slot = cfg.full_sync_slots.clone().acquire_owned().await;
        let client = &self.target.client;
        let mut live = match live_state(client, &state, &cfg.sync, cfg.list_concurrency).await {
            Ok(l) => l,
            Err(e) => {
                self.status.reachable = false;
                return self.fail(vec![StatusError::new(
                    Code::APPLIER,
                    format!("cluster unreachable: {e}"),
                    None,
                )]);
            }
        };
        self.status.reachable = true;
        // Kinds that could not be listed (transient errors): list again with retries; a kind
        // still missing makes the pass incomplete (planning without it could adopt blindly or
        // miss prunes), so the sync is retried later.
        let declared: HashSet<(&str, &str)> = state
            .objects
            .iter()
            .map(|d| (d.gvk.group.as_str(), d.gvk.kind.as_str()))
            .collect();
        let selector = format!(
            "{}={}",
            nomos_core::ann::APPLYSET_PART_OF,
            cfg.sync.applyset_id()
        );
        let mut incomplete = Vec::new();
        for skipped in std::mem::take(&mut live.skipped) {
            if skipped.not_listable() {
                continue;
            }
            let gvk = skipped.gvk;
            let sel = if declared.contains(&(gvk.group.as_str(), gvk.kind.as_str())) {
                ""
            } else {
                selector.as_str()
            };
            let r = nomos_cluster::with_retries(&cfg.exec.retry, cfg.exec.sleeper.as_ref(), || {
                client.list(&gvk, sel)
            })
            .await;
            match r.result {
                Ok(mut v) => live.objects.append(&mut v),
                Err(e) => incomplete.push(StatusError::new(
                    Code::APPLIER,
                    format!(
                        "could not list {}: {e}",
                        nomos_cluster::discovery::gvk_string(&gvk)
                    ),
                    None,
                )),
            }
        }
        if !incomplete.is_empty() {
            return self.fail(incomplete);
        }
        let p = plan::plan(&state, &live.objects, &cfg.plan_options());
        // The listing is the largest transient: let it go before the long execution.
        drop(live);
        let t_apply = cfg.clock.now();
        let report = nomos_cluster::execute(&p, client, &cfg.exec_options()).await;
        let secs = cfg
            .clock
            .now()
            .saturating_duration_since(t_apply)
            .as_secs_f64();
        self.record_apply(&report, &token, secs);
        let key = self.target.key.as_str();
        let m = &cfg.metrics;
        for _ in p
            .errors
            .iter()
            .filter(|e| e.code == Code::MANAGEMENT_CONFLICT)
        {
            m.resource_conflict(key, Some(&token));
        }
        let mut errors: Vec<StatusError> =
            p.errors.iter().map(StatusError::from_diagnostic).collect();
        for item in &report.items {
            if let nomos_cluster::Outcome::Failed { message, .. } = &item.outcome {
                errors.push(StatusError::new(
                    Code::APPLIER,
                    message.clone(),
                    Some(item.id.to_string()),
                ));
            }
        }
        tracing::info!(
            token = %short(&token),
            applies = report.applies,
            deletes = report.deletes,
            failed = report.failed,
            skipped = report.skipped,
            retries = report.retries,
            "full sync"
        );
        // Drift correction starts once the cluster could be read, even if some items failed
        // (one bad object must not leave the others uncorrected).
        if cfg.remediate {
            self.ensure_watchers(&state).await;
        }
        if !report.is_success() {
            return self.fail(errors);
        }
        let now = cfg.clock.now();
        self.failures = 0;
        self.status.commit = Some(token);
        self.status.last_sync = Some(cfg.clock.wall());
        self.status.full_syncs += 1;
        self.remediation_errors.clear();
        // Plan errors (conflicts, refused prunes) are retried sooner than a resync.
        self.next_full = Some(
            now + if errors.is_empty() {
                cfg.resync_period
            } else {
                cfg.resync_period.min(cfg.retry_max)
            },
        );
        self.sync_errors = errors;
    }

    fn fail(&mut self, errors: Vec<StatusError>) {
        self.failures += 1;
        let wait = self.backoff();
        tracing::warn!(failures = self.failures, retry_in = ?wait, first = ?errors.first().map(|e| &e.message), "sync failed");
        self.sync_errors = errors;
        self.next_full = Some(self.cfg.clock.now() + wait);
    }

    /// One watcher per managed group-kind; stale ones stop, dead ones restart.
    async fn ensure_watchers(&mut self, state: &DesiredState) {
        let mut wanted: BTreeMap<(String, String), Gvk> = BTreeMap::new();
        for d in state.objects.iter().filter(|d| d.managed) {
            wanted
                .entry((d.gvk.group.clone(), d.gvk.kind.clone()))
                .or_insert_with(|| d.gvk.clone());
        }
        self.watchers.retain(|gk, h| {
            let keep = wanted.contains_key(gk) && !h.is_finished();
            if !keep {
                h.abort();
            }
            keep
        });
        let selector = format!(
            "{}={}",
            nomos_core::ann::APPLYSET_PART_OF,
            self.cfg.sync.applyset_id()
        );
        for (gk, gvk) in wanted {
            if self.watchers.contains_key(&gk) {
                continue;
            }
            match self.target.client.resolve(&gvk).await {
                Ok(m) => {
                    let h = tokio::spawn(watch_kind(
                        self.target.client.kube().clone(),
                        m,
                        selector.clone(),
                        self.events_tx.clone(),
                        self.cfg.clone(),
                    ));
                    self.watchers.insert(gk, h);
                }
                Err(e) => {
                    tracing::warn!(kind = %nomos_cluster::discovery::gvk_string(&gvk), error = %e, "cannot watch kind");
                }
            }
        }
    }

    async fn on_watch(&mut self, msg: WatchMsg) {
        match msg {
            WatchMsg::Changed { id, live, at } => self.remediate(id, live, at).await,
            WatchMsg::Listed {
                group,
                kind,
                seen,
                at,
            } => {
                let Some(cur) = &self.current else { return };
                let missing: Vec<ObjectId> = cur
                    .state
                    .objects
                    .iter()
                    .filter(|d| {
                        d.managed
                            && d.id.group == group
                            && d.id.kind == kind
                            && !seen.contains(&d.id)
                    })
                    .map(|d| d.id.clone())
                    .collect();
                for id in missing {
                    self.remediate(id, None, at).await;
                }
            }
        }
    }

    fn declared(&self, id: &ObjectId) -> Option<(Arc<DesiredState>, DesiredObject)> {
        let cur = self.current.as_ref()?;
        let d = &cur.state.objects[*cur.index.get(id)?];
        d.managed.then(|| (cur.state.clone(), d.clone()))
    }

    fn one_plan(&self, state: &DesiredState, d: &DesiredObject, live: Option<&Value>) -> Plan {
        let one = DesiredState {
            cluster: state.cluster.clone(),
            sync: state.sync.clone(),
            source: state.source.clone(),
            objects: vec![d.clone()],
            hash: String::new(),
        };
        let opts = PlanOptions {
            implicit_namespaces: false,
            max_prune_fraction: None,
            ..self.cfg.plan_options()
        };
        let live: Vec<Value> = live.cloned().into_iter().collect();
        plan::plan(&one, &live, &opts)
    }

    /// Re-diff one declared object and restore it if it drifted (or recreate it).
    async fn remediate(&mut self, id: ObjectId, hint: Option<Value>, at: Instant) {
        let Some((state, d)) = self.declared(&id) else {
            return;
        };
        let now = self.cfg.clock.now();
        if self.fights.suppressed(&id, now) {
            self.deferred.entry(id).or_insert(at);
            return;
        }
        if let Some(live) = &hint
            && self.one_plan(&state, &d, Some(live)).is_empty()
        {
            self.remediation_errors.remove(&id);
            return;
        }
        // Drift (or a deletion) seen: confirm against the server before writing.
        let ns = (!id.namespace.is_empty()).then_some(id.namespace.as_str());
        let live = match self.target.client.get(&d.gvk, ns, &id.name).await {
            Ok(v) => v,
            Err(e) => {
                self.remediation_errors.insert(
                    id.clone(),
                    StatusError::new(
                        Code::APPLIER,
                        format!("failed to get {id}: {e}"),
                        Some(id.to_string()),
                    ),
                );
                self.retry_soon();
                return;
            }
        };
        let p = self.one_plan(&state, &d, live.as_ref());
        if p.is_empty() {
            self.remediation_errors.remove(&id);
            return;
        }
        if let Some(e) = p.errors.first() {
            self.remediation_errors
                .insert(id.clone(), StatusError::from_diagnostic(e));
        }
        if p.items.iter().all(|i| !i.action.applies()) {
            return;
        }
        let actions: Vec<&str> = p.items.iter().map(|i| i.action.name()).collect();
        let t_fix = self.cfg.clock.now();
        let report =
            nomos_cluster::execute(&p, &self.target.client, &self.cfg.exec_options()).await;
        let outcome: Outcome = report.is_success().into();
        let m = &self.cfg.metrics;
        for i in &p.items {
            let op = if matches!(i.action, plan::Action::Delete) {
                Operation::Delete
            } else {
                Operation::Update
            };
            m.apply_operation(&self.target.key, Controller::Remediator, op, outcome);
        }
        m.observe_remediate(
            &self.target.key,
            outcome,
            self.cfg
                .clock
                .now()
                .saturating_duration_since(t_fix)
                .as_secs_f64(),
        );
        self.status.applies += report.applies as u64;
        self.status.retries += u64::from(report.retries);
        if !report.is_success() {
            let msg = report
                .errors()
                .first()
                .map(|e| e.message.clone())
                .unwrap_or_else(|| format!("failed to correct {id}"));
            self.remediation_errors.insert(
                id.clone(),
                StatusError::new(Code::APPLIER, msg, Some(id.to_string())),
            );
            self.retry_soon();
            return;
        }
        let done = self.cfg.clock.now();
        self.status.drift_corrections += 1;
        self.status
            .drift_latency
            .record(done.saturating_duration_since(at));
        self.cfg.metrics.observe_drift(
            &self.target.key,
            done.saturating_duration_since(at).as_secs_f64(),
        );
        self.remediation_errors.remove(&id);
        tracing::info!(object = %id, ?actions, latency_ms = done.saturating_duration_since(at).as_millis() as u64, "drift corrected");
        if let Some(f) = self.fights.record(&id, done) {
            self.cfg
                .metrics
                .resource_fight(&self.target.key, Outcome::Success);
            let manager = live
                .as_ref()
                .and_then(|l| other_manager(l, &self.cfg.exec.field_manager));
            let msg = fight_message(&id, f.count, self.cfg.fight.window, manager.as_deref());
            tracing::warn!(object = %id, manager = ?manager, backoff = ?f.until.saturating_duration_since(done), "fight detected");
            let until = (done + self.cfg.fight.window).max(f.until);
            self.fight_errors.insert(
                id.clone(),
                (
                    StatusError::new(Code::FIGHT, msg, Some(id.to_string())),
                    until,
                ),
            );
        }
    }

    /// Remediate objects whose fight back-off is over.
    async fn process_deferred(&mut self) {
        let now = self.cfg.clock.now();
        let due: Vec<(ObjectId, Instant)> = self
            .deferred
            .iter()
            .filter(|(id, _)| !self.fights.suppressed(id, now))
            .map(|(id, at)| (id.clone(), *at))
            .collect();
        for (id, at) in due {
            self.deferred.remove(&id);
            self.remediate(id, None, at).await;
        }
    }

    fn retry_soon(&mut self) {
        let at = self.cfg.clock.now() + self.cfg.retry_base;
        self.next_full = Some(self.next_full.map_or(at, |t| t.min(at)));
    }
}

fn to_value(o: DynamicObject, m: &Mapping) -> Option<Value> {
    let mut v = serde_json::to_value(o).ok()?;
    if let Some(obj) = v.as_object_mut() {
        obj.entry("apiVersion")
            .or_insert_with(|| Value::String(m.resource.api_version.clone()));
        obj.entry("kind")
            .or_insert_with(|| Value::String(m.resource.kind.clone()));
    }
    Some(v)
}

/// Watch one kind (label-filtered); kube's watcher resumes from the last resourceVersion and
/// relists on 410 Gone, with backoff on errors.
async fn watch_kind(
    client: kube::Client,
    m: Mapping,
    selector: String,
    tx: mpsc::Sender<WatchMsg>,
    cfg: Arc<SyncerConfig>,
) {
    let api: Api<DynamicObject> = Api::all_with(client, &m.resource);
    let stream = watcher(api, watcher::Config::default().labels(&selector)).default_backoff();
    let mut stream = std::pin::pin!(stream);
    let mut seen: Option<HashSet<ObjectId>> = None;
    while let Some(ev) = stream.next().await {
        let at = cfg.clock.now();
        let msg = match ev {
            Ok(watcher::Event::Init) => {
                seen = Some(HashSet::new());
                continue;
            }
            Ok(watcher::Event::InitApply(o)) => {
                let Some(v) = to_value(o, &m) else { continue };
                let id = id_of(&v);
                if let Some(s) = &mut seen {
                    s.insert(id.clone());
                }
                WatchMsg::Changed {
                    id,
                    live: Some(v),
                    at,
                }
            }
            Ok(watcher::Event::InitDone) => WatchMsg::Listed {
                group: m.resource.group.clone(),
                kind: m.resource.kind.clone(),
                seen: seen.take().unwrap_or_default(),
                at,
            },
            Ok(watcher::Event::Apply(o)) => {
                let Some(v) = to_value(o, &m) else { continue };
                WatchMsg::Changed {
                    id: id_of(&v),
                    live: Some(v),
                    at,
                }
            }
            Ok(watcher::Event::Delete(o)) => {
                let Some(v) = to_value(o, &m) else { continue };
                WatchMsg::Changed {
                    id: id_of(&v),
                    live: None,
                    at,
                }
            }
            Err(e) => {
                tracing::debug!(kind = %m.resource.kind, error = %e, "watch error (retrying)");
                continue;
            }
        };
        if tx.send(msg).await.is_err() {
            return;
        }
    }
}

type BoxFut<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// `nomos_cluster::live_state`, boxed as `Send`.
fn live_state<'a>(
    c: &'a ClusterClient,
    d: &'a DesiredState,
    s: &'a nomos_core::desired::SyncIdentity,
    n: usize,
) -> BoxFut<'a, nomos_cluster::Result<LiveState>> {
    Box::pin(nomos_cluster::live_state(c, d, s, n))
}
