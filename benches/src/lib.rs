//! Benchmark support for nomos-rs: deterministic generators of large, valid Config Sync
//! policy repositories.
//!
//! Two layouts are produced:
//!
//! * [`generate_hierarchical`] / [`generate_hierarchical_with`]: a hierarchical repository
//!   (`system/`, `cluster/`, `namespaces/<org>/<namespace>/`) in which every abstract `<org>`
//!   directory holds policies that inheritance copies into each of its namespaces;
//! * [`generate_unstructured`]: an unstructured repository laid out by application, where a
//!   `NamespaceSelector` fans a policy out to every namespace.
//!
//! Output is byte-for-byte deterministic (no randomness, no timestamps), so benchmark runs on
//! different machines compare the same trees. Only `.yaml`/`.json` files are written.
//!
//! Object counts: [`Stats::objects`] is the number of objects that `nomos hydrate` would emit
//! for the default cluster, i.e. after inheritance and namespace-selector fan-out, excluding
//! objects that are never synced (`Repo`, `HierarchyConfig`, `NamespaceSelector`) and the
//! abstract-directory originals.

use std::fmt;
use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::Path;

/// What a generator wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Files written.
    pub files: usize,
    /// Total size of the files written, in bytes.
    pub bytes: u64,
    /// Objects declared in the files (every YAML document, and every item of a `List`).
    pub declared: usize,
    /// Objects that would be synced after inheritance and namespace-selector fan-out.
    pub objects: usize,
    /// `Namespace` objects declared.
    pub namespaces: usize,
    /// Abstract namespace directories (hierarchical format only).
    pub abstract_dirs: usize,
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "files={} bytes={} declared={} objects={} namespaces={} abstract_dirs={}",
            self.files,
            self.bytes,
            self.declared,
            self.objects,
            self.namespaces,
            self.abstract_dirs
        )
    }
}

/// Standard repository sizes, by number of resulting objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// ~1,000 objects: 100 namespaces, ~220 files.
    Objects1k,
    /// ~10,000 objects: 1,000 namespaces, ~2,000 files.
    Objects10k,
    /// ~100,000 objects: 10,000 namespaces, ~20,000 files.
    Objects100k,
}

impl Preset {
    /// All presets, smallest first.
    pub const ALL: [Preset; 3] = [Preset::Objects1k, Preset::Objects10k, Preset::Objects100k];

    /// The nominal number of resulting objects.
    pub fn objects(self) -> usize {
        match self {
            Preset::Objects1k => 1_000,
            Preset::Objects10k => 10_000,
            Preset::Objects100k => 100_000,
        }
    }

    /// Short name used on command lines and in reports (`1k`, `10k`, `100k`).
    pub fn name(self) -> &'static str {
        match self {
            Preset::Objects1k => "1k",
            Preset::Objects10k => "10k",
            Preset::Objects100k => "100k",
        }
    }

    /// Parameters of the hierarchical repository for this preset.
    pub fn hierarchical(self) -> HierarchicalParams {
        HierarchicalParams::for_objects(self.objects())
    }
}

impl std::str::FromStr for Preset {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "1k" | "1000" => Ok(Preset::Objects1k),
            "10k" | "10000" => Ok(Preset::Objects10k),
            "100k" | "100000" => Ok(Preset::Objects100k),
            other => Err(format!(
                "unknown preset {other:?} (expected 1k, 10k or 100k)"
            )),
        }
    }
}

/// Shape of a generated hierarchical repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HierarchicalParams {
    /// Number of namespace directories (each declares one `Namespace`).
    pub namespaces: usize,
    /// Namespace-scoped objects declared locally in each namespace directory, besides the
    /// `Namespace` itself (cycling through ConfigMap, Deployment, Service, ServiceAccount, Role,
    /// RoleBinding).
    pub objects_per_ns: usize,
    /// Number of abstract "org" directories the namespaces are spread over (capped at
    /// `namespaces`, so that no abstract directory is left without a namespace).
    pub orgs: usize,
}

/// Objects every namespace inherits from its org directory.
const INHERITED_PER_NS: usize = 3;
/// Local kinds per namespace used by the default parameters.
const DEFAULT_OBJECTS_PER_NS: usize = 6;
/// Default number of abstract org directories.
const DEFAULT_ORGS: usize = 10;
/// Every `GOLD_EVERY`-th namespace is labelled `tier: gold` and receives one extra,
/// namespace-selected RoleBinding.
const GOLD_EVERY: usize = 10;

