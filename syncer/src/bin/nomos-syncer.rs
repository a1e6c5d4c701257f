//! `nomos-syncer`: keep clusters in sync with a policy directory until stopped.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Parser;
use nomos_cluster::ClusterClient;
use nomos_core::SourceFormat;
use nomos_syncer::report::{ReportContext, report_of};
use nomos_syncer::{ClusterTarget, DirSource, Syncer, SyncerConfig};
use std::sync::Arc;

/// Sync the policy repository in DIR to one or many clusters and keep them in sync (drift
/// correction, fight detection) until SIGINT/SIGTERM.
#[derive(Parser, Debug)]
#[command(name = "nomos-syncer", version)]
struct Args {
    /// The policy repository: a directory (re-read when its files change) or a Git URL
    /// (`https://…`, `ssh://…`, `git@host:org/repo`, `file://…`; fetched every --poll-period,
    /// the importer embedded), or a nomos-importer's snapshot service (`http://host:port`:
    /// the importer builds each cluster's state; --source-format must match its own).
    #[arg(
        long,
        required_unless_present = "root_sync",
        conflicts_with = "root_sync"
    )]
    source: Option<String>,
    /// Read the source from this RootSync (`NAMESPACE/NAME`, e.g.
    /// `config-management-system/root-sync`) or legacy ConfigManagement
    /// (`configmanagement/NAME`) in the (first) cluster, with the credentials of the Secret its
    /// `spec.git.secretRef` names, as Config Sync's reconciler does; instead of --source and the
    /// Git flags. Restart the syncer after changing the spec.
    #[arg(long = "root-sync")]
    root_sync: Option<String>,
    /// Sync the cluster this process runs in (its pod's service account), instead of kubeconfig
    /// contexts. Name it with --cluster-name for cluster selectors.
    #[arg(long = "in-cluster", conflicts_with_all = ["kubeconfig", "contexts", "all_contexts"])]
    in_cluster: bool,
    /// Do not write status objects: by default each cluster gets the RootSync CRD (if missing)
    /// and a `root-sync` object in `config-management-system` whose spec describes this source
    /// and whose status is this syncer's, so `nomos status` works as with Config Sync.
    #[arg(long = "no-status-object", default_value_t = false)]
    no_status_object: bool,
    /// Git sources: serve `POST /webhook` here (GitHub `X-Hub-Signature-256` or GitLab
    /// `X-Gitlab-Token`); a verified push to the followed branch fetches at once.
    #[arg(long = "webhook-addr", requires = "webhook_secret_file")]
    webhook_addr: Option<std::net::SocketAddr>,
    /// The webhook's shared secret (a file, as a mounted Secret).
    #[arg(long = "webhook-secret-file", requires = "webhook_addr")]
    webhook_secret_file: Option<PathBuf>,
    #[command(flatten)]
    git: nomos_importer::cli::GitArgs,
    /// kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// kubeconfig context to sync (repeatable; default: the current context).
    #[arg(long = "context", conflicts_with = "all_contexts")]
    contexts: Vec<String>,
    /// Sync every context of the kubeconfig.
    #[arg(long = "all-contexts", default_value_t = false)]
    all_contexts: bool,
    /// Cluster name for cluster selectors (default: the context name). Only with one cluster.
    #[arg(long = "cluster-name")]
    cluster_name: Option<String>,
    /// `hierarchy` or `unstructured`.
    #[arg(long = "source-format", default_value = "hierarchy")]
    source_format: String,
    /// Plan every cluster again this often (e.g. `1h`, `30m`, `90s`).
    #[arg(long = "resync-period", default_value = "1h")]
    resync_period: String,
    /// Re-read the source (or fetch the Git repository) at least this often.
    #[arg(long = "poll-period", visible_alias = "period", default_value = "15s")]
    poll_period: String,
    /// Allow deleting every Namespace or more than half of the managed objects.
    #[arg(long = "allow-mass-prune", default_value_t = false)]
    allow_mass_prune: bool,
    /// `text` or `json`.
    #[arg(long = "log-format", default_value = "text")]
    log_format: String,
    /// Serve Prometheus metrics (`/metrics`, Config Sync's names), `/healthz` and `/readyz` here.
    #[arg(long = "metrics-addr")]
    metrics_addr: Option<std::net::SocketAddr>,
}

