//! `nomos init`: a hierarchical repository skeleton.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;

#[derive(Args, Debug)]
pub struct InitArgs {
    /// Directory to initialise.
    #[arg(long, default_value = ".")]
    pub path: PathBuf,
    /// Initialise even if the directory is not empty (existing files are kept).
    #[arg(long, default_value_t = false)]
    pub force: bool,
}

const REPO_YAML: &str = "apiVersion: configmanagement.gke.io/v1\nkind: Repo\nmetadata:\n  name: repo\nspec:\n  version: 1.0.0\n";

fn readme(dir: &str) -> String {
    match dir {
        "" => "# Policy repository\n\nA Config Sync hierarchical repository, validated with `nomos vet`.\n\n- `system/`: the Repo and HierarchyConfigs.\n- `cluster/`: cluster-scoped objects (ClusterRoles, CRDs, …).\n- `clusterregistry/`: Clusters and ClusterSelectors.\n- `namespaces/`: Namespaces and namespaced objects; directories without a Namespace are abstract namespaces whose objects every Namespace below inherits.\n".into(),
        "system" => "# system\n\nConfigs describing the repository itself: the `Repo` object and `HierarchyConfig`s.\n".into(),
        "cluster" => "# cluster\n\nCluster-scoped objects (except Namespaces): ClusterRoles, ClusterRoleBindings, CustomResourceDefinitions, …\n".into(),
        "clusterregistry" => "# clusterregistry\n\n`Cluster` and `ClusterSelector` objects that select which clusters get which configs.\n".into(),
        _ => "# namespaces\n\nNamespaces (one per directory, named like the directory) and namespaced objects. Objects in directories without a Namespace are inherited by every Namespace below.\n".into(),
    }
}

pub fn run(args: InitArgs) -> Result<ExitCode> {
    std::fs::create_dir_all(&args.path)
        .with_context(|| format!("creating {}", args.path.display()))?;
    let non_empty = std::fs::read_dir(&args.path)?.next().is_some();
    if non_empty && !args.force {
        bail!(
            "{} is not empty; pass --force to initialise it anyway (existing files are kept)",
            args.path.display()
        );
    }
    let write = |rel: &str, content: &str| -> Result<()> {
        let p = args.path.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)?;
        }
        if !p.exists() {
            std::fs::write(&p, content).with_context(|| format!("writing {}", p.display()))?;
        }
        Ok(())
    };
    write("README.md", &readme(""))?;
    for d in ["system", "cluster", "clusterregistry", "namespaces"] {
        write(&format!("{d}/README.md"), &readme(d))?;
    }
    write("system/repo.yaml", REPO_YAML)?;
    println!(
        "Initialised a hierarchical policy repository in {}",
        args.path.display()
    );
    Ok(ExitCode::SUCCESS)
}
