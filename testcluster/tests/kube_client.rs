//! kube-rs against the fake: discovery, every verb of `Api<DynamicObject>`, watches, server-side
//! apply, finalizers, namespaces, dry runs, faults, loopback serving.

mod common;

use std::time::Duration;

use common::*;
use futures::{StreamExt, TryStreamExt};
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
    PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::discovery::{Discovery, Scope};
use kube::runtime::watcher;
use nomos_testcluster::{Cluster, Fault};
use serde_json::json;

const T: Duration = Duration::from_secs(10);

#[tokio::test]
async fn discovery_sees_builtins_and_crds() {
    let c = Cluster::new();
    let client = client(&c);
    let v = client.apiserver_version().await.unwrap();
    assert_eq!((v.major.as_str(), v.minor.as_str()), ("1", "32"));
    let d = Discovery::new(client.clone()).run().await.unwrap();
    assert!(d.has_group("apps"));
    let (ar, caps) = d
        .resolve_gvk(&GroupVersionKind::gvk("apps", "v1", "Deployment"))
        .unwrap();
    assert_eq!(ar.plural, "deployments");
    assert_eq!(caps.scope, Scope::Namespaced);
    let (ns, caps) = d
        .resolve_gvk(&GroupVersionKind::gvk("", "v1", "Namespace"))
        .unwrap();
    assert_eq!(ns.plural, "namespaces");
    assert_eq!(caps.scope, Scope::Cluster);
    assert!(!d.has_group("example.org"));

    let crds: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
            "customresourcedefinitions",
        ),
    );
    let crd: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.org"},
        "spec": {"group": "example.org", "scope": "Cluster",
                 "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                 "versions": [{"name": "v1", "served": true, "storage": true,
                               "schema": {"openAPIV3Schema": {"type": "object"}}}]}
    }))
    .unwrap();
    let created = crds.create(&PostParams::default(), &crd).await.unwrap();
    let conds = created.data["status"]["conditions"].as_array().unwrap();
    assert!(
        conds
            .iter()
            .any(|c| c["type"] == "Established" && c["status"] == "True")
    );
    let d = Discovery::new(client.clone()).run().await.unwrap();
    let agg = Discovery::new(client.clone())
        .run_aggregated()
        .await
        .unwrap();
    let (wa, _) = agg
        .resolve_gvk(&GroupVersionKind::gvk("example.org", "v1", "Widget"))
        .unwrap();
    assert_eq!(wa.plural, "widgets");
    assert!(agg.has_group(""), "core group from aggregated /api");
    let (w, caps) = d
        .resolve_gvk(&GroupVersionKind::gvk("example.org", "v1", "Widget"))
        .unwrap();
    assert_eq!((w.plural.as_str(), caps.scope), ("widgets", Scope::Cluster));

    // A custom resource, then deleting the CRD takes it along and removes the group.
    let widgets: Api<DynamicObject> = Api::all_with(client.clone(), &w);
    let mut obj = DynamicObject::new("w1", &w);
    obj.data = json!({"spec": {"x": 1}});
    widgets.create(&PostParams::default(), &obj).await.unwrap();
    crds.delete("widgets.example.org", &DeleteParams::default())
        .await
        .unwrap();
    let d = Discovery::new(client).run().await.unwrap();
    assert!(!d.has_group("example.org"));
    assert!(c.get("example.org/v1", "Widget", None, "w1").is_none());
}

