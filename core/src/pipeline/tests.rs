use super::*;

fn f(path: &str, text: &str) -> SourceFile {
    SourceFile::new(path, text)
}

const REPO: &str = "apiVersion: configmanagement.gke.io/v1\nkind: Repo\nmetadata:\n  name: repo\nspec:\n  version: 1.0.0\n";

fn codes(p: &Pass) -> Vec<u16> {
    let mut c: Vec<u16> = p.errors.iter().map(|e| e.code.0).collect();
    c.dedup();
    c
}

#[test]
fn inheritance_and_namespace_defaulting() {
    let files = vec![
        f("system/repo.yaml", REPO),
        f(
            "namespaces/eng/rb.yaml",
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: eng-admins\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: admin\nsubjects: []\n",
        ),
        f(
            "namespaces/eng/a/ns.yaml",
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n",
        ),
        f(
            "namespaces/eng/a/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n",
        ),
        f(
            "namespaces/eng/b/ns.yaml",
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: b\n",
        ),
    ];
    let repo = Repository::load(&files, None, Options::new(SourceFormat::Hierarchy));
    let pass = repo.pass("c1");
    assert!(
        pass.errors.is_empty(),
        "{}",
        crate::diag::render(&pass.errors)
    );
    let ids: Vec<String> = pass.objects.iter().map(|o| o.id().to_string()).collect();
    assert_eq!(
        ids,
        vec![
            "ConfigMap/a/cm",
            "Namespace/a",
            "Namespace/b",
            "RoleBinding.rbac.authorization.k8s.io/a/eng-admins",
            "RoleBinding.rbac.authorization.k8s.io/b/eng-admins"
        ]
    );
    // Copies keep the file they were declared in.
    assert!(
        pass.objects
            .iter()
            .filter(|o| o.kind() == "RoleBinding")
            .all(|o| &*o.origin.file == "namespaces/eng/rb.yaml")
    );
}

#[test]
fn raw_errors_block_later_stages() {
    let files = vec![
        f("system/repo.yaml", REPO),
        f(
            "namespaces/a/ns.yaml",
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n",
        ),
        f(
            "namespaces/a/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  namespace: b\n",
        ),
        // Would be KNV1039 (cluster-scoped in namespaces/), but the raw KNV1009 blocks first.
        f(
            "namespaces/a/cr.yaml",
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: cr\n",
        ),
    ];
    let repo = Repository::load(&files, None, Options::new(SourceFormat::Hierarchy));
    assert_eq!(codes(&repo.pass("")), vec![1009]);
}

#[test]
fn cluster_selection_cascades_to_namespace_content() {
    let files = vec![
        f(
            "a.yaml",
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n  annotations:\n    configsync.gke.io/cluster-name-selector: prod\n",
        ),
        f(
            "b.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  namespace: a\n",
        ),
        f(
            "c.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\n",
        ),
    ];
    let repo = Repository::load(&files, None, Options::new(SourceFormat::Unstructured));
    let prod = repo.pass("PROD");
    assert_eq!(prod.objects.len(), 3, "{:?}", prod.errors);
    let dev = repo.pass("dev");
    let ids: Vec<String> = dev.objects.iter().map(|o| o.id().to_string()).collect();
    assert_eq!(ids, vec!["ConfigMap/default/other"]);
}

#[test]
fn unknown_kind_is_reported_but_not_blocking() {
    let files = vec![f(
        "vm.yaml",
        "apiVersion: kubevirt.io/v1\nkind: VirtualMachine\nmetadata:\n  name: vm\n  namespace: x\n",
    )];
    let repo = Repository::load(&files, None, Options::new(SourceFormat::Unstructured));
    let pass = repo.pass("");
    assert_eq!(codes(&pass), vec![1021]);
    assert!(pass.is_syncable());
    assert_eq!(pass.objects.len(), 1);
}

fn ns(name: &str) -> String {
    format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n")
}

fn cm(name: &str, extra_metadata: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n{extra_metadata}")
}

