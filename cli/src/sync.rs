//! `nomos plan` and `nomos sync --once`: what a sync would do to each cluster, and doing it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;
use nomos_cluster::{ClusterClient, ExecOptions, execute, live_state};
use nomos_core::desired::{self, SourceInfo, StampOptions, SyncIdentity};
use nomos_core::plan::{self, PlanOptions};
use nomos_core::{Repository, SourceFormat};

use crate::files::{SourceArgs, canonical_root, read_policy_dir};

#[derive(Args, Debug)]
pub struct ClusterArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// kubeconfig context(s) to plan for (repeatable; default: the current context).
    #[arg(long = "context")]
    pub contexts: Vec<String>,
    /// Cluster name for selectors (default: the context name). Only with one context.
    #[arg(long = "cluster-name")]
    pub cluster_name: Option<String>,
    /// Allow deleting every Namespace or more than half of the managed objects.
    #[arg(long = "allow-mass-prune", default_value_t = false)]
    pub allow_mass_prune: bool,
}

#[derive(Args, Debug)]
pub struct SyncArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Run one pass and exit (the only mode of this command; the daemon is `nomos-syncer`).
    #[arg(long, default_value_t = false)]
    pub once: bool,
    /// Print how long each phase took (to stderr).
    #[arg(long, default_value_t = false)]
    pub timings: bool,
}

struct Target {
    client: ClusterClient,
    name: String,
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

async fn targets(a: &ClusterArgs) -> Result<Vec<Target>> {
    if a.cluster_name.is_some() && a.contexts.len() > 1 {
        bail!("--cluster-name names one cluster; give one --context with it (or none)");
    }
    let contexts: Vec<Option<&str>> = if a.contexts.is_empty() {
        vec![None]
    } else {
        a.contexts.iter().map(|c| Some(c.as_str())).collect()
    };
    let mut out = Vec::new();
    for ctx in contexts {
        let client = ClusterClient::from_kubeconfig(a.kubeconfig.as_deref(), ctx)
            .await
            .with_context(|| format!("kubeconfig context {}", ctx.unwrap_or("(current)")))?;
        let name = a
            .cluster_name
            .clone()
            .or_else(|| client.context_name().map(str::to_string))
            .unwrap_or_default();
        out.push(Target { client, name });
    }
    Ok(out)
}

/// Read the repository once. Each cluster's pass is validated before anything is planned for
/// it: a pass with blocking errors plans and changes nothing (see [`pass_for`]).
fn load(a: &ClusterArgs) -> Result<(Repository, SourceFormat, PathBuf)> {
    let root = canonical_root(&a.source.path)?;
    let opts = a.source.vet_options(&root)?;
    let files = read_policy_dir(&root, opts.pipeline.format)?;
    let api = opts
        .api_resources
        .as_ref()
        .map(|(p, t)| (p.as_str(), t.as_str()));
    let repo = Repository::load(&files, api, opts.pipeline.clone());
    Ok((repo, opts.pipeline.format, root))
}

/// The validated pass for a cluster; an error if the source is not syncable for it (so a bad
/// source can never turn into an empty desired state that prunes everything).
fn pass_for(repo: &mut Repository, cluster: &str, only: bool) -> Result<nomos_core::Pass> {
    // With a single cluster the declared objects move into its pass instead of being copied.
    let pass = if only {
        repo.take_pass(cluster)
    } else {
        repo.pass(cluster)
    };
    if !pass.is_syncable() {
        bail!(
            "the source has errors for cluster {cluster:?}; nothing was planned or changed:\n{}",
            nomos_core::diag::render(&pass.errors)
        );
    }
    Ok(pass)
}

fn stamp_options(format: SourceFormat, root: &std::path::Path) -> StampOptions {
    StampOptions {
        sync: SyncIdentity::default(),
        source: SourceInfo {
            repo: root.to_string_lossy().into_owned(),
            ..Default::default()
        },
        format: Some(format),
        declared_fields: false,
    }
}

/// What planning one cluster needs, computed the same way for `plan` and `sync`.
struct Planned {
    target: Target,
    plan: plan::Plan,
}

/// Read the source once, then for each target: its pass, desired state, live state and plan.
/// `phase` reports progress (for `--timings`).
async fn plan_all(a: &ClusterArgs, phase: &dyn Fn(&str)) -> Result<Vec<Planned>> {
    let (mut repo, format, root) = load(a)?;
    phase("read the source");
    let stamp = stamp_options(format, &root);
    let popts = PlanOptions {
        allow_mass_prune: a.allow_mass_prune,
        implicit_namespaces: format == SourceFormat::Unstructured,
        ..Default::default()
    };
    let targets = targets(a).await?;
    phase("connected to the cluster(s)");
    let only = targets.len() == 1;
    let mut out = Vec::with_capacity(targets.len());
    for t in targets {
        let pass = pass_for(&mut repo, &t.name, only)?;
        phase("validated the source for the cluster");
        let state = desired::build_owned(pass, |o| repo.scope_of(o), &stamp);
        phase("built the desired state");
        let live = live_state(&t.client, &state, &stamp.sync, 8)
            .await
            .with_context(|| format!("reading cluster {}", t.name))?;
        phase("read the live state");
        warn_skipped(&t.name, &live);
        let plan = plan::plan(&state, &live.objects, &popts);
        phase("planned");
        out.push(Planned { target: t, plan });
    }
    Ok(out)
}

pub fn run_plan(a: ClusterArgs) -> Result<ExitCode> {
    runtime()?.block_on(async {
        let mut changes = false;
        for p in plan_all(&a, &|_| {}).await? {
            print!("{}", plan::render(&p.plan, &p.target.name));
            changes |= !p.plan.is_empty();
        }
        Ok(if changes {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        })
    })
}

/// Kinds that could not be listed are not fatal (some built-in kinds are not listable), but a
/// person should know when a listable kind was missed.
fn warn_skipped(cluster: &str, live: &nomos_cluster::LiveState) {
    for s in live.skipped.iter().filter(|s| !s.not_listable()) {
        eprintln!(
            "warning: cluster {cluster}: could not list {}: {}",
            nomos_cluster::discovery::gvk_string(&s.gvk),
            s.reason
        );
    }
}

pub fn run_sync(a: SyncArgs) -> Result<ExitCode> {
    if !a.once {
        bail!(
            "`nomos sync` runs one pass: add --once (the continuous syncer is the nomos-syncer daemon)"
        );
    }
    let timings = a.timings;
    let a = a.cluster;
    let t0 = std::time::Instant::now();
    let phase = |what: &str| {
        if timings {
            eprintln!("[{:>8.1} ms] {what}", t0.elapsed().as_secs_f64() * 1e3);
        }
    };
    runtime()?.block_on(async {
        let mut ok = true;
        for Planned { target: t, plan: p } in plan_all(&a, &phase).await? {
            let report = execute(&p, &t.client, &ExecOptions::default()).await;
            phase("executed");
            println!(
                "Cluster {}: {} applied, {} deleted, {} abandoned, {} failed, {} skipped ({} retries)",
                t.name, report.applies, report.deletes, report.abandons, report.failed, report.skipped, report.retries
            );
            let mut errors = report.errors();
            errors.extend(p.errors.iter().cloned());
            if !errors.is_empty() {
                ok = false;
                eprintln!("Error: {}", nomos_core::diag::render(&errors));
            }
        }
        Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
    })
}