#[tokio::test]
async fn every_verb_of_dynamic_api() {
    let c = Cluster::new();
    let client = client(&c);
    let api = cms(&client, "default");

    // create → 201 with server fields
    let created = api
        .create(&PostParams::default(), &cm("a", json!({"k": "1"})))
        .await
        .unwrap();
    assert!(created.metadata.uid.is_some());
    assert!(created.metadata.creation_timestamp.is_some());
    assert_eq!(created.metadata.namespace.as_deref(), Some("default"));
    let e = api
        .create(&PostParams::default(), &cm("a", json!({})))
        .await
        .unwrap_err();
    assert_eq!(api_code(&e), (409, "AlreadyExists".into()));

    // get, list
    assert_eq!(api.get("a").await.unwrap().data["data"]["k"], "1");
    let e = api.get("nope").await.unwrap_err();
    assert_eq!(api_code(&e), (404, "NotFound".into()));
    assert_eq!(
        api.list(&ListParams::default()).await.unwrap().items.len(),
        1
    );

    // replace with a stale resourceVersion → 409; with the current one → ok
    let mut stale = created.clone();
    stale.data["data"]["k"] = json!("2");
    let fresh = api
        .replace("a", &PostParams::default(), &stale)
        .await
        .unwrap();
    assert!(rv(&fresh) > rv(&created));
    let e = api
        .replace("a", &PostParams::default(), &stale)
        .await
        .unwrap_err();
    assert_eq!(api_code(&e), (409, "Conflict".into()));

    // patches: merge, json, strategic, apply
    let pp = PatchParams::default();
    api.patch("a", &pp, &Patch::Merge(json!({"data": {"m": "1"}})))
        .await
        .unwrap();
    // (JSON patch needs kube's `jsonpatch` feature; tests/http.rs and kubectl cover it.)
    api.patch("a", &pp, &Patch::Strategic(json!({"data": {"s": "3"}})))
        .await
        .unwrap();
    api.patch(
        "a",
        &PatchParams::apply("tester"),
        &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"ap": "4"}})),
    )
    .await
    .unwrap();
    let got = api.get("a").await.unwrap();
    assert_eq!(
        got.data["data"],
        json!({"k": "2", "m": "1", "s": "3", "ap": "4"})
    );

    // delete → the object; delete_collection with a label selector
    for n in ["l1", "l2", "l3"] {
        let mut o = cm(n, json!({}));
        o.metadata.labels = Some([("grp".to_string(), "x".to_string())].into());
        api.create(&PostParams::default(), &o).await.unwrap();
    }
    let deleted = api.delete("a", &DeleteParams::background()).await.unwrap();
    assert!(deleted.is_left());
    let e = api.get("a").await.unwrap_err();
    assert_eq!(api_code(&e).0, 404);
    let gone = api
        .delete_collection(
            &DeleteParams::default(),
            &ListParams::default().labels("grp=x"),
        )
        .await
        .unwrap();
    assert_eq!(gone.left().unwrap().items.len(), 3);
    assert!(
        api.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn watch_from_a_resource_version() {
    let c = Cluster::new();
    let client = client(&c);
    let api = cms(&client, "default");
    let a = api
        .create(&PostParams::default(), &cm("a", json!({"v": "1"})))
        .await
        .unwrap();
    api.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"v": "2"}})),
    )
    .await
    .unwrap();
    api.create(&PostParams::default(), &cm("b", json!({})))
        .await
        .unwrap();
    api.delete("a", &DeleteParams::default()).await.unwrap();

    let wp = WatchParams::default().timeout(2);
    let events: Vec<_> = api
        .watch(&wp, &rv(&a).to_string())
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let kinds: Vec<String> = events
        .iter()
        .map(|e| match e {
            WatchEvent::Added(o) => format!("ADDED {}", o.metadata.name.as_deref().unwrap()),
            WatchEvent::Modified(o) => format!("MODIFIED {}", o.metadata.name.as_deref().unwrap()),
            WatchEvent::Deleted(o) => format!("DELETED {}", o.metadata.name.as_deref().unwrap()),
            WatchEvent::Bookmark(_) => "BOOKMARK".into(),
            WatchEvent::Error(e) => format!("ERROR {}", e.code),
        })
        .collect();
    assert_eq!(kinds, vec!["MODIFIED a", "ADDED b", "DELETED a"]);

    // A label selector turns a relabel into ADDED/DELETED for that watch.
    let wp = WatchParams::default().labels("team=x").timeout(1);
    let start = c.resource_version().to_string();
    api.patch(
        "b",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"team": "x"}}})),
    )
    .await
    .unwrap();
    api.patch(
        "b",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"team": "y"}}})),
    )
    .await
    .unwrap();
    let events: Vec<_> = api
        .watch(&wp, &start)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert!(matches!(events[0], WatchEvent::Added(_)));
    assert!(matches!(events[1], WatchEvent::Deleted(_)));
    assert_eq!(events.len(), 2);

    // Too old: 410 as an ERROR event.
    c.compact();
    let events: Vec<_> = api
        .watch(&wp, "1")
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    match &events[..] {
        [WatchEvent::Error(e)] => assert_eq!((e.code, e.reason.as_str()), (410, "Expired")),
        other => panic!("{other:?}"),
    }
}

