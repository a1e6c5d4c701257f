//! The snapshot service and the webhook against real Git repositories: per-cluster snapshots,
//! ETags and long polls, clusters added on request, invalid commits, webhook triggers and
//! rejections, and the `nomos-importer` binary.

use std::future::Future;
use std::pin::Pin;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::StatusCode;
use nomos_core::{Options, SourceFormat};
use nomos_importer::serve::{self, ClusterSnapshot, Hub, ServeConfig, Service, ServiceStatus};
use nomos_importer::webhook::{Secret, WebhookConfig, hmac_sha256};
use nomos_importer::{Bounds, Fetcher, GitSource, ImportConfig, Importer, Sleeper};
use tokio::sync::{Notify, watch};

const TIMEOUT: Duration = Duration::from_secs(30);

use nomos_testgit::Repo;

fn ns(name: &str) -> String {
    format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n")
}

fn cm(name: &str, cluster: Option<&str>, value: &str) -> String {
    let ann = cluster
        .map(|c| format!("  annotations:\n    configsync.gke.io/cluster-name-selector: {c}\n"))
        .unwrap_or_default();
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: shop\n{ann}data:\n  k: {value}\n"
    )
}

/// `shop`, a common ConfigMap, `a` only on alpha and `b` only on beta.
fn seed(repo: &Repo) -> String {
    repo.write("ns.yaml", &ns("shop"));
    repo.write("common.yaml", &cm("common", None, "v"));
    repo.write("cm-a.yaml", &cm("a", Some("alpha"), "one"));
    repo.write("cm-b.yaml", &cm("b", Some("beta"), "one"));
    repo.commit("seed")
}

/// Never wakes: only triggers drive the import loop.
struct Never;
impl Sleeper for Never {
    fn sleep(&self, _: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(std::future::pending())
    }
}

/// Long-poll time: every sleep ends when the test calls `elapse`.
#[derive(Default)]
struct Gate {
    notify: Notify,
    started: AtomicUsize,
}
impl Gate {
    fn elapse(&self) {
        self.notify.notify_waiters();
    }
}
impl Sleeper for Gate {
    fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        let notified = self.notify.notified();
        Box::pin(async move {
            if d.is_zero() {
                return;
            }
            self.started.fetch_add(1, Ordering::SeqCst);
            notified.await;
        })
    }
}

