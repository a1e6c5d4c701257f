use serde_json::{Value, json};

use super::*;

fn builtin() -> BuiltinSchemas {
    BuiltinSchemas::load_default()
}

fn check(api_version: &str, object: &Value) -> Vec<SchemaError> {
    let kind = object["kind"].as_str().unwrap();
    let (g, v) = split_api_version(api_version);
    builtin()
        .validator_for(g, v, kind)
        .unwrap_or_else(|| panic!("no schema for {kind}"))
        .validate(object)
}

fn messages(errors: &[SchemaError]) -> Vec<String> {
    errors.iter().map(ToString::to_string).collect()
}

fn deployment() -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}, "creationTimestamp": null},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [{
                        "name": "web",
                        "image": "nginx:1.27",
                        "ports": [{"containerPort": 80, "protocol": "TCP"}],
                        "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}, "requests": {"cpu": 0.1, "memory": "64Mi"}},
                        "livenessProbe": {"httpGet": {"path": "/", "port": "http"}},
                        "env": [{"name": "A", "value": "1"}],
                    }],
                    "volumes": [{"name": "data", "emptyDir": {}}],
                },
            },
        },
    })
}

#[test]
fn every_shipped_definition_compiles() {
    for v in nomos_schemas::versions() {
        let s = BuiltinSchemas::load(v).unwrap();
        assert!(s.definition_count() > 500, "{v}");
        assert_eq!(s.broken_definitions(), Vec::<String>::new(), "{v}");
    }
}

#[test]
fn versions_load_and_unknown_versions_are_refused() {
    let newest = nomos_schemas::default_version();
    assert_eq!(
        BuiltinSchemas::load(&format!("v{newest}.3"))
            .unwrap()
            .version(),
        newest
    );
    assert_eq!(builtin().version(), newest);
    assert!(builtin().source().starts_with("kubernetes-validate "));
    let err = BuiltinSchemas::load("1.2").unwrap_err();
    assert!(err.to_string().contains(newest), "{err}");
    assert!(builtin().contains("apps", "v1", "Deployment"));
    assert!(builtin().contains("", "v1", "ConfigMap"));
    assert!(!builtin().contains("", "v1", "Deployment"));
    assert!(builtin().has_group("rbac.authorization.k8s.io"));
    assert!(!builtin().has_group("monitoring.coreos.com"));
    assert!(
        builtin()
            .validator_for("monitoring.coreos.com", "v1", "Prometheus")
            .is_none()
    );
}

#[test]
fn valid_deployment_passes() {
    assert_eq!(
        messages(&check("apps/v1", &deployment())),
        Vec::<String>::new()
    );
}

#[test]
fn typo_is_an_unknown_field_with_a_suggestion() {
    let mut d = deployment();
    let replicas = d["spec"]
        .as_object_mut()
        .unwrap()
        .remove("replicas")
        .unwrap();
    d["spec"]["replica"] = replicas;
    let errors = check("apps/v1", &d);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].kind, SchemaErrorKind::UnknownField);
    assert_eq!(
        errors[0].path,
        vec![
            PathSegment::Key("spec".into()),
            PathSegment::Key("replica".into())
        ]
    );
    assert_eq!(
        errors[0].to_string(),
        "spec.replica: unknown field \"replica\" in Deployment.apps/v1 spec (did you mean \"replicas\"?)"
    );
}