async fn next_event(
    s: &mut (impl futures::Stream<Item = Result<watcher::Event<DynamicObject>, watcher::Error>> + Unpin),
) -> watcher::Event<DynamicObject> {
    loop {
        match tokio::time::timeout(T, s.next())
            .await
            .expect("watcher stalled")
        {
            Some(Ok(e)) => return e,
            // A 410 or a cut stream surfaces as one error; the watcher then recovers by itself.
            Some(Err(e)) => eprintln!("watcher error (recovering): {e}"),
            None => panic!("watcher ended"),
        }
    }
}

fn describe(e: &watcher::Event<DynamicObject>) -> String {
    let n = |o: &DynamicObject| o.metadata.name.clone().unwrap_or_default();
    match e {
        watcher::Event::Apply(o) => format!("apply {}", n(o)),
        watcher::Event::Delete(o) => format!("delete {}", n(o)),
        watcher::Event::Init => "init".into(),
        watcher::Event::InitApply(o) => format!("initapply {}", n(o)),
        watcher::Event::InitDone => "initdone".into(),
    }
}

async fn watcher_relists_after_410(cfg: watcher::Config) {
    let c = Cluster::new();
    let client = client(&c);
    let api = cms(&client, "default");
    api.create(&PostParams::default(), &cm("a", json!({})))
        .await
        .unwrap();
    let mut s = watcher(api.clone(), cfg.timeout(1)).boxed();
    assert_eq!(describe(&next_event(&mut s).await), "init");
    assert_eq!(describe(&next_event(&mut s).await), "initapply a");
    assert_eq!(describe(&next_event(&mut s).await), "initdone");
    api.create(&PostParams::default(), &cm("b", json!({})))
        .await
        .unwrap();
    assert_eq!(describe(&next_event(&mut s).await), "apply b");

    // The watch re-connects after timeoutSeconds; make that re-watch 410, which must relist.
    c.faults().expire_next_watches(1);
    c.external("drifter")
        .apply(&json!({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": "c", "namespace": "default"}}))
        .unwrap();
    let mut seen = Vec::new();
    while seen.last().map(String::as_str) != Some("initdone") {
        seen.push(describe(&next_event(&mut s).await));
    }
    assert!(seen.contains(&"init".to_string()), "{seen:?}");
    assert!(seen.contains(&"initapply c".to_string()), "{seen:?}");

    // Deletions arrive as such.
    api.delete("a", &DeleteParams::default()).await.unwrap();
    loop {
        let e = describe(&next_event(&mut s).await);
        if e == "delete a" {
            break;
        }
        assert!(e.starts_with("apply") || e.starts_with("init"), "{e}");
    }
}

#[tokio::test]
async fn watcher_list_watch_relists_after_410() {
    watcher_relists_after_410(watcher::Config::default()).await;
}

#[tokio::test]
async fn watcher_streaming_list_relists_after_410() {
    watcher_relists_after_410(watcher::Config::default().streaming_lists()).await;
}

#[tokio::test]
async fn watcher_survives_dropped_streams() {
    let c = Cluster::new();
    let api = cms(&client(&c), "default");
    let mut s = watcher(api.clone(), watcher::Config::default()).boxed();
    assert_eq!(describe(&next_event(&mut s).await), "init");
    assert_eq!(describe(&next_event(&mut s).await), "initdone");
    c.faults().drop_watches();
    api.create(&PostParams::default(), &cm("after-drop", json!({})))
        .await
        .unwrap();
    // The cut surfaces as one error; the watcher then resumes and sees the object.
    let mut found = false;
    for _ in 0..10 {
        match tokio::time::timeout(T, s.next()).await.unwrap() {
            Some(Ok(e)) if describe(&e).ends_with("after-drop") => {
                found = true;
                break;
            }
            Some(_) => {}
            None => break,
        }
    }
    assert!(found);
}

fn apply_cm(data: serde_json::Value) -> Patch<serde_json::Value> {
    Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": "ssa", "namespace": "default"}, "data": data}))
}

fn managers(o: &DynamicObject) -> Vec<String> {
    o.metadata
        .managed_fields
        .iter()
        .flatten()
        .map(|m| {
            format!(
                "{}/{}",
                m.manager.clone().unwrap_or_default(),
                m.operation.clone().unwrap_or_default()
            )
        })
        .collect()
}

#[tokio::test]
async fn server_side_apply_ownership() {
    let c = Cluster::new();
    let api = cms(&client(&c), "default");
    let a = PatchParams::apply("alice");
    let b = PatchParams::apply("bob");

    let o1 = api
        .patch("ssa", &a, &apply_cm(json!({"x": "1", "y": "2"})))
        .await
        .unwrap();
    assert_eq!(managers(&o1), vec!["alice/Apply"]);

    // No-op re-apply: nothing bumps.
    let o2 = api
        .patch("ssa", &a, &apply_cm(json!({"x": "1", "y": "2"})))
        .await
        .unwrap();
    assert_eq!(rv(&o1), rv(&o2));
    assert_eq!(o1.metadata.managed_fields, o2.metadata.managed_fields);

    // Conflict between two managers.
    let e = api
        .patch("ssa", &b, &apply_cm(json!({"x": "9"})))
        .await
        .unwrap_err();
    let kube::Error::Api(status) = &e else {
        panic!("{e:?}")
    };
    assert_eq!((status.code, status.reason.as_str()), (409, "Conflict"));
    assert!(
        status.message.contains("conflict with \"alice\""),
        "{}",
        status.message
    );
    let details = status.details.as_ref().unwrap();
    assert_eq!(details.causes[0].reason, "FieldManagerConflict");
    assert_eq!(details.causes[0].field, ".data.x");

    // Same value: shared, no conflict. Then force moves ownership of x to bob.
    api.patch("ssa", &b, &apply_cm(json!({"y": "2"})))
        .await
        .unwrap();
    let o3 = api
        .patch(
            "ssa",
            &b.clone().force(),
            &apply_cm(json!({"x": "9", "y": "2"})),
        )
        .await
        .unwrap();
    assert_eq!(o3.data["data"], json!({"x": "9", "y": "2"}));
    let alice = o3
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .find(|m| m.manager.as_deref() == Some("alice"))
        .unwrap();
    let fields = serde_json::to_value(&alice.fields_v1).unwrap();
    assert_eq!(fields, json!({"f:data": {"f:y": {}}}), "alice keeps only y");

    // Field removal: bob stops applying x, nobody else owns it → removed. y is shared → kept.
    let o4 = api.patch("ssa", &b, &apply_cm(json!({}))).await.unwrap();
    assert_eq!(o4.data["data"], json!({"y": "2"}));
    // alice drops y too → gone.
    let o5 = api.patch("ssa", &a, &apply_cm(json!({}))).await.unwrap();
    assert!(
        o5.data["data"].as_object().is_none_or(|m| m.is_empty()),
        "{:?}",
        o5.data
    );

    // fieldManager is required for apply.
    let e = api
        .patch("ssa", &PatchParams::default(), &apply_cm(json!({})))
        .await
        .unwrap_err();
    assert_eq!(api_code(&e).0, 422);
}

#[tokio::test]
async fn updates_record_update_managers_and_generation() {
    let c = Cluster::new();
    let client = client(&c);
    let deploys: Api<DynamicObject> = Api::namespaced_with(
        client,
        "default",
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("apps", "v1", "Deployment"),
            "deployments",
        ),
    );
    let d: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 1}, "status": {"replicas": 5}
    }))
    .unwrap();
    let d1 = deploys
        .create(
            &PostParams {
                field_manager: Some("creator".into()),
                ..Default::default()
            },
            &d,
        )
        .await
        .unwrap();
    assert_eq!(d1.metadata.generation, Some(1));
    assert!(d1.data.get("status").is_none(), "status is a subresource");
    assert_eq!(managers(&d1), vec!["creator/Update"]);
    let d2 = deploys
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"a": "b"}}})),
        )
        .await
        .unwrap();
    assert_eq!(
        d2.metadata.generation,
        Some(1),
        "metadata changes keep generation"
    );
    let d3 = deploys
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .unwrap();
    assert_eq!(d3.metadata.generation, Some(2));
    // Status is written through /status only.
    let s = deploys
        .patch_status(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"readyReplicas": 3}})),
        )
        .await
        .unwrap();
    assert_eq!(s.data["status"]["readyReplicas"], 3);
    assert_eq!(s.metadata.generation, Some(2));
}

