use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::desired::{StampOptions, build};
use crate::{SourceFile, SourceFormat, VetOptions, vet};

fn state(files: &[(&str, String)]) -> DesiredState {
    let files: Vec<SourceFile> = files
        .iter()
        .map(|(p, t)| SourceFile::new(*p, t.as_bytes()))
        .collect();
    let r = vet(&files, &VetOptions::new(SourceFormat::Unstructured));
    assert!(r.passes[0].is_syncable(), "{}", r.render_errors());
    build(
        &r.passes[0],
        |o| r.repository.scope_of(o),
        &StampOptions::default(),
    )
}

fn cm(name: &str, ns: &str, extra: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {ns}\n{extra}data:\n  k: v\n"
    )
}

fn ns(name: &str) -> String {
    format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n")
}

/// Server-side apply, approximately: declared fields replace live ones, others stay.
fn merge(live: &mut Value, declared: &Value) {
    match (live, declared) {
        (Value::Object(l), Value::Object(d)) => {
            for (k, v) in d {
                match l.get_mut(k) {
                    Some(lv) if lv.is_object() && v.is_object() => merge(lv, v),
                    _ => {
                        l.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (l, d) => *l = d.clone(),
    }
}

/// Carry out a plan on a simulated cluster.
fn apply(p: &Plan, live: &mut BTreeMap<ObjectId, Value>, sync: &SyncIdentity) {
    for i in &p.items {
        match &i.action {
            Action::Create => {
                live.insert(i.id.clone(), i.desired.as_ref().unwrap().to_value());
            }
            Action::Update { .. } | Action::Adopt => merge(
                live.get_mut(&i.id).unwrap(),
                &i.desired.as_ref().unwrap().to_value(),
            ),
            Action::UpdateMetadata => merge(
                live.get_mut(&i.id).unwrap(),
                &metadata_only(&i.desired.as_ref().unwrap().to_value()),
            ),
            Action::Abandon => strip_config_sync_metadata(live.get_mut(&i.id).unwrap(), sync),
            Action::Delete => {
                live.remove(&i.id);
            }
            Action::Conflict { .. } => {}
        }
    }
}

fn actions(p: &Plan) -> Vec<(String, &'static str)> {
    p.items
        .iter()
        .map(|i| (i.id.to_string(), i.action.name()))
        .collect()
}

#[test]
fn decision_table() {
    let s = state(&[
        ("ns.yaml", ns("shop")),
        ("a.yaml", cm("create-me", "shop", "")),
        ("b.yaml", cm("drifted", "shop", "")),
        ("c.yaml", cm("adopt-me", "shop", "")),
        ("d.yaml", cm("theirs", "shop", "")),
        (
            "e.yaml",
            cm(
                "offcm",
                "shop",
                "  annotations:\n    configmanagement.gke.io/managed: disabled\n",
            ),
        ),
        (
            "f.yaml",
            cm(
                "frozen",
                "shop",
                "  annotations:\n    client.lifecycle.config.k8s.io/mutation: ignore\n",
            ),
        ),
        ("g.yaml", cm("same", "shop", "")),
    ]);
    let find = |n: &str| state_obj(&s, n);
    let mut drifted = find("drifted");
    drifted["data"]["k"] = json!("changed");
    drifted["metadata"]["annotations"]["other.io/added"] = json!("by someone"); // undeclared: ignored
    let adopt = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "adopt-me", "namespace": "shop"}, "data": {"k": "old"}});
    let mut theirs = find("theirs");
    theirs["metadata"]["annotations"]["configsync.gke.io/manager"] = json!(":root_other");
    let mut off = find("create-me");
    off["metadata"]["name"] = json!("offcm");
    off["metadata"]["annotations"]["configsync.gke.io/resource-id"] =
        json!("_configmap_shop_offcm");
    let mut frozen = find("frozen");
    frozen["data"]["k"] = json!("edited by hand");
    let leftover = {
        let mut v = find("create-me");
        v["metadata"]["name"] = json!("leftover");
        v["metadata"]["annotations"]["configsync.gke.io/resource-id"] =
            json!("_configmap_shop_leftover");
        v
    };
    let unmanaged = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "unmanaged", "namespace": "shop"}});
    let owned = {
        let mut v = leftover.clone();
        v["metadata"]["name"] = json!("owned");
        v["metadata"]["annotations"]["configsync.gke.io/resource-id"] =
            json!("_configmap_shop_owned");
        v["metadata"]["ownerReferences"] = json!([{"kind": "X", "name": "y"}]);
        v
    };
    let default_ns = {
        let mut v = find("create-me");
        v["kind"] = json!("Namespace");
        v["metadata"] = json!({"name": "default", "annotations": {"configmanagement.gke.io/managed": "enabled", "configsync.gke.io/resource-id": "_namespace_default", "configsync.gke.io/manager": ":root"}});
        v
    };
    let live = vec![
        state_obj(&s, "shop"),
        drifted,
        adopt,
        theirs,
        off,
        frozen,
        find("same"),
        leftover,
        unmanaged,
        owned,
        default_ns,
    ];
    let p = plan(&s, &live, &PlanOptions::default());
    let got = actions(&p);
    assert_eq!(
        got,
        vec![
            ("ConfigMap/shop/adopt-me".to_string(), "adopt"),
            ("ConfigMap/shop/create-me".to_string(), "create"),
            ("ConfigMap/shop/drifted".to_string(), "update"),
            ("ConfigMap/shop/offcm".to_string(), "abandon"),
            ("ConfigMap/shop/theirs".to_string(), "conflict"),
            ("ConfigMap/shop/leftover".to_string(), "delete"),
            ("Namespace/default".to_string(), "abandon"),
        ],
        "{p:#?}"
    );
    let upd = p.items.iter().find(|i| i.id.name == "drifted").unwrap();
    assert_eq!(
        upd.action,
        Action::Update {
            drift: vec!["data.k".into()]
        }
    );
    assert_eq!(p.errors.len(), 1);
    assert_eq!(p.errors[0].code, Code::MANAGEMENT_CONFLICT);
}