/// An importer with the snapshot service on 127.0.0.1 (import loop driven by triggers only).
struct Env {
    addr: std::net::SocketAddr,
    hub: Arc<Hub>,
    imports: Arc<AtomicUsize>,
    gate: Arc<Gate>,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

const SECRET: &str = "hunter2-webhook";

async fn start(repo: &Repo, webhook: bool) -> Env {
    let fetcher = Fetcher::new(
        GitSource::new(repo.url()),
        SourceFormat::Unstructured,
        Bounds::default(),
        &repo.scratch("cache"),
    )
    .unwrap();
    let config = ImportConfig {
        options: Options::new(SourceFormat::Unstructured),
        omit_token: true,
        ..ImportConfig::default()
    };
    let importer = Importer::new(fetcher, config);
    let (stop, stop_rx) = watch::channel(false);
    let (trigger_tx, trigger_rx) = tokio::sync::mpsc::channel(1);
    let (names_tx, names_rx) = watch::channel(Vec::new());
    let hub = Arc::new(Hub::new());
    let gate = Arc::new(Gate::default());
    let service = Arc::new(Service::new(
        ServeConfig {
            format: SourceFormat::Unstructured,
            webhook: webhook
                .then(|| WebhookConfig::new(Secret::new(SECRET), Some("master".into()))),
            ..ServeConfig::default()
        },
        hub.clone(),
        names_tx,
        trigger_tx,
        gate.clone(),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let imports = Arc::new(AtomicUsize::new(0));
    let mut tasks = vec![tokio::spawn(serve::serve(
        listener,
        service,
        stop_rx.clone(),
    ))];
    let (h, n) = (hub.clone(), imports.clone());
    tasks.push(tokio::spawn(async move {
        nomos_importer::run_with_names(
            importer,
            names_rx,
            Duration::from_secs(3600),
            &Never,
            trigger_rx,
            stop_rx,
            move |o| {
                n.fetch_add(1, Ordering::SeqCst);
                h.record(o);
            },
        )
        .await;
    }));
    Env {
        addr,
        hub,
        imports,
        gate,
        stop,
        tasks,
    }
}

impl Env {
    async fn stop(self) {
        self.stop.send(true).unwrap();
        for t in self.tasks {
            tokio::time::timeout(TIMEOUT, t)
                .await
                .expect("the importer stops")
                .unwrap();
        }
    }

    /// Wait until the import loop has run `n` imports.
    async fn imported(&self, n: usize) {
        tokio::time::timeout(TIMEOUT, async {
            while self.imports.load(Ordering::SeqCst) < n {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("the import ran");
    }
}

struct Answer {
    status: StatusCode,
    etag: Option<String>,
    body: Bytes,
}

impl Answer {
    fn snapshot(&self) -> ClusterSnapshot {
        assert_eq!(self.status, StatusCode::OK, "{}", self.text());
        serde_json::from_slice(&self.body).unwrap()
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

async fn request(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> Answer {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut send, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string());
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let resp = send
        .send_request(req.body(Full::new(Bytes::from(body))).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let etag = resp
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_string());
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Answer { status, etag, body }
}

async fn get(addr: std::net::SocketAddr, path: &str, etag: Option<&str>) -> Answer {
    let headers: Vec<(&str, String)> = etag
        .map(|e| vec![("if-none-match", e.to_string())])
        .unwrap_or_default();
    request(addr, "GET", path, &headers, Vec::new()).await
}

fn object_names(s: &ClusterSnapshot) -> Vec<String> {
    s.state
        .as_ref()
        .expect("a state")
        .desired
        .objects
        .iter()
        .map(|o| format!("{}/{}", o.id.kind, o.id.name))
        .collect()
}

fn data_k(s: &ClusterSnapshot, name: &str) -> String {
    let d = &s.state.as_ref().unwrap().desired;
    let o = d.objects.iter().find(|o| o.id.name == name).unwrap();
    o.value()["data"]["k"].as_str().unwrap().to_string()
}

/// GET until the snapshot satisfies `pred` (long polls of 5 s).
async fn poll_until(
    addr: std::net::SocketAddr,
    cluster: &str,
    what: &str,
    pred: impl Fn(&ClusterSnapshot) -> bool,
) -> (ClusterSnapshot, String) {
    let path = format!("/v1/clusters/{cluster}/snapshot?wait=5s");
    let mut etag: Option<String> = None;
    tokio::time::timeout(TIMEOUT, async {
        loop {
            let a = get(addr, &path, etag.as_deref()).await;
            if a.status == StatusCode::NOT_MODIFIED {
                continue;
            }
            let s = a.snapshot();
            if pred(&s) {
                return (s, a.etag.unwrap());
            }
            etag = a.etag;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// POST a signed GitHub push of `master` to the webhook; it must be accepted.
async fn push(addr: &std::net::SocketAddr) {
    let body = br#"{"ref":"refs/heads/master"}"#.to_vec();
    let w = request(
        *addr,
        "POST",
        "/webhook",
        &github_headers(&body, SECRET, "push"),
        body,
    )
    .await;
    assert_eq!(w.status, StatusCode::ACCEPTED, "{}", w.text());
}

fn github_headers(body: &[u8], secret: &str, event: &str) -> Vec<(&'static str, String)> {
    let sig: String = hmac_sha256(secret.as_bytes(), body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    vec![
        ("x-hub-signature-256", format!("sha256={sig}")),
        ("x-github-event", event.to_string()),
        ("content-type", "application/json".to_string()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_cluster_gets_its_own_snapshot_with_etag_and_304() {
    let repo = Repo::new();
    let c1 = seed(&repo);
    let env = start(&repo, false).await;
    env.imported(1).await;

    assert_eq!(get(env.addr, "/healthz", None).await.status, StatusCode::OK);
    assert_eq!(get(env.addr, "/readyz", None).await.status, StatusCode::OK);

    let a = get(env.addr, "/v1/clusters/alpha/snapshot", None).await;
    let alpha = a.snapshot();
    let etag = a.etag.clone().unwrap();
    assert_eq!(etag, format!("\"{}\"", alpha.etag));
    assert_eq!(alpha.api_version, serve::API_VERSION);
    assert_eq!(alpha.cluster, "alpha");
    assert_eq!(alpha.format, "unstructured");
    let state = alpha.state.as_ref().unwrap();
    assert_eq!(state.commit, c1);
    assert_eq!(state.desired.source.commit, c1);
    assert!(alpha.import.errors.is_empty());
    assert_eq!(alpha.import.commit.as_deref(), Some(c1.as_str()));
    assert_eq!(
        object_names(&alpha),
        ["Namespace/shop", "ConfigMap/a", "ConfigMap/common"]
    );
    // The commit is not stamped on objects (a commit rewrites only what it changes).
    let cm = state.desired.objects[1].value();
    assert!(
        cm["metadata"]["annotations"]
            .get(nomos_core::ann::TOKEN)
            .is_none(),
        "{cm}"
    );
    // The document checks out against its hashes and this syncer's identity.
    let (commit, d) = alpha
        .verified_state(&Default::default(), SourceFormat::Unstructured)
        .unwrap();
    assert_eq!(commit, c1);
    assert_eq!(d.cluster, "alpha");
    assert!(
        alpha
            .verified_state(&Default::default(), SourceFormat::Hierarchy)
            .is_err()
    );

    let beta = get(env.addr, "/v1/clusters/beta/snapshot", None)
        .await
        .snapshot();
    assert_eq!(
        object_names(&beta),
        ["Namespace/shop", "ConfigMap/b", "ConfigMap/common"]
    );
    assert_ne!(beta.etag, alpha.etag);

    // Same ETag: 304 at once without a wait, and no body.
    let again = get(env.addr, "/v1/clusters/alpha/snapshot", Some(&etag)).await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert_eq!(again.etag.as_deref(), Some(etag.as_str()));
    assert!(again.body.is_empty());
    // A stale ETag: the full answer.
    let stale = get(env.addr, "/v1/clusters/alpha/snapshot", Some("\"0000\"")).await;
    assert_eq!(stale.status, StatusCode::OK);

    // Bad requests.
    assert_eq!(
        get(env.addr, "/v1/clusters/a%2Fb/snapshot", None)
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        get(env.addr, "/v1/clusters/alpha/snapshot?wait=soon", None)
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        get(env.addr, "/nope", None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        request(env.addr, "POST", "/webhook", &[], b"{}".to_vec())
            .await
            .status,
        StatusCode::NOT_FOUND,
        "the webhook is disabled without a secret"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_polls_wake_on_a_new_commit_and_time_out_with_304() {
    let repo = Repo::new();
    seed(&repo);
    let env = start(&repo, true).await;
    env.imported(1).await;
    let a = get(env.addr, "/v1/clusters/alpha/snapshot", None).await;
    let etag = a.etag.clone().unwrap();

    // Held until the (injected) wait elapses, then 304.
    let addr = env.addr;
    let e = etag.clone();
    let held =
        tokio::spawn(
            async move { get(addr, "/v1/clusters/alpha/snapshot?wait=30s", Some(&e)).await },
        );
    tokio::time::timeout(TIMEOUT, async {
        while env.gate.started.load(Ordering::SeqCst) < 1 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!held.is_finished(), "the long poll waits for its timeout");
    env.gate.elapse();
    let r = tokio::time::timeout(TIMEOUT, held).await.unwrap().unwrap();
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    assert_eq!(r.etag.as_deref(), Some(etag.as_str()));

    // A new commit wakes the long poll with the new state.
    let e = etag.clone();
    let held =
        tokio::spawn(
            async move { get(addr, "/v1/clusters/alpha/snapshot?wait=30s", Some(&e)).await },
        );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!held.is_finished());
    repo.write("cm-a.yaml", &cm("a", Some("alpha"), "two"));
    let c2 = repo.commit("two");
    push(&env.addr).await;
    let r = tokio::time::timeout(TIMEOUT, held).await.unwrap().unwrap();
    let s = r.snapshot();
    assert_eq!(s.state.as_ref().unwrap().commit, c2);
    assert_eq!(data_k(&s, "a"), "two");
    assert_ne!(r.etag.as_deref(), Some(etag.as_str()));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_syncer_holding_a_state_gets_only_the_changed_objects() {
    let repo = Repo::new();
    seed(&repo);
    let env = start(&repo, true).await;
    env.imported(1).await;
    let first = get(env.addr, "/v1/clusters/alpha/snapshot", None).await;
    let etag = first.etag.clone().unwrap();
    let first = first.snapshot();
    let base = first.state.as_ref().unwrap().desired.clone();
    assert_eq!(base.objects.len(), 3, "{:?}", object_names(&first));

    // A long poll naming the state it holds is answered with the one changed object.
    let addr = env.addr;
    let (e, hash) = (etag.clone(), base.hash.clone());
    let held = tokio::spawn(async move {
        let path = format!("/v1/clusters/alpha/snapshot?wait=30s&base={hash}");
        get(addr, &path, Some(&e)).await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    repo.write("cm-a.yaml", &cm("a", Some("alpha"), "two"));
    let c2 = repo.commit("two");
    push(&env.addr).await;
    let answer = tokio::time::timeout(TIMEOUT, held).await.unwrap().unwrap();
    let mut delta = answer.snapshot();
    let state = delta.state.as_ref().unwrap();
    assert_eq!(state.commit, c2);
    assert_eq!(
        object_names(&delta),
        ["ConfigMap/a"],
        "only the changed object"
    );
    let runs = &state.delta.as_ref().expect("a delta").runs;
    assert_eq!(
        runs.iter()
            .filter(|r| matches!(r, serve::DeltaRun::New(_)))
            .count(),
        1
    );

    // Rebuilt on the base, it is exactly the full state, and it verifies.
    let mut wrong = delta.clone();
    assert!(matches!(
        wrong.resolve_delta(None),
        Err(serve::DecodeError::DeltaBase { .. })
    ));
    delta.resolve_delta(Some(&base)).unwrap();
    let full = get(env.addr, "/v1/clusters/alpha/snapshot", None).await;
    assert_eq!(
        full.etag, answer.etag,
        "one ETag for the state, whole or as a delta"
    );
    let full = full.snapshot();
    assert!(full.state.as_ref().unwrap().delta.is_none());
    assert_eq!(delta, full);
    let sync = nomos_core::desired::SyncIdentity::default();
    delta
        .verified_state(&sync, SourceFormat::Unstructured)
        .unwrap();
    assert_eq!(data_k(&delta, "a"), "two");

    // A base the importer does not know gets the whole state.
    let unknown = get(
        env.addr,
        &format!("/v1/clusters/alpha/snapshot?base={}", "0".repeat(64)),
        None,
    )
    .await
    .snapshot();
    assert_eq!(unknown, full);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_cluster_name_is_built_on_request_without_waking_the_others() {
    let repo = Repo::new();
    let c1 = seed(&repo);
    let env = start(&repo, false).await;
    env.imported(1).await;
    let a = get(env.addr, "/v1/clusters/alpha/snapshot", None).await;
    let alpha_etag = a.etag.clone().unwrap();
    let addr = env.addr;
    let e = alpha_etag.clone();
    let alpha_poll =
        tokio::spawn(
            async move { get(addr, "/v1/clusters/alpha/snapshot?wait=30s", Some(&e)).await },
        );

    // gamma is named nowhere in the repository: added, imported (same commit), served.
    let (gamma, _) = poll_until(env.addr, "gamma", "gamma built", |s| s.state.is_some()).await;
    assert_eq!(gamma.state.as_ref().unwrap().commit, c1);
    assert_eq!(object_names(&gamma), ["Namespace/shop", "ConfigMap/common"]);
    let status: ServiceStatus =
        serde_json::from_slice(&get(env.addr, "/v1/status", None).await.body).unwrap();
    assert_eq!(status.commit.as_deref(), Some(c1.as_str()));
    assert!(status.clusters.contains_key("gamma"), "{status:?}");
    assert!(status.clusters.contains_key("alpha"), "{status:?}");
    assert!(status.clusters.contains_key("beta"), "{status:?}");
    assert!(status.pending.is_empty(), "{status:?}");
    // The unnamed cluster (empty name).
    let unnamed = get(env.addr, "/v1/clusters//snapshot", None)
        .await
        .snapshot();
    assert_eq!(
        object_names(&unnamed),
        ["Namespace/shop", "ConfigMap/common"]
    );

    // Re-importing for gamma changed nothing for alpha: its long poll is still held.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !alpha_poll.is_finished(),
        "alpha was woken without a change"
    );
    env.gate.elapse();
    let r = tokio::time::timeout(TIMEOUT, alpha_poll)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_commit_is_served_with_errors_and_the_last_good_state() {
    let repo = Repo::new();
    let c1 = seed(&repo);
    let env = start(&repo, true).await;
    env.imported(1).await;
    let a = get(env.addr, "/v1/clusters/alpha/snapshot", None).await;
    let good_etag = a.etag.clone().unwrap();

    repo.write(
        "bad.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n  namespace: shop\n",
    );
    let c2 = repo.commit("bad");
    push(&env.addr).await;
    let r = get(
        env.addr,
        "/v1/clusters/alpha/snapshot?wait=20s",
        Some(&good_etag),
    )
    .await;
    let s = r.snapshot();
    // The last good state stays; the attempt and its errors are reported.
    assert_eq!(s.state.as_ref().unwrap().commit, c1);
    assert_eq!(data_k(&s, "a"), "one");
    assert_eq!(s.import.commit.as_deref(), Some(c2.as_str()));
    assert!(
        s.import.errors.iter().any(|e| e.code == "KNV1036"),
        "{:?}",
        s.import.errors
    );
    assert_ne!(r.etag.as_deref(), Some(good_etag.as_str()));
    assert_eq!(env.hub.current().snapshot.unwrap().commit, c1);
    // Every cluster sees the errors.
    let beta = get(env.addr, "/v1/clusters/beta/snapshot", None)
        .await
        .snapshot();
    assert!(!beta.import.errors.is_empty());

    // Fixed: the new state, no errors.
    repo.git(&["rm", "-q", "bad.yaml"]);
    repo.write("cm-a.yaml", &cm("a", Some("alpha"), "three"));
    let c3 = repo.commit("fixed");
    push(&env.addr).await;
    let (s, _) = poll_until(env.addr, "alpha", "the fixed commit", |s| {
        s.state.as_ref().is_some_and(|st| st.commit == c3)
    })
    .await;
    assert!(s.import.errors.is_empty());
    assert_eq!(data_k(&s, "a"), "three");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_triggers_a_fetch_and_rejects_bad_signatures() {
    let repo = Repo::new();
    let c1 = seed(&repo);
    let env = start(&repo, true).await;
    env.imported(1).await;
    let current = || env.hub.current().snapshot.unwrap().commit.clone();
    assert_eq!(current(), c1);

    // A new commit; the import loop's period is an hour and its sleeper never wakes.
    repo.write("cm-a.yaml", &cm("a", Some("alpha"), "two"));
    let c2 = repo.commit("two");
    let body = br#"{"ref":"refs/heads/master","after":"x"}"#.to_vec();

    // Wrong secret, missing signature, GitLab with a wrong token: 401, nothing fetched.
    let mut no_sig = github_headers(&body, SECRET, "push");
    no_sig.remove(0);
    for headers in [
        github_headers(&body, "not-the-secret", "push"),
        no_sig,
        vec![
            ("x-gitlab-token", "hunter2".to_string()),
            ("x-gitlab-event", "Push Hook".to_string()),
        ],
    ] {
        let r = request(env.addr, "POST", "/webhook", &headers, body.clone()).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{headers:?}");
        assert!(!r.text().contains(SECRET));
    }
    // Verified, but not for the followed branch (or not a push): acknowledged, nothing fetched.
    let other = br#"{"ref":"refs/heads/feature"}"#.to_vec();
    let r = request(
        env.addr,
        "POST",
        "/webhook",
        &github_headers(&other, SECRET, "push"),
        other,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = request(
        env.addr,
        "POST",
        "/webhook",
        &github_headers(&body, SECRET, "ping"),
        body.clone(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(env.imports.load(Ordering::SeqCst), 1, "nothing was fetched");
    assert_eq!(current(), c1);

    // A signed push: fetched at once.
    let r = request(
        env.addr,
        "POST",
        "/webhook",
        &github_headers(&body, SECRET, "push"),
        body.clone(),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
    env.imported(2).await;
    assert_eq!(current(), c2);

    // GitLab with the right token.
    repo.write("cm-a.yaml", &cm("a", Some("alpha"), "three"));
    let c3 = repo.commit("three");
    let r = request(
        env.addr,
        "POST",
        "/webhook",
        &[
            ("x-gitlab-token", SECRET.to_string()),
            ("x-gitlab-event", "Push Hook".to_string()),
        ],
        body,
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
    env.imported(3).await;
    assert_eq!(current(), c3);
    env.stop().await;
}

/// The binary end to end: serves snapshots, takes a webhook, stops on SIGTERM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_serves_snapshots_and_takes_webhooks() {
    use tokio::io::AsyncBufReadExt;
    let repo = Repo::new();
    let c1 = seed(&repo);
    let secret_file = repo.scratch("secret");
    std::fs::write(&secret_file, format!("{SECRET}\n")).unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_nomos-importer"))
        .args(["--source", &repo.url(), "--source-format", "unstructured"])
        .args([
            "--period",
            "1h",
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
        ])
        .arg("--cache-dir")
        .arg(repo.scratch("cache"))
        .arg("--webhook-secret-file")
        .arg(&secret_file)
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let addr: std::net::SocketAddr = tokio::time::timeout(TIMEOUT, async {
        loop {
            let line = lines.next_line().await.unwrap().expect("a log line");
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            if let Some(url) = v["fields"]["url"].as_str() {
                return url.trim_start_matches("http://").parse().unwrap();
            }
        }
    })
    .await
    .expect("the importer logs its address");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    let (s, _) = poll_until(addr, "alpha", "the first commit", |s| s.state.is_some()).await;
    assert_eq!(s.state.unwrap().commit, c1);
    repo.write("cm-a.yaml", &cm("a", Some("alpha"), "two"));
    let c2 = repo.commit("two");
    push(&addr).await;
    let (s, _) = poll_until(addr, "alpha", "the pushed commit", |s| {
        s.state.as_ref().is_some_and(|st| st.commit == c2)
    })
    .await;
    assert_eq!(data_k(&s, "a"), "two");

    let pid = child.id().unwrap().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let status = tokio::time::timeout(TIMEOUT, child.wait())
        .await
        .expect("the importer stops on SIGTERM")
        .unwrap();
    assert!(status.success(), "{status:?}");
}
