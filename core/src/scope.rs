//! Resource scope (namespaced or cluster-scoped) without an API server: the built-in kinds,
//! CRDs declared in the repository, and an optional `api-resources.txt`.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::diag::{Code, Diagnostic};
use crate::object::{GroupKind, Object};

/// Whether a kind's objects live in a namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    Namespaced,
    Cluster,
}

/// Built-in kinds of Kubernetes (as served by a 1.3x API server) and of Config Sync, with their
/// scope. `N` = namespaced, `C` = cluster-scoped.
const BUILTIN: &[(&str, &str, char)] = &[
    ("", "Binding", 'N'),
    ("", "ComponentStatus", 'C'),
    ("", "ConfigMap", 'N'),
    ("", "Endpoints", 'N'),
    ("", "Event", 'N'),
    ("", "LimitRange", 'N'),
    ("", "Namespace", 'C'),
    ("", "Node", 'C'),
    ("", "PersistentVolume", 'C'),
    ("", "PersistentVolumeClaim", 'N'),
    ("", "Pod", 'N'),
    ("", "PodTemplate", 'N'),
    ("", "ReplicationController", 'N'),
    ("", "ResourceQuota", 'N'),
    ("", "Secret", 'N'),
    ("", "Service", 'N'),
    ("", "ServiceAccount", 'N'),
    (
        "admissionregistration.k8s.io",
        "MutatingAdmissionPolicy",
        'C',
    ),
    (
        "admissionregistration.k8s.io",
        "MutatingAdmissionPolicyBinding",
        'C',
    ),
    (
        "admissionregistration.k8s.io",
        "MutatingWebhookConfiguration",
        'C',
    ),
    (
        "admissionregistration.k8s.io",
        "ValidatingAdmissionPolicy",
        'C',
    ),
    (
        "admissionregistration.k8s.io",
        "ValidatingAdmissionPolicyBinding",
        'C',
    ),
    (
        "admissionregistration.k8s.io",
        "ValidatingWebhookConfiguration",
        'C',
    ),
    ("apiextensions.k8s.io", "CustomResourceDefinition", 'C'),
    ("apiregistration.k8s.io", "APIService", 'C'),
    ("apps", "ControllerRevision", 'N'),
    ("apps", "DaemonSet", 'N'),
    ("apps", "Deployment", 'N'),
    ("apps", "ReplicaSet", 'N'),
    ("apps", "StatefulSet", 'N'),
    ("authentication.k8s.io", "SelfSubjectReview", 'C'),
    ("authentication.k8s.io", "TokenReview", 'C'),
    ("authorization.k8s.io", "LocalSubjectAccessReview", 'N'),
    ("authorization.k8s.io", "SelfSubjectAccessReview", 'C'),
    ("authorization.k8s.io", "SelfSubjectRulesReview", 'C'),
    ("authorization.k8s.io", "SubjectAccessReview", 'C'),
    ("autoscaling", "HorizontalPodAutoscaler", 'N'),
    ("batch", "CronJob", 'N'),
    ("batch", "Job", 'N'),
    ("certificates.k8s.io", "CertificateSigningRequest", 'C'),
    ("certificates.k8s.io", "ClusterTrustBundle", 'C'),
    ("coordination.k8s.io", "Lease", 'N'),
    ("coordination.k8s.io", "LeaseCandidate", 'N'),
    ("discovery.k8s.io", "EndpointSlice", 'N'),
    ("events.k8s.io", "Event", 'N'),
    ("extensions", "DaemonSet", 'N'),
    ("extensions", "Deployment", 'N'),
    ("extensions", "Ingress", 'N'),
    ("extensions", "NetworkPolicy", 'N'),
    ("extensions", "PodSecurityPolicy", 'C'),
    ("extensions", "ReplicaSet", 'N'),
    ("extensions", "StatefulSet", 'N'),
    ("flowcontrol.apiserver.k8s.io", "FlowSchema", 'C'),
    (
        "flowcontrol.apiserver.k8s.io",
        "PriorityLevelConfiguration",
        'C',
    ),
    ("networking.k8s.io", "IPAddress", 'C'),
    ("networking.k8s.io", "Ingress", 'N'),
    ("networking.k8s.io", "IngressClass", 'C'),
    ("networking.k8s.io", "NetworkPolicy", 'N'),
    ("networking.k8s.io", "ServiceCIDR", 'C'),
    ("node.k8s.io", "RuntimeClass", 'C'),
    ("policy", "PodDisruptionBudget", 'N'),
    ("policy", "PodSecurityPolicy", 'C'),
    ("rbac.authorization.k8s.io", "ClusterRole", 'C'),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding", 'C'),
    ("rbac.authorization.k8s.io", "Role", 'N'),
    ("rbac.authorization.k8s.io", "RoleBinding", 'N'),
    ("resource.k8s.io", "DeviceClass", 'C'),
    ("resource.k8s.io", "ResourceClaim", 'N'),
    ("resource.k8s.io", "ResourceClaimTemplate", 'N'),
    ("resource.k8s.io", "ResourceSlice", 'C'),
    ("scheduling.k8s.io", "PriorityClass", 'C'),
    ("storage.k8s.io", "CSIDriver", 'C'),
    ("storage.k8s.io", "CSINode", 'C'),
    ("storage.k8s.io", "CSIStorageCapacity", 'N'),
    ("storage.k8s.io", "StorageClass", 'C'),
    ("storage.k8s.io", "VolumeAttachment", 'C'),
    ("storage.k8s.io", "VolumeAttributesClass", 'C'),
    // Config Sync's own kinds.
    ("clusterregistry.k8s.io", "Cluster", 'C'),
    ("configmanagement.gke.io", "ClusterConfig", 'C'),
    ("configmanagement.gke.io", "ClusterSelector", 'C'),
    ("configmanagement.gke.io", "ConfigManagement", 'C'),
    ("configmanagement.gke.io", "HierarchyConfig", 'C'),
    ("configmanagement.gke.io", "NamespaceConfig", 'C'),
    ("configmanagement.gke.io", "NamespaceSelector", 'C'),
    ("configmanagement.gke.io", "Repo", 'C'),
    ("configmanagement.gke.io", "Sync", 'C'),
    ("configsync.gke.io", "RepoSync", 'N'),
    ("configsync.gke.io", "RootSync", 'N'),
    ("kpt.dev", "ResourceGroup", 'N'),
];

