//! The kinds a cluster serves: the built-in table and those added by CustomResourceDefinitions.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::Value;

/// Verbs of an ordinary read-write resource.
pub const ALL_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// How names of a kind are validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    /// RFC 1123 subdomain (most kinds).
    Subdomain,
    /// RFC 1123 label (namespaces).
    Label,
    /// Any path segment (RBAC kinds, e.g. `system:aggregate-to-admin`).
    PathSegment,
}

/// One resource (a plural name in one group-version) and how it behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceInfo {
    /// API group, empty for core.
    pub group: String,
    /// Version, e.g. `v1`.
    pub version: String,
    /// Plural name, e.g. `configmaps`.
    pub plural: String,
    /// Singular name, e.g. `configmap`.
    pub singular: String,
    /// Kind, e.g. `ConfigMap`.
    pub kind: String,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
    /// Verbs served.
    pub verbs: Vec<String>,
    /// Short names, e.g. `cm`.
    pub short_names: Vec<String>,
    /// Categories, e.g. `all`.
    pub categories: Vec<String>,
    /// Whether `/status` is a subresource (then status is ignored on the main resource).
    pub status_subresource: bool,
    /// Name validation.
    pub name_rule: NameRule,
    /// Whether this kind comes from a CRD.
    pub custom: bool,
}

impl ResourceInfo {
    /// `v1` or `apps/v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The storage key shared by all versions of this resource.
    pub fn key(&self) -> GroupResource {
        GroupResource {
            group: self.group.clone(),
            resource: self.plural.clone(),
        }
    }
}

/// Group and plural resource name: what objects are stored under (all versions share it).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupResource {
    /// API group, empty for core.
    pub group: String,
    /// Plural resource name.
    pub resource: String,
}

impl GroupResource {
    /// A group-resource.
    pub fn new(group: &str, resource: &str) -> Self {
        Self {
            group: group.into(),
            resource: resource.into(),
        }
    }
}

struct B {
    gv: &'static str,
    plural: &'static str,
    kind: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    cats: &'static [&'static str],
    status: bool,
}

const fn b(
    gv: &'static str,
    plural: &'static str,
    kind: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    cats: &'static [&'static str],
    status: bool,
) -> B {
    B {
        gv,
        plural,
        kind,
        namespaced,
        short,
        cats,
        status,
    }
}

const ALL: &[&str] = &["all"];
const EXT: &[&str] = &["api-extensions"];
const N: &[&str] = &[];

/// The built-in kinds of a Kubernetes 1.32 cluster that the fake serves.
#[rustfmt::skip]
const BUILTINS: &[B] = &[
    b("v1", "configmaps", "ConfigMap", true, &["cm"], N, false),
    b("v1", "endpoints", "Endpoints", true, &["ep"], N, false),
    b("v1", "events", "Event", true, &["ev"], N, false),
    b("v1", "limitranges", "LimitRange", true, &["limits"], N, false),
    b("v1", "namespaces", "Namespace", false, &["ns"], N, true),
    b("v1", "nodes", "Node", false, &["no"], N, true),
    b("v1", "persistentvolumeclaims", "PersistentVolumeClaim", true, &["pvc"], N, true),
    b("v1", "persistentvolumes", "PersistentVolume", false, &["pv"], N, true),
    b("v1", "pods", "Pod", true, &["po"], ALL, true),
    b("v1", "podtemplates", "PodTemplate", true, N, N, false),
    b("v1", "replicationcontrollers", "ReplicationController", true, &["rc"], ALL, true),
    b("v1", "resourcequotas", "ResourceQuota", true, &["quota"], N, true),
    b("v1", "secrets", "Secret", true, N, N, false),
    b("v1", "serviceaccounts", "ServiceAccount", true, &["sa"], N, false),
    b("v1", "services", "Service", true, &["svc"], ALL, true),
    b("admissionregistration.k8s.io/v1", "mutatingwebhookconfigurations", "MutatingWebhookConfiguration", false, N, EXT, false),
    b("admissionregistration.k8s.io/v1", "validatingwebhookconfigurations", "ValidatingWebhookConfiguration", false, N, EXT, false),
    b("apiextensions.k8s.io/v1", "customresourcedefinitions", "CustomResourceDefinition", false, &["crd", "crds"], EXT, true),
    b("apiregistration.k8s.io/v1", "apiservices", "APIService", false, N, EXT, true),
    b("apps/v1", "controllerrevisions", "ControllerRevision", true, N, N, false),
    b("apps/v1", "daemonsets", "DaemonSet", true, &["ds"], ALL, true),
    b("apps/v1", "deployments", "Deployment", true, &["deploy"], ALL, true),
    b("apps/v1", "replicasets", "ReplicaSet", true, &["rs"], ALL, true),
    b("apps/v1", "statefulsets", "StatefulSet", true, &["sts"], ALL, true),
    b("autoscaling/v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", true, &["hpa"], ALL, true),
    b("batch/v1", "cronjobs", "CronJob", true, &["cj"], ALL, true),
    b("batch/v1", "jobs", "Job", true, N, ALL, true),
    b("certificates.k8s.io/v1", "certificatesigningrequests", "CertificateSigningRequest", false, &["csr"], N, true),
    b("coordination.k8s.io/v1", "leases", "Lease", true, N, N, false),
    b("discovery.k8s.io/v1", "endpointslices", "EndpointSlice", true, N, N, false),
    b("events.k8s.io/v1", "events", "Event", true, &["ev"], N, false),
    b("networking.k8s.io/v1", "ingressclasses", "IngressClass", false, N, N, false),
    b("networking.k8s.io/v1", "ingresses", "Ingress", true, &["ing"], N, true),
    b("networking.k8s.io/v1", "networkpolicies", "NetworkPolicy", true, &["netpol"], N, false),
    b("node.k8s.io/v1", "runtimeclasses", "RuntimeClass", false, N, N, false),
    b("policy/v1", "poddisruptionbudgets", "PodDisruptionBudget", true, &["pdb"], N, true),
    b("rbac.authorization.k8s.io/v1", "clusterrolebindings", "ClusterRoleBinding", false, N, N, false),
    b("rbac.authorization.k8s.io/v1", "clusterroles", "ClusterRole", false, N, N, false),
    b("rbac.authorization.k8s.io/v1", "rolebindings", "RoleBinding", true, N, N, false),
    b("rbac.authorization.k8s.io/v1", "roles", "Role", true, N, N, false),
    b("scheduling.k8s.io/v1", "priorityclasses", "PriorityClass", false, &["pc"], N, false),
    b("storage.k8s.io/v1", "csidrivers", "CSIDriver", false, N, N, false),
    b("storage.k8s.io/v1", "csinodes", "CSINode", false, N, N, false),
    b("storage.k8s.io/v1", "storageclasses", "StorageClass", false, &["sc"], N, false),
    b("storage.k8s.io/v1", "volumeattachments", "VolumeAttachment", false, N, N, true),
];

