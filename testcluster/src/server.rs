//! Serving a cluster over plain HTTP/1.1 on a TCP socket.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::Request;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::Error;
use crate::cluster::{Cluster, Shared};
use crate::kubeconfig::kubeconfig;

/// A running server. Dropping it stops the server.
#[derive(Debug)]
pub struct ServeHandle {
    addr: SocketAddr,
    name: String,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl ServeHandle {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kubeconfig (YAML) for this server alone, with the cluster's name as context.
    pub fn kubeconfig(&self) -> String {
        kubeconfig(&[(self.name.clone(), self.url())])
    }

    /// Stops accepting, closes every connection and waits for the server task.
    pub async fn shutdown(mut self) {
        self.stop.send_replace(true);
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for ServeHandle {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

impl Cluster {
    /// Serves the cluster on `addr` (use port 0 for an ephemeral port) until the handle is
    /// dropped or shut down. Must be called within a Tokio runtime.
    pub async fn serve(&self, addr: SocketAddr) -> Result<ServeHandle, Error> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (stop, stop_rx) = watch::channel(false);
        let shared = self.shared.clone();
        let task = tokio::spawn(accept_loop(shared, listener, addr, stop_rx));
        tracing::info!(cluster = %self.name(), %addr, "serving");
        Ok(ServeHandle {
            addr,
            name: self.name().to_string(),
            stop,
            task: Some(task),
        })
    }
}

async fn accept_loop(
    shared: Arc<Shared>,
    listener: TcpListener,
    addr: SocketAddr,
    mut stop: watch::Receiver<bool>,
) {
    let mut reachable = shared.faults.reachable_rx();
    let mut listener = Some(listener);
    let mut conns = JoinSet::new();
    loop {
        if *stop.borrow() {
            break;
        }
        let up = *reachable.borrow_and_update();
        if !up && listener.is_some() {
            listener = None;
            conns.abort_all();
            tracing::info!(cluster = %shared.name, "unreachable (injected fault)");
        } else if up && listener.is_none() {
            listener = rebind(addr).await;
            tracing::info!(cluster = %shared.name, ok = listener.is_some(), "reachable again");
        }
        match &listener {
            Some(l) => {
                tokio::select! {
                    r = l.accept() => {
                        if let Ok((stream, _)) = r {
                            let _ = stream.set_nodelay(true);
                            conns.spawn(connection(shared.clone(), stream));
                        }
                    }
                    _ = stop.changed() => {}
                    _ = reachable.changed() => {}
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                }
            }
            None => {
                tokio::select! {
                    _ = stop.changed() => {}
                    _ = reachable.changed() => {}
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                }
            }
        }
    }
    conns.abort_all();
    while conns.join_next().await.is_some() {}
}

async fn rebind(addr: SocketAddr) -> Option<TcpListener> {
    for _ in 0..100 {
        if let Ok(l) = TcpListener::bind(addr).await {
            return Some(l);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

async fn connection(shared: Arc<Shared>, stream: tokio::net::TcpStream) {
    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
        let shared = shared.clone();
        async move {
            let (parts, body) = req.into_parts();
            let resp = match crate::service::read_body(body).await {
                Ok(body) => {
                    let req = crate::router::Req::new(
                        parts.method,
                        &parts.uri,
                        parts.headers,
                        body,
                        false,
                    );
                    crate::router::handle(&shared, req).await
                }
                Err(e) => crate::router::error_response(&crate::status::ApiError::bad_request(
                    format!("reading the request body: {e}"),
                )),
            };
            Ok::<_, Infallible>(resp)
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), svc);
    if let Err(e) = conn.await {
        tracing::trace!(error = %e, "connection ended");
    }
}
