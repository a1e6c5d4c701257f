//! The polling loop: import every period, or at once when triggered (the webhook, a new
//! cluster name).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::{ImportOutcome, Importer, Source};

/// Config Sync's default polling period.
pub const DEFAULT_PERIOD: Duration = Duration::from_secs(15);

/// Waits; injected so the loop never reads the clock itself.
pub trait Sleeper: Send + Sync {
    fn sleep(&self, period: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// Sleeps on the tokio timer.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioSleeper;

impl Sleeper for TokioSleeper {
    fn sleep(&self, period: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(tokio::time::sleep(period))
    }
}

/// Import every `period` (and whenever `trigger` receives) until `shutdown` becomes `true` or
/// its sender is dropped; returns the importer. Imports run on the blocking pool (gix is
/// blocking); `on_outcome` sees every outcome.
pub async fn run<S: Source + 'static>(
    importer: Importer<S>,
    cluster_names: Vec<String>,
    period: Duration,
    sleeper: &dyn Sleeper,
    trigger: mpsc::Receiver<()>,
    shutdown: watch::Receiver<bool>,
    on_outcome: impl FnMut(&ImportOutcome) + Send,
) -> Importer<S> {
    let (_names, names) = watch::channel(cluster_names);
    run_with_names(
        importer, names, period, sleeper, trigger, shutdown, on_outcome,
    )
    .await
}

/// [`run`] with a cluster set that may change while it runs (the snapshot service adds the
/// clusters syncers ask for): each import builds the set current when it starts. Changing the
/// set does not wake the loop; send a trigger.
pub async fn run_with_names<S: Source + 'static>(
    mut importer: Importer<S>,
    cluster_names: watch::Receiver<Vec<String>>,
    period: Duration,
    sleeper: &dyn Sleeper,
    mut trigger: mpsc::Receiver<()>,
    mut shutdown: watch::Receiver<bool>,
    mut on_outcome: impl FnMut(&ImportOutcome) + Send,
) -> Importer<S> {
    let mut trigger_open = true;
    loop {
        if *shutdown.borrow() {
            return importer;
        }
        let names = cluster_names.borrow().clone();
        // On a thread and a rayon pool of its own that exit afterwards: parsing a commit peaks
        // far above what a snapshot keeps, and the allocator returns the memory of exited
        // threads (idle pooled threads would keep it resident).
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("nomos-import".into())
            .spawn(move || {
                let run = move || {
                    let outcome = importer.import(&names);
                    (importer, outcome)
                };
                let out = match rayon::ThreadPoolBuilder::new()
                    .thread_name(|i| format!("nomos-import-{i}"))
                    .build()
                {
                    Ok(pool) => pool.install(run),
                    Err(_) => run(),
                };
                let _ = tx.send(out);
            })
            .expect("the operating system starts a thread");
        let outcome;
        // The sender only goes away if the import panicked: a bug; surface it.
        (importer, outcome) = rx.await.expect("the import thread panicked");
        on_outcome(&outcome);
        tokio::select! {
            biased;
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    return importer;
                }
            }
            t = trigger.recv(), if trigger_open => {
                if t.is_none() {
                    trigger_open = false;
                }
            }
            () = sleeper.sleep(period) => {}
        }
    }
}