#[test]
fn unknown_fields_everywhere_are_reported() {
    let mut d = deployment();
    d["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = json!("Always");
    d["metadata"]["label"] = json!({});
    d["status2"] = json!(1);
    let m = messages(&check("apps/v1", &d));
    assert_eq!(
        m,
        vec![
            "metadata.label: unknown field \"label\" in Deployment.apps/v1 metadata (did you mean \"labels\"?)",
            "spec.template.spec.containers[0].imagePullPolicyy: unknown field \"imagePullPolicyy\" in Deployment.apps/v1 spec.template.spec.containers[0] (did you mean \"imagePullPolicy\"?)",
            "status2: unknown field \"status2\" in Deployment.apps/v1 (did you mean \"status\"?)",
        ]
    );
}

#[test]
fn wrong_types_are_reported() {
    let mut d = deployment();
    d["spec"]["replicas"] = json!("3");
    d["metadata"]["labels"]["enabled"] = json!(true);
    d["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] = json!(8080);
    d["spec"]["template"]["spec"]["containers"][0]["ports"] = json!({"containerPort": 80});
    let m = messages(&check("apps/v1", &d));
    assert_eq!(
        m,
        vec![
            "metadata.labels.enabled: expected string, got boolean true",
            "spec.replicas: expected integer, got string \"3\"",
            "spec.template.spec.containers[0].env[0].value: expected string, got number 8080",
            "spec.template.spec.containers[0].ports: expected array, got an object",
        ]
    );
}

#[test]
fn missing_required_fields_are_reported() {
    let mut d = deployment();
    d["spec"]["template"]["spec"]["containers"][0]
        .as_object_mut()
        .unwrap()
        .remove("name");
    d["spec"].as_object_mut().unwrap().remove("selector");
    let errors = check("apps/v1", &d);
    assert_eq!(
        messages(&errors),
        vec![
            "spec: missing required field \"selector\"",
            "spec.template.spec.containers[0]: missing required field \"name\"",
        ]
    );
    assert!(errors.iter().all(|e| e.kind == SchemaErrorKind::Required));
}

#[test]
fn int_or_string_accepts_both_and_nothing_else() {
    let mut d = deployment();
    for ok in [json!(1), json!("25%"), json!(2.0)] {
        d["spec"]["strategy"]["rollingUpdate"]["maxSurge"] = ok.clone();
        assert!(check("apps/v1", &d).is_empty(), "{ok}");
    }
    d["spec"]["strategy"]["rollingUpdate"]["maxSurge"] = json!(1.5);
    assert_eq!(
        messages(&check("apps/v1", &d)),
        vec!["spec.strategy.rollingUpdate.maxSurge: expected integer or string, got number 1.5"]
    );
    d["spec"]["strategy"]["rollingUpdate"]["maxSurge"] = json!(true);
    assert_eq!(check("apps/v1", &d).len(), 1);
}

#[test]
fn quantities() {
    let quota = |hard: Value| json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q"}, "spec": {"hard": hard}});
    let ok = quota(
        json!({"pods": "10", "requests.cpu": 4, "requests.memory": "16Gi", "limits.cpu": "4.5", "x": 0.5}),
    );
    assert_eq!(messages(&check("v1", &ok)), Vec::<String>::new());
    let bad = quota(json!({"requests.memory": "16 GB", "pods": true}));
    assert_eq!(
        messages(&check("v1", &bad)),
        vec![
            "spec.hard.pods: expected quantity (a number or a string such as \"500m\" or \"1Gi\"), got boolean true",
            "spec.hard[\"requests.memory\"]: invalid quantity \"16 GB\": expected a number with an optional suffix such as 500m, 2k, 1Gi or 1e3",
        ]
    );
}

#[test]
fn int32_range_and_integral_floats() {
    let mut d = deployment();
    d["spec"]["replicas"] = json!(3.0);
    assert!(check("apps/v1", &d).is_empty());
    d["spec"]["replicas"] = json!(3_000_000_000u64);
    assert_eq!(
        messages(&check("apps/v1", &d)),
        vec!["spec.replicas: 3000000000 is out of range for a 32-bit integer"]
    );
    d["spec"]["replicas"] = json!(2.5);
    assert_eq!(
        messages(&check("apps/v1", &d)),
        vec!["spec.replicas: expected integer, got number 2.5"]
    );
}

#[test]
fn secret_data_must_be_base64() {
    let s = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
        "data": {"ok": "aGVsbG8=", "bad": "hello world"}, "stringData": {"plain": "hello world"}});
    assert_eq!(
        messages(&check("v1", &s)),
        vec!["data.bad: invalid base64 data (put plain text under stringData instead of data)"]
    );
}

#[test]
fn common_kinds_pass() {
    let objects = [
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop", "annotations": {"a.io/b": "c"}}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}, "binaryData": {"b": "AAE="}}),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
            "spec": {"selector": {"app": "a"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}], "type": "ClusterIP"}}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "rb", "namespace": "n"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"},
            "subjects": [{"kind": "ServiceAccount", "name": "sa", "namespace": "n"}, {"kind": "User", "name": "u", "apiGroup": "rbac.authorization.k8s.io"}]}),
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "np"},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"],
                "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"a": "b"}}}], "ports": [{"port": 8080, "protocol": "TCP"}, {"port": "http"}]}],
                "egress": [{}]}}),
        json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q"}, "spec": {"hard": {"pods": "10"}}}),
        json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "foos.example.com"},
            "spec": {"group": "example.com", "names": {"kind": "Foo", "plural": "foos"}, "scope": "Namespaced",
                "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": crd_schema()}}]}}),
    ];
    for o in &objects {
        let api = o["apiVersion"].as_str().unwrap();
        assert_eq!(
            messages(&check(api, o)),
            Vec::<String>::new(),
            "{}",
            o["kind"]
        );
    }
}