fn state_obj(s: &DesiredState, name: &str) -> Value {
    s.objects
        .iter()
        .find(|d| d.id.name == name)
        .map(|d| d.value())
        .unwrap()
}

#[test]
fn stripped_metadata_is_restored_and_quantities_normalised() {
    let s = state(&[("ns.yaml", ns("shop")), ("q.yaml", "apiVersion: v1\nkind: ResourceQuota\nmetadata:\n  name: q\n  namespace: shop\nspec:\n  hard:\n    cpu: 1000m\n    memory: 1Gi\n".into())]);
    let mut q = state_obj(&s, "q");
    q["spec"]["hard"] = json!({"cpu": "1", "memory": "1073741824"});
    let p = plan(
        &s,
        &[state_obj(&s, "shop"), q.clone()],
        &PlanOptions::default(),
    );
    assert!(p.is_empty(), "{p:#?}");
    let mut stripped = q.clone();
    stripped["metadata"]["annotations"]
        .as_object_mut()
        .unwrap()
        .remove("configsync.gke.io/resource-id");
    let p = plan(
        &s,
        &[state_obj(&s, "shop"), stripped],
        &PlanOptions::default(),
    );
    // Without our resource-id the object is no longer "managed by Config Sync": it is adopted back.
    assert_eq!(
        actions(&p),
        vec![("ResourceQuota/shop/q".to_string(), "adopt")]
    );
}

#[test]
fn waves_follow_crds_namespaces_and_depends_on() {
    let crd = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: anvils.acme.com\nspec:\n  group: acme.com\n  names:\n    kind: Anvil\n    plural: anvils\n  scope: Namespaced\n  versions:\n  - name: v1\n    served: true\n    storage: true\n";
    let s = state(&[
        ("crd.yaml", crd.into()),
        ("ns.yaml", ns("shop")),
        (
            "anvil.yaml",
            "apiVersion: acme.com/v1\nkind: Anvil\nmetadata:\n  name: a\n  namespace: shop\n"
                .into(),
        ),
        ("db.yaml", cm("db", "shop", "")),
        (
            "app.yaml",
            cm(
                "app",
                "shop",
                "  annotations:\n    config.kubernetes.io/depends-on: /namespaces/shop/ConfigMap/db\n",
            ),
        ),
    ]);
    let p = plan(&s, &[], &PlanOptions::default());
    let wave = |n: &str| p.items.iter().find(|i| i.id.name == n).unwrap().wave;
    assert_eq!(wave("anvils.acme.com"), 0);
    assert_eq!(wave("shop"), 0);
    assert_eq!(wave("a"), 1);
    assert_eq!(wave("db"), 1);
    assert_eq!(wave("app"), 2);
    assert!(p.items.windows(2).all(|w| w[0].wave <= w[1].wave));
    // Pruning everything: custom resources and contents go before their CRD and Namespace.
    let live: Vec<Value> = s.objects.iter().map(|d| d.value()).collect();
    let empty = state(&[("x.yaml", ns("other"))]);
    let p = plan(
        &empty,
        &live,
        &PlanOptions {
            max_prune_fraction: None,
            ..Default::default()
        },
    );
    let order: Vec<String> = p
        .items
        .iter()
        .filter(|i| i.action == Action::Delete)
        .map(|i| i.id.kind.clone())
        .collect();
    assert_eq!(
        order,
        vec![
            "ConfigMap",
            "ConfigMap",
            "Anvil",
            "Namespace",
            "CustomResourceDefinition"
        ]
    );
}

