//! `nomos vet` semantics over a whole repository: the default pass plus one pass per cluster
//! name the repository mentions, as Config Sync's `--clusters` flag defines them.

use rayon::prelude::*;

use crate::SourceFormat;
use crate::diag::{self, Diagnostic};
use crate::pipeline::{DEFAULT_CLUSTER, Options, Pass, Repository};
use crate::read::SourceFile;

/// What to vet and how.
#[derive(Debug, Clone)]
pub struct VetOptions {
    /// Pipeline settings (format, namespace repo, schema version, …).
    pub pipeline: Options,
    /// Which passes to keep: `None` keeps all (the `defaultcluster` pass and every cluster the
    /// repository names); `Some(list)` keeps only the named ones (the flag `--clusters a,b`).
    pub clusters: Option<Vec<String>>,
    /// Path and text of `api-resources.txt`, if the repository has one.
    pub api_resources: Option<(String, String)>,
}

impl VetOptions {
    /// Options for `format` with defaults everywhere else.
    pub fn new(format: SourceFormat) -> VetOptions {
        VetOptions {
            pipeline: Options::new(format),
            clusters: None,
            api_resources: None,
        }
    }
}

/// The outcome of vetting a repository.
#[derive(Debug, Clone)]
pub struct VetResult {
    /// The repository as read (warnings, scopes; its `objects` are empty when vet moved them
    /// into its only pass).
    pub repository: Repository,
    /// Kept passes: `defaultcluster` first (if kept), then clusters by name.
    pub passes: Vec<Pass>,
}

impl VetResult {
    /// True when no kept pass has an error (non-blocking KNV1021 included: vet fails on it).
    pub fn is_ok(&self) -> bool {
        self.passes.iter().all(|p| p.errors.is_empty())
    }

    /// Every error of every kept pass, de-duplicated and sorted by text.
    pub fn errors(&self) -> Vec<Diagnostic> {
        diag::dedup_sorted(
            self.passes
                .iter()
                .flat_map(|p| p.errors.iter().cloned())
                .collect(),
        )
    }

    /// Warnings found while reading (they do not fail vet).
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.repository.warnings
    }

    /// Errors as Config Sync prints them: bare for the default pass (or when every pass has
    /// the same errors), `errors for cluster "<name>":` before a named cluster's errors.
    pub fn render_errors(&self) -> String {
        let failing: Vec<&Pass> = self
            .passes
            .iter()
            .filter(|p| !p.errors.is_empty())
            .collect();
        if failing.is_empty() {
            return String::new();
        }
        let first = diag::sorted_texts(&failing[0].errors);
        let same = failing
            .iter()
            .all(|p| diag::sorted_texts(&p.errors) == first)
            && failing.len() == self.passes.len();
        if same {
            return diag::render(&failing[0].errors);
        }
        let mut parts = Vec::new();
        for p in failing {
            if p.cluster == DEFAULT_CLUSTER {
                parts.push(diag::render(&p.errors));
            } else {
                parts.push(format!(
                    "errors for cluster {:?}:\n{}",
                    p.cluster,
                    diag::render(&p.errors)
                ));
            }
        }
        parts.join("\n\n")
    }
}

/// Vet `files` (see [`VetOptions`]).
pub fn vet(files: &[SourceFile], opts: &VetOptions) -> VetResult {
    let api = opts
        .api_resources
        .as_ref()
        .map(|(p, t)| (p.as_str(), t.as_str()));
    let mut repository = Repository::load(files, api, opts.pipeline.clone());
    let mut names = vec![DEFAULT_CLUSTER.to_string()];
    names.extend(
        repository
            .cluster_names()
            .into_iter()
            .filter(|n| n != DEFAULT_CLUSTER),
    );
    let kept: Vec<String> = match &opts.clusters {
        None => names,
        Some(list) => names
            .into_iter()
            .filter(|n| list.iter().any(|l| l == n))
            .collect(),
    };
    let passes = if kept.len() == 1 {
        vec![repository.take_pass(&kept[0])]
    } else {
        kept.par_iter().map(|c| repository.pass(c)).collect()
    };
    VetResult { repository, passes }
}

/// A machine-readable report for editors and CI: per kept pass, its errors with code, message,
/// file, line, column and objects; plus warnings.
///
/// ```
/// use nomos_core::{SourceFile, SourceFormat, VetOptions, vet};
/// let files = vec![SourceFile::new("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n")];
/// let report = nomos_core::vet::json_report(&vet(&files, &VetOptions::new(SourceFormat::Unstructured)));
/// assert_eq!(report["ok"], false);
/// assert_eq!(report["errors"][0]["code"], "KNV1036");
/// assert_eq!(report["errors"][0]["file"], "cm.yaml");
/// assert_eq!(report["errors"][0]["line"], 1);
/// ```
pub fn json_report(result: &VetResult) -> serde_json::Value {
    use serde_json::json;
    let entry = |d: &Diagnostic, cluster: Option<&str>| {
        json!({
            "code": d.code.knv(),
            "severity": d.severity,
            "message": d.message,
            "text": d.to_string(),
            "file": d.file,
            "line": d.pos.map(|p| p.line),
            "column": d.pos.map(|p| p.column),
            "cluster": cluster,
            "objects": d.resources,
        })
    };
    let mut errors = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for p in &result.passes {
        for e in &p.errors {
            if seen.insert(e.to_string()) {
                errors.push(entry(e, Some(p.cluster.as_str())));
            }
        }
    }
    let warnings: Vec<_> = result.warnings().iter().map(|w| entry(w, None)).collect();
    json!({
        "ok": result.is_ok(),
        "clusters": result.passes.iter().map(|p| json!({"cluster": p.cluster, "objects": p.objects.len(), "errors": p.errors.len()})).collect::<Vec<_>>(),
        "errors": errors,
        "warnings": warnings,
    })
}
