//! Desired state from a separate importer (`nomos-importer`): [`HttpSource`] long-polls
//! `GET /v1/clusters/{cluster-name}/snapshot` once per distinct cluster name and hands the
//! workers the state the importer built (no compilation in the syncer). The wire format is
//! documented in [`nomos_importer::serve`].
//!
//! * A snapshot carries the last good state of the cluster and the errors of the importer's
//!   latest attempt: the state is applied, the errors are reported in the cluster's status
//!   (as for an invalid directory or commit), and nothing is pruned because of them.
//! * Each request sends the last `ETag` in `If-None-Match` with `?wait=`: the importer answers
//!   when the cluster's snapshot changes (a new commit, new errors), or `304` after the wait.
//! * Once it holds a state, each request names it (`&base=<hash>`) and the importer answers
//!   with only the objects that changed since (a delta); the poller rebuilds and verifies the
//!   whole state, and asks for the whole state again if a delta does not fit.
//! * An unreachable or failing importer is reported (KNV2004) and retried with exponential
//!   backoff on the injected sleeper; the last good state stays in force and nothing is
//!   pruned. When the importer answers again the report is withdrawn.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::StatusCode;
use hyper::client::conn::http1::SendRequest;
use nomos_core::Code;
use nomos_core::desired::DesiredState;
use nomos_importer::serve::{ClusterSnapshot, DecodeError, MAX_CLUSTER_NAME, WireDiagnostic};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::source::short;
use crate::status::StatusError;
use crate::syncer::SyncerConfig;
use crate::worker::DesiredUpdate;

/// What a worker reads its desired state from.
pub(crate) type Feed = watch::Receiver<Option<Arc<DesiredUpdate>>>;

/// An importer's snapshot service, e.g. `http://importer.config-management-system:8080`.
#[derive(Debug, Clone)]
pub struct HttpSource {
    endpoint: Arc<Endpoint>,
    /// How long the importer may hold a request when nothing changed.
    pub wait: Duration,
    /// First wait after a failed request; doubles up to `retry_max`.
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// A request still unanswered this long after its `wait` has failed (importer hung).
    pub grace: Duration,
    /// Largest snapshot accepted, in bytes.
    pub max_body: usize,
}

#[derive(Debug)]
struct Endpoint {
    /// `host:port` to connect to (brackets removed from IPv6 literals).
    host: String,
    port: u16,
    /// The `Host` header.
    authority: String,
    /// Path prefix before `/v1/…` (no trailing slash).
    prefix: String,
    /// The URL as given (for logs and status).
    url: String,
}

/// Whether `nomos-syncer --source` treats `s` as an importer: `http://…` (a Git repository over
/// HTTP is reached with `https://`).
pub fn is_importer_url(s: &str) -> bool {
    s.trim().to_ascii_lowercase().starts_with("http://")
}

impl HttpSource {
    /// The importer at `url` (`http://host[:port][/prefix]`), with a 30 s long poll and retries
    /// from 500 ms to 30 s.
    pub fn new(url: &str) -> Result<HttpSource, crate::Error> {
        let bad = |reason: &str| crate::Error::Importer {
            url: url.to_string(),
            message: reason.to_string(),
        };
        let trimmed = url.trim();
        let lower = trimmed.to_ascii_lowercase();
        if lower.starts_with("https://") {
            return Err(bad(
                "https is not supported for the importer yet: use http:// inside the cluster network (or a TLS-terminating proxy in front of the syncer)",
            ));
        }
        let Some(rest) = lower.strip_prefix("http://").map(|_| &trimmed[7..]) else {
            return Err(bad("the importer URL must start with http://"));
        };
        let (authority, path) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
        if path.contains(['?', '#']) {
            return Err(bad("the importer URL takes no query or fragment"));
        }
        if authority.contains('@') {
            return Err(bad("the importer URL takes no user information"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| bad("unclosed '[' in the host"))?;
            match after.strip_prefix(':') {
                Some(p) => (h, Some(p)),
                None if after.is_empty() => (h, None),
                None => return Err(bad("unexpected text after the IPv6 address")),
            }
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(bad("the importer URL has no host"));
        }
        let port = match port {
            None => 80,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| bad("the port must be a number from 1 to 65535"))?,
        };
        Ok(HttpSource {
            endpoint: Arc::new(Endpoint {
                host: host.to_string(),
                port,
                authority: authority.to_string(),
                prefix: path.trim_end_matches('/').to_string(),
                url: trimmed.to_string(),
            }),
            wait: Duration::from_secs(30),
            retry_base: Duration::from_millis(500),
            retry_max: Duration::from_secs(30),
            grace: Duration::from_secs(15),
            max_body: 1 << 30,
        })
    }