/// `user@host:path` (Git's scp-like syntax), not a local path with a colon after a slash.
fn looks_scp_like(s: &str) -> bool {
    match s.split_once(':') {
        Some((host, path)) => {
            !host.is_empty() && !host.contains('/') && !path.is_empty() && !s.starts_with('/')
        }
        None => false,
    }
}

/// `500ms`, `30s`, `5m`, `1h`, or a number of seconds.
fn parse_duration(s: &str) -> Result<Duration> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((s, "s"), |i| (&s[..i], &s[i..]));
    let n: f64 = num
        .parse()
        .with_context(|| format!("invalid duration {s:?}"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => bail!("invalid duration unit in {s:?} (use ms, s, m or h)"),
    };
    if !secs.is_finite() || secs <= 0.0 {
        bail!("duration {s:?} must be positive");
    }
    Ok(Duration::from_secs_f64(secs))
}

async fn targets(a: &Args) -> Result<Vec<ClusterTarget>> {
    if a.in_cluster {
        let name = a.cluster_name.clone().unwrap_or_default();
        let client = ClusterClient::in_cluster(&name).await?;
        let key = if name.is_empty() {
            "in-cluster".to_string()
        } else {
            name.clone()
        };
        return Ok(vec![ClusterTarget::new(key, name, client)]);
    }
    let contexts: Vec<Option<String>> = if a.all_contexts {
        let kc = match &a.kubeconfig {
            Some(p) => kube::config::Kubeconfig::read_from(p),
            None => kube::config::Kubeconfig::read(),
        }
        .context("reading the kubeconfig")?;
        let names: Vec<Option<String>> = kc.contexts.iter().map(|c| Some(c.name.clone())).collect();
        if names.is_empty() {
            bail!("the kubeconfig has no contexts");
        }
        names
    } else if a.contexts.is_empty() {
        vec![None]
    } else {
        a.contexts.iter().cloned().map(Some).collect()
    };
    if a.cluster_name.is_some() && contexts.len() > 1 {
        bail!("--cluster-name names one cluster; give one --context with it (or none)");
    }
    let mut out = Vec::new();
    for ctx in contexts {
        let client = ClusterClient::from_kubeconfig(a.kubeconfig.as_deref(), ctx.as_deref())
            .await
            .with_context(|| {
                format!(
                    "kubeconfig context {}",
                    ctx.as_deref().unwrap_or("(current)")
                )
            })?;
        let key = ctx
            .clone()
            .or_else(|| client.context_name().map(str::to_string))
            .unwrap_or_else(|| "default".into());
        let name = a
            .cluster_name
            .clone()
            .or_else(|| client.context_name().map(str::to_string))
            .unwrap_or_default();
        let client = client.with_cluster_name(name.clone());
        out.push(ClusterTarget::new(key, name, client));
    }
    Ok(out)
}

/// With --root-sync: read the RootSync (and its Secrets) from the first cluster and turn it into
/// the flags it stands for. Credentials land in a private directory under the cache directory.
async fn configure_from_cluster(a: &mut Args, targets: &[ClusterTarget]) -> Result<()> {
    let Some(what) = &a.root_sync else {
        return Ok(());
    };
    let what = nomos_syncer::config::SyncObjectRef::parse(what)
        .map_err(|e| anyhow::anyhow!("--root-sync: {e}"))?;
    let first = targets
        .first()
        .context("--root-sync needs a cluster to read it from")?;
    let base = a.git.cache_dir();
    let c = nomos_syncer::config::read(&first.client, &what, &base.join("secrets"))
        .await
        .with_context(|| format!("--root-sync (cluster {})", first.key))?;
    let g = &c.spec.git;
    tracing::info!(repo = %g.repo, git_ref = %g.git_ref(), dir = %g.dir, auth = g.auth.as_str(), "source read from the cluster");
    a.source = Some(g.repo.clone());
    a.source_format = c.spec.source_format.as_str().to_string();
    a.poll_period = format!("{}ms", g.period.as_millis().max(1));
    a.git.branch = g.branch.clone();
    a.git.revision = g.revision.clone();
    a.git.dir = g.dir.clone();
    a.git.auth = g.auth.as_str().to_string();
    a.git.secret_dir = c.secret_dir;
    a.git.ca_cert_file = c.ca_cert_file;
    a.git.no_ssl_verify = g.no_ssl_verify;
    Ok(())
}