#[test]
fn errors_are_bounded() {
    let mut labels = serde_json::Map::new();
    for i in 0..50 {
        labels.insert(format!("l{i}"), json!(i));
    }
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": labels}});
    let errors = check("v1", &cm);
    assert_eq!(errors.len(), MAX_ERRORS_PER_OBJECT + 1);
    assert_eq!(errors.last().unwrap().kind, SchemaErrorKind::TooMany);
    let v = builtin().validator_for("", "v1", "ConfigMap").unwrap();
    assert_eq!(v.validate_with_limit(&cm, 3).len(), 3);
    assert!(!v.is_valid(&cm));
}

#[test]
fn paths_render_with_quoting() {
    let p = vec![
        PathSegment::Key("metadata".into()),
        PathSegment::Key("annotations".into()),
        PathSegment::Key("example.com/a".into()),
    ];
    assert_eq!(render_path(&p), "metadata.annotations[\"example.com/a\"]");
    assert_eq!(
        render_path(&[PathSegment::Index(2), PathSegment::Key("a".into())]),
        "[2].a"
    );
    assert_eq!(render_path(&[]), "");
}

fn crd_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": {
                "type": "object",
                "required": ["size", "defaulted"],
                "properties": {
                    "size": {"type": "integer", "format": "int32", "minimum": 1, "maximum": 10},
                    "mode": {"type": "string", "enum": ["fast", "slow"]},
                    "port": {"anyOf": [{"type": "integer"}, {"type": "string"}], "x-kubernetes-int-or-string": true},
                    "memory": {"anyOf": [{"type": "integer"}, {"type": "string"}], "x-kubernetes-int-or-string": true,
                        "pattern": "^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$"},
                    "interval": {"type": "string", "pattern": "^(0|(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"},
                    "name": {"type": "string", "minLength": 1, "maxLength": 5},
                    "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                    "raw": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                    "template": {"type": "object", "x-kubernetes-embedded-resource": true,
                        "properties": {"spec": {"type": "object", "properties": {"a": {"type": "string"}}}}},
                    "empty": {"type": "object"},
                    "optional": {"type": "string"},
                    "defaulted": {"type": "string", "default": "x"},
                    "choice": {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
                        "oneOf": [{"required": ["a"]}, {"required": ["b"]}]},
                },
            },
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
        },
    })
}

fn crd(api_version: &str, extra_spec: Value) -> Value {
    let mut spec = json!({"group": "example.com", "names": {"kind": "Foo", "plural": "foos"}, "scope": "Namespaced"});
    for (k, v) in extra_spec.as_object().unwrap() {
        spec[k] = v.clone();
    }
    json!({"apiVersion": api_version, "kind": "CustomResourceDefinition", "metadata": {"name": "foos.example.com"}, "spec": spec})
}

fn crds() -> CrdSchemas {
    let v1 = crd(
        "apiextensions.k8s.io/v1",
        json!({"versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": crd_schema()}}]}),
    );
    let (schemas, errors) = CrdSchemas::from_crds(builtin(), &[&v1]);
    assert_eq!(errors, vec![]);
    schemas
}

fn foo(spec: Value) -> Value {
    json!({"apiVersion": "example.com/v1", "kind": "Foo", "metadata": {"name": "f", "labels": {"a": "b"}}, "spec": spec})
}

#[test]
fn custom_resource_passes() {
    let schemas = crds();
    let v = schemas.validator_for("example.com", "v1", "Foo").unwrap();
    assert!(v.is_custom_resource());
    let ok = foo(json!({
        "size": 3, "mode": "fast", "port": "http", "memory": "1Gi", "interval": "30s", "name": "abc",
        "tags": ["a"], "labels": {"x": "y"}, "raw": {"anything": [1, {"b": null}]},
        "template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"a": "b"}}, "spec": {"a": "x"}},
        "empty": {}, "optional": null, "choice": {"a": "x"},
    }));
    assert_eq!(messages(&v.validate(&ok)), Vec::<String>::new());
}

