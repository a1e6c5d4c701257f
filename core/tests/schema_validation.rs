//! Schema validation of YAML as users write it, with the line of each error.

use nomos_core::schema::{BuiltinSchemas, CrdSchemas, SchemaErrorKind, split_api_version};
use nomos_core::yaml::{self, Limits};
use serde_json::Value;

/// Validates every document of `text` (flattening `…List` kinds) and returns `line: error`.
fn vet(text: &str, crd_text: &str) -> Vec<String> {
    let builtin = BuiltinSchemas::load_default();
    let crd_docs = yaml::parse(crd_text, &Limits::default()).unwrap().documents;
    let crds: Vec<&Value> = crd_docs.iter().map(|d| &d.value).collect();
    let (custom, crd_errors) = CrdSchemas::from_crds(builtin, &crds);
    assert_eq!(crd_errors, vec![]);
    let mut out = Vec::new();
    for doc in yaml::parse(text, &Limits::default()).unwrap().documents {
        let mut objects = Vec::new();
        if doc.value["kind"].as_str().unwrap().ends_with("List") {
            for (i, item) in doc.value["items"].as_array().unwrap().iter().enumerate() {
                let prefix = vec![
                    yaml::PathSegment::Key("items".into()),
                    yaml::PathSegment::Index(i),
                ];
                objects.push((prefix, item));
            }
        } else {
            objects.push((Vec::new(), &doc.value));
        }
        for (prefix, object) in objects {
            let (g, v) = split_api_version(object["apiVersion"].as_str().unwrap());
            let kind = object["kind"].as_str().unwrap();
            let validator = custom
                .validator_for(g, v, kind)
                .or_else(|| builtin.validator_for(g, v, kind))
                .unwrap_or_else(|| panic!("no schema for {kind}"));
            for e in validator.validate(object) {
                let mut path = prefix.clone();
                path.extend(e.path.iter().cloned());
                let line = yaml::locate(text, doc.index, &path).unwrap().line;
                out.push(format!("{line}: {e}"));
            }
        }
    }
    out
}

const DEPLOYMENT: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
    enabled: true
spec:
  replica: 3
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - image: nginx
        ports:
        - containerPort: "80"
        resources:
          limits:
            memory: 1 Gi
"#;

#[test]
fn deployment_mistakes_with_lines() {
    assert_eq!(
        vet(DEPLOYMENT, ""),
        vec![
            "7: metadata.labels.enabled: expected string, got boolean true",
            "9: spec.replica: unknown field \"replica\" in Deployment.apps/v1 spec (did you mean \"replicas\"?)",
            "19: spec.template.spec.containers[0]: missing required field \"name\"",
            "21: spec.template.spec.containers[0].ports[0].containerPort: expected integer, got string \"80\"",
            "24: spec.template.spec.containers[0].resources.limits.memory: invalid quantity \"1 Gi\": expected a number with an optional suffix such as 500m, 2k, 1Gi or 1e3",
        ]
    );
}

#[test]
fn valid_yaml_of_common_kinds_passes() {
    let text = r#"apiVersion: v1
kind: Namespace
metadata:
  name: shop
  creationTimestamp: null
---
apiVersion: v1
kind: ResourceQuota
metadata: {name: quota, namespace: shop}
spec:
  hard:
    pods: "10"
    requests.cpu: 4
    limits.memory: 8Gi
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBindingList
items:
- apiVersion: rbac.authorization.k8s.io/v1
  kind: RoleBinding
  metadata: {name: rb, namespace: shop}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
  subjects:
  - {kind: Group, name: devs, apiGroup: rbac.authorization.k8s.io}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: shop}
spec:
  podSelector: {}
  policyTypes: [Ingress]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  ports:
  - port: 80
    targetPort: 8080
---
apiVersion: v1
kind: ConfigMap
metadata: {name: c, annotations: {"example.com/x": "y"}}
data:
  a: "1"
"#;
    assert_eq!(vet(text, ""), Vec::<String>::new());
}

#[test]
fn list_items_are_located() {
    let text = r#"apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: a}
  data: {count: 1}
"#;
    assert_eq!(
        vet(text, ""),
        vec!["7: data.count: expected string, got number 1"]
    );
}

const CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: backups.example.com
spec:
  group: example.com
  names: {kind: Backup, plural: backups}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [schedule]
            properties:
              schedule: {type: string}
              retention: {type: integer, minimum: 1}
              storage:
                x-kubernetes-int-or-string: true
                anyOf: [{type: integer}, {type: string}]
              target:
                type: object
                x-kubernetes-preserve-unknown-fields: true
"#;

#[test]
fn custom_resources_against_their_crd() {
    let ok = r#"apiVersion: example.com/v1
kind: Backup
metadata: {name: nightly}
spec:
  schedule: "0 3 * * *"
  retention: 7
  storage: 10Gi
  target: {anything: [1, 2], goes: {here: true}}
"#;
    assert_eq!(vet(ok, CRD), Vec::<String>::new());
    let bad = r#"apiVersion: example.com/v1
kind: Backup
metadata: {name: nightly, lables: {a: b}}
spec:
  retention: 0
  storage: [1]
  scedule: daily
"#;
    assert_eq!(
        vet(bad, CRD),
        vec![
            "3: metadata.lables: unknown field \"lables\" in Backup.example.com/v1 metadata (did you mean \"labels\"?)",
            "4: spec: missing required field \"schedule\"",
            "5: spec.retention: must be greater than or equal to 1, is 0",
            "7: spec.scedule: unknown field \"scedule\" in Backup.example.com/v1 spec (did you mean \"schedule\"?)",
            "6: spec.storage: expected integer or string, got a list",
        ]
    );
}

#[test]
fn error_kinds_tell_unknown_fields_apart() {
    let builtin = BuiltinSchemas::load_default();
    let doc = yaml::parse(DEPLOYMENT, &Limits::default())
        .unwrap()
        .documents
        .remove(0);
    let kinds: Vec<SchemaErrorKind> = builtin
        .validator_for("apps", "v1", "Deployment")
        .unwrap()
        .validate(&doc.value)
        .iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        vec![
            SchemaErrorKind::Type,
            SchemaErrorKind::UnknownField,
            SchemaErrorKind::Required,
            SchemaErrorKind::Type,
            SchemaErrorKind::Value,
        ]
    );
}
