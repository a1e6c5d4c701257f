//! Wire-level checks through the in-process handler: Status bodies, media types, watch
//! framing (bookmarks, initial events, timeouts), discovery and OpenAPI shapes, time.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request};
use nomos_testcluster::{Cluster, ClusterConfig, ManualClock};
use serde_json::{Value, json};

async fn call(c: &Cluster, method: Method, uri: &str, ct: &str, body: &str) -> (u16, Value) {
    let mut b = Request::builder().method(method).uri(uri);
    if !ct.is_empty() {
        b = b.header("content-type", ct);
    }
    let resp = c
        .handle(b.body(Bytes::from(body.to_string())).unwrap())
        .await;
    let code = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap();
    (code, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

async fn get(c: &Cluster, uri: &str) -> (u16, Value) {
    call(c, Method::GET, uri, "", "").await
}

/// Reads a whole watch stream (it must end by itself) as JSON events.
async fn watch(c: &Cluster, uri: &str) -> Vec<Value> {
    let resp = c
        .handle(Request::get(uri).body(Bytes::new()).unwrap())
        .await;
    assert_eq!(resp.status(), 200);
    let bytes = tokio::time::timeout(Duration::from_secs(10), resp.into_body().collect())
        .await
        .expect("watch did not close")
        .unwrap();
    String::from_utf8(bytes.to_vec())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

const CMS: &str = "/api/v1/namespaces/default/configmaps";

async fn create_cm(c: &Cluster, name: &str) -> Value {
    let (code, v) = call(
        c,
        Method::POST,
        CMS,
        "application/json",
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"a": "1"}}).to_string(),
    )
    .await;
    assert_eq!(code, 201, "{v}");
    v
}

#[tokio::test]
async fn status_bodies_and_media_types() {
    let c = Cluster::new();
    let (code, v) = get(&c, &format!("{CMS}/nope")).await;
    assert_eq!(code, 404);
    assert_eq!(v["kind"], "Status");
    assert_eq!(v["status"], "Failure");
    assert_eq!(v["reason"], "NotFound");
    assert_eq!(v["message"], "configmaps \"nope\" not found");
    assert_eq!(v["details"], json!({"name": "nope", "kind": "configmaps"}));

    let (code, v) = call(
        &c,
        Method::POST,
        CMS,
        "application/vnd.kubernetes.protobuf",
        "x",
    )
    .await;
    assert_eq!(
        (code, v["reason"].as_str()),
        (415, Some("UnsupportedMediaType"))
    );
    create_cm(&c, "a").await;
    let (code, _) = call(&c, Method::PATCH, &format!("{CMS}/a"), "text/plain", "{}").await;
    assert_eq!(code, 415);

    let (code, v) = call(
        &c,
        Method::POST,
        CMS,
        "application/json",
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Not_Valid"}}"#,
    )
    .await;
    assert_eq!((code, v["reason"].as_str()), (422, Some("Invalid")));
    assert_eq!(v["details"]["causes"][0]["field"], "metadata.name");

    let (code, v) = get(&c, "/api/v1/nothings").await;
    assert_eq!((code, v["reason"].as_str()), (404, Some("NotFound")));

    // Delete reads its body: a stale precondition is a 409.
    let (code, v) = call(
        &c,
        Method::DELETE,
        &format!("{CMS}/a"),
        "application/json",
        r#"{"preconditions":{"resourceVersion":"1"}}"#,
    )
    .await;
    assert_eq!((code, v["reason"].as_str()), (409, Some("Conflict")), "{v}");
    let (code, v) = call(
        &c,
        Method::DELETE,
        &format!("{CMS}/a"),
        "application/json",
        r#"{"propagationPolicy":"Background"}"#,
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(v["metadata"]["name"], "a");
}

#[tokio::test]
async fn json_patch_and_strategic_merge() {
    let c = Cluster::new();
    create_cm(&c, "p").await;
    let (code, v) = call(
        &c,
        Method::PATCH,
        &format!("{CMS}/p"),
        "application/json-patch+json",
        r#"[{"op":"add","path":"/data/j","value":"2"},{"op":"test","path":"/data/a","value":"1"}]"#,
    )
    .await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["data"], json!({"a": "1", "j": "2"}));
    let (code, v) = call(
        &c,
        Method::PATCH,
        &format!("{CMS}/p"),
        "application/json-patch+json",
        r#"[{"op":"test","path":"/data/a","value":"nope"}]"#,
    )
    .await;
    assert_eq!(code, 422, "{v}");
    // Strategic merge is refused for custom resources, as the API server does.
    let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "things.example.org"},
        "spec": {"group": "example.org", "scope": "Namespaced",
                 "names": {"plural": "things", "kind": "Thing"},
                 "versions": [{"name": "v1", "served": true, "storage": true}]}});
    let (code, _) = call(
        &c,
        Method::POST,
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        "application/json",
        &crd.to_string(),
    )
    .await;
    assert_eq!(code, 201);
    let things = "/apis/example.org/v1/namespaces/default/things";
    let (code, _) = call(
        &c,
        Method::POST,
        things,
        "application/json",
        r#"{"apiVersion":"example.org/v1","kind":"Thing","metadata":{"name":"t"},"spec":{"n":1}}"#,
    )
    .await;
    assert_eq!(code, 201);
    let (code, _) = call(
        &c,
        Method::PATCH,
        &format!("{things}/t"),
        "application/strategic-merge-patch+json",
        r#"{"spec":{"n":2}}"#,
    )
    .await;
    assert_eq!(code, 415);
    let (code, v) = call(
        &c,
        Method::PATCH,
        &format!("{things}/t"),
        "application/merge-patch+json",
        r#"{"spec":{"n":2}}"#,
    )
    .await;
    assert_eq!((code, v["metadata"]["generation"].as_i64()), (200, Some(2)));
}