impl HierarchicalParams {
    /// Parameters giving about `objects` resulting objects: `objects / 10` namespaces with
    /// 6 local objects + the Namespace + 3 inherited objects each (+ a selected RoleBinding in
    /// every 10th namespace, + 2 cluster-scoped objects per org).
    pub fn for_objects(objects: usize) -> Self {
        let per_ns = 1 + DEFAULT_OBJECTS_PER_NS + INHERITED_PER_NS;
        HierarchicalParams {
            namespaces: (objects / per_ns).max(1),
            objects_per_ns: DEFAULT_OBJECTS_PER_NS,
            orgs: DEFAULT_ORGS,
        }
    }

    fn effective_orgs(&self) -> usize {
        self.orgs.max(1).min(self.namespaces)
    }

    /// The [`Stats::objects`] value that generating with these parameters yields.
    pub fn expected_objects(&self) -> usize {
        let orgs = self.effective_orgs();
        let gold = self.namespaces.div_ceil(GOLD_EVERY);
        2 * orgs + self.namespaces * (1 + self.objects_per_ns + INHERITED_PER_NS) + gold
    }
}

const ORG_NAMES: [&str; 10] = [
    "payments",
    "robotics",
    "logistics",
    "retail",
    "identity",
    "analytics",
    "media",
    "platform",
    "security",
    "research",
];

fn org_name(k: usize) -> String {
    match ORG_NAMES.get(k) {
        Some(name) => (*name).to_string(),
        None => format!("org{k:03}"),
    }
}

fn tier(i: usize) -> &'static str {
    if i.is_multiple_of(GOLD_EVERY) {
        "gold"
    } else if i.is_multiple_of(2) {
        "silver"
    } else {
        "bronze"
    }
}

/// Accumulates files below a root directory and the statistics about them.
struct Writer<'a> {
    root: &'a Path,
    stats: Stats,
}

impl Writer<'_> {
    fn write(&mut self, rel: &str, content: &str, declared: usize) -> io::Result<()> {
        let path = self.root.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(&path, content)?;
        self.stats.files += 1;
        self.stats.bytes += content.len() as u64;
        self.stats.declared += declared;
        Ok(())
    }
}

/// Creates `dir` (and its parents) and fails with `AlreadyExists` if it is not empty.
fn prepare_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    if fs::read_dir(dir)?.next().is_some() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} is not empty", dir.display()),
        ));
    }
    Ok(())
}

/// Generates a hierarchical repository with `namespaces` namespace directories, each with
/// `objects_per_ns` local objects besides its Namespace, spread over 10 abstract org
/// directories. See [`generate_hierarchical_with`].
pub fn generate_hierarchical(
    dir: &Path,
    namespaces: usize,
    objects_per_ns: usize,
) -> io::Result<Stats> {
    generate_hierarchical_with(
        dir,
        &HierarchicalParams {
            namespaces,
            objects_per_ns,
            orgs: DEFAULT_ORGS,
        },
    )
}

/// Generates a preset-sized hierarchical repository.
pub fn generate_hierarchical_preset(dir: &Path, preset: Preset) -> io::Result<Stats> {
    generate_hierarchical_with(dir, &preset.hierarchical())
}

