//! Kubernetes versions whose schemas ship with nomos (see the `nomos-schemas` crate).

/// Versions shipped, newest first (`1.37`, `1.36`, …).
pub fn versions() -> &'static [&'static str] {
    nomos_schemas::versions()
}

/// The newest shipped version, used when none is chosen.
pub fn default_version() -> &'static str {
    nomos_schemas::default_version()
}

/// Resolve a requested version (`1.31`, `v1.31`, `1.31.4`) to a shipped one, or explain.
pub fn resolve_version(requested: &str) -> Result<String, String> {
    nomos_schemas::resolve_version(requested)
        .map(str::to_string)
        .ok_or_else(|| {
            format!(
                "no schemas for Kubernetes {requested:?}; shipped versions: {}",
                versions().join(", ")
            )
        })
}
