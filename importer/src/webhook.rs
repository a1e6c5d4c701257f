//! Push notifications from Git hosts (`POST /webhook` on the snapshot service): a verified push
//! makes the importer fetch at once instead of at its next poll.
//!
//! Accepted deliveries:
//!
//! * **GitHub** (and Gitea/Forgejo, which send the same headers): `X-Hub-Signature-256:
//!   sha256=<hex>` where `<hex>` is the HMAC-SHA256 of the raw body keyed with the shared
//!   secret. `X-GitHub-Event: push` triggers a fetch; `ping` and other events are acknowledged
//!   (`200`) and ignored. The legacy SHA-1 `X-Hub-Signature` alone is refused.
//! * **GitLab**: `X-Gitlab-Token: <secret>`. `X-Gitlab-Event: Push Hook` or `Tag Push Hook`
//!   triggers a fetch; other events are ignored.
//!
//! Signatures and tokens are compared in constant time. A missing or wrong signature gets
//! `401` and a log line naming the provider and the reason, never the secret or the header's
//! value. When the importer follows a branch (no revision pinned) and the JSON payload names a
//! `ref`, pushes to other refs are acknowledged and ignored. A trigger is answered `202`.

use hyper::HeaderMap;
use sha2::{Digest, Sha256};

/// A shared secret, never printed.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// The secret as read from a file: surrounding whitespace (a trailing newline) is removed.
    pub fn new(bytes: impl AsRef<[u8]>) -> Secret {
        Secret(bytes.as_ref().trim_ascii().to_vec())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Webhook settings.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub secret: Secret,
    /// The branch the importer follows; pushes naming another ref are ignored. `None` (a pinned
    /// revision): every push triggers a fetch.
    pub branch: Option<String>,
    /// Largest body read, in bytes (GitHub caps payloads at 25 MiB).
    pub max_body: usize,
}

impl WebhookConfig {
    pub fn new(secret: Secret, branch: Option<String>) -> WebhookConfig {
        WebhookConfig {
            secret,
            branch,
            max_body: 25 << 20,
        }
    }
}

/// What to do with a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A verified push: fetch now.
    Trigger {
        provider: &'static str,
        /// The ref the payload names, if it names one.
        reference: Option<String>,
    },
    /// Verified, but nothing to fetch (another event, another branch).
    Ignored {
        provider: &'static str,
        reason: String,
    },
    /// Missing or wrong signature.
    Unauthorized {
        provider: &'static str,
        reason: String,
    },
}

/// HMAC-SHA256 (RFC 2104) of `message` keyed with `key`.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(Sha256::digest(key).as_slice());
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    inner.update(message);
    let inner = inner.finalize();
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.as_slice());
    let mut out = [0u8; 32];
    out.copy_from_slice(outer.finalize().as_slice());
    out
}

/// Equality whose time depends on the lengths only, not on where the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// Check a delivery's signature and decide whether it asks for a fetch.
pub fn check(cfg: &WebhookConfig, headers: &HeaderMap, body: &[u8]) -> Verdict {
    if let Some(sig) = headers.get("x-hub-signature-256") {
        let provider = "github";
        let unauthorized = |reason: &str| Verdict::Unauthorized {
            provider,
            reason: reason.into(),
        };
        let Some(hex) = sig
            .to_str()
            .ok()
            .and_then(|s| s.trim().strip_prefix("sha256="))
        else {
            return unauthorized("X-Hub-Signature-256 must be sha256=<hex>");
        };
        let Some(given) = decode_hex(hex) else {
            return unauthorized("X-Hub-Signature-256 must be sha256=<hex>");
        };
        let expected = hmac_sha256(&cfg.secret.0, body);
        if cfg.secret.is_empty() || !constant_time_eq(&given, &expected) {
            return unauthorized("signature mismatch (check the webhook secret)");
        }
        return match header(headers, "x-github-event").unwrap_or("") {
            "push" => push(cfg, provider, body),
            other => Verdict::Ignored {
                provider,
                reason: format!("event {other:?} is not a push"),
            },
        };
    }
    if let Some(token) = headers.get("x-gitlab-token") {
        let provider = "gitlab";
        if cfg.secret.is_empty() || !constant_time_eq(token.as_bytes(), &cfg.secret.0) {
            return Verdict::Unauthorized {
                provider,
                reason: "token mismatch (check the webhook secret)".into(),
            };
        }
        return match header(headers, "x-gitlab-event").unwrap_or("") {
            "Push Hook" | "Tag Push Hook" => push(cfg, provider, body),
            other => Verdict::Ignored {
                provider,
                reason: format!("event {other:?} is not a push"),
            },
        };
    }
    let reason = if headers.contains_key("x-hub-signature") {
        "only X-Hub-Signature-256 (HMAC-SHA256) signatures are accepted, not SHA-1"
    } else {
        "missing signature (X-Hub-Signature-256 or X-Gitlab-Token)"
    };
    Verdict::Unauthorized {
        provider: "unknown",
        reason: reason.into(),
    }
}

