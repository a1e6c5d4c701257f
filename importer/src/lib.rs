//! # nomos-importer
//!
//! Fetches a Config Sync policy repository with [gix](https://docs.rs/gix), validates each new
//! commit once with `nomos-core`, and publishes per-cluster desired state as [`Snapshot`]s.
//!
//! - [`GitSource`] says where the repository is (`https://`, `http://`, `ssh://`, scp-like
//!   `git@host:org/repo`, `file://` or a local path) and how to authenticate ([`Credentials`]
//!   read from files, as mounted Secrets; [`HostKeyCheck`]; [`TlsOptions`]).
//! - [`Fetcher`] keeps a bare mirror in a cache directory, fetches only what the branch or
//!   revision needs, and reads the policy directory from the object database (no working copy),
//!   resolving in-repository symbolic links and refusing escaping ones and oversized content.
//! - [`Importer`] turns fetched commits into snapshots: one fetch and one parse per commit,
//!   one pass per cluster. A bad commit, an unreachable remote or an empty checkout is reported
//!   (KNV codes) and the last good snapshot stays in force.
//! - [`run`] polls every period, or sooner when triggered.
//! - [`serve`] serves per-cluster snapshots over HTTP to separate syncers (long polls keyed by
//!   ETag), and [`webhook`] turns verified push notifications into immediate fetches.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use nomos_core::desired::{self, DesiredState, SourceInfo, StampOptions, SyncIdentity};
use nomos_core::diag::{Diagnostic, dedup_sorted};
use nomos_core::{Options, Repository, SourceFile};
use sha2::{Digest, Sha256};
use tokio::sync::watch;

mod auth;
pub mod cli;
mod fetch;
mod run;
pub mod serve;
pub mod source;
pub mod webhook;

pub use auth::{
    SECRET_CA_CERT, SECRET_COOKIE_FILE, SECRET_KNOWN_HOSTS, SECRET_SSH_KEY, SECRET_TOKEN,
    SECRET_USERNAME,
};
pub use fetch::Fetcher;
pub use run::{DEFAULT_PERIOD, Sleeper, TokioSleeper, run, run_with_names};
pub use source::{
    AuthType, Bounds, Credentials, GitSource, HostKeyCheck, SourceError, TlsOptions, Transport,
};

/// The files of a commit's policy directory, as read from the object database.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checkout {
    /// Files the format reads, paths relative to the policy directory, sorted.
    pub files: Vec<SourceFile>,
    /// `api-resources.txt` at the root of the policy directory, if present.
    pub api_resources: Option<String>,
}

/// Something commits come from: [`Fetcher`] in production, fakes in tests.
pub trait Source: Send {
    /// The configured source (URL, branch, revision, directory).
    fn source(&self) -> &GitSource;
    /// Fetch and resolve the branch or revision to a commit id.
    fn resolve(&mut self) -> Result<String, SourceError>;
    /// Read the policy directory of `commit`.
    fn read(&mut self, commit: &str) -> Result<Checkout, SourceError>;
}

/// One validated commit: the desired state of every cluster it was built for.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub commit: String,
    pub source: SourceInfo,
    /// Desired state per cluster name (`""` = an unnamed cluster).
    pub per_cluster: BTreeMap<String, Arc<DesiredState>>,
    /// Hash over every cluster's name and desired-state hash.
    pub hash: String,
    /// Non-blocking errors (KNV1021) and warnings reported for the commit.
    pub errors: Vec<Diagnostic>,
}

/// What one [`Importer::import`] call did.
#[derive(Debug, Clone)]
pub enum ImportOutcome {
    /// A new snapshot was published.
    Published(Arc<Snapshot>),
    /// The commit (and the requested clusters) did not change since the last attempt;
    /// `errors` repeats what that attempt reported (empty if it was published).
    Unchanged {
        commit: String,
        errors: Vec<Diagnostic>,
    },
    /// The commit could not be fetched, read or validated; the last good snapshot stays.
    Rejected {
        /// `None` when fetching failed before a commit was known.
        commit: Option<String>,
        errors: Vec<Diagnostic>,
    },
}

impl ImportOutcome {
    /// The errors reported (empty for a publish).
    pub fn errors(&self) -> &[Diagnostic] {
        match self {
            ImportOutcome::Published(_) => &[],
            ImportOutcome::Unchanged { errors, .. } | ImportOutcome::Rejected { errors, .. } => {
                errors
            }
        }
    }
}

/// How commits are validated and stamped.
#[derive(Debug, Clone, Default)]
pub struct ImportConfig {
    /// Format, namespace repository, threshold, parse limits…
    pub options: Options,
    /// The RootSync or RepoSync the state is for.
    pub sync: SyncIdentity,
    /// Stamp `configsync.gke.io/declared-fields`.
    pub declared_fields: bool,
    /// Do not stamp `configmanagement.gke.io/token` (the commit) on objects: a commit then
    /// rewrites only the objects it changes (the syncer's choice, see SHORTCOMINGS.md). The
    /// snapshot still carries the commit.
    pub omit_token: bool,
}

