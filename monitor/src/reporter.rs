//! One task per cluster that turns status updates into reports: the latest report goes to the
//! [`Monitor`] (`/metrics`, `/status`) and, through a [`Publisher`], to the cluster's RootSync.
//!
//! Generic over what the syncer publishes (its own status type on a `tokio::sync::watch`
//! channel) and a conversion to [`ClusterReport`], so the monitor does not depend on the
//! syncer. Updates are coalesced (a burst of changes is one write); a failed write is retried
//! after [`ReporterOptions::retry`]; every [`ReporterOptions::resync`] the RootSync is written
//! again from scratch (repairing edits and deletions made while nothing changed).

use nomos_daemon::stopped;
use std::sync::Arc;
use std::time::Duration;

use nomos_cluster::{Sleeper, TokioSleeper};
use tokio::sync::watch;

use crate::metrics::Monitor;
use crate::report::ClusterReport;
use crate::rootsync::Publisher;

/// Timing of [`run_reporter`].
#[derive(Clone)]
pub struct ReporterOptions {
    /// Wait before retrying a failed RootSync write.
    pub retry: Duration,
    /// Rewrite the RootSync this often even without changes.
    pub resync: Duration,
    pub sleeper: Arc<dyn Sleeper>,
}

impl Default for ReporterOptions {
    /// Retry after 5 s, rewrite every hour, real time.
    fn default() -> Self {
        ReporterOptions {
            retry: Duration::from_secs(5),
            resync: Duration::from_secs(3600),
            sleeper: Arc::new(TokioSleeper),
        }
    }
}

impl std::fmt::Debug for ReporterOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReporterOptions")
            .field("retry", &self.retry)
            .field("resync", &self.resync)
            .finish_non_exhaustive()
    }
}

/// Report one cluster until `shutdown` turns true or `updates`' sender is dropped: on every
/// change of `updates`, `convert` it, hand the report to `monitor` and (with a `publisher`)
/// write the cluster's RootSync.
///
/// ```no_run
/// # async fn demo(client: nomos_cluster::ClusterClient) {
/// use std::sync::Arc;
/// use nomos_monitor::{ClusterReport, Monitor, Publisher};
/// use nomos_monitor::reporter::{ReporterOptions, run_reporter};
/// let monitor = Arc::new(Monitor::new());
/// let (tx, rx) = tokio::sync::watch::channel(ClusterReport::new("prod"));
/// let (_stop_tx, stop) = tokio::sync::watch::channel(false);
/// tokio::spawn(run_reporter(rx, |r: &ClusterReport| r.clone(), monitor, Some(Publisher::new(client)),
///                           ReporterOptions::default(), stop));
/// # drop(tx); }
/// ```
pub async fn run_reporter<T, F>(
    mut updates: watch::Receiver<T>,
    convert: F,
    monitor: Arc<Monitor>,
    mut publisher: Option<Publisher>,
    opts: ReporterOptions,
    mut shutdown: watch::Receiver<bool>,
) where
    T: Send + Sync + 'static,
    F: Fn(&T) -> ClusterReport + Send,
{
    loop {
        let report = convert(&updates.borrow_and_update());
        monitor.update(report.clone());
        let mut failed = false;
        if let Some(p) = publisher.as_mut() {
            match p.publish(&report).await {
                Ok(done) if done != crate::Published::default() => {
                    tracing::debug!(cluster = %report.cluster, ?done, "RootSync updated");
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(cluster = %report.cluster, error = %e, retry_in = ?opts.retry, "writing the RootSync failed");
                    failed = true;
                }
            }
        }
        let wait = if failed { opts.retry } else { opts.resync };
        tokio::select! {
            _ = stopped(&mut shutdown) => return,
            r = updates.changed() => if r.is_err() { return },
            _ = opts.sleeper.sleep(wait) => {
                if !failed && let Some(p) = publisher.as_mut() {
                    p.reset();
                }
            }
        }
    }
}
