//! The client: a `kube::Client`, the names it was built from, and a shared discovery cache.

use std::path::Path;

use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::discovery::RestMapper;
use crate::error::Result;

/// A connection to one cluster. Cheap to clone (clones share the discovery cache).
#[derive(Clone)]
pub struct ClusterClient {
    pub(crate) client: kube::Client,
    cluster: String,
    context: Option<String>,
    pub(crate) mapper: RestMapper,
}

impl std::fmt::Debug for ClusterClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterClient")
            .field("cluster", &self.cluster)
            .field("context", &self.context)
            .finish_non_exhaustive()
    }
}

impl ClusterClient {
    /// Load a kubeconfig (`path`, else `$KUBECONFIG` / `~/.kube/config`) and use `context`
    /// (else its current context). kube's built-in retry layer is turned off: retries are
    /// decided by [`crate::retry`], with injectable time.
    pub async fn from_kubeconfig(path: Option<&Path>, context: Option<&str>) -> Result<Self> {
        let kubeconfig = match path {
            Some(p) => Kubeconfig::read_from(p)?,
            None => Kubeconfig::read()?,
        };
        let context_name = context
            .map(str::to_string)
            .or_else(|| kubeconfig.current_context.clone());
        let cluster = context_name
            .as_deref()
            .and_then(|name| kubeconfig.contexts.iter().find(|c| c.name == name))
            .and_then(|c| c.context.as_ref())
            .map(|c| c.cluster.clone())
            .unwrap_or_default();
        let options = KubeConfigOptions {
            context: context.map(str::to_string),
            cluster: None,
            user: None,
        };
        let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &options).await?;
        config.default_retry = false;
        let client = kube::Client::try_from(config)?;
        tracing::debug!(%cluster, context = ?context_name, "cluster client ready");
        Ok(ClusterClient {
            client,
            cluster,
            context: context_name,
            mapper: RestMapper::default(),
        })
    }

    /// The cluster this process runs in: the pod's service account (token, CA and the
    /// `KUBERNETES_SERVICE_HOST`/`_PORT` environment Kubernetes sets), as a sidecar or in-cluster
    /// Deployment uses. `cluster_name` names it for cluster selectors.
    pub async fn in_cluster(cluster_name: &str) -> Result<Self> {
        let mut config = kube::Config::incluster()?;
        config.default_retry = false;
        let client = kube::Client::try_from(config)?;
        tracing::debug!(cluster = %cluster_name, "in-cluster client ready");
        Ok(ClusterClient {
            client,
            cluster: cluster_name.to_string(),
            context: None,
            mapper: RestMapper::default(),
        })
    }

    /// Wrap an existing client (tests: `kube::Client::new(testcluster.service(), "default")`).
    pub fn from_client(client: kube::Client) -> Self {
        ClusterClient {
            client,
            cluster: String::new(),
            context: None,
            mapper: RestMapper::default(),
        }
    }

    /// Set the cluster name (what reports and logs call this cluster).
    pub fn with_cluster_name(mut self, name: impl Into<String>) -> Self {
        self.cluster = name.into();
        self
    }

    /// The cluster name (from the kubeconfig context, or as set).
    pub fn cluster_name(&self) -> &str {
        &self.cluster
    }

    /// The kubeconfig context used, if any.
    pub fn context_name(&self) -> Option<&str> {
        self.context.as_deref()
    }

    /// The underlying kube client.
    pub fn kube(&self) -> &kube::Client {
        &self.client
    }

    /// The discovery cache.
    pub fn mapper(&self) -> &RestMapper {
        &self.mapper
    }

    /// Run discovery again (after CRDs were applied or removed).
    pub async fn refresh_discovery(&self) -> Result<()> {
        self.mapper.refresh(&self.client).await
    }

    /// Resolve a kind through the discovery cache.
    pub async fn resolve(&self, gvk: &nomos_core::Gvk) -> Result<crate::discovery::Mapping> {
        self.mapper.resolve(&self.client, gvk).await
    }
}