/// The import state machine: last good snapshot, last attempt, and the publishing channel.
pub struct Importer<S> {
    source: S,
    config: ImportConfig,
    last_good: Option<Arc<Snapshot>>,
    /// Commit, cluster set and errors of the last attempt that read the commit.
    last_attempt: Option<(String, Vec<String>, Vec<Diagnostic>)>,
    last_errors: Vec<Diagnostic>,
    tx: watch::Sender<Option<Arc<Snapshot>>>,
}

impl<S: Source> Importer<S> {
    pub fn new(source: S, config: ImportConfig) -> Importer<S> {
        let (tx, _) = watch::channel(None);
        Importer {
            source,
            config,
            last_good: None,
            last_attempt: None,
            last_errors: Vec::new(),
            tx,
        }
    }

    /// Receive every published snapshot (the current one first, if any).
    pub fn subscribe(&self) -> watch::Receiver<Option<Arc<Snapshot>>> {
        self.tx.subscribe()
    }

    /// The snapshot in force.
    pub fn last_good(&self) -> Option<&Arc<Snapshot>> {
        self.last_good.as_ref()
    }

    /// Errors of the last import (empty after a publish or an unchanged, good commit).
    pub fn last_errors(&self) -> &[Diagnostic] {
        &self.last_errors
    }

    pub fn source(&self) -> &S {
        &self.source
    }

    /// Fetch, and if the commit (or the requested clusters) changed, read, validate and publish.
    /// `cluster_names` are the clusters to build state for; when empty, the clusters the
    /// repository names plus the unnamed cluster (`""`).
    pub fn import(&mut self, cluster_names: &[String]) -> ImportOutcome {
        let commit = match self.source.resolve() {
            Ok(c) => c,
            Err(e) => return self.reject(None, vec![e.diagnostic()], "fetch failed"),
        };
        let requested: Vec<String> = cluster_names
            .iter()
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if let Some((c, names, errors)) = &self.last_attempt
            && *c == commit
            && *names == requested
        {
            // The remote may have been unreachable in between: report this commit's errors.
            self.last_errors = errors.clone();
            return ImportOutcome::Unchanged {
                commit,
                errors: errors.clone(),
            };
        }
        let checkout = match self.source.read(&commit) {
            Ok(c) => c,
            Err(e) => {
                // Deterministic for this commit: do not re-read it every period.
                let out = self.reject(Some(commit.clone()), vec![e.diagnostic()], "read failed");
                self.last_attempt = Some((commit, requested, out.errors().to_vec()));
                return out;
            }
        };
        let outcome = match self.validate(&commit, &checkout, &requested) {
            Ok(snapshot) => {
                let snapshot = Arc::new(snapshot);
                tracing::info!(
                    commit = %snapshot.commit,
                    clusters = snapshot.per_cluster.len(),
                    hash = %snapshot.hash,
                    "published snapshot"
                );
                self.last_good = Some(snapshot.clone());
                self.last_errors.clear();
                self.tx.send_replace(Some(snapshot.clone()));
                ImportOutcome::Published(snapshot)
            }
            Err(errors) => self.reject(Some(commit.clone()), errors, "commit rejected"),
        };
        self.last_attempt = Some((commit, requested, outcome.errors().to_vec()));
        outcome
    }

    fn reject(
        &mut self,
        commit: Option<String>,
        errors: Vec<Diagnostic>,
        what: &str,
    ) -> ImportOutcome {
        let errors = dedup_sorted(errors);
        tracing::warn!(
            commit = commit.as_deref().unwrap_or("-"),
            errors = errors.len(),
            first = %errors.first().map(|e| e.to_string()).unwrap_or_default(),
            kept = self.last_good.as_ref().map(|s| s.commit.as_str()).unwrap_or("-"),
            "{what}; keeping the last good snapshot"
        );
        self.last_errors = errors.clone();
        ImportOutcome::Rejected { commit, errors }
    }