#[tokio::test]
async fn pagination() {
    let c = Cluster::new();
    let api = cms(&client(&c), "default");
    for i in 0..7 {
        api.create(&PostParams::default(), &cm(&format!("p{i}"), json!({})))
            .await
            .unwrap();
    }
    let mut names = Vec::new();
    let mut lp = ListParams::default().limit(3);
    let mut pages = 0;
    loop {
        let page = api.list(&lp).await.unwrap();
        pages += 1;
        names.extend(page.items.iter().map(|o| o.metadata.name.clone().unwrap()));
        match page.metadata.continue_ {
            Some(t) if !t.is_empty() => lp = lp.continue_token(&t),
            _ => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(names, (0..7).map(|i| format!("p{i}")).collect::<Vec<_>>());
}

#[tokio::test]
async fn finalizers_hold_deletion() {
    let c = Cluster::new();
    let api = cms(&client(&c), "default");
    let mut o = cm("fin", json!({}));
    o.metadata.finalizers = Some(vec!["example.org/hold".into()]);
    api.create(&PostParams::default(), &o).await.unwrap();
    let r = api.delete("fin", &DeleteParams::default()).await.unwrap();
    let pending = r
        .left()
        .expect("the object comes back while finalizers hold it");
    assert!(pending.metadata.deletion_timestamp.is_some());
    assert!(api.get("fin").await.is_ok());
    // Adding a finalizer while deleting is refused.
    let e = api
        .patch(
            "fin",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": ["example.org/hold", "x/y"]}})),
        )
        .await
        .unwrap_err();
    assert_eq!(api_code(&e).0, 422);
    api.patch(
        "fin",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert_eq!(api_code(&api.get("fin").await.unwrap_err()).0, 404);
}

#[tokio::test]
async fn namespace_deletion_deletes_contents() {
    let c = Cluster::new();
    let client = client(&c);
    let nss: Api<DynamicObject> = Api::all_with(client.clone(), &ns_resource());
    let ns: DynamicObject = serde_json::from_value(
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}}),
    )
    .unwrap();
    nss.create(&PostParams::default(), &ns).await.unwrap();
    let api = cms(&client, "team");
    api.create(&PostParams::default(), &cm("one", json!({})))
        .await
        .unwrap();
    let mut held = cm("held", json!({}));
    held.metadata.finalizers = Some(vec!["x/y".into()]);
    api.create(&PostParams::default(), &held).await.unwrap();

    // Creating in a missing namespace is 404.
    let e = cms(&client, "nope")
        .create(&PostParams::default(), &cm("x", json!({})))
        .await
        .unwrap_err();
    assert_eq!(api_code(&e), (404, "NotFound".into()));

    nss.delete("team", &DeleteParams::default()).await.unwrap();
    assert_eq!(api_code(&api.get("one").await.unwrap_err()).0, 404);
    let t = nss.get("team").await.unwrap();
    assert_eq!(t.data["status"]["phase"], "Terminating");
    let e = api
        .create(&PostParams::default(), &cm("late", json!({})))
        .await
        .unwrap_err();
    assert_eq!(api_code(&e).0, 403);
    api.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": []}})),
    )
    .await
    .unwrap();
    assert_eq!(api_code(&nss.get("team").await.unwrap_err()).0, 404);
}

