//! Carry out a [`Plan`]: applies by increasing wave, then deletes by decreasing wave, as the
//! plan orders them. Items of one wave run concurrently (bounded); a failure does not stop the
//! others, but skips the items that depend on it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use nomos_core::desired::Manifest;
use nomos_core::desired::SyncIdentity;
use nomos_core::object::Gvk;
use nomos_core::plan::{Action, Plan, PlanItem};
use nomos_core::{Code, Diagnostic, ObjectId};
use serde_json::Value;

use crate::client::ClusterClient;

use crate::error::{Error, Result};
use crate::ops::{FIELD_MANAGER, gvk_of};
use crate::retry::{Attempts, RetryPolicy, Sleeper, TokioSleeper, with_retries};

/// How to execute a plan.
#[derive(Clone)]
pub struct ExecOptions {
    /// Server-side apply field manager ([`FIELD_MANAGER`]).
    pub field_manager: String,
    /// Force ownership conflicts (Config Sync: yes).
    pub force: bool,
    /// Items of one wave in flight at once (at least 1).
    pub concurrency: usize,
    /// Retries per item.
    pub retry: RetryPolicy,
    /// Whose metadata abandoning strips.
    pub sync: SyncIdentity,
    /// How to wait between retries.
    pub sleeper: Arc<dyn Sleeper>,
}

impl Default for ExecOptions {
    fn default() -> Self {
        ExecOptions {
            field_manager: FIELD_MANAGER.to_string(),
            force: true,
            concurrency: 32,
            retry: RetryPolicy::default(),
            sync: SyncIdentity::default(),
            sleeper: Arc::new(TokioSleeper),
        }
    }
}

impl std::fmt::Debug for ExecOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecOptions")
            .field("field_manager", &self.field_manager)
            .field("force", &self.force)
            .field("concurrency", &self.concurrency)
            .field("retry", &self.retry)
            .field("sync", &self.sync)
            .finish_non_exhaustive()
    }
}

/// What happened to one plan item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Done (applied, deleted or abandoned; a delete of an already missing object counts).
    Ok,
    /// Failed after retries; `message` is the KNV2009 text (`failed to apply <id>: …`).
    Failed {
        message: String,
        status: Option<u16>,
    },
    /// Not attempted: a dependency failed or was skipped.
    Skipped { dependency: ObjectId },
    /// Not attempted: nothing to execute (a management conflict, reported by the plan).
    NotExecuted,
}

/// One item's report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemReport {
    pub id: ObjectId,
    /// [`Action::name`].
    pub action: &'static str,
    pub wave: usize,
    pub outcome: Outcome,
    /// Retries spent on this item.
    pub retries: u32,
}

/// The result of [`execute`], items in plan order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecReport {
    pub items: Vec<ItemReport>,
    /// Successful server-side applies (create, update, adopt, update-metadata).
    pub applies: usize,
    /// Successful deletes.
    pub deletes: usize,
    /// Successful abandons.
    pub abandons: usize,
    /// Retries over all items.
    pub retries: u32,
    pub failed: usize,
    pub skipped: usize,
}

impl ExecReport {
    /// No failures and no skips.
    pub fn is_success(&self) -> bool {
        self.failed == 0 && self.skipped == 0
    }

    /// The report of one object.
    pub fn item(&self, id: &ObjectId) -> Option<&ItemReport> {
        self.items.iter().find(|i| &i.id == id)
    }

    /// KNV2009 errors, one per failed item.
    pub fn errors(&self) -> Vec<Diagnostic> {
        self.items
            .iter()
            .filter_map(|i| match &i.outcome {
                Outcome::Failed { message, .. } => {
                    Some(Diagnostic::new(Code::APPLIER, message.clone()))
                }
                _ => None,
            })
            .collect()
    }
}

fn verb(action: &Action) -> &'static str {
    match action {
        Action::Delete => "delete",
        Action::Abandon => "abandon",
        _ => "apply",
    }
}

