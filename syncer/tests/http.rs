//! Split deployment: one importer (Git → per-cluster snapshots over HTTP) and syncers fed by
//! `HttpSource` (`nomos-syncer --source http://…`), against in-memory clusters.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use nomos_cluster::{ClusterClient, ExecOptions, RetryPolicy};
use nomos_core::{Options, SourceFormat};
use nomos_importer::serve::{self, Hub, ServeConfig, Service};
use nomos_importer::{Bounds, Fetcher, GitSource, ImportConfig, Importer};
use nomos_syncer::{ClusterTarget, HttpSource, SyncStatus, Syncer, SyncerConfig, SyncerHandle};
use nomos_testcluster::Cluster;
use nomos_testgit::git;
use serde_json::Value;
use tokio::sync::{mpsc, watch};

fn commit(dir: &Path, files: &[(String, String)], message: &str) -> String {
    nomos_testgit::Repo::open(dir).commit_files(files, message)
}

const TIMEOUT: Duration = Duration::from_secs(60);

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

/// Never wakes: the importer fetches only when triggered.
struct Never;
impl nomos_importer::Sleeper for Never {
    fn sleep(&self, _: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(std::future::pending())
    }
}

/// An importer serving snapshots of the repository at `repo` on 127.0.0.1.
struct ImporterEnv {
    addr: SocketAddr,
    hub: Arc<Hub>,
    trigger: mpsc::Sender<()>,
    service: Arc<Service>,
    server_stop: watch::Sender<bool>,
    server: tokio::task::JoinHandle<()>,
    stop: watch::Sender<bool>,
    loop_task: tokio::task::JoinHandle<()>,
}