#[test]
fn custom_resource_violations() {
    let schemas = crds();
    let v = schemas.validator_for("example.com", "v1", "Foo").unwrap();
    let bad = foo(json!({
        "size": 0, "mode": "medium", "port": 1.5, "memory": "1 GB", "interval": "5 minutes", "name": "toolong",
        "tags": ["a", "b", "c"], "labels": {"x": 1}, "sise": 1,
        "template": {"metadata": {"nam": "p"}, "spec": {"b": 1}},
        "empty": {"x": 1}, "choice": {"a": "x", "b": "y"},
    }));
    let mut bad = bad;
    bad["metadata"]["labels"]["n"] = json!(1);
    assert_eq!(
        messages(&v.validate(&bad)),
        vec![
            "metadata.labels.n: expected string, got number 1",
            "spec.choice: matches 2 of the alternatives where exactly one is allowed (oneOf)",
            "spec.empty.x: unknown field \"x\" in Foo.example.com/v1 spec.empty (no fields are allowed here)",
            "spec.interval: \"5 minutes\" does not match the pattern ^(0|(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$",
            "spec.labels.x: expected string, got number 1",
            "spec.memory: \"1 GB\" does not match the pattern ^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$",
            "spec.mode: unsupported value \"medium\": must be one of \"fast\", \"slow\"",
            "spec.name: must be at most 5 character(s) long, is 7",
            "spec.port: expected integer or string, got number 1.5",
            "spec.sise: unknown field \"sise\" in Foo.example.com/v1 spec (did you mean \"size\"?)",
            "spec.size: must be greater than or equal to 1, is 0",
            "spec.tags: must have at most 2 item(s), has 3",
            "spec.template.metadata.nam: unknown field \"nam\" in Foo.example.com/v1 spec.template.metadata (did you mean \"name\"?)",
            "spec.template.spec.b: unknown field \"b\" in Foo.example.com/v1 spec.template.spec (allowed: a)",
        ]
    );
    let missing = foo(json!({"choice": {}}));
    assert_eq!(
        messages(&v.validate(&missing)),
        vec![
            "spec: missing required field \"size\"",
            "spec.choice: does not match any of the 2 allowed alternatives (oneOf); the first one fails: missing required field \"a\"",
        ]
    );
}

#[test]
fn crd_versions_and_v1beta1() {
    let v1beta1 = crd(
        "apiextensions.k8s.io/v1beta1",
        json!({"version": "v1alpha1", "versions": [{"name": "v1alpha1"}, {"name": "v1beta1"}],
               "validation": {"openAPIV3Schema": crd_schema()}}),
    );
    let (schemas, errors) = CrdSchemas::from_crds(builtin(), &[&v1beta1]);
    assert_eq!(errors, vec![]);
    assert_eq!(
        schemas.kinds().collect::<Vec<_>>(),
        vec![
            ("example.com", "v1alpha1", "Foo"),
            ("example.com", "v1beta1", "Foo")
        ]
    );
    let v = schemas
        .validator_for("example.com", "v1beta1", "Foo")
        .unwrap();
    let mut obj = foo(json!({"size": "x", "unknown": 1}));
    obj["apiVersion"] = json!("example.com/v1beta1");
    // v1beta1 keeps unknown fields by default: only the type error.
    assert_eq!(
        messages(&v.validate(&obj)),
        vec!["spec.size: expected integer, got string \"x\""]
    );

    let pruning = crd(
        "apiextensions.k8s.io/v1beta1",
        json!({"version": "v1", "preserveUnknownFields": false, "validation": {"openAPIV3Schema": crd_schema()}}),
    );
    let (schemas, _) = CrdSchemas::from_crds(builtin(), &[&pruning]);
    let v = schemas.validator_for("example.com", "v1", "Foo").unwrap();
    assert_eq!(v.validate(&foo(json!({"size": 1, "unknown": 1}))).len(), 1);
    assert!(schemas.validator_for("example.com", "v2", "Foo").is_none());
}

#[test]
fn bad_crd_schemas_are_reported() {
    let bad = crd(
        "apiextensions.k8s.io/v1",
        json!({"versions": [{"name": "v1", "schema": {"openAPIV3Schema": {"type": "object",
            "properties": {"spec": {"type": "strng"}, "ref": {"$ref": "#/definitions/x"}}}}}]}),
    );
    let nameless = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "x"}, "spec": {}});
    let not_a_crd = json!({"apiVersion": "v1", "kind": "ConfigMap"});
    let (schemas, errors) = CrdSchemas::from_crds(builtin(), &[&not_a_crd, &bad, &nameless]);
    let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        vec![
            "CustomResourceDefinition \"foos.example.com\": spec.versions[0].schema.openAPIV3Schema.properties.ref: \"$ref\" is not supported in a CRD schema",
            "CustomResourceDefinition \"foos.example.com\": spec.versions[0].schema.openAPIV3Schema.properties.spec: unknown type \"strng\": expected object, array, string, integer, number or boolean",
            "CustomResourceDefinition \"x\": spec: spec.group and spec.names.kind are required",
        ]
    );
    assert_eq!(errors[0].index, 1);
    // The usable rest of the schema still works: `spec` accepts anything.
    let v = schemas.validator_for("example.com", "v1", "Foo").unwrap();
    assert!(v.validate(&foo(json!({"whatever": 1}))).is_empty());
}

#[test]
fn validators_work_across_threads() {
    use rayon::prelude::*;
    let d = deployment();
    let v = builtin().validator_for("apps", "v1", "Deployment").unwrap();
    let n: usize = (0..64).into_par_iter().map(|_| v.validate(&d).len()).sum();
    assert_eq!(n, 0);
}
