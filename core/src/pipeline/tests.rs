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