fn builtin_index() -> &'static HashMap<&'static str, Vec<(&'static str, Scope)>> {
    static INDEX: OnceLock<HashMap<&'static str, Vec<(&'static str, Scope)>>> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut m: HashMap<&str, Vec<(&str, Scope)>> = HashMap::new();
        for (g, k, s) in BUILTIN {
            let scope = if *s == 'N' {
                Scope::Namespaced
            } else {
                Scope::Cluster
            };
            m.entry(k).or_default().push((g, scope));
        }
        m
    })
}

/// The scope of a built-in kind, or `None` if the kind is not built in.
pub fn builtin_scope(group: &str, kind: &str) -> Option<Scope> {
    builtin_index()
        .get(kind)?
        .iter()
        .find(|(g, _)| *g == group)
        .map(|(_, s)| *s)
}

/// Known scopes: built-ins plus what the repository and `api-resources.txt` declare.
#[derive(Debug, Clone, Default)]
pub struct Scopes {
    /// kind → (group, scope); learned scopes win over built-ins.
    extra: HashMap<String, Vec<(String, Scope)>>,
}

impl Scopes {
    /// Scope of `group`/`kind`, if known. Does not allocate.
    pub fn lookup(&self, group: &str, kind: &str) -> Option<Scope> {
        self.extra
            .get(kind)
            .and_then(|v| v.iter().find(|(g, _)| g == group).map(|(_, s)| *s))
            .or_else(|| builtin_scope(group, kind))
    }

    /// Scope of `gk`, if known.
    pub fn get(&self, gk: &GroupKind) -> Option<Scope> {
        self.lookup(&gk.group, &gk.kind)
    }

    /// Scope of an object's kind, if known.
    pub fn of(&self, o: &Object) -> Option<Scope> {
        self.lookup(o.group(), o.kind())
    }

    /// Learn a scope.
    pub fn insert(&mut self, gk: GroupKind, scope: Scope) {
        let v = self.extra.entry(gk.kind).or_default();
        v.retain(|(g, _)| *g != gk.group);
        v.push((gk.group, scope));
    }