    /// The URL as given.
    pub fn url(&self) -> &str {
        &self.endpoint.url
    }

    /// Start one poller per distinct name; each worker of a name reads that name's channel.
    pub(crate) fn spawn(
        self,
        names: Vec<String>,
        cfg: Arc<SyncerConfig>,
        shutdown: watch::Receiver<bool>,
    ) -> (BTreeMap<String, Feed>, Vec<JoinHandle<()>>) {
        let mut feeds = BTreeMap::new();
        let mut tasks = Vec::new();
        for name in names {
            if feeds.contains_key(&name) {
                continue;
            }
            let (tx, rx) = watch::channel(None);
            feeds.insert(name.clone(), rx);
            let poller = Poller {
                source: self.clone(),
                name,
                cfg: cfg.clone(),
                tx,
                conn: None,
                etag: None,
                last: None,
                base: None,
                failures: 0,
                reported: false,
            };
            tasks.push(tokio::spawn(poller.run(shutdown.clone())));
        }
        (feeds, tasks)
    }
}

/// What one request got.
enum Answer {
    NotModified,
    Snapshot(Box<ClusterSnapshot>, Option<String>),
}

struct Poller {
    source: HttpSource,
    name: String,
    cfg: Arc<SyncerConfig>,
    tx: watch::Sender<Option<Arc<DesiredUpdate>>>,
    conn: Option<SendRequest<Empty<Bytes>>>,
    etag: Option<String>,
    /// The update made of the last snapshot received.
    last: Option<Arc<DesiredUpdate>>,
    /// The last good state received: the base of the next delta.
    base: Option<Arc<DesiredState>>,
    failures: u32,
    /// A failure is being reported in place of `last`.
    reported: bool,
}

fn token_of(u: &DesiredUpdate) -> &str {
    match u {
        DesiredUpdate::Good { token, .. } | DesiredUpdate::Invalid { token, .. } => token,
    }
}

fn status_error(d: &WireDiagnostic) -> StatusError {
    StatusError {
        code: d.code.clone(),
        message: d.message.clone(),
        object: d.object.clone(),
    }
}

