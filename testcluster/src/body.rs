//! The response body: a complete buffer, or a stream of chunks (watches).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tokio::sync::mpsc;

/// A stream chunk, or an abort (the connection is then cut without a clean end).
pub type Chunk = Result<Bytes, BodyError>;

/// The body of every response the server produces.
#[derive(Debug)]
pub struct Body {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Full(Option<Bytes>),
    Stream(mpsc::Receiver<Chunk>),
}

/// A streamed body was cut on purpose (a dropped watch) or its producer failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the watch stream was dropped")]
pub struct BodyError;

impl Body {
    /// A complete body.
    pub fn full(b: impl Into<Bytes>) -> Self {
        Self {
            kind: Kind::Full(Some(b.into())),
        }
    }

    /// An empty body.
    pub fn empty() -> Self {
        Self {
            kind: Kind::Full(None),
        }
    }

    /// A streamed body fed by a channel; it ends when every sender is dropped.
    pub fn stream(rx: mpsc::Receiver<Chunk>) -> Self {
        Self {
            kind: Kind::Stream(rx),
        }
    }

    /// The bytes of a complete body (`None` for a stream).
    pub fn into_full(self) -> Option<Bytes> {
        match self.kind {
            Kind::Full(b) => Some(b.unwrap_or_default()),
            Kind::Stream(_) => None,
        }
    }

    /// Collects a complete body (a streamed body: until it ends).
    pub async fn collect(self) -> Result<Bytes, BodyError> {
        match self.kind {
            Kind::Full(b) => Ok(b.unwrap_or_default()),
            Kind::Stream(mut rx) => {
                let mut out = Vec::new();
                while let Some(c) = rx.recv().await {
                    out.extend_from_slice(&c?);
                }
                Ok(out.into())
            }
        }
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        match &mut self.kind {
            Kind::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Kind::Stream(rx) => match rx.poll_recv(cx) {
                Poll::Ready(Some(Ok(b))) => Poll::Ready(Some(Ok(Frame::data(b)))),
                Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(&self.kind, Kind::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Kind::Full(None) => SizeHint::with_exact(0),
            Kind::Stream(_) => SizeHint::default(),
        }
    }
}
