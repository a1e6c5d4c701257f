//! Fetching a syncer's `/status` and `/metrics` over plain HTTP/1.1 (what the standalone
//! monitor aggregates).

use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;

use crate::metrics::StatusDocument;
use crate::{Error, Result};

/// GET `base` + `path` (`base`: `http://host:port`, a trailing `/` is fine) within `timeout`;
/// the body of a 200 response.
pub async fn get(base: &str, path: &str, timeout: Duration) -> Result<String> {
    let url = format!("{}{}", base.trim_end_matches('/'), path);
    let fail = |message: String| Error::Http {
        url: url.clone(),
        message,
    };
    let uri: hyper::Uri = url.parse().map_err(|e| fail(format!("invalid URL: {e}")))?;
    if uri.scheme_str() != Some("http") {
        return Err(fail(
            "only http:// URLs are supported (the syncer serves plain HTTP)".into(),
        ));
    }
    let host = uri
        .host()
        .ok_or_else(|| fail("the URL has no host".into()))?
        .to_string();
    let port = uri.port_u16().unwrap_or(80);
    let authority = uri
        .authority()
        .map(|a| a.to_string())
        .unwrap_or_else(|| host.clone());
    let work = async {
        let stream = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| fail(format!("connecting: {e}")))?;
        let io = hyper_util::rt::TokioIo::new(stream);
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| fail(format!("HTTP handshake: {e}")))?;
        let conn = tokio::spawn(conn);
        let req = hyper::Request::get(uri.clone())
            .header(hyper::header::HOST, authority)
            .body(Empty::<Bytes>::new())
            .map_err(|e| fail(format!("building the request: {e}")))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| fail(format!("request: {e}")))?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| fail(format!("reading the body: {e}")))?
            .to_bytes();
        conn.abort();
        let text = String::from_utf8_lossy(&body).into_owned();
        if !status.is_success() {
            return Err(fail(format!("HTTP {status}: {}", text.trim())));
        }
        Ok(text)
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| fail(format!("no answer within {timeout:?}")))?
}

/// A syncer's `/status` document.
pub async fn status(base: &str, timeout: Duration) -> Result<StatusDocument> {
    let text = get(base, "/status", timeout).await?;
    serde_json::from_str(&text).map_err(|e| Error::Http {
        url: format!("{}/status", base.trim_end_matches('/')),
        message: format!("not a status document: {e}"),
    })
}

/// A syncer's `/metrics` text.
pub async fn metrics(base: &str, timeout: Duration) -> Result<String> {
    get(base, "/metrics", timeout).await
}