#[tokio::test]
async fn dry_runs_persist_nothing() {
    let c = Cluster::new();
    let api = cms(&client(&c), "default");
    let start = c.resource_version();
    let pp = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let o = api
        .create(&pp, &cm("dry", json!({"a": "1"})))
        .await
        .unwrap();
    assert_eq!(o.metadata.name.as_deref(), Some("dry"));
    assert_eq!(api_code(&api.get("dry").await.unwrap_err()).0, 404);
    api.create(&PostParams::default(), &cm("dry", json!({"a": "1"})))
        .await
        .unwrap();
    let rv1 = c.resource_version();
    let p = api
        .patch(
            "dry",
            &PatchParams::default().dry_run(),
            &Patch::Merge(json!({"data": {"a": "2"}})),
        )
        .await
        .unwrap();
    assert_eq!(p.data["data"]["a"], "2");
    let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "dry"}, "data": {"a": "3"}});
    let p = api
        .patch(
            "dry",
            &PatchParams::apply("x").force().dry_run(),
            &Patch::Apply(body.clone()),
        )
        .await
        .unwrap();
    assert_eq!(p.data["data"]["a"], "3");
    // A different name in the body than in the URL is a 400.
    let e = api
        .patch("other", &PatchParams::apply("x"), &Patch::Apply(body))
        .await
        .unwrap_err();
    assert_eq!(api_code(&e).0, 400);
    let dp = DeleteParams {
        dry_run: true,
        ..Default::default()
    };
    api.delete("dry", &dp).await.unwrap();
    assert_eq!(api.get("dry").await.unwrap().data["data"]["a"], "1");
    assert_eq!(c.resource_version(), rv1);
    assert_eq!(rv1, start + 1);
}