#[test]
fn refuses_to_delete_every_namespace() {
    let s = state(&[
        ("a.yaml", ns("a")),
        ("b.yaml", ns("b")),
        ("c.yaml", cm("c", "a", "")),
    ]);
    let live: Vec<Value> = s.objects.iter().map(|d| d.value()).collect();
    let empty = DesiredState {
        objects: Vec::new(),
        ..s.clone()
    };
    let p = plan(&empty, &live, &PlanOptions::default());
    assert!(p.items.iter().all(|i| i.action != Action::Delete), "{p:#?}");
    assert_eq!(p.errors[0].code, Code::EMPTY_SOURCE);
    let p = plan(
        &empty,
        &live,
        &PlanOptions {
            allow_mass_prune: true,
            ..Default::default()
        },
    );
    assert_eq!(p.count("delete"), 3);
}

#[test]
fn depends_on_parsing() {
    let ids = parse_depends_on("apps/namespaces/shop/Deployment/web, /Namespace/shop").unwrap();
    assert_eq!(ids[0].to_string(), "Deployment.apps/shop/web");
    assert_eq!(ids[1].to_string(), "Namespace/shop");
    assert!(parse_depends_on("nonsense").is_err());
}

/// Lists that server-side apply merges by key: elements others add (an injected sidecar, an
/// extra environment variable) are not drift; a declared element changed or gone is, with a
/// path naming it. Atomic lists (RoleBinding subjects) stay exact: an added subject is drift.
#[test]
fn keyed_lists_ignore_what_others_add() {
    let declared = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "app", "image": "app:1", "env": [{"name": "MODE", "value": "prod"}],
         "ports": [{"containerPort": 8080}]}
    ]}}}});
    let mut live = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "istio-proxy", "image": "proxy:1"},
        {"name": "app", "image": "app:1", "imagePullPolicy": "IfNotPresent",
         "env": [{"name": "INJECTED", "value": "x"}, {"name": "MODE", "value": "prod"}],
         "ports": [{"containerPort": 8080, "protocol": "TCP"}]}
    ]}}}});
    assert_eq!(drift(&declared, &live), Vec::<String>::new());

    live["spec"]["template"]["spec"]["containers"][1]["image"] = json!("app:2");
    live["spec"]["template"]["spec"]["containers"][1]["env"][1]["value"] = json!("dev");
    assert_eq!(
        drift(&declared, &live),
        [
            "spec.template.spec.containers[name=app].env[name=MODE].value",
            "spec.template.spec.containers[name=app].image",
        ]
    );
    live["spec"]["template"]["spec"]["containers"][1]["name"] = json!("renamed");
    assert_eq!(
        drift(&declared, &live),
        ["spec.template.spec.containers[name=app]"]
    );

    // The diff shows the declared container only, not the sidecar.
    let shown = project(&live, &declared);
    assert_eq!(shown["spec"]["template"]["spec"]["containers"], json!([]));

    // Service ports are keyed by port (protocol defaulted); a UDP port is another element.
    let svc = json!({"spec": {"ports": [{"port": 53, "protocol": "UDP"}, {"port": 80}]}});
    let live_svc = json!({"spec": {"ports": [
        {"port": 80, "protocol": "TCP", "targetPort": 80},
        {"port": 53, "protocol": "UDP", "targetPort": 53},
        {"port": 9090, "protocol": "TCP"}
    ]}});
    assert_eq!(drift(&svc, &live_svc), Vec::<String>::new());
    let tcp53 = json!({"spec": {"ports": [{"port": 53}]}});
    assert_eq!(drift(&tcp53, &live_svc), ["spec.ports[port=53]"]);

    // A NetworkPolicy's ports are atomic: a port someone opened is drift.
    let np = json!({"spec": {"ingress": [{"ports": [{"port": 443}]}]}});
    let live_np = json!({"spec": {"ingress": [{"ports": [{"port": 443}, {"port": 22}]}]}});
    assert_eq!(drift(&np, &live_np), ["spec.ingress[0].ports"]);

    // Atomic: a subject someone added to a RoleBinding is drift.
    let rb = json!({"subjects": [{"kind": "Group", "name": "devs"}]});
    let live_rb = json!({"subjects": [{"kind": "Group", "name": "devs"}, {"kind": "User", "name": "mallory"}]});
    assert_eq!(drift(&rb, &live_rb), ["subjects"]);
}