    /// Learn the scopes of the custom resources defined by the CRDs among `objects`.
    pub fn add_crds<'a>(&mut self, objects: impl IntoIterator<Item = &'a Object>) {
        for o in objects {
            if let Some((gk, scope)) = crd_scope(o) {
                self.insert(gk, scope);
            }
        }
    }

    /// Learn scopes from the text of an `api-resources.txt` (output of `kubectl api-resources`).
    /// Malformed content gives a KNV1064 error naming `path`.
    pub fn add_api_resources(&mut self, text: &str, path: &str) -> Result<(), Diagnostic> {
        for (gk, scope) in parse_api_resources(text, path)? {
            self.insert(gk, scope);
        }
        Ok(())
    }
}

/// If `o` is a CustomResourceDefinition, the group-kind and scope it defines.
pub fn crd_scope(o: &Object) -> Option<(GroupKind, Scope)> {
    if !o.is("apiextensions.k8s.io", "CustomResourceDefinition") {
        return None;
    }
    let spec = o.value.get("spec")?;
    let group = spec.get("group")?.as_str()?;
    let kind = spec.get("names")?.get("kind")?.as_str()?;
    let scope = match spec.get("scope").and_then(|s| s.as_str()) {
        Some("Cluster") => Scope::Cluster,
        _ => Scope::Namespaced,
    };
    Some((GroupKind::new(group, kind), scope))
}

fn api_resources_error(path: &str, detail: &str) -> Diagnostic {
    Diagnostic::path(
        Code::INVALID_API_RESOURCES,
        format!(
            "invalid NAMESPACED column value {detail} in api-resources.txt. Regenerate the file with `kubectl api-resources > api-resources.txt`"
        ),
        path,
        None,
    )
}

/// Parse `kubectl api-resources` output: columns NAME, SHORTNAMES, APIVERSION, NAMESPACED, KIND,
/// located by the header's column offsets.
pub fn parse_api_resources(text: &str, path: &str) -> Result<Vec<(GroupKind, Scope)>, Diagnostic> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let Some(header) = lines.next() else {
        return Ok(Vec::new());
    };
    let col = |name: &str| header.find(name);
    let (Some(api), Some(nsd), Some(kind)) = (col("APIVERSION"), col("NAMESPACED"), col("KIND"))
    else {
        return Err(Diagnostic::path(
            Code::INVALID_API_RESOURCES,
            "api-resources.txt has no APIVERSION, NAMESPACED or KIND column. Regenerate it with `kubectl api-resources > api-resources.txt`",
            path,
            None,
        ));
    };
    let mut out = Vec::new();
    for line in lines {
        let field = |start: usize| -> &str {
            let rest = line.get(start..).unwrap_or("");
            rest.split_whitespace().next().unwrap_or("")
        };
        let api_version = field(api);
        let namespaced = field(nsd);
        let kind = field(kind);
        let scope = match namespaced {
            "true" => Scope::Namespaced,
            "false" => Scope::Cluster,
            other => return Err(api_resources_error(path, &format!("{other:?}"))),
        };
        let group = api_version.split_once('/').map(|(g, _)| g).unwrap_or("");
        out.push((GroupKind::new(group, kind), scope));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins() {
        assert_eq!(builtin_scope("", "ConfigMap"), Some(Scope::Namespaced));
        assert_eq!(
            builtin_scope("rbac.authorization.k8s.io", "ClusterRole"),
            Some(Scope::Cluster)
        );
        assert_eq!(builtin_scope("example.com", "Foo"), None);
    }

    #[test]
    fn api_resources() {
        let text = "NAME          SHORTNAMES   APIVERSION           NAMESPACED   KIND\n\
                    anvils                     acme.com/v1          true         Anvil\n\
                    clusteranvils              acme.com/v1          false        ClusterAnvil\n";
        let got = parse_api_resources(text, "api-resources.txt").unwrap();
        assert_eq!(
            got,
            vec![
                (GroupKind::new("acme.com", "Anvil"), Scope::Namespaced),
                (GroupKind::new("acme.com", "ClusterAnvil"), Scope::Cluster)
            ]
        );
        let bad = "NAME SHORTNAMES APIVERSION NAMESPACED KIND\nfoos  x/v1 maybe Foo\n";
        let err = parse_api_resources(bad, "api-resources.txt").unwrap_err();
        assert_eq!(err.code, Code::INVALID_API_RESOURCES);
    }
}
