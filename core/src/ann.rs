//! Annotation and label keys Config Sync reads or writes.

pub const MANAGED: &str = "configmanagement.gke.io/managed";
pub const CLUSTER_SELECTOR: &str = "configmanagement.gke.io/cluster-selector";
pub const CLUSTER_NAME_SELECTOR: &str = "configsync.gke.io/cluster-name-selector";
pub const NAMESPACE_SELECTOR: &str = "configmanagement.gke.io/namespace-selector";
pub const RESOURCE_ID: &str = "configsync.gke.io/resource-id";
pub const MANAGER: &str = "configsync.gke.io/manager";
pub const GIT_CONTEXT: &str = "configsync.gke.io/git-context";
pub const TOKEN: &str = "configmanagement.gke.io/token";
pub const SOURCE_PATH: &str = "configmanagement.gke.io/source-path";
pub const CLUSTER_NAME: &str = "configmanagement.gke.io/cluster-name";
pub const OWNING_INVENTORY: &str = "config.k8s.io/owning-inventory";
pub const DECLARED_FIELDS: &str = "configsync.gke.io/declared-fields";
pub const UNKNOWN_SCOPE: &str = "configsync.gke.io/unknown-scope";
pub const LIFECYCLE_DELETION: &str = "client.lifecycle.config.k8s.io/deletion";
pub const LIFECYCLE_MUTATION: &str = "client.lifecycle.config.k8s.io/mutation";
pub const DEPENDS_ON: &str = "config.kubernetes.io/depends-on";
pub const LOCAL_CONFIG: &str = "config.kubernetes.io/local-config";
pub const HNC_MANAGED_BY: &str = "hnc.x-k8s.io/managed-by";
pub const ORIGINAL_HNC_MANAGED_BY: &str = "configsync.gke.io/original-hnc-managed-by-value";
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY_VALUE: &str = "configmanagement.gke.io";
pub const APPLYSET_PART_OF: &str = "applyset.kubernetes.io/part-of";
pub const DECLARED_VERSION: &str = "configsync.gke.io/declared-version";
