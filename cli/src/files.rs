//! Reading a policy directory from disk for the core, and the flags vet and hydrate share.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use nomos_core::{SourceFile, SourceFormat};

/// Flags shared by `vet` and `hydrate`.
#[derive(Args, Debug, Clone)]
pub struct SourceArgs {
    /// Root directory of the policy repository.
    #[arg(long, default_value = ".")]
    pub path: PathBuf,
    /// Source format: `hierarchy` or `unstructured` (default hierarchy; unstructured with --namespace).
    #[arg(long = "source-format")]
    pub source_format: Option<String>,
    /// Validate as a namespace repository (a RepoSync's source) for this namespace.
    #[arg(long)]
    pub namespace: Option<String>,
    /// Comma-separated cluster names whose passes to keep (default: all; "" keeps none).
    #[arg(long)]
    pub clusters: Option<String>,
    /// Accepted for compatibility: nomos always validates offline.
    #[arg(long = "no-api-server-check", default_value_t = false)]
    pub no_api_server_check: bool,
    /// Accepted for compatibility (no API server is contacted).
    #[arg(long = "api-server-timeout", default_value = "15s")]
    pub api_server_timeout: String,
    /// Kubernetes version whose schemas validate built-in kinds (`off` disables schema checks).
    #[arg(long = "k8s-version")]
    pub k8s_version: Option<String>,
}

impl SourceArgs {
    pub fn format(&self) -> Result<SourceFormat> {
        match (&self.namespace, self.source_format.as_deref()) {
            (Some(_), Some("hierarchy")) => bail!(
                "if --namespace is provided, --source-format must be omitted or set to unstructured"
            ),
            (Some(_), _) => Ok(SourceFormat::Unstructured),
            (None, None) => Ok(SourceFormat::Hierarchy),
            (None, Some(s)) => SourceFormat::parse(s).map_err(|e| anyhow::anyhow!(e)),
        }
    }

    pub fn clusters(&self) -> Option<Vec<String>> {
        self.clusters.as_ref().map(|c| {
            c.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
    }

    /// Build the core's options: format, namespace, source prefix, schema version.
    pub fn vet_options(&self, root: &Path) -> Result<nomos_core::VetOptions> {
        let mut o = nomos_core::VetOptions::new(self.format()?);
        o.pipeline.namespace = self.namespace.clone();
        o.pipeline.source_prefix = root.to_string_lossy().into_owned();
        o.pipeline.k8s_version = match self.k8s_version.as_deref() {
            Some("off") | Some("none") => None,
            Some(v) => Some(nomos_core::k8s::resolve_version(v).map_err(|e| anyhow::anyhow!(e))?),
            None => Some(nomos_core::k8s::default_version().to_string()),
        };
        o.clusters = self.clusters();
        let api = root.join("api-resources.txt");
        if api.is_file() {
            let text = std::fs::read_to_string(&api)
                .with_context(|| format!("reading {}", api.display()))?;
            o.api_resources = Some((api.to_string_lossy().into_owned(), text));
        }
        Ok(o)
    }
}

/// The canonical (absolute, symlinks resolved) policy directory.
pub fn canonical_root(path: &Path) -> Result<PathBuf> {
    let root = path
        .canonicalize()
        .with_context(|| format!("--path {}: no such directory", path.display()))?;
    if !root.is_dir() {
        bail!("--path {} is not a directory", path.display());
    }
    Ok(root)
}

/// Read every file Config Sync would parse under `root` (the syncer's reader: one definition of
/// which files count).
pub fn read_policy_dir(root: &Path, format: SourceFormat) -> Result<Vec<SourceFile>> {
    let snapshot = nomos_syncer::source::read_dir(root, format)?;
    Ok(std::sync::Arc::unwrap_or_clone(snapshot.files))
}