#[test]
fn quantities() {
    assert!(quantity_eq("1000m", "1"));
    assert!(quantity_eq("1Gi", "1073741824"));
    assert!(quantity_eq("1.5k", "1500"));
    assert!(!quantity_eq("1Gi", "1G"));
    assert!(!quantity_eq("abc", "abc"));
}

prop_compose! {
    fn arb_case()(
        n in 1usize..12,
        flags in proptest::collection::vec((0u8..4, 0u8..5, any::<bool>(), 0u8..3), 12),
        extra_live in proptest::collection::vec((0u8..3, 0u8..3), 0..6),
    ) -> (Vec<(String, String)>, Vec<(u8, u8, bool, u8)>, Vec<(u8, u8)>) {
        let mut files = vec![("ns-a.yaml".to_string(), ns("a")), ("ns-b.yaml".to_string(), ns("b"))];
        for (i, (kind, _, _, dep)) in flags.iter().take(n).enumerate() {
            let namespace = if i % 2 == 0 { "a" } else { "b" };
            let extra = match kind {
                1 => "  annotations:\n    configmanagement.gke.io/managed: disabled\n".to_string(),
                2 => "  annotations:\n    client.lifecycle.config.k8s.io/mutation: ignore\n".to_string(),
                3 if i > 0 && *dep > 0 => format!("  annotations:\n    config.kubernetes.io/depends-on: /namespaces/{}/ConfigMap/cm{}\n", if (i - 1) % 2 == 0 { "a" } else { "b" }, i - 1),
                _ => String::new(),
            };
            files.push((format!("cm{i}.yaml"), cm(&format!("cm{i}"), namespace, &extra)));
        }
        (files, flags.into_iter().take(n).collect(), extra_live)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    /// A plan carried out leaves nothing to do (idempotence); applies respect dependencies;
    /// nothing unmanaged is ever updated or deleted unless declared.
    #[test]
    fn plans_are_idempotent_and_safe((files, flags, extra_live) in arb_case()) {
        let files: Vec<(&str, String)> = files.iter().map(|(p, t)| (p.as_str(), t.clone())).collect();
        let s = state(&files);
        let sync = SyncIdentity::default();
        let mut live: BTreeMap<ObjectId, Value> = BTreeMap::new();
        // Live state: some declared objects exist (as applied, drifted, or unmanaged), plus extras.
        for (d, (_, existing, _, _)) in s.objects.iter().filter(|d| d.id.kind == "ConfigMap").zip(&flags) {
            let mut v = d.value();
            match existing {
                0 => continue,
                1 => {}
                2 => v["data"]["k"] = json!("drift"),
                3 => strip_config_sync_metadata(&mut v, &sync),
                _ => v["metadata"]["annotations"]["configsync.gke.io/manager"] = json!("a-namespace-reconciler"),
            }
            live.insert(d.id.clone(), v);
        }
        for (i, (kind, n)) in extra_live.iter().enumerate() {
            let name = format!("extra{i}-{n}");
            let mut v = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "a"}});
            if *kind > 0 {
                v["metadata"]["annotations"] = json!({"configmanagement.gke.io/managed": "enabled", "configsync.gke.io/resource-id": format!("_configmap_a_{name}"), "configsync.gke.io/manager": if *kind == 1 { ":root" } else { ":root_other" }});
            }
            live.insert(id_of(&v), v);
        }
        let before = live.clone();
        let opts = PlanOptions { max_prune_fraction: None, ..Default::default() };
        let p = plan(&s, &live.values().cloned().collect::<Vec<_>>(), &opts);
        // Safety: unmanaged, undeclared objects are never touched.
        let declared: BTreeSet<ObjectId> = s.objects.iter().map(|d| d.id.clone()).collect();
        for i in &p.items {
            if let Some(l) = before.get(&i.id) && !declared.contains(&i.id) {
                prop_assert!(is_managed_by_config_sync(l), "touched an unmanaged object: {:?}", i);
                prop_assert!(manager_of(l) == ":root", "touched another reconciler's object: {:?}", i);
            }
        }
        // Order: every applied item comes after what it depends on.
        let pos: HashMap<&ObjectId, usize> = p.items.iter().enumerate().map(|(n, i)| (&i.id, n)).collect();
        for (n, i) in p.items.iter().enumerate() {
            for d in &i.depends_on {
                if let Some(&m) = pos.get(d) {
                    prop_assert!(m < n, "{} before its dependency {}", i.id, d);
                }
            }
        }
        apply(&p, &mut live, &sync);
        let again = plan(&s, &live.values().cloned().collect::<Vec<_>>(), &opts);
        let left: Vec<_> = again.items.iter().filter(|i| !matches!(i.action, Action::Conflict { .. })).collect();
        prop_assert!(left.is_empty(), "second plan not empty: {:#?}", left);
    }
}