#[tokio::test]
async fn no_op_writes_bump_nothing() {
    let c = Cluster::new();
    let v = create_cm(&c, "same").await;
    let rv = c.resource_version();
    let (code, _) = call(
        &c,
        Method::PUT,
        &format!("{CMS}/same"),
        "application/json",
        &v.to_string(),
    )
    .await;
    assert_eq!(code, 200);
    let (code, _) = call(
        &c,
        Method::PATCH,
        &format!("{CMS}/same"),
        "application/merge-patch+json",
        r#"{"data":{"a":"1"}}"#,
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(c.resource_version(), rv);
    let evs = watch(
        &c,
        &format!("{CMS}?watch=1&resourceVersion={rv}&timeoutSeconds=1"),
    )
    .await;
    assert!(evs.is_empty(), "{evs:?}");
}

#[tokio::test]
async fn watch_initial_events_bookmarks_and_timeout() {
    let cfg = ClusterConfig {
        bookmark_interval: Duration::from_millis(200),
        ..Default::default()
    };
    let c = Cluster::with_config(cfg).unwrap();
    create_cm(&c, "a").await;
    create_cm(&c, "b").await;
    let rv = c.resource_version();

    // resourceVersion 0: the current state as ADDED, then (no bookmarks asked) the clean close.
    let evs = watch(
        &c,
        &format!("{CMS}?watch=1&resourceVersion=0&timeoutSeconds=1"),
    )
    .await;
    let types: Vec<&str> = evs.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["ADDED", "ADDED"]);

    // Streaming list: initial events, then the end-of-initial-events bookmark.
    let evs = watch(&c, &format!(
        "{CMS}?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1"
    )).await;
    assert_eq!(evs[0]["type"], "ADDED");
    assert_eq!(evs[1]["type"], "ADDED");
    assert_eq!(evs[2]["type"], "BOOKMARK");
    assert_eq!(
        evs[2]["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
    assert_eq!(
        evs[2]["object"]["metadata"]["resourceVersion"],
        rv.to_string()
    );
    assert_eq!(evs[2]["object"]["kind"], "ConfigMap");
    // Periodic bookmarks follow (200 ms interval, 1 s timeout).
    assert!(evs[3..].iter().all(|e| e["type"] == "BOOKMARK"));
    assert!(evs.len() >= 4, "{evs:?}");

    // The 410 knob.
    c.faults().expire_next_watches(1);
    let evs = watch(
        &c,
        &format!("{CMS}?watch=1&resourceVersion={rv}&timeoutSeconds=1"),
    )
    .await;
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0]["type"], "ERROR");
    assert_eq!(evs[0]["object"]["code"], 410);
    assert_eq!(evs[0]["object"]["reason"], "Expired");
}

