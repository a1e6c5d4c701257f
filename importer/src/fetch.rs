//! [`Fetcher`]: a bare mirror of the remote in a cache directory, fetched incrementally with
//! gix, and commits read from its object database without a working copy.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use gix::ObjectId;
use gix::bstr::ByteSlice;
use gix::objs::tree::EntryKind;
use gix::remote::fetch::refmap::Source as RefSource;
use nomos_core::{SourceFormat, read::wants_file};
use sha2::{Digest, Sha256};

/// Whether the revision can be fetched at depth 1: a branch or a full ref name. Tags and
/// abbreviated commits need the history of every branch and tag to be resolved.
fn shallow_ok(source: &GitSource) -> bool {
    source
        .effective_revision()
        .is_none_or(|r| r.starts_with("refs/"))
}

use crate::auth::{self, Credentials, HostKeyCheck, Redactor, SshFailure};
use crate::source::{Bounds, GitSource, SourceError, Transport};
use crate::{Checkout, Source};

use gix::protocol::transport::client::blocking_io as transport;

/// The tracking ref the followed branch is fetched into.
const BRANCH_REF: &str = "refs/nomos/branch";
/// The tracking ref a `refs/…` revision is fetched into.
const REVISION_REF: &str = "refs/nomos/revision";
/// The most symbolic links followed to resolve one path (cycles end here).
const MAX_LINK_HOPS: usize = 16;

/// Fetches one [`GitSource`] into a bare mirror and reads commits from it.
pub struct Fetcher {
    source: GitSource,
    format: SourceFormat,
    bounds: Bounds,
    mirror: PathBuf,
    interrupt: Arc<AtomicBool>,
}