/// Generates a valid hierarchical repository into `dir`, which must be empty or absent.
///
/// Layout:
/// ```text
/// system/repo.yaml, system/hierarchyconfig.yaml
/// cluster/<org>-rbac.yaml                    ClusterRole + ClusterRoleBinding per org
/// namespaces/<org>/org-policies.yaml         RoleBinding, ResourceQuota, NetworkPolicy (inherited),
///                                            NamespaceSelector "<org>-gold" + a RoleBinding selected by it
/// namespaces/<org>/<ns>/namespace.yaml       the Namespace
/// namespaces/<org>/<ns>/resources.yaml       objects_per_ns documents (multi-document file)
/// ```
/// With the default 6 local objects that is two files and ~10 resulting objects per namespace.
pub fn generate_hierarchical_with(dir: &Path, params: &HierarchicalParams) -> io::Result<Stats> {
    prepare_dir(dir)?;
    let mut w = Writer {
        root: dir,
        stats: Stats::default(),
    };
    w.write("system/repo.yaml", REPO_YAML, 1)?;
    w.write("system/hierarchyconfig.yaml", HIERARCHY_CONFIG_YAML, 1)?;

    let orgs = if params.namespaces == 0 {
        0
    } else {
        params.effective_orgs()
    };
    let mut buf = String::with_capacity(16 * 1024);
    for k in 0..orgs {
        let org = org_name(k);
        buf.clear();
        cluster_rbac(&mut buf, &org);
        w.write(&format!("cluster/{org}-rbac.yaml"), &buf, 2)?;
        w.stats.objects += 2;

        buf.clear();
        org_policies(&mut buf, &org, k);
        w.write(&format!("namespaces/{org}/org-policies.yaml"), &buf, 5)?;
        w.stats.abstract_dirs += 1;

        // Namespaces [first, last) belong to org k (contiguous blocks).
        let first = k * params.namespaces / orgs;
        let last = (k + 1) * params.namespaces / orgs;
        for i in first..last {
            let ns = format!("{org}-app-{i:05}");
            let gold = tier(i) == "gold";
            buf.clear();
            namespace_doc(&mut buf, &ns, &org, i);
            w.write(&format!("namespaces/{org}/{ns}/namespace.yaml"), &buf, 1)?;
            w.stats.namespaces += 1;

            buf.clear();
            for j in 0..params.objects_per_ns {
                if j > 0 {
                    buf.push_str("---\n");
                }
                local_object(&mut buf, &ns, &org, i, j, false);
            }
            if params.objects_per_ns > 0 {
                w.write(
                    &format!("namespaces/{org}/{ns}/resources.yaml"),
                    &buf,
                    params.objects_per_ns,
                )?;
            }
            w.stats.objects += 1 + params.objects_per_ns + INHERITED_PER_NS + usize::from(gold);
        }
    }
    debug_assert_eq!(w.stats.objects, params.expected_objects());
    Ok(w.stats)
}

/// Generates a valid unstructured repository of about `objects` resulting objects into `dir`
/// (which must be empty or absent).
///
/// Layout (by application, `objects / 10` namespaces spread over up to 10 orgs):
/// ```text
/// cluster/cluster-roles.yaml                 one ClusterRole per org (multi-document)
/// cluster/cluster-role-bindings.json         a JSON `List` with one ClusterRoleBinding per org
/// policies/generated-namespaces.yaml         static NamespaceSelector + a NetworkPolicy fanned out to all namespaces
/// apps/<org>/<ns>/namespace.yaml             the Namespace
/// apps/<org>/<ns>/resources.yaml             8 documents with explicit metadata.namespace
/// ```
pub fn generate_unstructured(dir: &Path, objects: usize) -> io::Result<Stats> {
    prepare_dir(dir)?;
    let mut w = Writer {
        root: dir,
        stats: Stats::default(),
    };
    let namespaces = (objects / 10).max(1);
    let orgs = DEFAULT_ORGS.min(namespaces);

    let mut buf = String::with_capacity(16 * 1024);
    for k in 0..orgs {
        if k > 0 {
            buf.push_str("---\n");
        }
        cluster_role(&mut buf, &org_name(k));
    }
    w.write("cluster/cluster-roles.yaml", &buf, orgs)?;
    buf.clear();
    cluster_role_bindings_json(&mut buf, orgs);
    w.write("cluster/cluster-role-bindings.json", &buf, orgs)?;
    w.stats.objects += 2 * orgs;

    w.write(
        "policies/generated-namespaces.yaml",
        FANOUT_POLICIES_YAML,
        2,
    )?;

    for k in 0..orgs {
        let org = org_name(k);
        let first = k * namespaces / orgs;
        let last = (k + 1) * namespaces / orgs;
        for i in first..last {
            let ns = format!("{org}-app-{i:05}");
            buf.clear();
            namespace_doc(&mut buf, &ns, &org, i);
            w.write(&format!("apps/{org}/{ns}/namespace.yaml"), &buf, 1)?;
            w.stats.namespaces += 1;

            buf.clear();
            for j in 0..DEFAULT_OBJECTS_PER_NS {
                if j > 0 {
                    buf.push_str("---\n");
                }
                local_object(&mut buf, &ns, &org, i, j, true);
            }
            buf.push_str("---\n");
            resource_quota(&mut buf, "app-compute", Some(&ns), i);
            buf.push_str("---\n");
            viewers_role_binding(&mut buf, &org, Some(&ns));
            w.write(
                &format!("apps/{org}/{ns}/resources.yaml"),
                &buf,
                DEFAULT_OBJECTS_PER_NS + 2,
            )?;
            // Namespace + local objects + quota + binding + the fanned-out NetworkPolicy.
            w.stats.objects += 1 + DEFAULT_OBJECTS_PER_NS + 2 + 1;
        }
    }
    Ok(w.stats)
}