#[tokio::test]
async fn event_log_retention_makes_410_happen_naturally() {
    let c = Cluster::with_config(ClusterConfig {
        event_retention: 3,
        ..Default::default()
    })
    .unwrap();
    let start = c.resource_version();
    for i in 0..5 {
        create_cm(&c, &format!("r{i}")).await;
    }
    let evs = watch(
        &c,
        &format!("{CMS}?watch=1&resourceVersion={start}&timeoutSeconds=1"),
    )
    .await;
    assert_eq!(evs[0]["type"], "ERROR");
    assert_eq!(evs[0]["object"]["code"], 410);
    let recent = c.resource_version() - 2;
    let evs = watch(
        &c,
        &format!("{CMS}?watch=1&resourceVersion={recent}&timeoutSeconds=1"),
    )
    .await;
    assert_eq!(evs.len(), 2);
}

#[tokio::test]
async fn discovery_and_openapi_shapes() {
    let c = Cluster::new();
    let (_, v) = get(&c, "/version").await;
    assert_eq!(
        (v["major"].as_str(), v["minor"].as_str()),
        (Some("1"), Some("32"))
    );
    let (_, v) = get(&c, "/api").await;
    assert_eq!(v["kind"], "APIVersions");
    assert_eq!(v["versions"], json!(["v1"]));
    let (_, v) = get(&c, "/api/v1").await;
    assert_eq!(v["groupVersion"], "v1");
    let ns = v["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "namespaces")
        .unwrap();
    assert_eq!(ns["namespaced"], false);
    assert_eq!(ns["shortNames"], json!(["ns"]));
    let (_, v) = get(&c, "/apis/apps").await;
    assert_eq!(v["kind"], "APIGroup");
    assert_eq!(v["preferredVersion"]["version"], "v1");
    let (_, v) = get(&c, "/apis/apps/v1").await;
    let deploy = v["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "deployments")
        .unwrap();
    assert_eq!(deploy["shortNames"], json!(["deploy"]));
    assert_eq!(deploy["categories"], json!(["all"]));
    let (_, idx) = get(&c, "/openapi/v3").await;
    let url = idx["paths"]["apis/apps/v1"]["serverRelativeURL"]
        .as_str()
        .unwrap()
        .to_string();
    let (code, doc) = get(&c, &url).await;
    assert_eq!(code, 200);
    let op = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
    assert_eq!(
        op["x-kubernetes-group-version-kind"],
        json!({"group": "apps", "version": "v1", "kind": "Deployment"})
    );
    let (code, _) = get(&c, "/openapi/v2").await;
    assert_eq!(code, 404);
}

#[tokio::test]
async fn injected_clock_sets_timestamps() {
    let clock = Arc::new(ManualClock::at_2024());
    let c = Cluster::with_config(ClusterConfig {
        clock: clock.clone(),
        ..Default::default()
    })
    .unwrap();
    let v = create_cm(&c, "t").await;
    assert_eq!(v["metadata"]["creationTimestamp"], "2024-01-01T00:00:00Z");
    assert_eq!(
        v["metadata"]["managedFields"][0]["time"],
        "2024-01-01T00:00:00Z"
    );
    clock.advance(Duration::from_secs(90));
    let (_, v) = call(
        &c,
        Method::PATCH,
        &format!("{CMS}/t"),
        "application/merge-patch+json",
        r#"{"metadata":{"finalizers":["x/y"]}}"#,
    )
    .await;
    assert_eq!(
        v["metadata"]["managedFields"][0]["time"],
        "2024-01-01T00:01:30Z"
    );
    let (code, v) = call(&c, Method::DELETE, &format!("{CMS}/t"), "", "").await;
    assert_eq!(code, 202);
    assert_eq!(v["metadata"]["deletionTimestamp"], "2024-01-01T00:01:30Z");
}

#[tokio::test]
async fn list_shape_and_all_namespaces() {
    let c = Cluster::new();
    create_cm(&c, "x").await;
    let (_, v) = get(&c, "/api/v1/configmaps").await;
    assert_eq!(v["kind"], "ConfigMapList");
    assert_eq!(v["apiVersion"], "v1");
    assert_eq!(
        v["metadata"]["resourceVersion"],
        c.resource_version().to_string()
    );
    assert_eq!(v["items"].as_array().unwrap().len(), 1);
    let (_, v) = get(&c, "/api/v1/namespaces").await;
    let names: Vec<&str> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["default", "kube-node-lease", "kube-public", "kube-system"]
    );
}