async fn run(mut a: Args) -> Result<()> {
    let targets = targets(&a).await?;
    configure_from_cluster(&mut a, &targets).await?;
    let source_arg = a.source.clone().unwrap_or_default();
    let format = SourceFormat::parse(&a.source_format).map_err(|e| anyhow::anyhow!(e))?;
    let poll = parse_duration(&a.poll_period)?;
    // `http://host:port`: a separate nomos-importer serves the desired state (no Git here).
    let remote = if nomos_syncer::remote::is_importer_url(&source_arg) {
        Some(nomos_syncer::HttpSource::new(&source_arg)?)
    } else {
        None
    };
    let is_git = source_arg.contains("://") || looks_scp_like(&source_arg);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (source_repo, source_rx, trigger) = if let Some(r) = &remote {
        (
            r.url().to_string(),
            tokio::sync::watch::channel(None).1,
            None,
        )
    } else if is_git {
        let git = a.git.git_source(&source_arg).map_err(anyhow::Error::msg)?;
        let cache = a.git.cache_dir();
        std::fs::create_dir_all(&cache)
            .with_context(|| format!("--cache-dir {}", cache.display()))?;
        let display = git.display_url();
        let fetcher =
            nomos_importer::Fetcher::new(git, format, nomos_importer::Bounds::default(), &cache)
                .map_err(|e| anyhow::anyhow!("{}", e.diagnostic()))?;
        let (trigger_tx, trigger_rx) = tokio::sync::mpsc::channel(1);
        let rx = nomos_syncer::GitSource::new(Box::new(fetcher), poll).spawn(
            SyncerConfig::default().sleeper,
            trigger_rx,
            stop_rx.clone(),
        );
        (display, rx, Some(trigger_tx))
    } else {
        let path = PathBuf::from(&source_arg);
        let root = path
            .canonicalize()
            .with_context(|| format!("--source {}: no such directory", path.display()))?;
        if !root.is_dir() {
            bail!(
                "--source {} is not a directory (or a Git URL such as file:///srv/policy.git)",
                path.display()
            );
        }
        let mut dir = DirSource::new(root.clone(), format);
        dir.poll = poll;
        let rx = dir.spawn(SyncerConfig::default().sleeper, stop_rx.clone());
        (root.to_string_lossy().into_owned(), rx, None)
    };
    let monitor = Arc::new(nomos_monitor::Monitor::new());
    let cfg = SyncerConfig {
        format,
        source_repo: source_repo.clone(),
        source_kind: if remote.is_some() {
            "importer"
        } else if is_git {
            "git"
        } else {
            "dir"
        },
        metrics: monitor.metrics().clone(),
        resync_period: parse_duration(&a.resync_period)?,
        allow_mass_prune: a.allow_mass_prune,
        ..SyncerConfig::default()
    };
    tracing::info!(clusters = targets.len(), source = %source_repo, "nomos-syncer starting");
    let source = source_rx;
    let ctx = ReportContext {
        sync: cfg.sync.clone(),
        source: nomos_monitor::SourceSpec {
            source_format: format.as_str().to_string(),
            repo: source_repo.clone(),
            branch: if is_git {
                a.git.branch.clone()
            } else {
                String::new()
            },
            revision: a
                .git
                .revision
                .clone()
                .filter(|_| is_git)
                .unwrap_or_default(),
            dir: if is_git {
                a.git.dir.clone()
            } else {
                String::new()
            },
            period: format!("{}s", poll.as_secs_f64()),
            auth: if is_git {
                a.git.auth.clone()
            } else {
                String::new()
            },
        },
    };
    let clients: Vec<(String, ClusterClient)> = targets
        .iter()
        .map(|t| (t.key.clone(), t.client.clone()))
        .collect();
    let sleeper = cfg.sleeper.clone();
    let clock = cfg.clock.clone();
    let handle = match remote {
        Some(r) => Syncer::new(cfg).start_remote(targets, r, stop_rx.clone()),
        None => Syncer::new(cfg).start(targets, source, stop_rx.clone()),
    };
    // Status: reports for /metrics and /status, and (unless --no-status-object) the RootSync
    // object of each cluster, written by one reporter task per cluster.
    for (key, client) in clients {
        let Some(rx) = handle.subscribe(&key) else {
            continue;
        };
        let publisher = (!a.no_status_object).then(|| {
            let p = nomos_monitor::Publisher::new(client);
            // Configured from a RootSync: its spec is the user's; write only status and the
            // ApplySet metadata.
            if a.root_sync.is_some() {
                p.leave_spec()
            } else {
                p
            }
        });
        let ctx = ctx.clone();
        let clock = clock.clone();
        tokio::spawn(nomos_monitor::reporter::run_reporter(
            rx,
            move |s: &nomos_syncer::SyncStatus| report_of(s, &ctx, clock.wall()),
            monitor.clone(),
            publisher,
            nomos_monitor::reporter::ReporterOptions {
                sleeper: sleeper.clone(),
                ..Default::default()
            },
            stop_rx.clone(),
        ));
    }
    if let Some(addr) = a.webhook_addr {
        let Some(trigger) = trigger.clone() else {
            bail!(
                "--webhook-addr needs a Git --source (a directory is watched, an importer has its own webhook)"
            );
        };
        let secret_file = a
            .webhook_secret_file
            .as_deref()
            .unwrap_or(std::path::Path::new(""));
        let secret = std::fs::read(secret_file)
            .with_context(|| format!("--webhook-secret-file {}", secret_file.display()))?;
        let secret = nomos_importer::webhook::Secret::new(secret);
        if secret.is_empty() {
            bail!("--webhook-secret-file {} is empty", secret_file.display());
        }
        let branch = a.git.revision.is_none().then(|| a.git.branch.clone());
        let cfg = nomos_importer::webhook::WebhookConfig::new(secret, branch);
        let bound = nomos_importer::webhook::serve(
            addr,
            cfg,
            move || {
                // A fetch is already queued when the channel is full: nothing to add.
                let _ = trigger.try_send(());
            },
            stop_rx.clone(),
        )
        .await
        .with_context(|| format!("--webhook-addr {addr}"))?;
        tracing::info!(url = %format!("http://{bound}/webhook"), "serving the webhook");
    }
    if let Some(addr) = a.metrics_addr {
        let bound = nomos_monitor::metrics::serve(addr, monitor.clone(), stop_rx.clone())
            .await
            .with_context(|| format!("--metrics-addr {addr}"))?;
        tracing::info!(url = %format!("http://{bound}/metrics"), "serving metrics and /status");
    }
    // Log status transitions (synced, number of errors) per cluster.
    for (key, mut rx) in handle.subscribe_all() {
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let mut last = (false, 0usize);
            loop {
                tokio::select! {
                    _ = stop.changed() => return,
                    r = rx.changed() => if r.is_err() { return },
                }
                let s = rx.borrow_and_update().clone();
                let now = (s.synced, s.errors.len());
                if now != last {
                    last = now;
                    let first = s
                        .errors
                        .first()
                        .map(|e| format!("{}: {}", e.code, e.message));
                    tracing::info!(cluster = %key, synced = s.synced, errors = s.errors.len(), first_error = ?first, applies = s.applies, prunes = s.prunes, drift_corrections = s.drift_corrections, "status");
                }
            }
        });
    }
    nomos_daemon::shutdown_signal().await;
    tracing::info!("stopping");
    let _ = stop_tx.send(true);
    handle.join().await;
    Ok(())
}

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let format = args.log_format.clone();
    nomos_daemon::main(&format, None, run(args))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("7").unwrap(), Duration::from_secs(7));
        assert!(parse_duration("1d").is_err());
        assert!(parse_duration("0s").is_err());
    }
}
