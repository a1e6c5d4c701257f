//! Watch streams: newline-delimited `WatchEvent` JSON over a chunked response.

use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use serde_json::json;
use tokio::sync::{broadcast, mpsc};

use crate::body::{Body, BodyError, Chunk};
use crate::cluster::Shared;
use crate::meta::{FieldSelector, LabelSelector, field_string};
use crate::resources::ResourceInfo;
use crate::status::ApiError;
use crate::store::{Backlog, Event, EventType, Obj};

/// What a watch request asked for.
#[derive(Debug, Clone)]
pub(crate) struct WatchParams {
    pub namespace: Option<String>,
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    /// Events after this resourceVersion; `None`: the current state first.
    pub since: Option<u64>,
    pub send_initial_events: bool,
    pub bookmarks: bool,
    pub timeout: Duration,
}

/// Whether an object passes the namespace and selectors of a request.
pub(crate) fn selected(
    obj: &Obj,
    ns: Option<&str>,
    labels: &LabelSelector,
    fields: &FieldSelector,
) -> bool {
    if ns.is_some_and(|ns| obj.namespace != ns) {
        return false;
    }
    if !labels.is_empty() && !labels.matches(|k| obj.label(k)) {
        return false;
    }
    if fields.is_empty() {
        return true;
    }
    let full = fields.needs_object().then(|| obj.value());
    fields.matches(|path| match path {
        "metadata.name" => Some(obj.name.clone()),
        "metadata.namespace" => Some(obj.namespace.clone()),
        other => full.as_ref().and_then(|v| field_string(v, other)),
    })
}

/// The object as served at the requested version.
pub(crate) fn render(obj: &Obj, info: &ResourceInfo) -> Bytes {
    let av = info.api_version();
    if obj.api_version == av {
        return obj.json.clone();
    }
    let mut v = obj.value();
    v["apiVersion"] = json!(av);
    Bytes::from(serde_json::to_vec(&v).unwrap_or_default())
}

fn line(kind: &str, object: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(object.len() + 32);
    b.put_slice(b"{\"type\":\"");
    b.put_slice(kind.as_bytes());
    b.put_slice(b"\",\"object\":");
    b.put_slice(object);
    b.put_slice(b"}\n");
    b.freeze()
}

fn bookmark(info: &ResourceInfo, rv: u64, initial_end: bool) -> Bytes {
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if initial_end {
        meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    let obj = json!({"kind": info.kind, "apiVersion": info.api_version(), "metadata": meta});
    line("BOOKMARK", obj.to_string().as_bytes())
}

fn error_line(e: &ApiError) -> Bytes {
    line("ERROR", e.to_status().to_string().as_bytes())
}

fn event_line(ev: &Event, p: &WatchParams, info: &ResourceInfo) -> Option<Bytes> {
    if ev.resource.group != info.group || ev.resource.resource != info.plural {
        return None;
    }
    let ns = p.namespace.as_deref();
    let now = selected(&ev.obj, ns, &p.labels, &p.fields);
    let kind = match ev.kind {
        EventType::Added => now.then_some("ADDED")?,
        EventType::Deleted => now.then_some("DELETED")?,
        EventType::Modified => {
            let before = ev
                .prev
                .as_ref()
                .is_some_and(|o| selected(o, ns, &p.labels, &p.fields));
            match (before, now) {
                (true, true) => "MODIFIED",
                (false, true) => "ADDED",
                (true, false) => "DELETED",
                (false, false) => return None,
            }
        }
    };
    Some(line(kind, &render(&ev.obj, info)))
}

fn single_error(e: &ApiError) -> Body {
    let (tx, rx) = mpsc::channel(1);
    let _ = tx.try_send(Ok(error_line(e)));
    Body::stream(rx)
}

/// Starts a watch and returns the streamed body.
pub(crate) fn start(shared: &Arc<Shared>, info: Arc<ResourceInfo>, p: WatchParams) -> Body {
    if shared.faults.take_expired_watch() {
        return single_error(&ApiError::expired(
            "too old resource version (injected fault)",
        ));
    }
    let since = if p.send_initial_events { None } else { p.since };
    let (start_rv, backlog, rx) = match shared.store.subscribe(&info.key(), since) {
        Ok(x) => x,
        Err(c) => {
            return single_error(&ApiError::expired(format!(
                "too old resource version: {} ({})",
                p.since.unwrap_or(0),
                c.oldest + 1
            )));
        }
    };
    let (tx, body_rx) = mpsc::channel::<Chunk>(256);
    let drops = shared.faults.drops_rx();
    let interval = shared.bookmark_interval;
    tokio::spawn(run(info, p, start_rv, backlog, rx, tx, drops, interval));
    Body::stream(body_rx)
}

#[allow(clippy::too_many_arguments)]
async fn run(
    info: Arc<ResourceInfo>,
    p: WatchParams,
    start_rv: u64,
    backlog: Backlog,
    mut rx: broadcast::Receiver<Arc<Event>>,
    tx: mpsc::Sender<Chunk>,
    mut drops: tokio::sync::watch::Receiver<u64>,
    bookmark_interval: Duration,
) {
    drops.mark_unchanged();
    let deadline = tokio::time::Instant::now() + p.timeout;
    let ns = p.namespace.as_deref();
    match backlog {
        Backlog::Objects(objs) => {
            for o in objs {
                if selected(&o, ns, &p.labels, &p.fields)
                    && tx
                        .send(Ok(line("ADDED", &render(&o, &info))))
                        .await
                        .is_err()
                {
                    return;
                }
            }
        }
        Backlog::Events(evs) => {
            for ev in evs {
                if let Some(l) = event_line(&ev, &p, &info)
                    && tx.send(Ok(l)).await.is_err()
                {
                    return;
                }
            }
        }
    }
    if p.send_initial_events && tx.send(Ok(bookmark(&info, start_rv, true))).await.is_err() {
        return;
    }
    let mut last_rv = start_rv;
    let mut ticker = tokio::time::interval_at(
        tokio::time::Instant::now() + bookmark_interval,
        bookmark_interval,
    );
    loop {
        tokio::select! {
            r = rx.recv() => match r {
                Ok(ev) => {
                    last_rv = ev.rv;
                    if let Some(l) = event_line(&ev, &p, &info)
                        && tx.send(Ok(l)).await.is_err()
                    {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let e = ApiError::expired("the watcher fell behind; too old resource version");
                    let _ = tx.send(Ok(error_line(&e))).await;
                    return;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = tokio::time::sleep_until(deadline) => return,
            _ = ticker.tick(), if p.bookmarks => {
                if tx.send(Ok(bookmark(&info, last_rv, false))).await.is_err() {
                    return;
                }
            }
            _ = drops.changed() => {
                let _ = tx.send(Err(BodyError)).await;
                return;
            }
            _ = tx.closed() => return,
        }
    }
}
