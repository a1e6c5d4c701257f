//! Configuration read from the cluster, as Config Sync's reconciler reads it: a `RootSync`
//! (or a legacy `ConfigManagement`) names the repository, and the Secret its
//! `spec.git.secretRef` names holds the credentials. The Secret's keys are written as files
//! into a private directory, the layout the importer reads (`--secret-dir`), so credentials never
//! pass through flags, logs or the environment.

use std::path::{Path, PathBuf};

use base64::Engine;
use nomos_cluster::ClusterClient;
use nomos_core::Gvk;
use nomos_core::syncspec::SyncSpec;
use serde_json::Value;

/// What went wrong reading the configuration. Messages say what to fix; they never contain
/// secret values.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {what}: {source}")]
    Cluster {
        what: String,
        #[source]
        source: nomos_cluster::Error,
    },
    #[error(
        "{kind} {namespace}/{name} not found: create it (see deploy/examples/root-sync.yaml) or pass --source"
    )]
    Missing {
        kind: &'static str,
        namespace: String,
        name: String,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("writing the credentials to {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The sync object to read: `NAMESPACE/NAME` of a RootSync, or `configmanagement/NAME` for the
/// legacy cluster-scoped ConfigManagement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncObjectRef {
    RootSync { namespace: String, name: String },
    ConfigManagement { name: String },
}

impl SyncObjectRef {
    /// `config-management-system/root-sync`, `root-sync` (in `config-management-system`), or
    /// `configmanagement/config-management`.
    pub fn parse(s: &str) -> Result<SyncObjectRef, ConfigError> {
        match s.split_once('/') {
            Some(("configmanagement", name)) if !name.is_empty() => {
                Ok(SyncObjectRef::ConfigManagement { name: name.into() })
            }
            Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
                Ok(SyncObjectRef::RootSync {
                    namespace: ns.into(),
                    name: name.into(),
                })
            }
            None if !s.is_empty() => Ok(SyncObjectRef::RootSync {
                namespace: "config-management-system".into(),
                name: s.into(),
            }),
            _ => Err(ConfigError::Invalid(format!(
                "{s:?} is not NAMESPACE/NAME of a RootSync (e.g. config-management-system/root-sync) or configmanagement/NAME"
            ))),
        }
    }

    /// The namespace Secrets are read from.
    fn secret_namespace(&self) -> &str {
        match self {
            SyncObjectRef::RootSync { namespace, .. } => namespace,
            SyncObjectRef::ConfigManagement { .. } => "config-management-system",
        }
    }
}

/// A configuration read from the cluster.
#[derive(Debug)]
pub struct ClusterConfig {
    pub spec: SyncSpec,
    /// The directory holding the credentials Secret's keys as files (when the auth needs one).
    pub secret_dir: Option<PathBuf>,
    /// The CA certificate file (`spec.git.caCertSecretRef`, key `cert`).
    pub ca_cert_file: Option<PathBuf>,
    /// `metadata.generation` of the sync object: a change means the spec changed.
    pub generation: i64,
}