#[tokio::test]
async fn generate_name_and_invalid_names() {
    let c = Cluster::new();
    let api = cms(&client(&c), "default");
    let mut o = cm("", json!({}));
    o.metadata.name = None;
    o.metadata.generate_name = Some("gen-".into());
    let made = api.create(&PostParams::default(), &o).await.unwrap();
    let n = made.metadata.name.unwrap();
    assert!(n.starts_with("gen-") && n.len() == 9, "{n}");
    let e = api
        .create(&PostParams::default(), &cm("Bad_Name", json!({})))
        .await
        .unwrap_err();
    assert_eq!(api_code(&e), (422, "Invalid".into()));
    let mut nameless = cm("", json!({}));
    nameless.metadata.name = None;
    let e = api
        .create(&PostParams::default(), &nameless)
        .await
        .unwrap_err();
    assert_eq!(api_code(&e), (422, "Invalid".into()));
}

#[tokio::test]
async fn faults_reach_kube_clients() {
    let c = Cluster::new();
    let api = cms(&client(&c), "default");
    api.create(&PostParams::default(), &cm("f", json!({})))
        .await
        .unwrap();
    for (code, reason) in [
        (500, "InternalError"),
        (503, "ServiceUnavailable"),
        (429, "TooManyRequests"),
        (409, "Conflict"),
    ] {
        c.faults().inject(
            Fault::error(code)
                .verb("get")
                .resource("configmaps")
                .times(1),
        );
        let e = api.get("f").await.unwrap_err();
        assert_eq!(api_code(&e), (code, reason.into()));
        api.get("f").await.unwrap();
    }
    // Other verbs and kinds are untouched.
    c.faults()
        .inject(Fault::error(500).verb("list").resource("secrets").times(1));
    api.list(&ListParams::default()).await.unwrap();
    c.faults().clear();

    // Latency (paused time would also do; real time keeps it simple).
    c.faults()
        .inject(Fault::latency(Duration::from_millis(150)).verb("get"));
    let t0 = std::time::Instant::now();
    api.get("f").await.unwrap();
    assert!(t0.elapsed() >= Duration::from_millis(150));
    c.faults().clear();

    // Unreachable, then back.
    c.faults().set_reachable(false);
    let e = api.get("f").await.unwrap_err();
    assert!(!matches!(e, kube::Error::Api(_)), "{e:?}");
    c.faults().set_reachable(true);
    api.get("f").await.unwrap();
}