/// Every offline KNV code not covered by `policy-examples/invalid`, each from a minimal
/// repository that raises exactly that code.
#[test]
fn each_code_from_a_minimal_repository() {
    let crd = |name: &str, group: &str| {
        format!(
            "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: {name}\nspec:\n  group: {group}\n  names:\n    kind: Anvil\n    plural: anvils\n  scope: Namespaced\n  versions:\n  - name: v1\n    served: true\n    storage: true\n"
        )
    };
    let hc = |group: &str, kind: &str, mode: &str| {
        format!(
            "apiVersion: configmanagement.gke.io/v1\nkind: HierarchyConfig\nmetadata:\n  name: hc\nspec:\n  resources:\n  - group: \"{group}\"\n    kinds: [\"{kind}\"]\n    hierarchyMode: {mode}\n"
        )
    };
    let h = SourceFormat::Hierarchy;
    let u = SourceFormat::Unstructured;
    type Case<'a> = (u16, SourceFormat, Vec<(&'a str, String)>);
    let cases: Vec<Case> = vec![
        (1004, u, vec![("cr.yaml", "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: cr\n  annotations:\n    configmanagement.gke.io/namespace-selector: sel\n".into())]),
        (1007, h, vec![("system/hc.yaml", hc("", "ConfigMap", "none")), ("namespaces/eng/cm.yaml", cm("c", "")), ("namespaces/eng/a/ns.yaml", ns("a"))]),
        (1019, h, vec![("namespaces/ns.yaml", ns("namespaces"))]),
        (1031, u, vec![("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n".into())]),
        (1034, u, vec![("ns.yaml", ns("config-management-system"))]),
        (1041, h, vec![("system/hc.yaml", hc("", "Namespace", "inherit"))]),
        (1042, h, vec![("system/hc.yaml", hc("", "ConfigMap", "sometimes"))]),
        (1043, u, vec![("crd.yaml", crd("anvils.configsync.gke.io", "configsync.gke.io"))]),
        (1046, h, vec![("system/hc.yaml", hc("rbac.authorization.k8s.io", "ClusterRole", "inherit")), ("cluster/cr.yaml", "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: cr\n".into())]),
        (1050, u, vec![("d.yaml", "apiVersion: extensions/v1beta1\nkind: Deployment\nmetadata:\n  name: d\n".into())]),
        (1055, u, vec![("cm.yaml", cm("c", "  namespace: Not_Valid\n"))]),
        (1056, u, vec![("ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n  annotations:\n    configmanagement.gke.io/managed: disabled\n".into()), ("cm.yaml", cm("c", "  namespace: a\n"))]),
        (1057, h, vec![("namespaces/a/ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n  labels:\n    a.tree.hnc.x-k8s.io/depth: \"0\"\n".into())]),
        (1069, u, vec![("rs.yaml", "apiVersion: configsync.gke.io/v1beta1\nkind: RootSync\nmetadata:\n  name: root-sync\n  namespace: config-management-system\n".into())]),
        (2010, u, vec![("x.yaml", "apiVersion: v1\nmetadata:\n  name: x\n".into())]),
    ];
    for (code, format, files) in cases {
        let mut files: Vec<SourceFile> = files.into_iter().map(|(p, t)| f(p, &t)).collect();
        if format == h && code != 1017 {
            files.push(f("system/repo.yaml", REPO));
        }
        let repo = Repository::load(&files, None, Options::new(format));
        let pass = repo.pass("");
        assert_eq!(
            codes(&pass),
            vec![code],
            "KNV{code}: {}",
            crate::diag::render(&pass.errors)
        );
    }
}

#[test]
fn namespace_repository_scope() {
    let files = vec![
        f(
            "cr.yaml",
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: cr\n",
        ),
        f("cm.yaml", &cm("c", "  namespace: other\n")),
    ];
    let mut opts = Options::new(SourceFormat::Unstructured);
    opts.namespace = Some("shop".into());
    let pass = Repository::load(&files, None, opts.clone()).pass("");
    assert_eq!(codes(&pass), vec![1058]);
    assert_eq!(pass.errors.len(), 2);
    // Objects without a namespace land in the repository's namespace.
    let pass = Repository::load(&[f("cm.yaml", &cm("c", ""))], None, opts).pass("");
    assert_eq!(pass.objects[0].namespace(), "shop");
}

#[test]
fn threshold_and_api_resources() {
    let files = vec![f("a.yaml", &cm("a", "")), f("b.yaml", &cm("b", ""))];
    let mut opts = Options::new(SourceFormat::Unstructured);
    opts.threshold = Some(1);
    assert_eq!(
        codes(&Repository::load(&files, None, opts).pass("")),
        vec![1070]
    );
    // api-resources.txt teaches scopes of kinds without CRDs in the repository.
    let anvil = vec![f(
        "a.yaml",
        "apiVersion: acme.com/v1\nkind: Anvil\nmetadata:\n  name: a\n",
    )];
    let api = "NAME     SHORTNAMES   APIVERSION    NAMESPACED   KIND\nanvils                acme.com/v1   true         Anvil\n";
    let pass = Repository::load(
        &anvil,
        Some(("api-resources.txt", api)),
        Options::new(SourceFormat::Unstructured),
    )
    .pass("");
    assert!(pass.errors.is_empty(), "{:?}", pass.errors);
    assert_eq!(pass.objects[0].namespace(), "default");
    let bad = "NAME     SHORTNAMES   APIVERSION    NAMESPACED   KIND\nanvils                acme.com/v1   maybe        Anvil\n";
    assert_eq!(
        codes(
            &Repository::load(
                &anvil,
                Some(("api-resources.txt", bad)),
                Options::new(SourceFormat::Unstructured)
            )
            .pass("")
        ),
        vec![1064]
    );
}

#[test]
fn unstructured_namespace_selectors_fan_out() {
    let files = vec![
        f(
            "sel.yaml",
            "apiVersion: configmanagement.gke.io/v1\nkind: NamespaceSelector\nmetadata:\n  name: gold\nspec:\n  selector:\n    matchLabels:\n      tier: gold\n",
        ),
        f(
            "a.yaml",
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n  labels:\n    tier: gold\n",
        ),
        f(
            "b.yaml",
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: b\n",
        ),
        f(
            "c.yaml",
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: c\n  labels:\n    tier: gold\n",
        ),
        f(
            "cm.yaml",
            &cm(
                "shared",
                "  annotations:\n    configmanagement.gke.io/namespace-selector: gold\n",
            ),
        ),
    ];
    let pass = Repository::load(&files, None, Options::new(SourceFormat::Unstructured)).pass("");
    let cms: Vec<String> = pass
        .objects
        .iter()
        .filter(|o| o.kind() == "ConfigMap")
        .map(|o| o.id().to_string())
        .collect();
    assert_eq!(cms, vec!["ConfigMap/a/shared", "ConfigMap/c/shared"]);
}