/// Read `what` and its Secrets from the cluster; Secret keys are written under `dir`
/// (created with mode 0700, files 0600).
pub async fn read(
    client: &ClusterClient,
    what: &SyncObjectRef,
    dir: &Path,
) -> Result<ClusterConfig, ConfigError> {
    let (gvk, ns, name, kind) = match what {
        SyncObjectRef::RootSync { namespace, name } => (
            Gvk::from_api_version("configsync.gke.io/v1beta1", "RootSync"),
            Some(namespace.as_str()),
            name.as_str(),
            "RootSync",
        ),
        SyncObjectRef::ConfigManagement { name } => (
            Gvk::from_api_version("configmanagement.gke.io/v1", "ConfigManagement"),
            None,
            name.as_str(),
            "ConfigManagement",
        ),
    };
    let obj = client
        .get(&gvk, ns, name)
        .await
        .map_err(|source| ConfigError::Cluster {
            what: format!(
                "{kind} {}{name}",
                ns.map(|n| format!("{n}/")).unwrap_or_default()
            ),
            source,
        })?
        .ok_or_else(|| ConfigError::Missing {
            kind,
            namespace: ns.unwrap_or_default().to_string(),
            name: name.to_string(),
        })?;
    let spec = SyncSpec::from_object(&obj).map_err(|errs| {
        ConfigError::Invalid(
            errs.iter()
                .map(|e| format!("{}: {}", e.code.knv(), e.message))
                .collect::<Vec<_>>()
                .join("; "),
        )
    })?;
    let generation = obj
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let secret_ns = what.secret_namespace();
    let mut secret_dir = None;
    if let Some(secret) = &spec.git.secret_ref {
        let data = read_secret(client, secret_ns, secret).await?;
        let keys: Vec<&str> = data.iter().map(|(k, _)| k.as_str()).collect();
        let problems = spec.git.check_secret(secret, &keys);
        if !problems.is_empty() {
            return Err(ConfigError::Invalid(
                problems
                    .iter()
                    .map(|e| format!("{}: {}", e.code.knv(), e.message))
                    .collect::<Vec<_>>()
                    .join("; "),
            ));
        }
        let d = dir.join("git-creds");
        write_private(&d, &data)?;
        secret_dir = Some(d);
    }
    let mut ca_cert_file = None;
    if let Some(secret) = &spec.git.ca_cert_secret_ref {
        let data = read_secret(client, secret_ns, secret).await?;
        let Some((_, cert)) = data.iter().find(|(k, _)| k == "cert") else {
            return Err(ConfigError::Invalid(format!(
                "KNV1061: the {secret:?} Secret named by spec.git.caCertSecretRef has no \"cert\" key; add the CA certificate (PEM) under the key cert"
            )));
        };
        let d = dir.join("ca-cert");
        write_private(&d, &[("cert".to_string(), cert.clone())])?;
        ca_cert_file = Some(d.join("cert"));
    }
    Ok(ClusterConfig {
        spec,
        secret_dir,
        ca_cert_file,
        generation,
    })
}

async fn read_secret(
    client: &ClusterClient,
    namespace: &str,
    name: &str,
) -> Result<Vec<(String, Vec<u8>)>, ConfigError> {
    let gvk = Gvk::from_api_version("v1", "Secret");
    let secret = client
        .get(&gvk, Some(namespace), name)
        .await
        .map_err(|source| ConfigError::Cluster {
            what: format!("Secret {namespace}/{name}"),
            source,
        })?
        .ok_or_else(|| ConfigError::Missing {
            kind: "Secret",
            namespace: namespace.to_string(),
            name: name.to_string(),
        })?;
    let mut out = Vec::new();
    if let Some(data) = secret.get("data").and_then(Value::as_object) {
        for (k, v) in data {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(v.as_str().unwrap_or_default())
                .map_err(|_| {
                    ConfigError::Invalid(format!(
                        "Secret {namespace}/{name}: the value of key {k:?} is not base64"
                    ))
                })?;
            out.push((k.clone(), bytes));
        }
    }
    if let Some(data) = secret.get("stringData").and_then(Value::as_object) {
        for (k, v) in data {
            out.push((
                k.clone(),
                v.as_str().unwrap_or_default().as_bytes().to_vec(),
            ));
        }
    }
    Ok(out)
}

fn write_private(dir: &Path, files: &[(String, Vec<u8>)]) -> Result<(), ConfigError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ConfigError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io(dir))?;
    }
    for (k, v) in files {
        if k.contains('/') || k.starts_with('.') {
            continue; // not a file name a Secret volume would create either
        }
        let path = dir.join(k);
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        use std::io::Write;
        opts.open(&path)
            .and_then(|mut f| f.write_all(v))
            .map_err(io(&path))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_object_refs() {
        assert_eq!(
            SyncObjectRef::parse("config-management-system/root-sync").unwrap(),
            SyncObjectRef::RootSync {
                namespace: "config-management-system".into(),
                name: "root-sync".into()
            }
        );
        assert_eq!(
            SyncObjectRef::parse("root-sync").unwrap(),
            SyncObjectRef::parse("config-management-system/root-sync").unwrap()
        );
        assert_eq!(
            SyncObjectRef::parse("configmanagement/config-management").unwrap(),
            SyncObjectRef::ConfigManagement {
                name: "config-management".into()
            }
        );
        for bad in ["", "/x", "a/", "a/b/c"] {
            assert!(SyncObjectRef::parse(bad).is_err(), "{bad}");
        }
    }
}