fn is_crd(id: &ObjectId) -> bool {
    id.group == "apiextensions.k8s.io" && id.kind == "CustomResourceDefinition"
}

/// What one item asks of the cluster, owned so that it can run as a task of its own: an
/// apply holds its manifest (shared, not copied), a delete just the identity.
enum Job {
    Apply(Manifest),
    Delete {
        gvk: Gvk,
        namespace: Option<String>,
        name: String,
    },
    Abandon(Value),
    Nothing,
    /// The item cannot be carried out (a malformed plan): each attempt fails with this.
    Invalid(String),
}

impl Job {
    fn of(item: &PlanItem) -> Job {
        match &item.action {
            a if a.applies() => match &item.desired {
                Some(m) => Job::Apply(m.clone()),
                None => Job::Invalid("plan item has no desired object".into()),
            },
            Action::Delete => {
                let gvk = match (&item.live, &item.desired) {
                    (Some(live), _) => gvk_of(live),
                    (None, Some(m)) => gvk_of(&m.to_value()),
                    (None, None) => {
                        Err(Error::InvalidObject("plan item has no live object".into()))
                    }
                };
                match gvk {
                    Ok(gvk) => Job::Delete {
                        gvk,
                        namespace: (!item.id.namespace.is_empty())
                            .then(|| item.id.namespace.clone()),
                        name: item.id.name.clone(),
                    },
                    Err(e) => Job::Invalid(e.to_string()),
                }
            }
            Action::Abandon => item.live.clone().map_or(Job::Nothing, Job::Abandon),
            _ => Job::Nothing,
        }
    }

    /// One attempt.
    async fn run(&self, client: &ClusterClient, opts: &ExecOptions) -> Result<()> {
        match self {
            Job::Apply(m) => {
                client
                    .apply_manifest(m, &opts.field_manager, opts.force)
                    .await
            }
            Job::Delete {
                gvk,
                namespace,
                name,
            } => client
                .delete(gvk, namespace.as_deref(), name)
                .await
                .map(drop),
            Job::Abandon(live) => client.abandon(live, &opts.sync).await.map(drop),
            Job::Nothing => Ok(()),
            Job::Invalid(why) => Err(Error::InvalidObject(why.clone())),
        }
    }
}

/// The report of an item from its attempts.
fn report(item: &PlanItem, attempts: Attempts<(), Error>, cluster: &str) -> ItemReport {
    let outcome = match attempts.result {
        Ok(()) => {
            tracing::debug!(id = %item.id, action = item.action.name(), "done");
            Outcome::Ok
        }
        Err(e) => {
            let message = format!("failed to {} {}: {e}", verb(&item.action), item.id);
            tracing::warn!(cluster, retries = attempts.retries, "{message}");
            Outcome::Failed {
                message,
                status: e.status(),
            }
        }
    };
    ItemReport {
        id: item.id.clone(),
        action: item.action.name(),
        wave: item.wave,
        outcome,
        retries: attempts.retries,
    }
}

/// Run `items` with at most `opts.concurrency` in flight, each as its own task so that the
/// requests' work (encoding, TLS, decoding, retries) spreads over the runtime's threads instead
/// of being polled from the caller's one task. The tasks are aborted if this future is dropped.
async fn run_concurrently(
    items: Vec<(usize, &PlanItem)>,
    client: &ClusterClient,
    opts: &ExecOptions,
) -> Vec<(usize, ItemReport)> {
    let limit = opts.concurrency.max(1);
    let shared = Arc::new(opts.clone());
    let mut set = tokio::task::JoinSet::new();
    let mut running: HashMap<tokio::task::Id, (usize, &PlanItem)> = HashMap::new();
    let mut pending = items.into_iter();
    let mut done = Vec::new();
    loop {
        while set.len() < limit {
            let Some((n, item)) = pending.next() else {
                break;
            };
            let (job, client, opts) = (Job::of(item), client.clone(), shared.clone());
            let handle = set.spawn(async move {
                with_retries(&opts.retry, opts.sleeper.as_ref(), || {
                    job.run(&client, &opts)
                })
                .await
            });
            running.insert(handle.id(), (n, item));
        }
        let (id, attempts) = match set.join_next_with_id().await {
            None => break,
            Some(Ok((id, attempts))) => (id, attempts),
            // A panic is a bug: report the item as failed rather than lose it.
            Some(Err(e)) => (
                e.id(),
                Attempts {
                    result: Err(Error::Internal(e.to_string())),
                    retries: 0,
                },
            ),
        };
        if let Some((n, item)) = running.remove(&id) {
            done.push((n, report(item, attempts, client.cluster_name())));
        }
    }
    done
}