#[test]
fn rendering_is_deterministic_and_shows_declared_field_diffs() {
    let s = state(&[
        ("ns.yaml", ns("shop")),
        ("a.yaml", cm("a", "shop", "")),
        ("b.yaml", cm("b", "shop", "")),
    ]);
    let mut b = state_obj(&s, "b");
    b["data"]["k"] = json!("old");
    b["metadata"]["uid"] = json!("1234"); // server-added: not shown
    let p = plan(&s, &[state_obj(&s, "shop"), b], &PlanOptions::default());
    let text = render(&p, "eks-prod");
    assert_eq!(text, render(&p, "eks-prod"));
    assert!(text.starts_with("Cluster eks-prod: 1 to create, 1 to update, 0 to adopt, 0 to delete, 0 to abandon, 0 conflict(s)\n"), "{text}");
    assert!(text.contains("+ create ConfigMap/shop/a\n"), "{text}");
    assert!(
        text.contains("~ update ConfigMap/shop/b: data.k\n"),
        "{text}"
    );
    assert!(
        text.contains("-  k: old") && text.contains("+  k: v"),
        "{text}"
    );
    assert!(!text.contains("1234"), "{text}");
    let empty = plan(
        &s,
        &s.objects.iter().map(|d| d.value()).collect::<Vec<_>>(),
        &PlanOptions::default(),
    );
    assert!(render(&empty, "x").contains("in sync: nothing to do"));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, .. ProptestConfig::default() })]

    /// Keyed lists: whatever others add to them, in whatever order the server keeps the
    /// elements, the declared containers are in sync; a changed declared image is always found
    /// and named.
    #[test]
    fn keyed_lists_ignore_added_elements_in_any_order(
        declared in proptest::collection::btree_map("[a-f]{1,3}", "[a-z0-9:.]{1,8}", 1..5),
        injected in proptest::collection::btree_map("[g-k]{1,3}", "[a-z0-9:.]{1,8}", 0..4),
        order in proptest::collection::vec(any::<proptest::sample::Index>(), 8),
        changed in any::<proptest::sample::Index>(),
    ) {
        let spec = |containers: Vec<Value>| json!({"spec": {"containers": containers}});
        let want: Vec<Value> = declared
            .iter()
            .map(|(n, i)| json!({"name": n, "image": i}))
            .collect();
        let mut live: Vec<Value> = declared
            .iter()
            .map(|(n, i)| json!({"name": n, "image": i, "imagePullPolicy": "IfNotPresent"}))
            .chain(injected.iter().map(|(n, i)| json!({"name": n, "image": i})))
            .collect();
        let n = live.len();
        for (k, ix) in order.iter().enumerate() {
            live.swap(k % n, ix.index(n));
        }
        prop_assert_eq!(drift(&spec(want.clone()), &spec(live.clone())), Vec::<String>::new());

        let name = declared.keys().nth(changed.index(declared.len())).unwrap();
        let target = live.iter_mut().find(|c| c["name"] == json!(name)).unwrap();
        target["image"] = json!("changed-by-someone");
        prop_assert_eq!(
            drift(&spec(want), &spec(live)),
            vec![format!("spec.containers[name={name}].image")]
        );
    }
}