impl ImporterEnv {
    async fn start(repo: &Path, cache: &Path) -> ImporterEnv {
        let fetcher = Fetcher::new(
            GitSource::new(format!("file://{}", repo.display())),
            SourceFormat::Unstructured,
            Bounds::default(),
            cache,
        )
        .unwrap();
        let importer = Importer::new(
            fetcher,
            ImportConfig {
                options: Options::new(SourceFormat::Unstructured),
                omit_token: true,
                ..ImportConfig::default()
            },
        );
        let (stop, stop_rx) = watch::channel(false);
        let (trigger, trigger_rx) = mpsc::channel(1);
        let (names_tx, names_rx) = watch::channel(Vec::new());
        let hub = Arc::new(Hub::new());
        let service = Arc::new(Service::new(
            ServeConfig {
                format: SourceFormat::Unstructured,
                ..ServeConfig::default()
            },
            hub.clone(),
            names_tx,
            trigger.clone(),
            Arc::new(nomos_importer::TokioSleeper),
        ));
        let h = hub.clone();
        let loop_task = tokio::spawn(async move {
            nomos_importer::run_with_names(
                importer,
                names_rx,
                Duration::from_secs(3600),
                &Never,
                trigger_rx,
                stop_rx,
                move |o| h.record(o),
            )
            .await;
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (server_stop, server_rx) = watch::channel(false);
        let server = tokio::spawn(serve::serve(listener, service.clone(), server_rx));
        ImporterEnv {
            addr,
            hub,
            trigger,
            service,
            server_stop,
            server,
            stop,
            loop_task,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Fetch now (what a webhook does).
    async fn fetch(&self) {
        self.trigger.send(()).await.unwrap();
    }

    /// Stop serving (the import loop goes on); long polls in progress end.
    async fn stop_serving(&mut self) {
        self.server_stop.send(true).unwrap();
        (&mut self.server).await.unwrap();
    }

    /// Serve again on the same address.
    async fn serve_again(&mut self) {
        let listener = tokio::net::TcpListener::bind(self.addr).await.unwrap();
        let (server_stop, server_rx) = watch::channel(false);
        self.server_stop = server_stop;
        self.server = tokio::spawn(serve::serve(listener, self.service.clone(), server_rx));
    }

    async fn stop(self) {
        self.server_stop.send(true).unwrap();
        self.stop.send(true).unwrap();
        self.server.await.unwrap();
        self.loop_task.await.unwrap();
    }
}

fn config() -> SyncerConfig {
    SyncerConfig {
        format: SourceFormat::Unstructured,
        k8s_version: None,
        retry_base: Duration::from_millis(50),
        retry_max: Duration::from_millis(500),
        exec: ExecOptions {
            retry: RetryPolicy {
                max_attempts: 5,
                base_delay: Duration::from_millis(5),
                max_delay: Duration::from_millis(50),
                jitter: 0.2,
            },
            ..ExecOptions::default()
        },
        ..SyncerConfig::default()
    }
}

fn http_source(url: &str) -> HttpSource {
    let mut s = HttpSource::new(url).unwrap();
    s.wait = Duration::from_secs(5);
    s.retry_base = Duration::from_millis(50);
    s.retry_max = Duration::from_millis(400);
    s
}

fn client(c: &Cluster, name: &str) -> ClusterClient {
    ClusterClient::from_client(kube::Client::new(c.service(), "default")).with_cluster_name(name)
}

/// One syncer (its own process, in a real deployment) for one cluster.
struct SyncerEnv {
    name: String,
    cluster: Cluster,
    handle: SyncerHandle,
    stop: watch::Sender<bool>,
}

impl SyncerEnv {
    fn start(name: &str, url: &str) -> SyncerEnv {
        let cluster = Cluster::new();
        let (stop, stop_rx) = watch::channel(false);
        let handle = Syncer::new(config()).start_remote(
            vec![ClusterTarget::new(name, name, client(&cluster, name))],
            http_source(url),
            stop_rx,
        );
        SyncerEnv {
            name: name.to_string(),
            cluster,
            handle,
            stop,
        }
    }

    async fn wait(&self, what: &str, pred: impl Fn(&SyncStatus) -> bool) -> SyncStatus {
        let mut rx = self.handle.subscribe(&self.name).unwrap();
        let r = tokio::time::timeout(TIMEOUT, async {
            loop {
                let s = rx.borrow_and_update().clone();
                if pred(&s) {
                    return s;
                }
                rx.changed().await.expect("status channel open");
            }
        })
        .await;
        r.unwrap_or_else(|_| {
            panic!(
                "{}: timed out waiting for {what}: {:#?}",
                self.name,
                self.handle.status(&self.name)
            )
        })
    }

    fn data_k(&self, name: &str) -> Option<String> {
        self.cluster
            .get("v1", "ConfigMap", Some("shop"), name)?
            .pointer("/data/k")
            .and_then(Value::as_str)
            .map(str::to_string)
    }

    async fn stop(self) {
        self.stop.send(true).unwrap();
        tokio::time::timeout(TIMEOUT, self.handle.join())
            .await
            .expect("the syncer stops");
    }
}

fn repo() -> nomos_testgit::Repo {
    nomos_testgit::Repo::new()
}

fn synced_at(commit: &str) -> impl Fn(&SyncStatus) -> bool + '_ {
    move |s| s.synced && s.commit.as_deref() == Some(commit)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_syncers_get_their_own_clusters_state_and_every_new_commit() {
    let r = repo();
    let names: Vec<String> = (0..20).map(|i| format!("c{i:02}")).collect();
    // A common ConfigMap, and one per cluster selected by name.
    let mut files = vec![
        ("ns.yaml".to_string(), ns("shop")),
        ("common.yaml".to_string(), cm("common", None, "one")),
    ];
    for n in &names {
        files.push((format!("{n}.yaml"), cm(&format!("only-{n}"), Some(n), n)));
    }
    let c1 = commit(r.path(), &files, "seed");
    let importer = ImporterEnv::start(r.path(), &r.scratch("cache")).await;
    let url = importer.url();
    let syncers: Vec<SyncerEnv> = names.iter().map(|n| SyncerEnv::start(n, &url)).collect();

    for s in &syncers {
        let st = s.wait("the first commit synced", synced_at(&c1)).await;
        assert!(st.errors.is_empty(), "{st:#?}");
        assert_eq!(st.managed_objects, 3, "{st:#?}");
        assert_eq!(s.data_k("common").as_deref(), Some("one"));
        assert_eq!(
            s.data_k(&format!("only-{}", s.name)).as_deref(),
            Some(s.name.as_str())
        );
        // No other cluster's object.
        for other in names.iter().filter(|n| **n != s.name) {
            assert!(s.data_k(&format!("only-{other}")).is_none());
        }
        // Nothing compiled in the syncer.
        assert_eq!(s.handle.compilations(), 0);
    }
    // The importer built every cluster once (the repository names them all).
    let snap = importer.hub.current().snapshot.unwrap();
    assert_eq!(snap.commit, c1);
    for n in &names {
        assert!(snap.per_cluster.contains_key(n), "{n}");
    }

    // A new commit reaches every syncer.
    let c2 = commit(
        r.path(),
        &[("common.yaml".to_string(), cm("common", None, "two"))],
        "two",
    );
    importer.fetch().await;
    for s in &syncers {
        s.wait("the second commit synced", synced_at(&c2)).await;
        assert_eq!(s.data_k("common").as_deref(), Some("two"));
    }
    for s in syncers {
        s.stop().await;
    }
    importer.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_commit_is_reported_and_the_last_good_state_stays() {
    let r = repo();
    let c1 = commit(
        r.path(),
        &[
            ("ns.yaml".into(), ns("shop")),
            ("a.yaml".into(), cm("a", None, "one")),
            ("b.yaml".into(), cm("b", None, "one")),
        ],
        "seed",
    );
    let importer = ImporterEnv::start(r.path(), &r.scratch("cache")).await;
    // A cluster name the repository does not mention: the importer adds it on request.
    let s = SyncerEnv::start("edge", &importer.url());
    s.wait("synced", synced_at(&c1)).await;

    // `b` removed and an invalid object added: reported; nothing applied, nothing pruned.
    git(r.path(), &["rm", "-q", "b.yaml"]);
    let c2 = commit(
        r.path(),
        &[
            ("a.yaml".into(), cm("a", None, "two")),
            (
                "bad.yaml".into(),
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n  namespace: shop\n"
                    .into(),
            ),
        ],
        "bad",
    );
    importer.fetch().await;
    let st = s
        .wait("the invalid commit reported", |st| {
            st.source_token.as_deref() == Some(c2.as_str()) && !st.errors.is_empty()
        })
        .await;
    assert!(st.has_error("KNV1036"), "{st:#?}");
    assert!(!st.synced);
    assert_eq!(st.commit.as_deref(), Some(c1.as_str()));
    assert_eq!(s.data_k("a").as_deref(), Some("one"));
    assert_eq!(s.data_k("b").as_deref(), Some("one"));
    assert_eq!(st.prunes, 0);

    // A second syncer for `edge` starting now gets the last good state and the errors
    // together: it applies the state and reports the errors.
    let late = SyncerEnv::start("edge", &importer.url());
    let st = late
        .wait("the last good state applied, the errors reported", |st| {
            st.commit.as_deref() == Some(c1.as_str()) && st.has_error("KNV1036")
        })
        .await;
    assert!(!st.synced);
    assert_eq!(st.source_token.as_deref(), Some(c2.as_str()));
    assert_eq!(late.data_k("a").as_deref(), Some("one"));
    assert_eq!(late.data_k("b").as_deref(), Some("one"));
    late.stop().await;
    // A cluster name new to the importer cannot be built from the invalid commit: the errors
    // are reported and nothing is applied.
    let new = SyncerEnv::start("new", &importer.url());
    let st = new
        .wait("the errors reported", |st| st.has_error("KNV1036"))
        .await;
    assert!(st.commit.is_none() && !st.synced, "{st:#?}");
    assert!(new.data_k("a").is_none());
    new.stop().await;

    // Fixed: applied, `b` pruned now.
    git(r.path(), &["rm", "-q", "bad.yaml"]);
    let c3 = commit(r.path(), &[], "fixed");
    importer.fetch().await;
    let st = s.wait("the fixed commit synced", synced_at(&c3)).await;
    assert!(st.errors.is_empty(), "{st:#?}");
    assert_eq!(s.data_k("a").as_deref(), Some("two"));
    assert!(s.data_k("b").is_none());
    s.stop().await;
    importer.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_importer_is_reported_retried_and_never_prunes() {
    let r = repo();
    let c1 = commit(
        r.path(),
        &[
            ("ns.yaml".into(), ns("shop")),
            ("a.yaml".into(), cm("a", None, "one")),
        ],
        "seed",
    );
    // Nothing listens yet: reported, retried, nothing applied.
    let mut importer = ImporterEnv::start(r.path(), &r.scratch("cache")).await;
    importer.stop_serving().await;
    let s = SyncerEnv::start("one", &importer.url());
    let st = s
        .wait("the unreachable importer reported twice", |st| {
            st.errors
                .iter()
                .any(|e| e.code == "KNV2004" && e.message.contains("attempt 2"))
        })
        .await;
    assert!(!st.synced);
    assert!(st.commit.is_none());
    assert!(s.data_k("a").is_none());

    // Serving: synced, the report withdrawn.
    importer.serve_again().await;
    let st = s.wait("synced", synced_at(&c1)).await;
    assert!(st.errors.is_empty(), "{st:#?}");

    // Gone again while a commit removes everything: nothing is pruned.
    importer.stop_serving().await;
    let st = s
        .wait("the outage reported", |st| st.has_error("KNV2004"))
        .await;
    assert!(
        st.errors[0].message.contains(&importer.url()),
        "{:?}",
        st.errors
    );
    assert_eq!(s.data_k("a").as_deref(), Some("one"));
    assert_eq!(st.prunes, 0);
    assert_eq!(st.commit.as_deref(), Some(c1.as_str()));

    // Back, with a new commit: applied.
    let c2 = commit(r.path(), &[("a.yaml".into(), cm("a", None, "two"))], "two");
    importer.fetch().await;
    importer.serve_again().await;
    let st = s.wait("the new commit synced", synced_at(&c2)).await;
    assert!(st.errors.is_empty(), "{st:#?}");
    assert_eq!(s.data_k("a").as_deref(), Some("two"));
    s.stop().await;
    importer.stop().await;
}

/// Sends `GET path` to `upstream`; status, ETag and body.
async fn forward(
    upstream: SocketAddr,
    path: &str,
    etag: Option<&str>,
) -> (u16, Option<String>, Vec<u8>) {
    use http_body_util::BodyExt;
    let stream = tokio::net::TcpStream::connect(upstream).await.unwrap();
    let (mut send, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let mut req = hyper::Request::builder()
        .uri(path)
        .header("host", upstream.to_string());
    if let Some(e) = etag {
        req = req.header("if-none-match", e);
    }
    let resp = send
        .send_request(
            req.body(http_body_util::Empty::<bytes::Bytes>::new())
                .unwrap(),
        )
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let etag = resp
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_string());
    let body = resp
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    (status, etag, body)
}

/// An HTTP/1.1 proxy in front of the importer that reverses the runs of the first delta it
/// passes on (so that the rebuilt state does not verify), recording every request's path.
async fn mangling_proxy(upstream: SocketAddr) -> (SocketAddr, Arc<std::sync::Mutex<Vec<String>>>) {
    use std::sync::atomic::{AtomicBool, Ordering};
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mangled = Arc::new(AtomicBool::new(false));
    let (seen2, mangled2) = (seen.clone(), mangled.clone());
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (seen, mangled) = (seen2.clone(), mangled2.clone());
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut read = BufReader::new(read);
                loop {
                    let mut head = Vec::new();
                    loop {
                        let mut line = String::new();
                        if read.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        head.push(line.trim_end().to_string());
                    }
                    let path = head[0].split_whitespace().nth(1).unwrap().to_string();
                    let if_none_match = head.iter().find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("if-none-match")
                            .then(|| v.trim().to_string())
                    });
                    seen.lock().unwrap().push(path.clone());
                    let (status, etag, mut body) =
                        forward(upstream, &path, if_none_match.as_deref()).await;
                    if let Ok(mut doc) = serde_json::from_slice::<Value>(&body)
                        && let Some(runs) = doc
                            .pointer_mut("/state/delta/runs")
                            .and_then(Value::as_array_mut)
                        && !mangled.swap(true, Ordering::SeqCst)
                    {
                        runs.reverse();
                        body = serde_json::to_vec(&doc).unwrap();
                    }
                    let etag = etag.map(|e| format!("etag: {e}\r\n")).unwrap_or_default();
                    let head = format!(
                        "HTTP/1.1 {status} -\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{etag}\r\n",
                        body.len()
                    );
                    if write.write_all(head.as_bytes()).await.is_err()
                        || write.write_all(&body).await.is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    (addr, seen)
}

/// A delta whose rebuilt state does not verify is not reported as a bad source: the syncer asks
/// for the whole state and syncs it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delta_that_does_not_verify_is_replaced_by_the_whole_state() {
    let r = repo();
    let c1 = commit(
        r.path(),
        &[
            ("ns.yaml".into(), ns("shop")),
            ("a.yaml".into(), cm("a", None, "one")),
            ("b.yaml".into(), cm("b", None, "one")),
            ("c.yaml".into(), cm("c", None, "one")),
        ],
        "seed",
    );
    let importer = ImporterEnv::start(r.path(), &r.scratch("cache")).await;
    let (proxy, seen) = mangling_proxy(importer.addr).await;
    let s = SyncerEnv::start("edge", &format!("http://{proxy}"));
    s.wait("synced", synced_at(&c1)).await;

    let c2 = commit(r.path(), &[("b.yaml".into(), cm("b", None, "two"))], "two");
    importer.fetch().await;
    let st = s.wait("the second commit synced", synced_at(&c2)).await;
    assert!(st.errors.is_empty(), "{st:#?}");
    assert_eq!(s.data_k("b").as_deref(), Some("two"));
    let seen = seen.lock().unwrap().clone();
    let first_delta = seen
        .iter()
        .position(|p| p.contains("&base="))
        .expect("the syncer asked for a delta");
    assert!(
        seen[first_delta + 1..].iter().any(|p| !p.contains("base=")),
        "after the delta that did not verify, the whole state: {seen:#?}"
    );
    s.stop().await;
    importer.stop().await;
}