fn valid_name(name: &str) -> bool {
    name.len() <= MAX_CLUSTER_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl Poller {
    async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        use tracing::Instrument;
        let span = tracing::info_span!("importer", cluster_name = %self.name);
        async move {
            if !valid_name(&self.name) {
                self.tx.send_replace(Some(Arc::new(DesiredUpdate::Invalid {
                    token: String::new(),
                    errors: vec![StatusError::new(
                        Code::SOURCE,
                        format!(
                            "cluster name {:?} cannot be requested from the importer: use ASCII letters, digits, '.', '_' and '-' (at most {MAX_CLUSTER_NAME})",
                            self.name
                        ),
                        None,
                    )],
                })));
                return;
            }
            loop {
                let limit = self.source.wait + self.source.grace;
                let deadline = self.cfg.sleeper.sleep(limit);
                let answer = tokio::select! {
                    _ = crate::stopped(&mut shutdown) => return,
                    a = self.request() => a,
                    () = deadline => Err(format!("no answer within {limit:?}")),
                };
                match answer {
                    Ok(a) => self.on_answer(a).await,
                    Err(e) => {
                        self.conn = None;
                        self.failures += 1;
                        let wait = self
                            .source
                            .retry_base
                            .saturating_mul(2u32.saturating_pow(self.failures.saturating_sub(1).min(20)))
                            .min(self.source.retry_max);
                        tracing::warn!(url = %self.source.url(), failures = self.failures, retry_in = ?wait, error = %e, "importer request failed; keeping the last state");
                        self.report(format!(
                            "cannot get the snapshot of cluster {:?} from the importer at {}: {e} (attempt {}, retrying in {wait:?}); the last synced state stays in force",
                            self.name,
                            self.source.url(),
                            self.failures
                        ));
                        tokio::select! {
                            _ = crate::stopped(&mut shutdown) => return,
                            () = self.cfg.sleeper.sleep(wait) => {}
                        }
                    }
                }
            }
        }
        .instrument(span)
        .await
    }

    /// Report a failure to reach the importer (the state the workers have stays).
    fn report(&mut self, message: String) {
        let token = self
            .last
            .as_deref()
            .map(token_of)
            .unwrap_or_default()
            .to_string();
        self.reported = true;
        self.tx.send_replace(Some(Arc::new(DesiredUpdate::Invalid {
            token,
            errors: vec![StatusError::new(Code::SOURCE, message, None)],
        })));
    }

    async fn on_answer(&mut self, answer: Answer) {
        if self.failures > 0 {
            tracing::info!(url = %self.source.url(), after = self.failures, "importer reachable again");
        }
        self.failures = 0;
        match answer {
            Answer::NotModified => {}
            Answer::Snapshot(mut doc, etag) => {
                let cfg = self.cfg.clone();
                let base = self.base.clone();
                // Large snapshots take milliseconds to verify: off the async workers.
                let update =
                    tokio::task::spawn_blocking(move || {
                        let delta = doc.state.as_ref().is_some_and(|s| s.delta.is_some());
                        doc.resolve_delta(base.as_deref())?;
                        match doc.verified_state(&cfg.sync, cfg.format) {
                            // A rebuilt state that does not verify is a delta that did not fit
                            // (not a bad source): ask for the whole state instead of reporting it.
                            Err(
                                e @ (DecodeError::ObjectHash { .. } | DecodeError::Hash { .. }),
                            ) if delta => Err(e),
                            verified => Ok(update_of(&doc, verified)),
                        }
                    })
                    .await
                    .unwrap_or_else(|e| {
                        Ok(Some(DesiredUpdate::Invalid {
                            token: String::new(),
                            errors: vec![StatusError::new(
                                Code::SOURCE,
                                format!("checking the importer's snapshot panicked: {e}"),
                                None,
                            )],
                        }))
                    });
                let update = match update {
                    Ok(u) => u,
                    Err(e) => {
                        // Not an error of the source: ask again for the whole state at once.
                        tracing::warn!(error = %e, "unusable delta from the importer");
                        self.etag = None;
                        self.base = None;
                        return;
                    }
                };
                self.etag = etag;
                if let Some(DesiredUpdate::Good { state, .. }) = &update {
                    self.base = Some(state.clone());
                }
                if let Some(u) = update {
                    let u = Arc::new(u);
                    self.last = Some(u.clone());
                    self.reported = false;
                    self.tx.send_replace(Some(u));
                    return;
                }
            }
        }
        if self.reported {
            // Withdraw the failure report: back to what the importer last said.
            self.reported = false;
            let u = self.last.clone().unwrap_or_else(|| {
                Arc::new(DesiredUpdate::Invalid {
                    token: String::new(),
                    errors: Vec::new(),
                })
            });
            self.tx.send_replace(Some(u));
        }
    }

    async fn connect(&self) -> Result<SendRequest<Empty<Bytes>>, String> {
        let ep = &self.source.endpoint;
        let stream = tokio::net::TcpStream::connect((ep.host.as_str(), ep.port))
            .await
            .map_err(|e| format!("connecting to {}:{}: {e}", ep.host, ep.port))?;
        let _ = stream.set_nodelay(true);
        let (send, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(|e| format!("HTTP handshake with {}: {e}", ep.authority))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(send)
    }

    async fn request(&mut self) -> Result<Answer, String> {
        if self.conn.as_ref().is_none_or(|c| c.is_closed()) {
            self.conn = Some(self.connect().await?);
        }
        let ep = self.source.endpoint.clone();
        let mut req = hyper::Request::builder()
            .method("GET")
            .uri(format!(
                "{}/v1/clusters/{}/snapshot?wait={}ms{}",
                ep.prefix,
                self.name,
                self.source.wait.as_millis(),
                self.base
                    .as_ref()
                    .map(|b| format!("&base={}", b.hash))
                    .unwrap_or_default()
            ))
            .header(hyper::header::HOST, ep.authority.as_str())
            .header(hyper::header::ACCEPT, "application/json");
        if let Some(e) = &self.etag {
            req = req.header(hyper::header::IF_NONE_MATCH, e.as_str());
        }
        let req = req
            .body(Empty::new())
            .map_err(|e| format!("building the request: {e}"))?;
        let conn = self.conn.as_mut().expect("connected above");
        conn.ready()
            .await
            .map_err(|e| format!("connection to {}: {e}", ep.authority))?;
        let resp = conn
            .send_request(req)
            .await
            .map_err(|e| format!("request to {}: {e}", ep.authority))?;
        let status = resp.status();
        let etag = resp
            .headers()
            .get(hyper::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = Limited::new(resp.into_body(), self.source.max_body)
            .collect()
            .await
            .map_err(|e| format!("reading the answer: {e}"))?
            .to_bytes();
        match status {
            StatusCode::NOT_MODIFIED => Ok(Answer::NotModified),
            StatusCode::OK => {
                let doc: ClusterSnapshot = serde_json::from_slice(&body)
                    .map_err(|e| format!("the importer's answer is not a snapshot: {e}"))?;
                Ok(Answer::Snapshot(Box::new(doc), etag))
            }
            other => {
                let text = String::from_utf8_lossy(&body);
                let text = text.trim();
                let text: String = text.chars().take(300).collect();
                Err(format!("the importer answered {other}: {text}"))
            }
        }
    }
}

/// The update a snapshot means for the workers (`None`: nothing to say yet), given the outcome
/// of [`ClusterSnapshot::verified_state`] for it.
fn update_of(
    doc: &ClusterSnapshot,
    verified: Result<(&str, &Arc<DesiredState>), DecodeError>,
) -> Option<DesiredUpdate> {
    let import_errors: Vec<StatusError> = doc.import.errors.iter().map(status_error).collect();
    let attempted = doc.import.commit.clone();
    match verified {
        Ok((commit, state)) => {
            let warnings = doc
                .state
                .as_ref()
                .map(|s| s.warnings.iter().map(status_error).collect())
                .unwrap_or_default();
            tracing::info!(commit = %short(commit), objects = state.objects.len(), import_errors = import_errors.len(), "snapshot from the importer");
            let newer_invalid = (!import_errors.is_empty()).then(|| {
                (
                    attempted.unwrap_or_else(|| commit.to_string()),
                    import_errors,
                )
            });
            Some(DesiredUpdate::Good {
                token: commit.to_string(),
                state: state.clone(),
                warnings,
                newer_invalid,
            })
        }
        Err(DecodeError::NoState) => {
            if import_errors.is_empty() {
                tracing::info!("the importer has no state for this cluster yet");
                return None;
            }
            tracing::warn!(
                errors = import_errors.len(),
                "the importer has only errors for this cluster"
            );
            Some(DesiredUpdate::Invalid {
                token: attempted.unwrap_or_default(),
                errors: import_errors,
            })
        }
        Err(e) => {
            tracing::warn!(error = %e, "unusable snapshot from the importer");
            let mut errors = vec![StatusError::new(Code::SOURCE, e.to_string(), None)];
            errors.extend(import_errors);
            Some(DesiredUpdate::Invalid {
                token: doc
                    .state
                    .as_ref()
                    .map(|s| s.commit.clone())
                    .or(attempted)
                    .unwrap_or_default(),
                errors,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let s = HttpSource::new("http://importer:8080").unwrap();
        assert_eq!(
            (
                s.endpoint.host.as_str(),
                s.endpoint.port,
                s.endpoint.prefix.as_str()
            ),
            ("importer", 8080, "")
        );
        let s = HttpSource::new("http://importer.ns.svc/nomos/").unwrap();
        assert_eq!(
            (s.endpoint.port, s.endpoint.prefix.as_str()),
            (80, "/nomos")
        );
        let s = HttpSource::new("HTTP://[::1]:9000").unwrap();
        assert_eq!((s.endpoint.host.as_str(), s.endpoint.port), ("::1", 9000));
        assert_eq!(s.endpoint.authority, "[::1]:9000");
        for bad in [
            "https://importer",
            "importer:8080",
            "http://",
            "http://u:p@importer",
            "http://importer:0",
            "http://importer:x",
            "http://importer/?a=b",
        ] {
            assert!(HttpSource::new(bad).is_err(), "{bad}");
        }
        assert!(is_importer_url("http://x"));
        assert!(!is_importer_url("https://github.com/org/repo"));
        assert!(!is_importer_url("file:///x"));
    }
}