impl Fetcher {
    /// A fetcher for `source` keeping its mirror under `cache_dir` (one subdirectory per URL).
    /// Unsupported transports are reported here, before any I/O.
    pub fn new(
        source: GitSource,
        format: SourceFormat,
        bounds: Bounds,
        cache_dir: &Path,
    ) -> Result<Fetcher, SourceError> {
        check_auth(&source)?;
        // Shallow mirrors (branch or full ref) and complete ones (tags, abbreviated commits)
        // never share a directory.
        let shallow = shallow_ok(&source);
        let mut h = Sha256::new();
        h.update(source.url.as_bytes());
        h.update(if shallow {
            b"\0shallow"
        } else {
            b"\0full\0\0\0"
        });
        let digest = h.finalize();
        let name: String = digest[..10].iter().map(|b| format!("{b:02x}")).collect();
        Ok(Fetcher {
            mirror: cache_dir.join(format!("{name}.git")),
            source,
            format,
            bounds,
            interrupt: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Set to `true` to abort a fetch in progress.
    pub fn interrupt_flag(&self) -> Arc<AtomicBool> {
        self.interrupt.clone()
    }

    /// Where the bare mirror lives.
    pub fn mirror_path(&self) -> &Path {
        &self.mirror
    }

    fn fetch_err(&self, reason: impl std::fmt::Display) -> SourceError {
        SourceError::Fetch {
            url: self.source.display_url(),
            reason: reason.to_string(),
        }
    }

    fn cache_err(&self, reason: impl std::fmt::Display) -> SourceError {
        SourceError::Cache {
            path: self.mirror.clone(),
            reason: reason.to_string(),
        }
    }

    /// Open the mirror, creating it when missing.
    fn open_mirror(&self) -> Result<gix::Repository, SourceError> {
        if !self.mirror.join("HEAD").exists() {
            if self.mirror.exists() {
                std::fs::remove_dir_all(&self.mirror).map_err(|e| self.cache_err(e))?;
            }
            if let Some(parent) = self.mirror.parent() {
                std::fs::create_dir_all(parent).map_err(|e| self.cache_err(e))?;
            }
            gix::init_bare(&self.mirror).map_err(|e| self.cache_err(e))?;
        }
        gix::open_opts(&self.mirror, gix::open::Options::isolated()).map_err(|e| self.cache_err(e))
    }

    /// The refspecs to fetch: only the followed branch, or what a revision may name.
    fn refspecs(&self) -> Vec<String> {
        match self.source.effective_revision() {
            None => vec![format!("+refs/heads/{}:{BRANCH_REF}", self.source.branch)],
            Some(rev) if rev.starts_with("refs/") => vec![format!("+{rev}:{REVISION_REF}")],
            // A tag, a branch name or an (abbreviated) commit reachable from one of them.
            Some(_) => vec![
                "+refs/heads/*:refs/remotes/origin/*".into(),
                "+refs/tags/*:refs/tags/*".into(),
            ],
        }
    }

    /// Negotiate and receive the pack over an established connection.
    fn receive<T: transport::Transport>(
        &self,
        connection: gix::remote::Connection<'_, '_, '_, T>,
    ) -> Result<gix::remote::fetch::Outcome, gix::Error> {
        connection
            .prepare_fetch(gix::progress::Discard, Default::default())?
            .with_shallow(if shallow_ok(&self.source) {
                gix::remote::fetch::Shallow::DepthAtRemote(std::num::NonZeroU32::MIN)
            } else {
                gix::remote::fetch::Shallow::NoChange
            })
            .receive(gix::progress::Discard, &self.interrupt)
    }

    /// Fetch over HTTP(S): TLS from [`auth::tls_config`], basic auth or cookies from the
    /// credential files (read now, so rotated Secrets apply), never Git's credential helpers.
    fn fetch_http(
        &self,
        repo: &gix::Repository,
        remote: &gix::Remote<'_>,
        redactor: &mut Redactor,
    ) -> Result<gix::remote::fetch::Outcome, SourceError> {
        use transport::http;

        let url = self.source.display_url();
        let mut identity = None;
        let mut cookies = None;
        let mut hint = None;
        match &self.source.credentials {
            Credentials::None | Credentials::SshKey { .. } => {
                identity = url_identity(&self.source.url);
                if let Some(id) = &identity {
                    redactor.add(&id.password);
                    hint = Some("the user name and password in the URL".to_string());
                }
            }
            Credentials::Token {
                username_file,
                token_file,
            } => {
                let username = auth::read_secret(username_file, "user name")?;
                let token = auth::read_secret(token_file, "token")?;
                redactor.add(token.expose());
                identity = Some(gix::sec::identity::Account {
                    username: username.expose().to_string(),
                    password: token.expose().to_string(),
                    oauth_refresh_token: None,
                });
            }
            Credentials::CookieFile { cookie_file } => {
                let text =
                    std::fs::read_to_string(cookie_file).map_err(|e| SourceError::Secret {
                        path: cookie_file.clone(),
                        reason: format!("cannot read the cookie file: {}", e.kind()),
                    })?;
                let parsed = auth::parse_cookie_file(&text);
                for value in auth::cookie_values(&parsed) {
                    redactor.add(value);
                }
                let (host, path) = gix::url::parse(self.source.url.as_bytes().as_bstr())
                    .map(|u| {
                        let host = u.host().unwrap_or_default().to_string();
                        (host, u.path.to_str_lossy().into_owned())
                    })
                    .unwrap_or_default();
                let https = self
                    .source
                    .url
                    .trim()
                    .to_ascii_lowercase()
                    .starts_with("https:");
                let sent = auth::cookie_header(&parsed, https, &host, &path).is_some();
                hint = Some(if sent {
                    format!("the cookies for {host}")
                } else {
                    format!(
                        "none of its {} cookie(s) applies to {host}{path}",
                        parsed.len()
                    )
                });
                cookies = Some(parsed);
            }
        }
        let tls = auth::tls_config(&self.source.tls).map_err(|e| match e {
            SourceError::Fetch { reason, .. } => SourceError::Tls {
                url: url.clone(),
                reason,
            },
            other => other,
        })?;
        let mut options = repo
            .transport_options(self.source.url.as_str(), None)
            .ok()
            .flatten()
            .and_then(|o| o.downcast::<http::Options>().ok())
            .map(|o| *o)
            .unwrap_or_default();
        let configure_request: Option<Box<http::reqwest::ConfigureRequestFn>> =
            cookies.map(|cookies| {
                Box::new(move |req: &mut reqwest::blocking::Request| {
                    let u = req.url();
                    let header = auth::cookie_header(
                        &cookies,
                        u.scheme() == "https",
                        u.host_str().unwrap_or_default(),
                        u.path(),
                    );
                    if let Some(header) = header {
                        let mut value =
                            reqwest::header::HeaderValue::from_str(&header).map_err(|_| {
                                gix::error::message(
                                    "the cookie file holds a value that is not a valid header",
                                )
                            })?;
                        value.set_sensitive(true);
                        req.headers_mut().insert(reqwest::header::COOKIE, value);
                    }
                    Ok(())
                }) as Box<http::reqwest::ConfigureRequestFn>
            });
        let backend = http::reqwest::Options {
            configure_client: Some(Box::new(
                move |builder: reqwest::blocking::ClientBuilder| {
                    Ok(builder.tls_backend_preconfigured(tls.clone()))
                },
            )),
            configure_request,
        };
        options.backend = Some(Arc::new(std::sync::Mutex::new(backend)));
        let connection = remote
            .connect(gix::remote::Direction::Fetch)
            .map_err(|e| self.http_error(&e, redactor, hint.as_deref()))?
            .with_transport_options(Box::new(options))
            .with_credentials(move |action| match (action, &identity) {
                (gix::credentials::helper::Action::Get(ctx), Some(identity)) => {
                    Ok(Some(gix::credentials::protocol::Outcome {
                        identity: identity.clone(),
                        next: ctx.into(),
                    }))
                }
                _ => Ok(None),
            });
        self.receive(connection)
            .map_err(|e| self.http_error(&e, redactor, hint.as_deref()))
    }

    /// Explain a failed HTTP(S) fetch: what failed and how to fix it, without secrets.
    fn http_error(&self, e: &gix::Error, redactor: &Redactor, hint: Option<&str>) -> SourceError {
        let url = self.source.display_url();
        let chain = redactor.clean(&error_chain(e));
        let lower = chain.to_ascii_lowercase();
        let (s401, s403) = (has_status(&lower, "401"), has_status(&lower, "403"));
        let detail = if lower.contains("no credentials were returned") {
            "HTTP 401".to_string()
        } else if s401 {
            "HTTP 401 after sending them".to_string()
        } else if s403 {
            "HTTP 403".to_string()
        } else {
            redactor.clean(&http_cause(e))
        };
        let denied = e.is_unauthenticated()
            || e.is_permission_denied()
            || lower.contains("were not accepted by the remote")
            || lower.contains("no credentials were returned")
            || s401
            || s403;
        if denied {
            let reason = match &self.source.credentials {
                Credentials::Token { token_file, .. } => format!(
                    "the server rejected the user name and token from {} ({detail}); check that \
                     the token is current and may read the repository",
                    token_file.display()
                ),
                Credentials::CookieFile { cookie_file } => format!(
                    "the server did not accept the cookie file {} ({detail}; {}); refresh the \
                     cookie file",
                    cookie_file.display(),
                    hint.unwrap_or("cookies sent")
                ),
                _ if hint.is_some() => format!(
                    "the server rejected {} ({detail}); fix them, or use auth token with a \
                     secret instead of credentials in the URL",
                    hint.unwrap_or_default()
                ),
                _ => format!(
                    "the server requires credentials ({detail}); use auth token (secret keys \
                     `username` and `token`) or cookiefile (`cookie_file`)"
                ),
            };
            return SourceError::Auth { url, reason };
        }
        if lower.contains("certificate") || lower.contains("unknownissuer") {
            return SourceError::Tls {
                url,
                reason: format!(
                    "{detail}; give the CA that signed the server's certificate as the CA file \
                     (caCertSecretRef, key `cert`), or disable verification (noSSLVerify) for tests"
                ),
            };
        }
        if lower.contains("connection refused")
            || lower.contains("dns error")
            || lower.contains("failed to lookup")
            || lower.contains("timed out")
            || lower.contains("unreachable")
            || lower.contains("error sending request")
            || lower.contains("connect")
        {
            return SourceError::Connect {
                url,
                reason: format!("{detail}; check the URL, the port and the network"),
            };
        }
        SourceError::Fetch { url, reason: chain }
    }

    /// Fetch over SSH: runs `ssh` with the key, the host key policy and `BatchMode`, capturing
    /// its diagnostics to explain failures.
    fn fetch_ssh(
        &self,
        remote: &gix::Remote<'_>,
        redactor: &Redactor,
    ) -> Result<gix::remote::fetch::Outcome, SourceError> {
        let (url, version) = remote
            .sanitized_url_and_version(gix::remote::Direction::Fetch)
            .map_err(|e| self.fetch_err(redactor.clean(&error_chain(&e))))?;
        let key = match &self.source.credentials {
            Credentials::SshKey { key_file } => Some(PrivateKey::usable(key_file, &self.mirror)?),
            _ => None,
        };
        let stderr_file = self.mirror.join("nomos-ssh.stderr");
        let _ = std::fs::remove_file(&stderr_file);
        let options = transport::ssh::connect::Options {
            command: Some(auth::ssh_command(
                key.as_ref().map(|k| k.path.as_path()),
                &self.source.host_keys,
                &stderr_file,
            )),
            disallow_shell: false,
            kind: Some(transport::ssh::ProgramKind::Ssh),
        };
        let result = transport::ssh::connect(url, version, options, false)
            .map_err(|e| self.fetch_err(redactor.clean(&e.to_string())))
            .and_then(|t| {
                let connection = remote
                    .to_connection_with_transport(t)
                    .with_credentials(|_| Ok(None));
                self.receive(connection).map_err(|e| {
                    let stderr = std::fs::read_to_string(&stderr_file).unwrap_or_default();
                    self.ssh_error(&e, &redactor.clean(&stderr), redactor)
                })
            });
        drop(key);
        let _ = std::fs::remove_file(&stderr_file);
        result
    }

    /// Explain a failed SSH fetch from `ssh`'s own diagnostics.
    fn ssh_error(&self, e: &gix::Error, stderr: &str, redactor: &Redactor) -> SourceError {
        let url = self.source.display_url();
        let key_text = match &self.source.credentials {
            Credentials::SshKey { key_file } => format!("the key {}", key_file.display()),
            _ => "ssh's default keys (no auth ssh configured)".to_string(),
        };
        match auth::classify_ssh_stderr(stderr) {
            Some(SshFailure::HostKey(line)) => {
                let source = match &self.source.host_keys {
                    HostKeyCheck::KnownHostsFile(p) => {
                        format!("the known_hosts file {}", p.display())
                    }
                    _ => "ssh's known_hosts files (~/.ssh/known_hosts, /etc/ssh/ssh_known_hosts)"
                        .to_string(),
                };
                SourceError::HostKey {
                    url,
                    reason: format!(
                        "the server's host key is not in {source} or does not match it ({line}); \
                         add the host's public key to known_hosts (`ssh-keyscan -p PORT HOST`, then \
                         verify its fingerprint), or disable host key checking (insecure)"
                    ),
                }
            }
            Some(SshFailure::Denied(line)) => SourceError::Auth {
                url,
                reason: format!(
                    "the server did not accept {key_text} ({line}); authorize its public key for \
                     the repository, or set the right private key (secret key `ssh`)"
                ),
            },
            Some(SshFailure::BadKey(line)) => SourceError::Auth {
                url,
                reason: format!(
                    "ssh cannot use {key_text} ({line}); the file must hold an unencrypted \
                     OpenSSH or PEM private key"
                ),
            },
            Some(SshFailure::Connect(line)) => SourceError::Connect {
                url,
                reason: format!("{line}; check the host name, the port and the network"),
            },
            Some(SshFailure::Other(text)) => SourceError::Fetch {
                url,
                reason: format!("{} (ssh: {text})", redactor.clean(&error_chain(e))),
            },
            None => SourceError::Fetch {
                url,
                reason: redactor.clean(&error_chain(e)),
            },
        }
    }

    /// Fetch and resolve the branch or revision to a commit id.
    fn fetch_commit(&mut self) -> Result<ObjectId, SourceError> {
        let repo = self.open_mirror()?;
        let mut redactor = Redactor::for_url(&self.source.url);
        let remote = repo
            .remote_at(self.source.url.as_str())
            .map_err(|e| self.fetch_err(redactor.clean(&error_chain(&e))))?
            .with_refspecs(
                self.refspecs().iter().map(String::as_str),
                gix::remote::Direction::Fetch,
            )
            .map_err(|e| self.fetch_err(redactor.clean(&error_chain(&e))))?;
        let outcome = match self.source.transport()? {
            Transport::Http => self.fetch_http(&repo, &remote, &mut redactor)?,
            Transport::Ssh => self.fetch_ssh(&remote, &redactor)?,
            Transport::Local(_) | Transport::Git => {
                let connection = remote
                    .connect(gix::remote::Direction::Fetch)
                    .map_err(|e| self.fetch_err(redactor.clean(&error_chain(&e))))?;
                self.receive(connection)
                    .map_err(|e| self.fetch_err(redactor.clean(&error_chain(&e))))?
            }
        };

        // Resolve from what the remote advertised now, never from stale local refs.
        let advertised = |name: &str| -> Option<ObjectId> {
            outcome
                .ref_map
                .mappings
                .iter()
                .find_map(|m| match &m.remote {
                    RefSource::Ref(r) => {
                        let (full, target, peeled) = r.unpack();
                        (full == name.as_bytes().as_bstr())
                            .then(|| peeled.or(target).map(ToOwned::to_owned))
                            .flatten()
                    }
                    RefSource::ObjectId(_) => None,
                })
        };
        let id = match self.source.effective_revision() {
            None => {
                let name = format!("refs/heads/{}", self.source.branch);
                advertised(&name).ok_or_else(|| SourceError::BranchNotFound {
                    url: self.source.display_url(),
                    branch: self.source.branch.clone(),
                })?
            }
            Some(rev) => {
                let not_found = || SourceError::RevisionNotFound {
                    url: self.source.display_url(),
                    revision: rev.to_string(),
                };
                let by_ref = [
                    rev.to_string(),
                    format!("refs/tags/{rev}"),
                    format!("refs/heads/{rev}"),
                ]
                .iter()
                .find_map(|n| advertised(n));
                match by_ref {
                    Some(id) => id,
                    None if rev.len() >= 4
                        && rev.len() <= 40
                        && rev.bytes().all(|b| b.is_ascii_hexdigit()) =>
                    {
                        let prefix = gix::hash::Prefix::from_hex(&rev.to_ascii_lowercase())
                            .map_err(|_| not_found())?;
                        match repo.objects.lookup_prefix(prefix, None) {
                            Ok(Some(Ok(id))) => id,
                            Ok(Some(Err(()))) => {
                                return Err(SourceError::AmbiguousRevision {
                                    url: self.source.display_url(),
                                    revision: rev.to_string(),
                                });
                            }
                            Ok(None) => return Err(not_found()),
                            Err(e) => return Err(self.fetch_err(e)),
                        }
                    }
                    None => return Err(not_found()),
                }
            }
        };
        // Peel annotated tags to the commit.
        let commit = repo
            .find_object(id)
            .map_err(|e| self.read_err("the fetched revision", e))?
            .peel_to_commit()
            .map_err(|e| self.read_err("the fetched revision's commit", e))?;
        Ok(commit.id)
    }

    fn read_err(&self, what: &str, e: impl std::fmt::Display) -> SourceError {
        SourceError::Read {
            what: what.to_string(),
            reason: e.to_string(),
        }
    }

    /// Read the policy directory of `commit` from the object database.
    fn read_commit(&self, commit: &str) -> Result<Checkout, SourceError> {
        let repo = self.open_mirror()?;
        let id =
            ObjectId::from_hex(commit.as_bytes()).map_err(|e| self.read_err("the commit id", e))?;
        let root = repo
            .find_commit(id)
            .map_err(|e| self.read_err(&format!("commit {commit}"), e))?
            .tree_id()
            .map_err(|e| self.read_err(&format!("the tree of commit {commit}"), e))?
            .detach();
        let dir = self.source.normalized_dir();
        let mut reader = TreeReader {
            repo: &repo,
            root,
            format: self.format,
            bounds: self.bounds,
            out: Checkout::default(),
            total: 0,
            files: 0,
        };
        let start = if dir.is_empty() {
            Some(Resolved::Tree(root, String::new()))
        } else {
            match reader.resolve(&dir, 0)? {
                Some(Resolved::Tree(id, path)) => Some(Resolved::Tree(id, path)),
                _ => None,
            }
        };
        let Some(Resolved::Tree(tree, repo_path)) = start else {
            return Err(SourceError::MissingDir {
                dir: if dir.is_empty() { ".".into() } else { dir },
                commit: commit.to_string(),
            });
        };
        reader.walk(tree, &repo_path, "", 0)?;
        reader.out.files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(reader.out)
    }
}

/// Refuse transports and credential kinds that cannot go together, before any I/O.
fn check_auth(source: &GitSource) -> Result<(), SourceError> {
    let url = source.display_url();
    let transport = source.transport()?;
    let auth = source.credentials.auth_type();
    let mismatch = |needs: &str| SourceError::AuthConfig {
        url: url.clone(),
        reason: format!("auth {auth} needs {needs}"),
    };
    match (&transport, &source.credentials) {
        (Transport::Git, _) => {
            return Err(SourceError::Unsupported {
                scheme: "git://",
                url,
            });
        }
        (_, Credentials::None) => {}
        (Transport::Local(_), _) => {
            return Err(mismatch("a remote URL; local repositories take auth none"));
        }
        (Transport::Http, Credentials::SshKey { .. }) => {
            return Err(mismatch("an ssh:// or user@host:path URL"));
        }
        (Transport::Ssh, Credentials::Token { .. } | Credentials::CookieFile { .. }) => {
            return Err(mismatch("an https:// URL"));
        }
        (Transport::Http, _) => {
            if source
                .url
                .trim()
                .to_ascii_lowercase()
                .starts_with("http://")
            {
                tracing::warn!(
                    url = %url,
                    auth = %auth,
                    "credentials are sent in clear text over http://; use https://"
                );
            }
        }
        (Transport::Ssh, _) => {}
    }
    Ok(())
}

/// The distinct messages of a gix error's chain, outermost first.
fn error_parts(e: &gix::Error) -> Vec<String> {
    let mut parts: Vec<String> = Vec::new();
    for err in e.iter_errors() {
        let text = err.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    if parts.is_empty() {
        parts.push(e.to_string());
    }
    parts
}

/// Every message of a gix error's chain, outermost first, joined with `: `.
fn error_chain(e: &gix::Error) -> String {
    error_parts(e).join(": ")
}

/// The root cause of a failed HTTP request: what reqwest reported below its own wrappers
/// ("error sending request", "client error (Connect)"), or the whole chain.
fn http_cause(e: &gix::Error) -> String {
    let parts = error_parts(e);
    let wrapper = parts
        .iter()
        .rposition(|p| p.starts_with("client error") || p.starts_with("error sending request"));
    match wrapper {
        Some(i) if i + 1 < parts.len() => parts[i + 1..].join(": "),
        _ => parts.join(": "),
    }
}

/// `user:password` from an `http(s)://user:password@host/…` URL (percent-decoded), as Git uses
/// them when no other credentials are configured.
fn url_identity(url: &str) -> Option<gix::sec::identity::Account> {
    let (_, rest) = url.split_once("://")?;
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    let (userinfo, _) = authority.rsplit_once('@')?;
    let (user, password) = userinfo.split_once(':')?;
    Some(gix::sec::identity::Account {
        username: percent_decode(user),
        password: percent_decode(password),
        oauth_refresh_token: None,
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The private key as `ssh` accepts it: the file itself, or, when it is readable by others
/// (as Secret volumes mount by default) and owned by us (which `ssh` refuses), a private copy
/// beside the mirror that lives only for one fetch.
struct PrivateKey {
    path: PathBuf,
    copy: bool,
}

impl PrivateKey {
    fn usable(key: &Path, dir: &Path) -> Result<PrivateKey, SourceError> {
        let secret_err = |reason: String| SourceError::Secret {
            path: key.to_path_buf(),
            reason,
        };
        let meta = std::fs::metadata(key)
            .map_err(|e| secret_err(format!("cannot read the SSH private key: {}", e.kind())))?;
        #[cfg(unix)]
        {
            use std::io::Write;
            use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
            let loose = meta.permissions().mode() & 0o077 != 0;
            if loose && gix::sec::identity::is_path_owned_by_current_user(key).unwrap_or(false) {
                let content = std::fs::read(key).map_err(|e| {
                    secret_err(format!("cannot read the SSH private key: {}", e.kind()))
                })?;
                let path = dir.join("nomos-ssh-key");
                let _ = std::fs::remove_file(&path);
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)
                    .and_then(|mut f| f.write_all(&content).map(|()| f));
                if let Err(e) = file.as_mut() {
                    return Err(SourceError::Cache {
                        path,
                        reason: format!("cannot write a private copy of the SSH key: {e}"),
                    });
                }
                return Ok(PrivateKey { path, copy: true });
            }
        }
        let _ = meta;
        Ok(PrivateKey {
            path: key.to_path_buf(),
            copy: false,
        })
    }
}

impl Drop for PrivateKey {
    fn drop(&mut self) {
        if self.copy {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl Source for Fetcher {
    fn source(&self) -> &GitSource {
        &self.source
    }

    fn resolve(&mut self) -> Result<String, SourceError> {
        let id = self.fetch_commit()?;
        Ok(id.to_string())
    }

    fn read(&mut self, commit: &str) -> Result<Checkout, SourceError> {
        self.read_commit(commit)
    }
}

/// What a path in the commit's tree resolves to, after following symbolic links.
enum Resolved {
    /// A tree and its repository path.
    Tree(ObjectId, String),
    /// A blob.
    Blob(ObjectId),
}

struct TreeReader<'r> {
    repo: &'r gix::Repository,
    root: ObjectId,
    format: SourceFormat,
    bounds: Bounds,
    out: Checkout,
    total: u64,
    files: usize,
}

fn join(a: &str, b: &str) -> String {
    if a.is_empty() {
        b.to_string()
    } else {
        format!("{a}/{b}")
    }
}

impl TreeReader<'_> {
    fn err(&self, what: &str, e: impl std::fmt::Display) -> SourceError {
        SourceError::Read {
            what: what.to_string(),
            reason: e.to_string(),
        }
    }

    /// Resolve `path` (repository-relative, normalised) following symbolic links. `None` when
    /// nothing is there (or a submodule is).
    fn resolve(&self, path: &str, hops: usize) -> Result<Option<Resolved>, SourceError> {
        let mut current = self.root;
        let mut resolved = String::new();
        let mut segments: Vec<String> = path.split('/').rev().map(str::to_string).collect();
        let mut hops = hops;
        let mut kind = EntryKind::Tree;
        while let Some(seg) = segments.pop() {
            if kind != EntryKind::Tree {
                return Ok(None);
            }
            let tree = self
                .repo
                .find_tree(current)
                .map_err(|e| self.err(&format!("tree {resolved:?}"), e))?;
            let Some(entry) = tree.find_entry(seg.as_str()) else {
                return Ok(None);
            };
            let entry_kind = entry.mode().kind();
            let oid = entry.object_id();
            let here = join(&resolved, &seg);
            if entry_kind == EntryKind::Link {
                hops += 1;
                if hops > MAX_LINK_HOPS {
                    return Err(SourceError::SymlinkUnresolvable {
                        path: here,
                        reason: format!("more than {MAX_LINK_HOPS} levels of symbolic links"),
                    });
                }
                let target = self.link_target(oid, &here)?;
                let base = resolved.clone();
                let normalized =
                    normalize_link(&base, &target).ok_or(SourceError::SymlinkEscapes {
                        path: here.clone(),
                        target: target.clone(),
                    })?;
                // Restart from the root with the link's target followed by the remaining segments.
                segments.extend(
                    normalized
                        .split('/')
                        .rev()
                        .filter(|s| !s.is_empty())
                        .map(str::to_string),
                );
                current = self.root;
                resolved = String::new();
                kind = EntryKind::Tree;
                continue;
            }
            current = oid;
            resolved = here;
            kind = entry_kind;
        }
        Ok(match kind {
            EntryKind::Tree => Some(Resolved::Tree(current, resolved)),
            EntryKind::Blob | EntryKind::BlobExecutable => Some(Resolved::Blob(current)),
            _ => None,
        })
    }

    fn link_target(&self, oid: ObjectId, path: &str) -> Result<String, SourceError> {
        let blob = self
            .repo
            .find_blob(oid)
            .map_err(|e| self.err(&format!("symbolic link {path:?}"), e))?;
        String::from_utf8(blob.data.clone()).map_err(|_| SourceError::SymlinkUnresolvable {
            path: path.to_string(),
            reason: "the target is not UTF-8".into(),
        })
    }

    /// Read every wanted file below `tree` (at `repo_path`), naming them `rel/…`.
    fn walk(
        &mut self,
        tree: ObjectId,
        repo_path: &str,
        rel: &str,
        depth: usize,
    ) -> Result<(), SourceError> {
        if depth > MAX_LINK_HOPS {
            return Err(SourceError::SymlinkUnresolvable {
                path: repo_path.to_string(),
                reason: "symbolic links to directories nest too deeply (a cycle?)".into(),
            });
        }
        let tree_obj = self
            .repo
            .find_tree(tree)
            .map_err(|e| self.err(&format!("tree {repo_path:?}"), e))?;
        let entries: Vec<(EntryKind, String, ObjectId)> = tree_obj
            .decode()
            .map_err(|e| self.err(&format!("tree {repo_path:?}"), e))?
            .entries
            .iter()
            .map(|e| {
                (
                    e.mode.kind(),
                    e.filename.to_str_lossy().into_owned(),
                    e.oid.to_owned(),
                )
            })
            .collect();
        for (kind, name, oid) in entries {
            let here = join(repo_path, &name);
            let rel_here = join(rel, &name);
            match kind {
                EntryKind::Tree => self.walk(oid, &here, &rel_here, depth)?,
                EntryKind::Blob | EntryKind::BlobExecutable => {
                    self.take_blob(oid, &rel_here, &here)?
                }
                EntryKind::Link => {
                    // Resolving refuses links escaping the repository, wanted or not.
                    match self.resolve(&here, 0)? {
                        Some(Resolved::Blob(id)) => self.take_blob(id, &rel_here, &here)?,
                        Some(Resolved::Tree(id, target)) => {
                            if target.is_empty() || here.starts_with(&format!("{target}/")) {
                                return Err(SourceError::SymlinkUnresolvable {
                                    path: here,
                                    reason: "the link points to a directory containing it".into(),
                                });
                            }
                            self.walk(id, &target, &rel_here, depth + 1)?
                        }
                        None => tracing::warn!(path = %here, "skipping dangling symbolic link"),
                    }
                }
                EntryKind::Commit => tracing::debug!(path = %here, "skipping submodule"),
            }
        }
        Ok(())
    }

    fn take_blob(&mut self, oid: ObjectId, rel: &str, repo_path: &str) -> Result<(), SourceError> {
        let is_api_resources = rel == "api-resources.txt";
        if !is_api_resources && !wants_file(rel, self.format) {
            return Ok(());
        }
        let size = self
            .repo
            .find_header(oid)
            .map_err(|e| self.err(&format!("file {repo_path:?}"), e))?
            .size();
        if size > self.bounds.max_file_bytes {
            return Err(SourceError::FileTooLarge {
                path: repo_path.to_string(),
                size,
                limit: self.bounds.max_file_bytes,
            });
        }
        self.total += size;
        self.files += 1;
        if self.total > self.bounds.max_total_bytes {
            return Err(SourceError::TooManyBytes {
                limit: self.bounds.max_total_bytes,
            });
        }
        if self.files > self.bounds.max_files {
            return Err(SourceError::TooManyFiles {
                limit: self.bounds.max_files,
            });
        }
        let mut blob = self
            .repo
            .find_blob(oid)
            .map_err(|e| self.err(&format!("file {repo_path:?}"), e))?;
        let bytes = blob.take_data();
        if is_api_resources {
            self.out.api_resources = Some(String::from_utf8_lossy(&bytes).into_owned());
        } else {
            self.out.files.push(nomos_core::SourceFile::new(rel, bytes));
        }
        Ok(())
    }
}

/// The repository path a link at `<dir>/<name>` with `target` points to, normalised; `None`
/// when it is absolute or climbs above the repository root.
fn normalize_link(dir: &str, target: &str) -> Option<String> {
    if target.starts_with('/') || target.starts_with('\\') || target.is_empty() {
        return None;
    }
    let mut stack: Vec<&str> = dir.split('/').filter(|s| !s.is_empty()).collect();
    for seg in target.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                stack.pop()?;
            }
            s => stack.push(s),
        }
    }
    Some(stack.join("/"))
}

/// Whether `text` names the HTTP status `code` as a number of its own: not inside a longer
/// number, and not as a port (`127.0.0.1:40389` must not read as a 403).
fn has_status(text: &str, code: &str) -> bool {
    let b = text.as_bytes();
    text.match_indices(code).any(|(i, _)| {
        let before = i.checked_sub(1).map(|j| b[j]);
        let after = b.get(i + code.len()).copied();
        !matches!(before, Some(c) if c.is_ascii_digit() || c == b':' || c == b'.')
            && !matches!(after, Some(c) if c.is_ascii_digit())
    })
}

#[cfg(test)]
mod tests {
    use super::{has_status, normalize_link};

    #[test]
    fn statuses_are_not_read_from_ports_or_longer_numbers() {
        assert!(has_status("http status: 403 forbidden", "403"));
        assert!(has_status("received http status 401", "401"));
        assert!(!has_status(
            "https://127.0.0.1:40389/policy.git: tls error",
            "403"
        ));
        assert!(!has_status("connect to 127.0.0.1:403 refused", "403"));
        assert!(!has_status("10.0.4013.1 and 14010", "401"));
    }

    #[test]
    fn link_normalisation() {
        assert_eq!(
            normalize_link("a/b", "../c.yaml").as_deref(),
            Some("a/c.yaml")
        );
        assert_eq!(normalize_link("a", "./x/y").as_deref(), Some("a/x/y"));
        assert_eq!(normalize_link("a", "../..//etc/passwd"), None);
        assert_eq!(normalize_link("", "../x"), None);
        assert_eq!(normalize_link("a", "/etc/passwd"), None);
        assert_eq!(normalize_link("a", "..").as_deref(), Some(""));
    }
}