#[tokio::test]
async fn drift_by_an_external_actor_is_seen_by_watchers() {
    let c = Cluster::new();
    let api = cms(&client(&c), "default");
    api.patch(
        "ssa",
        &PatchParams::apply("syncer"),
        &apply_cm(json!({"a": "1"})),
    )
    .await
    .unwrap();
    let mut s = watcher(api.clone(), watcher::Config::default()).boxed();
    while describe(&next_event(&mut s).await) != "initdone" {}
    c.external("kubectl-edit")
        .merge_patch(
            "v1",
            "ConfigMap",
            Some("default"),
            "ssa",
            &json!({"data": {"a": "drifted"}}),
        )
        .unwrap();
    let e = next_event(&mut s).await;
    let watcher::Event::Apply(o) = e else {
        panic!("{}", describe(&e))
    };
    assert_eq!(o.data["data"]["a"], "drifted");
    assert!(managers(&o).contains(&"kubectl-edit/Update".to_string()));
    // The syncer's next apply conflicts unless forced.
    let e = api
        .patch(
            "ssa",
            &PatchParams::apply("syncer"),
            &apply_cm(json!({"a": "1"})),
        )
        .await
        .unwrap_err();
    assert_eq!(api_code(&e).0, 409);
    let fixed = api
        .patch(
            "ssa",
            &PatchParams::apply("syncer").force(),
            &apply_cm(json!({"a": "1"})),
        )
        .await
        .unwrap();
    assert_eq!(fixed.data["data"]["a"], "1");
}

#[tokio::test]
async fn loopback_kubeconfig_and_many_clusters() {
    let clusters: Vec<Cluster> = (0..50)
        .map(|i| {
            Cluster::with_config(nomos_testcluster::ClusterConfig::named(format!("c{i}"))).unwrap()
        })
        .collect();
    let mut handles = Vec::new();
    for c in &clusters {
        handles.push(c.serve("127.0.0.1:0".parse().unwrap()).await.unwrap());
    }
    for (i, h) in handles.iter().enumerate() {
        let kc = kube::config::Kubeconfig::from_yaml(&h.kubeconfig()).unwrap();
        let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .unwrap();
        let client = kube::Client::try_from(cfg).unwrap();
        let api = cms(&client, "default");
        api.create(
            &PostParams::default(),
            &cm(&format!("only-in-{i}"), json!({})),
        )
        .await
        .unwrap();
        let items = api.list(&ListParams::default()).await.unwrap().items;
        assert_eq!(items.len(), 1, "each cluster has its own store");
    }
    // Unreachable over a socket: connection refused; then back on the same port.
    let h = &handles[0];
    let kc = kube::config::Kubeconfig::from_yaml(&h.kubeconfig()).unwrap();
    let client = kube::Client::try_from(
        kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .unwrap(),
    )
    .unwrap();
    let api = cms(&client, "default");
    clusters[0].faults().set_reachable(false);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(api.get("only-in-0").await.is_err());
    clusters[0].faults().set_reachable(true);
    let mut ok = false;
    for _ in 0..50 {
        if api.get("only-in-0").await.is_ok() {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ok, "the server came back");
    for h in handles {
        h.shutdown().await;
    }
}

#[tokio::test]
async fn persistence_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("state.json");
    let cfg = || nomos_testcluster::ClusterConfig {
        state_file: Some(file.clone()),
        ..Default::default()
    };
    let c = Cluster::with_config(cfg()).unwrap();
    let api = cms(&client(&c), "default");
    api.create(&PostParams::default(), &cm("kept", json!({"a": "1"})))
        .await
        .unwrap();
    let rv = c.resource_version();
    c.save_state().unwrap();
    drop(c);
    let c2 = Cluster::with_config(cfg()).unwrap();
    assert_eq!(c2.resource_version(), rv);
    let api = cms(&client(&c2), "default");
    assert_eq!(api.get("kept").await.unwrap().data["data"]["a"], "1");
    let next = api
        .create(&PostParams::default(), &cm("new", json!({})))
        .await
        .unwrap();
    assert_eq!(rv_of(&next), rv + 1);
}

fn rv_of(o: &DynamicObject) -> u64 {
    rv(o)
}