    fn validate(
        &self,
        commit: &str,
        checkout: &Checkout,
        requested: &[String],
    ) -> Result<Snapshot, Vec<Diagnostic>> {
        let api = checkout
            .api_resources
            .as_deref()
            .map(|t| ("api-resources.txt", t));
        let repo = Repository::load(&checkout.files, api, self.config.options.clone());
        let clusters: Vec<String> = if requested.is_empty() {
            let mut names = repo.cluster_names();
            names.insert(0, String::new());
            names
        } else {
            requested.to_vec()
        };
        let git = self.source.source();
        let stamp = StampOptions {
            sync: self.config.sync.clone(),
            source: SourceInfo {
                repo: git.display_url(),
                branch: git.branch.clone(),
                revision: git.effective_revision().unwrap_or_default().to_string(),
                commit: commit.to_string(),
                dir: git.normalized_dir(),
            },
            format: Some(self.config.options.format),
            declared_fields: self.config.declared_fields,
        };
        let source = stamp.source.clone();
        let mut stamp = stamp;
        if self.config.omit_token {
            stamp.source.commit.clear();
        }
        let mut errors = Vec::new();
        let mut soft = repo.warnings.clone();
        let mut per_cluster = BTreeMap::new();
        // One pass per distinct cluster selection, on every core; names sharing a pass get
        // its state re-stamped with their name.
        let built: Vec<(String, Vec<Diagnostic>, Option<DesiredState>)> =
            desired::build_clusters(&repo, &clusters, &stamp)
                .into_iter()
                .map(|(cluster, b)| match b {
                    desired::ClusterBuild::Syncable {
                        mut state,
                        warnings,
                    } => {
                        // Not on the objects (`omit_token`), but the state still says where it
                        // comes from.
                        state.source.commit = commit.to_string();
                        (cluster, warnings, Some(state))
                    }
                    desired::ClusterBuild::Blocked { errors } => (cluster, errors, None),
                })
                .collect();
        for (cluster, pass_errors, state) in built {
            let cluster = &cluster;
            let Some(state) = state else {
                errors.extend(pass_errors);
                continue;
            };
            soft.extend(pass_errors);
            let had_objects = self
                .last_good
                .as_ref()
                .and_then(|s| s.per_cluster.get(cluster))
                .is_some_and(|s| !s.objects.is_empty());
            if state.objects.is_empty() && had_objects {
                errors.push(
                    SourceError::Empty {
                        commit: commit.to_string(),
                        cluster: cluster.clone(),
                    }
                    .diagnostic(),
                );
                continue;
            }
            per_cluster.insert(cluster.clone(), Arc::new(state));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut h = Sha256::new();
        for (name, state) in &per_cluster {
            h.update(name.as_bytes());
            h.update([0]);
            h.update(state.hash.as_bytes());
            h.update([0]);
        }
        let hash = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        Ok(Snapshot {
            commit: commit.to_string(),
            source,
            per_cluster,
            hash,
            errors: dedup_sorted(soft),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nomos_core::SourceFormat;

    /// A scripted source: the commit to report and the files of each commit.
    struct Fake {
        git: GitSource,
        commit: Result<String, SourceError>,
        files: BTreeMap<String, Vec<SourceFile>>,
        reads: usize,
    }

    impl Source for Fake {
        fn source(&self) -> &GitSource {
            &self.git
        }
        fn resolve(&mut self) -> Result<String, SourceError> {
            self.commit.clone()
        }
        fn read(&mut self, commit: &str) -> Result<Checkout, SourceError> {
            self.reads += 1;
            Ok(Checkout {
                files: self.files[commit].clone(),
                api_resources: None,
            })
        }
    }

    fn ns(name: &str) -> SourceFile {
        SourceFile::new(
            format!("{name}.yaml"),
            format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n"),
        )
    }

    fn importer() -> Importer<Fake> {
        let mut files = BTreeMap::new();
        files.insert("c1".to_string(), vec![ns("a"), ns("b")]);
        files.insert("c2".to_string(), vec![]);
        Importer::new(
            Fake {
                git: GitSource::new("/repo"),
                commit: Ok("c1".into()),
                files,
                reads: 0,
            },
            ImportConfig {
                options: Options::new(SourceFormat::Unstructured),
                ..ImportConfig::default()
            },
        )
    }

    #[test]
    fn one_read_per_commit_for_all_clusters() {
        let mut imp = importer();
        let clusters = ["x".to_string(), "y".to_string(), "x".to_string()];
        let ImportOutcome::Published(s) = imp.import(&clusters) else {
            panic!("expected a snapshot")
        };
        assert_eq!(s.per_cluster.keys().collect::<Vec<_>>(), ["x", "y"]);
        assert_eq!(s.per_cluster["x"].objects.len(), 2);
        assert!(matches!(
            imp.import(&clusters),
            ImportOutcome::Unchanged { .. }
        ));
        assert_eq!(imp.source().reads, 1);
        // A different cluster set re-runs the passes on the same commit.
        assert!(matches!(
            imp.import(&["z".to_string()]),
            ImportOutcome::Published(_)
        ));
        assert_eq!(imp.source().reads, 2);
    }

    #[test]
    fn fetch_failure_and_empty_commit_keep_last_good() {
        let mut imp = importer();
        let names = ["x".to_string()];
        assert!(matches!(imp.import(&names), ImportOutcome::Published(_)));
        let rx = imp.subscribe();

        imp.source.commit = Err(SourceError::Fetch {
            url: "/repo".into(),
            reason: "gone".into(),
        });
        let out = imp.import(&names);
        assert_eq!(out.errors()[0].code, nomos_core::Code::SOURCE);

        imp.source.commit = Ok("c2".into());
        let out = imp.import(&names);
        assert_eq!(out.errors()[0].code, nomos_core::Code::EMPTY_SOURCE);
        assert_eq!(imp.last_good().unwrap().commit, "c1");
        assert_eq!(rx.borrow().as_ref().unwrap().commit, "c1");
    }

    #[test]
    fn empty_first_commit_is_published() {
        // Nothing was synced before, so an empty repository deletes nothing.
        let mut imp = importer();
        imp.source.commit = Ok("c2".into());
        assert!(matches!(
            imp.import(&["x".to_string()]),
            ImportOutcome::Published(_)
        ));
    }
}
