//! `nomos hydrate`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use nomos_core::hydrate::{OutputFormat, render_files, render_flat};
use nomos_core::{Code, VetResult};
use rayon::prelude::*;

use crate::files::{SourceArgs, canonical_root, read_policy_dir};

#[derive(Args, Debug)]
pub struct HydrateArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Output format: yaml or json.
    #[arg(long, default_value = "yaml")]
    pub format: String,
    /// Write everything into one file instead of one file per object.
    #[arg(long, default_value_t = false)]
    pub flat: bool,
    /// Output directory (or file, with --flat).
    #[arg(long, default_value = "compiled")]
    pub output: PathBuf,
}

pub fn run(args: HydrateArgs) -> Result<ExitCode> {
    let format = crate::vet::parse_output_format(&args.format)?;
    let root = canonical_root(&args.source.path)?;
    let opts = args.source.vet_options(&root)?;
    let files = read_policy_dir(&root, opts.pipeline.format)?;
    let result = nomos_core::vet(&files, &opts);
    let written = write_output(&result, &args.output, format, args.flat)?;
    // Unknown kinds do not stop hydration; with --no-api-server-check they are expected.
    let failing: Vec<_> = result
        .passes
        .iter()
        .filter(|p| {
            p.errors
                .iter()
                .any(|e| !(args.source.no_api_server_check && e.code == Code::UNKNOWN_KIND))
        })
        .collect();
    for p in &failing {
        eprintln!(
            "errors for Cluster {:?}: {}",
            p.cluster,
            nomos_core::diag::render(&p.errors)
        );
    }
    eprintln!("wrote {written} file(s) to {}", args.output.display());
    Ok(if failing.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Write each kept pass's objects under `out` (one directory per cluster when several passes
/// are kept). Afterwards `out` holds exactly the hydrated files: files whose content is already
/// right are left untouched (so repeated runs and file watchers see only real changes), stale
/// files are removed. Returns the number of files written or rewritten.
pub fn write_output(
    result: &VetResult,
    out: &Path,
    format: OutputFormat,
    flat: bool,
) -> Result<usize> {
    if flat {
        let all: Vec<_> = result
            .passes
            .iter()
            .flat_map(|p| p.objects.iter().cloned())
            .collect();
        if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(out, render_flat(&all, format))
            .with_context(|| format!("writing {}", out.display()))?;
        return Ok(1);
    }
    let multi = result.passes.len() > 1;
    let mut wanted: Vec<(PathBuf, String)> = Vec::new();
    for pass in &result.passes {
        let dir = if multi {
            out.join(&pass.cluster)
        } else {
            out.to_path_buf()
        };
        for (rel, content) in render_files(&pass.objects, format) {
            wanted.push((dir.join(rel), content));
        }
    }
    // Remove what should not be there (stale files, and anything that is not a regular file).
    let keep: HashSet<&Path> = wanted.iter().map(|(p, _)| p.as_path()).collect();
    if out.exists() {
        let mut dirs = Vec::new();
        for e in walkdir::WalkDir::new(out).min_depth(1).contents_first(true) {
            let e = e.with_context(|| format!("reading old output {}", out.display()))?;
            if e.file_type().is_dir() {
                dirs.push(e.into_path());
            } else if !keep.contains(e.path()) {
                std::fs::remove_file(e.path())
                    .with_context(|| format!("removing stale {}", e.path().display()))?;
            }
        }
        for d in dirs {
            let _ = std::fs::remove_dir(&d); // only succeeds when empty
        }
    }
    let mut created = HashSet::new();
    for (path, _) in &wanted {
        if let Some(parent) = path.parent()
            && created.insert(parent.to_path_buf())
        {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
    }
    let written: usize = wanted
        .par_iter()
        .map(|(path, content)| -> Result<usize> {
            if std::fs::read(path).is_ok_and(|old| old == content.as_bytes()) {
                return Ok(0);
            }
            std::fs::write(path, content).with_context(|| format!("writing {}", path.display()))?;
            Ok(1)
        })
        .sum::<Result<usize>>()?;
    Ok(written)
}
