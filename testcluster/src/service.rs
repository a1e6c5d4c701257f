//! The cluster as a `tower::Service`, so a test can build a `kube::Client` without a socket.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::BodyExt;

use crate::body::Body;
use crate::cluster::{Cluster, Shared};

/// The error of the in-process service: the cluster is unreachable, or the request body
/// could not be read.
pub type ServiceError = Box<dyn std::error::Error + Send + Sync>;

/// A `tower::Service<http::Request<B>>` answering like the cluster's HTTP endpoint.
///
/// ```no_run
/// # async fn f() {
/// let cluster = nomos_testcluster::Cluster::new();
/// let svc = cluster.service();
/// // let client = kube::Client::new(svc, "default");
/// # let _ = svc;
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ClusterService {
    shared: Arc<Shared>,
}

impl Cluster {
    /// The in-process service of this cluster.
    pub fn service(&self) -> ClusterService {
        ClusterService {
            shared: self.shared.clone(),
        }
    }
}

/// Reads a whole request body.
pub(crate) async fn read_body<B>(body: B) -> Result<Bytes, ServiceError>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<ServiceError>,
{
    Ok(body.collect().await.map_err(Into::into)?.to_bytes())
}

impl<B> tower_service::Service<Request<B>> for ClusterService
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<ServiceError>,
{
    type Response = Response<Body>;
    type Error = ServiceError;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, ServiceError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), ServiceError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let shared = self.shared.clone();
        Box::pin(async move {
            if !shared.faults.is_reachable() {
                return Err(Box::new(std::io::Error::new(
                    std::io::ErrorKind::ConnectionRefused,
                    format!("cluster {} is unreachable (injected fault)", shared.name),
                )) as ServiceError);
            }
            let (parts, body) = req.into_parts();
            let body = read_body(body).await?;
            let req = crate::router::Req::new(parts.method, &parts.uri, parts.headers, body, false);
            Ok(crate::router::handle(&shared, req).await)
        })
    }
}