/// A verified push: ignored when it names a ref other than the followed branch.
fn push(cfg: &WebhookConfig, provider: &'static str, body: &[u8]) -> Verdict {
    let reference = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("ref")?.as_str().map(str::to_string));
    if let (Some(branch), Some(r)) = (&cfg.branch, &reference) {
        let wanted = format!("refs/heads/{branch}");
        if *r != wanted && r != branch {
            return Verdict::Ignored {
                provider,
                reason: format!("push to {r}, not {wanted}"),
            };
        }
    }
    Verdict::Trigger {
        provider,
        reference,
    }
}

/// Serve only `POST /webhook` on `addr` (for a process that fetches Git itself, such as
/// `nomos-syncer` with a Git source): a verified push calls `on_push`. Answers like the snapshot
/// service's endpoint (`202` fetching, `200` ignored, `401` refused, `413` too large). Runs until
/// `shutdown` turns true; returns the bound address.
pub async fn serve(
    addr: std::net::SocketAddr,
    cfg: WebhookConfig,
    on_push: impl Fn() + Send + Sync + 'static,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<std::net::SocketAddr> {
    use http_body_util::{BodyExt, Full, Limited};
    use hyper::{Method, Response, StatusCode};
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let shared = std::sync::Arc::new((cfg, on_push));
    tokio::spawn(async move {
        loop {
            let (stream, peer) = tokio::select! {
                _ = async { while !*shutdown.borrow_and_update() { if shutdown.changed().await.is_err() { return; } } } => return,
                r = listener.accept() => match r { Ok(s) => s, Err(_) => continue },
            };
            let shared = shared.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let shared = shared.clone();
                        async move {
                            let (cfg, on_push) = &*shared;
                            let reply = |code: StatusCode, text: String| {
                                let mut r = Response::new(Full::new(bytes::Bytes::from(text)));
                                *r.status_mut() = code;
                                Ok::<_, std::convert::Infallible>(r)
                            };
                            if req.uri().path() != "/webhook" {
                                return reply(
                                    StatusCode::NOT_FOUND,
                                    "not found (POST /webhook)\n".into(),
                                );
                            }
                            if req.method() != Method::POST {
                                return reply(
                                    StatusCode::METHOD_NOT_ALLOWED,
                                    "method not allowed\n".into(),
                                );
                            }
                            let (parts, body) = req.into_parts();
                            let Ok(body) = Limited::new(body, cfg.max_body).collect().await else {
                                return reply(
                                    StatusCode::PAYLOAD_TOO_LARGE,
                                    format!("the payload is larger than {} bytes\n", cfg.max_body),
                                );
                            };
                            match check(cfg, &parts.headers, &body.to_bytes()) {
                                Verdict::Trigger {
                                    provider,
                                    reference,
                                } => {
                                    tracing::info!(peer = %peer, provider, reference = reference.as_deref().unwrap_or("-"), "webhook: push; fetching now");
                                    on_push();
                                    reply(StatusCode::ACCEPTED, "fetching\n".into())
                                }
                                Verdict::Ignored { provider, reason } => {
                                    tracing::info!(peer = %peer, provider, reason = %reason, "webhook ignored");
                                    reply(StatusCode::OK, format!("ignored: {reason}\n"))
                                }
                                Verdict::Unauthorized { provider, reason } => {
                                    tracing::warn!(peer = %peer, provider, reason = %reason, "webhook rejected");
                                    reply(StatusCode::UNAUTHORIZED, format!("{reason}\n"))
                                }
                            }
                        }
                    },
                );
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, svc)
                    .await;
            });
        }
    });
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test case 2.
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than the block.
        assert_eq!(
            hex(&hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn github_example_signature() {
        // GitHub's documented example ("Validating webhook deliveries").
        assert_eq!(
            hex(&hmac_sha256(
                b"It's a Secret to Everybody",
                b"Hello, World!"
            )),
            "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
    }

    fn cfg() -> WebhookConfig {
        WebhookConfig::new(Secret::new("s3cret\n"), Some("main".into()))
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn github_push_to_the_branch_triggers() {
        let body = br#"{"ref":"refs/heads/main"}"#;
        let sig = format!("sha256={}", hex(&hmac_sha256(b"s3cret", body)));
        let v = check(
            &cfg(),
            &headers(&[("x-hub-signature-256", &sig), ("x-github-event", "push")]),
            body,
        );
        assert_eq!(
            v,
            Verdict::Trigger {
                provider: "github",
                reference: Some("refs/heads/main".into())
            }
        );
        // Another branch: verified, ignored.
        let body = br#"{"ref":"refs/heads/dev"}"#;
        let sig = format!("sha256={}", hex(&hmac_sha256(b"s3cret", body)));
        let v = check(
            &cfg(),
            &headers(&[("x-hub-signature-256", &sig), ("x-github-event", "push")]),
            body,
        );
        assert!(matches!(v, Verdict::Ignored { .. }), "{v:?}");
        // Ping: ignored.
        let v = check(
            &cfg(),
            &headers(&[("x-hub-signature-256", &sig), ("x-github-event", "ping")]),
            body,
        );
        assert!(matches!(v, Verdict::Ignored { .. }), "{v:?}");
    }

    #[test]
    fn bad_signatures_are_unauthorized() {
        let body = br#"{"ref":"refs/heads/main"}"#;
        let wrong = format!("sha256={}", hex(&hmac_sha256(b"other", body)));
        for h in [
            headers(&[("x-hub-signature-256", &wrong), ("x-github-event", "push")]),
            headers(&[("x-hub-signature-256", "sha256=zz")]),
            headers(&[("x-hub-signature-256", "deadbeef")]),
            headers(&[("x-hub-signature", "sha1=00")]),
            headers(&[("x-gitlab-token", "s3cre"), ("x-gitlab-event", "Push Hook")]),
            headers(&[("x-github-event", "push")]),
        ] {
            let v = check(&cfg(), &h, body);
            let Verdict::Unauthorized { reason, .. } = &v else {
                panic!("{h:?} -> {v:?}")
            };
            assert!(!reason.contains("s3cret"), "{reason}");
        }
        // An empty secret never matches (the binary refuses one anyway).
        let empty = WebhookConfig::new(Secret::new(""), None);
        let sig = format!("sha256={}", hex(&hmac_sha256(b"", body)));
        assert!(matches!(
            check(
                &empty,
                &headers(&[("x-hub-signature-256", &sig), ("x-github-event", "push")]),
                body
            ),
            Verdict::Unauthorized { .. }
        ));
    }

    #[test]
    fn gitlab_token() {
        let body = br#"{"ref":"refs/heads/main"}"#;
        let v = check(
            &cfg(),
            &headers(&[
                ("x-gitlab-token", "s3cret"),
                ("x-gitlab-event", "Push Hook"),
            ]),
            body,
        );
        assert!(
            matches!(
                v,
                Verdict::Trigger {
                    provider: "gitlab",
                    ..
                }
            ),
            "{v:?}"
        );
        let v = check(
            &cfg(),
            &headers(&[
                ("x-gitlab-token", "s3cret"),
                ("x-gitlab-event", "Merge Request Hook"),
            ]),
            body,
        );
        assert!(matches!(v, Verdict::Ignored { .. }), "{v:?}");
    }

    #[test]
    fn constant_time_eq_is_eq() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