fn split_gv(gv: &str) -> (&str, &str) {
    match gv.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", gv),
    }
}

/// The built-in resources.
pub fn builtins() -> Vec<ResourceInfo> {
    BUILTINS
        .iter()
        .map(|b| {
            let (group, version) = split_gv(b.gv);
            let mut verbs: Vec<String> = ALL_VERBS.iter().map(|s| s.to_string()).collect();
            if b.plural == "namespaces" {
                verbs.retain(|v| v != "deletecollection");
            }
            ResourceInfo {
                group: group.into(),
                version: version.into(),
                plural: b.plural.into(),
                singular: b.kind.to_ascii_lowercase(),
                kind: b.kind.into(),
                namespaced: b.namespaced,
                verbs,
                short_names: b.short.iter().map(|s| s.to_string()).collect(),
                categories: b.cats.iter().map(|s| s.to_string()).collect(),
                status_subresource: b.status,
                name_rule: if b.plural == "namespaces" {
                    NameRule::Label
                } else if group == "rbac.authorization.k8s.io" {
                    NameRule::PathSegment
                } else {
                    NameRule::Subdomain
                },
                custom: false,
            }
        })
        .collect()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The resources a CustomResourceDefinition object serves (one per served version).
pub fn from_crd(crd: &Value) -> Vec<ResourceInfo> {
    let spec = &crd["spec"];
    let group = spec["group"].as_str().unwrap_or_default();
    let names = &spec["names"];
    let plural = names["plural"].as_str().unwrap_or_default();
    let kind = names["kind"].as_str().unwrap_or_default();
    if group.is_empty() || plural.is_empty() || kind.is_empty() {
        return Vec::new();
    }
    let singular = names["singular"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| kind.to_ascii_lowercase());
    let namespaced = spec["scope"].as_str() != Some("Cluster");
    let mut out = Vec::new();
    for v in spec["versions"].as_array().into_iter().flatten() {
        if v["served"].as_bool() == Some(false) {
            continue;
        }
        let Some(version) = v["name"].as_str() else {
            continue;
        };
        out.push(ResourceInfo {
            group: group.into(),
            version: version.into(),
            plural: plural.into(),
            singular: singular.clone(),
            kind: kind.into(),
            namespaced,
            verbs: ALL_VERBS.iter().map(|s| s.to_string()).collect(),
            short_names: strings(&names["shortNames"]),
            categories: strings(&names["categories"]),
            status_subresource: v["subresources"]["status"].is_object(),
            name_rule: NameRule::Subdomain,
            custom: true,
        });
    }
    out
}

/// Kubernetes version priority: GA > beta > alpha, higher numbers first; others last, by name.
pub fn version_order(a: &str, b: &str) -> std::cmp::Ordering {
    fn rank(v: &str) -> (u8, u64, u64, String) {
        let parse = |s: &str| -> Option<(u64, u8, u64)> {
            let rest = s.strip_prefix('v')?;
            let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
            let major: u64 = digits.parse().ok()?;
            let tail = &rest[digits.len()..];
            if tail.is_empty() {
                return Some((major, 3, 0));
            }
            let (lvl, n) = if let Some(n) = tail.strip_prefix("beta") {
                (2, n)
            } else if let Some(n) = tail.strip_prefix("alpha") {
                (1, n)
            } else {
                return None;
            };
            Some((major, lvl, n.parse().ok()?))
        };
        match parse(v) {
            Some((major, lvl, minor)) => (lvl, major, minor, String::new()),
            None => (0, 0, 0, v.to_string()),
        }
    }
    let (ra, rb) = (rank(a), rank(b));
    // Higher rank first; for unranked, alphabetical.
    rb.0.cmp(&ra.0)
        .then(rb.1.cmp(&ra.1))
        .then(rb.2.cmp(&ra.2))
        .then(ra.3.cmp(&rb.3))
}

/// The versions of one group (priority order), each with its resources (sorted by plural).
pub type Versions = Vec<(String, Vec<Arc<ResourceInfo>>)>;

/// A snapshot of every served resource.
#[derive(Debug, Default)]
pub struct Registry {
    by_gvr: HashMap<(String, String, String), Arc<ResourceInfo>>,
    /// Group → versions (priority order) → resources (sorted by plural).
    groups: BTreeMap<String, Versions>,
}

impl Registry {
    /// A registry of the built-ins plus the given custom resources.
    pub fn new(custom: impl IntoIterator<Item = ResourceInfo>) -> Self {
        let mut r = Registry::default();
        for info in builtins().into_iter().chain(custom) {
            let key = (
                info.group.clone(),
                info.version.clone(),
                info.plural.clone(),
            );
            if r.by_gvr.contains_key(&key) {
                continue; // a CRD can never shadow a built-in or an earlier CRD
            }
            r.by_gvr.insert(key, Arc::new(info));
        }
        let mut groups: BTreeMap<String, BTreeMap<String, Vec<Arc<ResourceInfo>>>> =
            BTreeMap::new();
        for info in r.by_gvr.values() {
            groups
                .entry(info.group.clone())
                .or_default()
                .entry(info.version.clone())
                .or_default()
                .push(info.clone());
        }
        for (g, versions) in groups {
            let mut vs: Vec<(String, Vec<Arc<ResourceInfo>>)> = versions
                .into_iter()
                .map(|(v, mut rs)| {
                    rs.sort_by(|a, b| a.plural.cmp(&b.plural));
                    (v, rs)
                })
                .collect();
            vs.sort_by(|a, b| version_order(&a.0, &b.0));
            r.groups.insert(g, vs);
        }
        r
    }

    /// The resource at group/version/plural.
    pub fn get(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceInfo>> {
        self.by_gvr
            .get(&(group.to_string(), version.to_string(), plural.to_string()))
            .cloned()
    }

    /// The preferred-version resource for a group and plural.
    pub fn preferred(&self, group: &str, plural: &str) -> Option<Arc<ResourceInfo>> {
        self.groups
            .get(group)?
            .iter()
            .find_map(|(_, rs)| rs.iter().find(|r| r.plural == plural).cloned())
    }

    /// Finds a resource by group, version and kind.
    pub fn by_kind(&self, group: &str, version: &str, kind: &str) -> Option<Arc<ResourceInfo>> {
        self.groups.get(group)?.iter().find_map(|(v, rs)| {
            (v == version)
                .then(|| rs.iter().find(|r| r.kind == kind).cloned())
                .flatten()
        })
    }

    /// Groups (core is the empty string) with their versions in priority order.
    pub fn groups(&self) -> &BTreeMap<String, Versions> {
        &self.groups
    }

    /// The resources of one group-version.
    pub fn group_version(&self, group: &str, version: &str) -> Option<&[Arc<ResourceInfo>]> {
        self.groups
            .get(group)?
            .iter()
            .find(|(v, _)| v == version)
            .map(|(_, rs)| rs.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn version_priority() {
        let mut v = vec!["v1alpha1", "v2", "v1beta2", "v1", "foo", "v1beta1", "v10"];
        v.sort_by(|a, b| version_order(a, b));
        assert_eq!(
            v,
            vec!["v10", "v2", "v1", "v1beta2", "v1beta1", "v1alpha1", "foo"]
        );
    }

    #[test]
    fn crd_adds_resources() {
        let crd = json!({"spec": {"group": "example.org", "scope": "Namespaced",
            "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget", "shortNames": ["gd"]},
            "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}}},
                         {"name": "v1beta1", "served": true, "storage": false}]}});
        let infos = from_crd(&crd);
        assert_eq!(infos.len(), 2);
        let reg = Registry::new(infos);
        let g = reg.get("example.org", "v1", "gadgets").unwrap();
        assert!(g.namespaced && g.status_subresource && g.custom);
        assert_eq!(g.short_names, vec!["gd"]);
        assert_eq!(reg.groups()["example.org"][0].0, "v1");
        assert!(reg.get("", "v1", "configmaps").is_some());
        assert_eq!(
            reg.by_kind("apps", "v1", "Deployment").unwrap().plural,
            "deployments"
        );
    }
}