/// Execute `plan` against `client`. Never fails as a whole: per-item results are in the report.
///
/// Batches are runs of consecutive items with the same wave and direction (apply or delete);
/// each batch runs with at most `opts.concurrency` items in flight. Discovery is refreshed
/// after a batch that applied a CustomResourceDefinition, so later waves find the new kinds.
pub async fn execute(plan: &Plan, client: &ClusterClient, opts: &ExecOptions) -> ExecReport {
    let mut report = ExecReport::default();
    let mut broken: HashSet<ObjectId> = HashSet::new();
    let key = |i: &PlanItem| (matches!(i.action, Action::Delete), i.wave);
    let items = &plan.items;
    let mut start = 0;
    while start < items.len() {
        let k = key(&items[start]);
        let end = items[start..]
            .iter()
            .position(|i| key(i) != k)
            .map_or(items.len(), |n| start + n);
        let batch = &items[start..end];
        start = end;
        tracing::debug!(
            wave = k.1,
            delete = k.0,
            items = batch.len(),
            "executing batch"
        );

        let mut results: Vec<(usize, ItemReport)> = Vec::with_capacity(batch.len());
        let mut runnable = Vec::new();
        for (n, item) in batch.iter().enumerate() {
            if let Some(dep) = item.depends_on.iter().find(|d| broken.contains(d)) {
                results.push((
                    n,
                    ItemReport {
                        id: item.id.clone(),
                        action: item.action.name(),
                        wave: item.wave,
                        outcome: Outcome::Skipped {
                            dependency: dep.clone(),
                        },
                        retries: 0,
                    },
                ));
            } else if matches!(item.action, Action::Conflict { .. }) {
                results.push((
                    n,
                    ItemReport {
                        id: item.id.clone(),
                        action: item.action.name(),
                        wave: item.wave,
                        outcome: Outcome::NotExecuted,
                        retries: 0,
                    },
                ));
            } else {
                runnable.push((n, item));
            }
        }
        results.extend(run_concurrently(runnable, client, opts).await);
        results.sort_by_key(|(n, _)| *n);

        let mut crd_changed = false;
        for (n, r) in results {
            let item = &batch[n];
            report.retries += r.retries;
            match &r.outcome {
                Outcome::Ok => {
                    crd_changed |= is_crd(&item.id);
                    match item.action {
                        Action::Delete => report.deletes += 1,
                        Action::Abandon => report.abandons += 1,
                        _ => report.applies += 1,
                    }
                }
                Outcome::Failed { .. } => {
                    report.failed += 1;
                    broken.insert(item.id.clone());
                }
                Outcome::Skipped { .. } => {
                    report.skipped += 1;
                    broken.insert(item.id.clone());
                }
                Outcome::NotExecuted => {}
            }
            report.items.push(r);
        }
        if crd_changed {
            let refreshed = with_retries(&opts.retry, opts.sleeper.as_ref(), || {
                client.refresh_discovery()
            })
            .await;
            report.retries += refreshed.retries;
            if let Err(e) = refreshed.result {
                tracing::warn!(error = %e, "discovery refresh after CRD changes failed");
            }
        }
    }
    report
}
