//! Offline Kubernetes OpenAPI schemas for nomos-rs (data only).
//!
//! The data is taken from the PyPI package `kubernetes-validate` (see [`PACKAGE_VERSION`]) by the
//! committed script `schemas/generate.py`, pruned to what validation needs, and embedded here
//! compressed: one document per Kubernetes minor version ([`versions`]). Nothing is read from disk
//! or the network at run time; a version's document is decompressed on first use and cached for
//! the life of the process ([`document`]).
//!
//! # Document format ([`FORMAT`] 1)
//!
//! A decompressed document is UTF-8 text. Its first line is a JSON header:
//!
//! ```json
//! {"format":1,"package":"kubernetes-validate","package_version":"1.37.0","kubernetes":"1.37.0",
//!  "defs":["io.k8s.api.apps.v1.Deployment", ...],
//!  "gvk":[["apps","v1","Deployment",0], ...]}
//! ```
//!
//! `defs` names the definitions; `gvk` maps a group/version/kind (sorted) to the index of its
//! definition. Line `i + 1` is definition `i`, compact JSON using the OpenAPI v3 keywords `type`,
//! `nullable`, `properties`, `required`, `items`, `additionalProperties` (a schema), `format`,
//! `enum`, `x-kubernetes-int-or-string`, `x-kubernetes-preserve-unknown-fields`, plus
//! `x-nomos-quantity` (a `resource.Quantity`) and `$ref` whose value is a definition index. An
//! object with `properties` and neither `additionalProperties` nor
//! `x-kubernetes-preserve-unknown-fields` is closed (strict), as in CRD structural schemas.

#![forbid(unsafe_code)]

mod generated;

use std::sync::OnceLock;

pub use generated::{FORMAT, PACKAGE_VERSION};

/// Kubernetes minor versions shipped (`"1.37"`, `"1.36"`, …), newest first.
pub fn versions() -> &'static [&'static str] {
    generated::VERSIONS
}

/// The newest shipped Kubernetes minor version, used when none is chosen.
pub fn default_version() -> &'static str {
    generated::TABLE[0].0
}

/// Maps a user-supplied Kubernetes version to a shipped minor version.
///
/// Accepts `1.37`, `v1.37`, `1.37.4`, `v1.37.0-gke.1` and the like: only the major and minor
/// numbers count (schemas do not change between patch releases). Returns `None` when that minor
/// version is not shipped.
pub fn resolve_version(requested: &str) -> Option<&'static str> {
    let s = requested.trim();
    let s = s.strip_prefix(['v', 'V']).unwrap_or(s);
    let mut parts = s.split(|c: char| !c.is_ascii_digit());
    let major: u32 = parts.next()?.parse().ok()?;
    let minor: u32 = parts.next()?.parse().ok()?;
    let wanted = format!("{major}.{minor}");
    versions().iter().copied().find(|v| *v == wanted)
}

/// The full Kubernetes version (`"1.37.0"`) whose schemas are shipped for a minor version.
pub fn kubernetes_version(minor: &str) -> Option<&'static str> {
    generated::TABLE
        .iter()
        .find(|(m, _, _)| *m == minor)
        .map(|(_, full, _)| *full)
}

/// Size in bytes of the compressed data embedded for a minor version.
pub fn compressed_len(minor: &str) -> Option<usize> {
    generated::TABLE
        .iter()
        .find(|(m, _, _)| *m == minor)
        .map(|(_, _, data)| data.len())
}

/// The decompressed schema document of a shipped minor version (see the crate documentation for
/// its format), or `None` when the version is not shipped.
///
/// The first call for a version decompresses it (a few hundred kilobytes, about a millisecond);
/// later calls return the cached text. Safe to call from many threads.
///
/// # Panics
///
/// If the embedded data is corrupt, which would be a build defect (the tests decompress every
/// version).
pub fn document(minor: &str) -> Option<&'static str> {
    static CACHE: OnceLock<Vec<OnceLock<String>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| generated::TABLE.iter().map(|_| OnceLock::new()).collect());
    let index = generated::TABLE.iter().position(|(m, _, _)| *m == minor)?;
    Some(cache[index].get_or_init(|| {
        let bytes = miniz_oxide::inflate::decompress_to_vec_zlib(generated::TABLE[index].2)
            .unwrap_or_else(|e| panic!("embedded schema data for {minor} is corrupt: {e:?}"));
        String::from_utf8(bytes)
            .unwrap_or_else(|e| panic!("embedded schema data for {minor} is not UTF-8: {e}"))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_version_decompresses_with_a_header() {
        assert!(!versions().is_empty());
        assert_eq!(default_version(), versions()[0]);
        for v in versions() {
            let doc = document(v).expect("shipped");
            let header = doc.lines().next().expect("header line");
            assert!(
                header.starts_with("{\"format\":1,"),
                "{v}: {}",
                &header[..40]
            );
            assert!(header.contains(&format!(
                "\"kubernetes\":\"{}\"",
                kubernetes_version(v).unwrap()
            )));
            assert!(header.contains(&format!("\"package_version\":\"{PACKAGE_VERSION}\"")));
            assert!(compressed_len(v).unwrap() < 200_000);
        }
    }

    #[test]
    fn versions_are_newest_first() {
        let table: Vec<&str> = generated::TABLE.iter().map(|(m, _, _)| *m).collect();
        assert_eq!(versions(), table.as_slice());
        let parsed: Vec<(u32, u32)> = versions()
            .iter()
            .map(|v| {
                let (a, b) = v.split_once('.').unwrap();
                (a.parse().unwrap(), b.parse().unwrap())
            })
            .collect();
        let mut sorted = parsed.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(parsed, sorted);
    }

    #[test]
    fn resolves_user_versions() {
        let newest = default_version();
        assert_eq!(resolve_version(newest), Some(newest));
        assert_eq!(resolve_version(&format!("v{newest}")), Some(newest));
        assert_eq!(resolve_version(&format!("{newest}.3")), Some(newest));
        assert_eq!(
            resolve_version(&format!("v{newest}.0-gke.100")),
            Some(newest)
        );
        assert_eq!(resolve_version("1.2"), None);
        assert_eq!(resolve_version("latest"), None);
        assert_eq!(resolve_version(""), None);
        assert_eq!(document("0.1"), None);
    }
}