const REPO_YAML: &str = "\
# Generated by nomos-gen.
apiVersion: configmanagement.gke.io/v1
kind: Repo
metadata:
  name: repo
spec:
  version: \"1.0.0\"
";

const HIERARCHY_CONFIG_YAML: &str = "\
apiVersion: configmanagement.gke.io/v1
kind: HierarchyConfig
metadata:
  name: inherited-policies
spec:
  resources:
    - group: rbac.authorization.k8s.io
      kinds: [\"RoleBinding\"]
      hierarchyMode: inherit
    - group: \"\"
      kinds: [\"ResourceQuota\"]
      hierarchyMode: inherit
    - group: networking.k8s.io
      kinds: [\"NetworkPolicy\"]
      hierarchyMode: inherit
";

const FANOUT_POLICIES_YAML: &str = "\
apiVersion: configmanagement.gke.io/v1
kind: NamespaceSelector
metadata:
  name: generated-namespaces
spec:
  mode: static
  selector:
    matchLabels:
      generated: \"true\"
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: default-deny-ingress
  annotations:
    configmanagement.gke.io/namespace-selector: generated-namespaces
spec:
  podSelector: {}
  policyTypes: [\"Ingress\"]
";

// `write!` into a `String` cannot fail; the results below are discarded on purpose.

fn cluster_role(buf: &mut String, org: &str) {
    let _ = write!(
        buf,
        "\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: {org}-viewer
  labels:
    org: {org}
rules:
  - apiGroups: [\"\"]
    resources: [\"namespaces\", \"nodes\"]
    verbs: [\"get\", \"list\", \"watch\"]
  - apiGroups: [\"apps\"]
    resources: [\"deployments\", \"statefulsets\"]
    verbs: [\"get\", \"list\", \"watch\"]
"
    );
}

fn cluster_role_binding(buf: &mut String, org: &str) {
    let _ = write!(
        buf,
        "\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: {org}-viewers
subjects:
  - kind: Group
    name: {org}-engineers@example.com
    apiGroup: rbac.authorization.k8s.io
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: {org}-viewer
"
    );
}

fn cluster_rbac(buf: &mut String, org: &str) {
    cluster_role(buf, org);
    buf.push_str("---\n");
    cluster_role_binding(buf, org);
}

fn cluster_role_bindings_json(buf: &mut String, orgs: usize) {
    buf.push_str("{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"List\",\n  \"items\": [\n");
    for k in 0..orgs {
        let org = org_name(k);
        let _ = write!(
            buf,
            "    {{\n      \"apiVersion\": \"rbac.authorization.k8s.io/v1\",\n      \"kind\": \"ClusterRoleBinding\",\n      \"metadata\": {{\"name\": \"{org}-viewers\"}},\n      \"subjects\": [{{\"kind\": \"Group\", \"name\": \"{org}-engineers@example.com\", \"apiGroup\": \"rbac.authorization.k8s.io\"}}],\n      \"roleRef\": {{\"apiGroup\": \"rbac.authorization.k8s.io\", \"kind\": \"ClusterRole\", \"name\": \"{org}-viewer\"}}\n    }}{}\n",
            if k + 1 < orgs { "," } else { "" }
        );
    }
    buf.push_str("  ]\n}\n");
}

fn ns_line(namespace: Option<&str>) -> String {
    namespace
        .map(|ns| format!("  namespace: {ns}\n"))
        .unwrap_or_default()
}

fn viewers_role_binding(buf: &mut String, org: &str, namespace: Option<&str>) {
    let _ = write!(
        buf,
        "\
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: org-viewers
{ns}subjects:
  - kind: Group
    name: {org}-engineers@example.com
    apiGroup: rbac.authorization.k8s.io
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: view
",
        ns = ns_line(namespace)
    );
}

fn resource_quota(buf: &mut String, name: &str, namespace: Option<&str>, seed: usize) {
    let _ = write!(
        buf,
        "\
apiVersion: v1
kind: ResourceQuota
metadata:
  name: {name}
{ns}spec:
  hard:
    requests.cpu: \"{cpu}\"
    requests.memory: {mem}Gi
    limits.cpu: \"{lcpu}\"
    limits.memory: {lmem}Gi
    pods: \"{pods}\"
",
        ns = ns_line(namespace),
        cpu = 4 + seed % 13,
        mem = 8 + seed % 24,
        lcpu = 8 + seed % 13,
        lmem = 16 + seed % 24,
        pods = 50 + seed % 50,
    );
}

/// The abstract org directory's policies: 3 inherited objects, a NamespaceSelector and an
/// object selected by it.
fn org_policies(buf: &mut String, org: &str, k: usize) {
    viewers_role_binding(buf, org, None);
    buf.push_str("---\n");
    resource_quota(buf, "org-compute", None, k);
    buf.push_str("---\n");
    let _ = write!(
        buf,
        "\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: default-deny-ingress
spec:
  podSelector: {{}}
  policyTypes:
    - Ingress
---
apiVersion: configmanagement.gke.io/v1
kind: NamespaceSelector
metadata:
  name: {org}-gold
spec:
  selector:
    matchLabels:
      tier: gold
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: gold-support
  annotations:
    configmanagement.gke.io/namespace-selector: {org}-gold
subjects:
  - kind: Group
    name: sre-gold@example.com
    apiGroup: rbac.authorization.k8s.io
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: admin
"
    );
}

fn namespace_doc(buf: &mut String, ns: &str, org: &str, i: usize) {
    let _ = write!(
        buf,
        "\
apiVersion: v1
kind: Namespace
metadata:
  name: {ns}
  labels:
    org: {org}
    tier: {tier}
    generated: \"true\"
  annotations:
    example.com/cost-center: \"{cc}\"
",
        tier = tier(i),
        cc = 1000 + i % 97,
    );
}

/// Writes the `j`-th local object of namespace `ns`. With `explicit_ns` the object declares
/// `metadata.namespace`; otherwise it is defaulted from the directory (hierarchical).
fn local_object(buf: &mut String, ns: &str, org: &str, i: usize, j: usize, explicit_ns: bool) {
    let sfx = if j < 6 {
        String::new()
    } else {
        format!("-{}", j / 6)
    };
    let nsl = ns_line(explicit_ns.then_some(ns));
    let _ = match j % 6 {
        0 => write!(
            buf,
            "\
apiVersion: v1
kind: ConfigMap
metadata:
  name: app-config{sfx}
{nsl}  labels:
    app.kubernetes.io/name: app
    app.kubernetes.io/part-of: {org}
data:
  LOG_LEVEL: info
  FEATURE_FLAGS: \"checkout-v2,fast-path\"
  MAX_CONNECTIONS: \"{conns}\"
  ENABLE_TRACING: \"true\"
  app.properties: |
    server.port=8080
    upstream.url=http://backend.{ns}.svc.cluster.local:8080
    cache.ttl.seconds={ttl}
",
            conns = 100 + i % 400,
            ttl = 30 + (i + j) % 90,
        ),
        1 => write!(
            buf,
            "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app{sfx}
{nsl}  labels:
    app.kubernetes.io/name: app{sfx}
    app.kubernetes.io/version: \"1.{minor}\"
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app.kubernetes.io/name: app{sfx}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: app{sfx}
        app.kubernetes.io/version: \"1.{minor}\"
    spec:
      serviceAccountName: app{sfx}
      containers:
        - name: app
          image: registry.example.com/{org}/app:1.{minor}.{patch}
          args: [\"--port=8080\", \"--config=/etc/app/app.properties\"]
          ports:
            - name: http
              containerPort: 8080
          envFrom:
            - configMapRef:
                name: app-config{sfx}
          resources:
            requests:
              cpu: 100m
              memory: 128Mi
            limits:
              cpu: 500m
              memory: 512Mi
          readinessProbe:
            httpGet:
              path: /healthz
              port: http
            periodSeconds: 10
",
            minor = i % 20,
            patch = j,
            replicas = 1 + i % 3,
        ),
        2 => write!(
            buf,
            "\
apiVersion: v1
kind: Service
metadata:
  name: app{sfx}
{nsl}  labels:
    app.kubernetes.io/name: app{sfx}
spec:
  type: ClusterIP
  selector:
    app.kubernetes.io/name: app{sfx}
  ports:
    - name: http
      port: 80
      targetPort: http
      protocol: TCP
"
        ),
        3 => write!(
            buf,
            "\
apiVersion: v1
kind: ServiceAccount
metadata:
  name: app{sfx}
{nsl}  labels:
    app.kubernetes.io/name: app{sfx}
automountServiceAccountToken: false
"
        ),
        4 => write!(
            buf,
            "\
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: app-reader{sfx}
{nsl}rules:
  - apiGroups: [\"\"]
    resources: [\"configmaps\", \"secrets\"]
    verbs: [\"get\", \"list\", \"watch\"]
"
        ),
        _ => write!(
            buf,
            "\
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: app-reader{sfx}
{nsl}subjects:
  - kind: ServiceAccount
    name: app{sfx}
    namespace: {ns}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: app-reader{sfx}
"
        ),
    };
}

/// Every file under `root` as a [`nomos_core::SourceFile`] (path relative, `/`-separated),
/// sorted by path. For benchmarks and tools; the CLI has its own reader with error context.
pub fn read_tree(root: &Path) -> io::Result<Vec<nomos_core::SourceFile>> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d)? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p
                    .strip_prefix(root)
                    .unwrap_or(&p)
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push(nomos_core::SourceFile::new(rel, fs::read(&p)?));
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    fn tmp(name: &str) -> tempfile::TempDir {
        tempfile::Builder::new()
            .prefix(&format!("nomos-gen-{name}-"))
            .tempdir()
            .unwrap()
    }

    fn files(root: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.push(p);
                }
            }
        }
        out.sort();
        out
    }

    /// Splits a YAML file into its documents (the generator never writes empty ones).
    fn docs(text: &str) -> Vec<&str> {
        text.split("\n---\n").collect()
    }

    fn field<'a>(doc: &'a str, prefix: &str) -> Option<&'a str> {
        doc.lines().find_map(|l| l.strip_prefix(prefix))
    }

    #[test]
    fn preset_1k_hierarchical_layout_and_counts() {
        let dir = tmp("h1k");
        let root = dir.path().join("repo");
        let params = Preset::Objects1k.hierarchical();
        assert_eq!(params.namespaces, 100);
        let stats = generate_hierarchical_preset(&root, Preset::Objects1k).unwrap();

        assert_eq!(stats.namespaces, 100);
        assert_eq!(stats.abstract_dirs, 10);
        // 2 system + 10 cluster + 10 abstract + 2 per namespace.
        assert_eq!(stats.files, 2 + 10 + 10 + 200);
        assert_eq!(stats.objects, params.expected_objects());
        assert!((1_000..1_100).contains(&stats.objects), "{stats}");

        let all = files(&root);
        assert_eq!(all.len(), stats.files);
        let bytes: u64 = all.iter().map(|p| fs::metadata(p).unwrap().len()).sum();
        assert_eq!(bytes, stats.bytes);

        // Re-derive the resulting object count from the files: every namespace gets its local
        // objects plus the inheritable objects of its org (selected ones only if gold).
        let mut declared = 0;
        let mut namespace_dirs = 0;
        let mut abstract_docs: BTreeMap<PathBuf, Vec<String>> = BTreeMap::new();
        let mut result = 0;
        for p in &all {
            let rel = p.strip_prefix(&root).unwrap();
            let top = rel
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_str()
                .unwrap();
            assert!(
                ["system", "cluster", "namespaces"].contains(&top),
                "{rel:?}"
            );
            let text = fs::read_to_string(p).unwrap();
            let ds = docs(&text);
            declared += ds.len();
            for d in &ds {
                assert!(field(d, "apiVersion: ").is_some() && field(d, "kind: ").is_some());
            }
            if top == "cluster" {
                result += ds.len();
            }
            if top == "namespaces" && rel.components().count() == 3 {
                // Abstract org dir: no metadata.namespace allowed.
                for d in &ds {
                    assert!(!d.contains("\n  namespace:"), "{rel:?}");
                }
                abstract_docs.insert(
                    p.parent().unwrap().to_path_buf(),
                    ds.iter().map(|s| (*s).to_string()).collect(),
                );
            }
        }
        for p in &all {
            if p.file_name().unwrap() != "namespace.yaml" {
                continue;
            }
            namespace_dirs += 1;
            let text = fs::read_to_string(p).unwrap();
            let dir_name = p.parent().unwrap().file_name().unwrap().to_str().unwrap();
            assert_eq!(field(&text, "  name: "), Some(dir_name));
            assert_eq!(field(&text, "kind: "), Some("Namespace"));
            let gold = text.contains("tier: gold");
            let local = fs::read_to_string(p.with_file_name("resources.yaml")).unwrap();
            assert_eq!(docs(&local).len(), params.objects_per_ns);
            result += 1 + docs(&local).len();
            let org_docs = &abstract_docs[p.parent().unwrap().parent().unwrap()];
            for d in org_docs {
                if d.contains("kind: NamespaceSelector") {
                    continue;
                }
                if d.contains("namespace-selector:") && !gold {
                    continue;
                }
                result += 1;
            }
        }
        assert_eq!(namespace_dirs, 100);
        assert_eq!(declared, stats.declared);
        assert_eq!(result, stats.objects);
    }

    #[test]
    fn preset_10k_shape() {
        let p = Preset::Objects10k.hierarchical();
        assert_eq!(p.namespaces, 1_000);
        let objects = p.expected_objects();
        assert!((10_000..10_200).contains(&objects), "{objects}");
    }

    #[test]
    fn output_is_deterministic() {
        let dir = tmp("det");
        let a = generate_hierarchical(&dir.path().join("a"), 23, 8).unwrap();
        let b = generate_hierarchical(&dir.path().join("b"), 23, 8).unwrap();
        assert_eq!(a, b);
        let fa = files(&dir.path().join("a"));
        let fb = files(&dir.path().join("b"));
        assert_eq!(fa.len(), fb.len());
        for (x, y) in fa.iter().zip(&fb) {
            assert_eq!(
                x.strip_prefix(dir.path().join("a")).unwrap(),
                y.strip_prefix(dir.path().join("b")).unwrap()
            );
            assert_eq!(fs::read(x).unwrap(), fs::read(y).unwrap());
        }
        // 8 local objects: kinds wrap around with a numeric suffix.
        let res = fs::read_to_string(
            dir.path()
                .join("a/namespaces/payments/payments-app-00000/resources.yaml"),
        )
        .unwrap();
        assert!(res.contains("name: app-config-1\n"));
        assert!(res.contains("name: app-1\n"));
    }

    #[test]
    fn small_and_empty_repos() {
        let dir = tmp("small");
        // Fewer namespaces than orgs: one org per namespace, no empty abstract dirs.
        let s = generate_hierarchical(&dir.path().join("three"), 3, 1).unwrap();
        assert_eq!(s.abstract_dirs, 3);
        assert_eq!(s.namespaces, 3);
        let s = generate_hierarchical(&dir.path().join("none"), 0, 6).unwrap();
        assert_eq!((s.files, s.objects, s.abstract_dirs), (2, 0, 0));
        // Refuses to write into a non-empty directory.
        let err = generate_hierarchical(&dir.path().join("three"), 3, 1).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
    }

    #[test]
    fn unstructured_1k() {
        let dir = tmp("u1k");
        let root = dir.path().join("repo");
        let stats = generate_unstructured(&root, 1_000).unwrap();
        assert_eq!(stats.namespaces, 100);
        assert_eq!(stats.files, 3 + 200);
        assert_eq!(stats.objects, 100 * 10 + 20);
        let all = files(&root);
        assert_eq!(all.len(), stats.files);
        let mut declared = 0;
        for p in &all {
            let text = fs::read_to_string(p).unwrap();
            if p.extension().unwrap() == "json" {
                assert!(text.contains("\"kind\": \"List\""));
                declared += text.matches("\"kind\": \"ClusterRoleBinding\"").count();
                continue;
            }
            for d in docs(&text) {
                declared += 1;
                let kind = field(d, "kind: ").unwrap();
                let scoped = !matches!(
                    kind,
                    "Namespace" | "ClusterRole" | "ClusterRoleBinding" | "NamespaceSelector"
                );
                let selected = d.contains("namespace-selector:");
                // Namespace-scoped objects declare their namespace unless fanned out.
                assert_eq!(
                    scoped && !selected,
                    d.contains("\n  namespace: "),
                    "{p:?}: {kind}"
                );
            }
        }
        assert_eq!(declared, stats.declared);
    }
}
