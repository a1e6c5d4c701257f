//! The importer's remote transports against real servers on loopback, started by each test:
//!
//! - HTTP(S): `git http-backend` (CGI) behind a small hyper server that enforces Basic auth or a
//!   cookie, optionally over TLS with a CA made by the `openssl` CLI;
//! - SSH: `/usr/sbin/sshd` with a generated host key, authorizing a generated client key.
//!
//! Every failure must be a KNV2004 source error that says what failed and never contains a
//! secret.

use std::convert::Infallible;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use nomos_core::{Code, Options, SourceFormat};
use nomos_importer::{
    AuthType, Bounds, Credentials, Fetcher, GitSource, HostKeyCheck, ImportConfig, ImportOutcome,
    Importer, Source, SourceError,
};

const TOKEN: &str = "glpat-S3cr3tT0ken-4242";
const WRONG_TOKEN: &str = "glpat-Wr0ngT0ken-0000";
const COOKIE: &str = "c00kie-V4lue-9876";

// ---------------------------------------------------------------------------------------------
// Repositories

use nomos_testgit::git;

/// A bare repository `<root>/policy.git` with one commit of one Namespace, plus the work tree
/// that pushes to it.
struct Repo {
    work: PathBuf,
    bare: PathBuf,
}

impl Repo {
    fn new(root: &Path) -> Repo {
        let work = root.join("work");
        let bare = root.join("policy.git");
        std::fs::create_dir_all(&work).unwrap();
        git(&work, &["init", "-q"]);
        git(root, &["init", "-q", "--bare", "policy.git"]);
        let r = Repo { work, bare };
        r.commit("shop");
        r
    }

    /// Commit a Namespace named `name`, push, return the commit id.
    fn commit(&self, name: &str) -> String {
        std::fs::write(
            self.work.join(format!("{name}.yaml")),
            format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n"),
        )
        .unwrap();
        git(&self.work, &["add", "-A"]);
        git(&self.work, &["commit", "-q", "-m", name]);
        let bare = self.bare.display().to_string();
        git(&self.work, &["push", "-q", &bare, "HEAD:refs/heads/master"]);
        git(&self.work, &["rev-parse", "HEAD"])
    }
}

fn fetcher(source: GitSource, cache: &Path) -> Result<Fetcher, SourceError> {
    Fetcher::new(source, SourceFormat::Unstructured, Bounds::default(), cache)
}

fn resolve(source: GitSource, cache: &Path) -> Result<String, SourceError> {
    fetcher(source, cache)?.resolve()
}

/// The error is KNV2004, and neither it nor its diagnostic shows any of `secrets`.
fn assert_clean(err: &SourceError, secrets: &[&str]) {
    let d = err.diagnostic();
    assert_eq!(d.code, Code::SOURCE, "{err}");
    for text in [err.to_string(), format!("{err:?}"), d.to_string()] {
        assert!(d.to_string().contains("KNV2004"), "{d}");
        for s in secrets {
            assert!(!text.contains(s), "secret {s:?} leaked in: {text}");
        }
    }
}

fn write(path: &Path, content: &str) -> PathBuf {
    std::fs::write(path, content).unwrap();
    path.to_path_buf()
}

// ---------------------------------------------------------------------------------------------
// The smart-HTTP server: git http-backend behind Basic auth / a cookie, optionally TLS.

struct HttpServer {
    addr: SocketAddr,
    _rt: tokio::runtime::Runtime,
}

#[derive(Clone)]
struct HttpConfig {
    project_root: PathBuf,
    /// `Authorization` header value accepted, if auth is required.
    basic: Option<String>,
    /// `name=value` accepted in a `Cookie` header, if auth is required.
    cookie: Option<String>,
}

impl HttpServer {
    fn start(config: HttpConfig, tls: Option<Arc<rustls::ServerConfig>>) -> HttpServer {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let config = Arc::new(config);
        let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
        rt.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let config = config.clone();
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let config = config.clone();
                        async move { Ok::<_, Infallible>(handle(&config, req).await) }
                    });
                    let http = hyper::server::conn::http1::Builder::new();
                    match acceptor {
                        Some(acceptor) => {
                            // Handshake failures (an untrusting client) just end the connection.
                            if let Ok(tls) = acceptor.accept(stream).await {
                                let io = hyper_util::rt::TokioIo::new(tls);
                                let _ = http.serve_connection(io, service).await;
                            }
                        }
                        None => {
                            let io = hyper_util::rt::TokioIo::new(stream);
                            let _ = http.serve_connection(io, service).await;
                        }
                    }
                });
            }
        });
        HttpServer { addr, _rt: rt }
    }
}

fn header(req: &hyper::Request<hyper::body::Incoming>, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

async fn handle(
    config: &HttpConfig,
    req: hyper::Request<hyper::body::Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let authorized = match (&config.basic, &config.cookie) {
        (None, None) => true,
        (basic, cookie) => {
            let by_basic = basic
                .as_ref()
                .is_some_and(|b| header(&req, "authorization").as_ref() == Some(b));
            let by_cookie = cookie.as_ref().is_some_and(|c| {
                header(&req, "cookie").is_some_and(|h| h.split("; ").any(|p| p == c))
            });
            by_basic || by_cookie
        }
    };
    if !authorized {
        return hyper::Response::builder()
            .status(401)
            .header("WWW-Authenticate", "Basic realm=\"git\"")
            .body(Full::new(Bytes::from_static(b"authentication required\n")))
            .unwrap();
    }
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or_default().to_string();
    let content_type = header(&req, "content-type").unwrap_or_default();
    let encoding = header(&req, "content-encoding");
    let protocol = header(&req, "git-protocol");
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let root = config.project_root.clone();
    let out = tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new("git");
        cmd.arg("http-backend")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_PROJECT_ROOT", &root)
            .env("GIT_HTTP_EXPORT_ALL", "1")
            .env("REQUEST_METHOD", &method)
            .env("PATH_INFO", &path)
            .env("QUERY_STRING", &query)
            .env("CONTENT_TYPE", &content_type)
            .env("CONTENT_LENGTH", body.len().to_string())
            .env("REMOTE_ADDR", "127.0.0.1")
            .env("REMOTE_USER", "git")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(e) = encoding {
            cmd.env("HTTP_CONTENT_ENCODING", e);
        }
        if let Some(p) = protocol {
            cmd.env("GIT_PROTOCOL", p);
        }
        let mut child = cmd.spawn().expect("git http-backend runs");
        let mut stdin = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || {
            use std::io::Write;
            let _ = stdin.write_all(&body);
        });
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap();
        out.stdout
    })
    .await
    .unwrap();
    // CGI output: headers, a blank line, the body.
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| out.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)));
    let Some((end, sep)) = split else {
        return hyper::Response::builder()
            .status(500)
            .body(Full::new(Bytes::from_static(b"bad CGI output\n")))
            .unwrap();
    };
    let mut resp = hyper::Response::builder();
    let mut status = 200;
    for line in String::from_utf8_lossy(&out[..end]).lines() {
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("status") {
                status = v.trim()[..3].parse().unwrap_or(500);
            } else {
                resp = resp.header(k.trim(), v.trim());
            }
        }
    }
    resp.status(status)
        .body(Full::new(Bytes::copy_from_slice(&out[end + sep..])))
        .unwrap()
}

fn basic(user: &str, token: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{token}"))
    )
}

/// A CA and a server certificate for 127.0.0.1 made with the `openssl` CLI; returns the server
/// config and the CA file.
fn tls_server(dir: &Path) -> (Arc<rustls::ServerConfig>, PathBuf) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("the openssl CLI is installed (.ci/run installs it)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &["-keyout", "ca.key", "-out", "ca.pem", "-days", "2"],
            &["-subj", "/CN=nomos test CA"],
        ]
        .concat(),
    );
    openssl(
        &[
            &["req"][..],
            &ec,
            &[
                "-keyout",
                "srv.key",
                "-out",
                "srv.csr",
                "-subj",
                "/CN=localhost",
            ],
        ]
        .concat(),
    );
    write(
        &dir.join("ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    );
    openssl(&[
        "x509",
        "-req",
        "-in",
        "srv.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "srv.pem",
        "-days",
        "2",
        "-extfile",
        "ext",
    ]);
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(dir.join("srv.pem"))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(dir.join("srv.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    (Arc::new(config), dir.join("ca.pem"))
}

// ---------------------------------------------------------------------------------------------
// HTTP(S) tests

#[test]
fn https_token_auth_with_ca_file() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = Repo::new(tmp.path());
    let (tls, ca) = tls_server(tmp.path());
    let server = HttpServer::start(
        HttpConfig {
            project_root: tmp.path().to_path_buf(),
            basic: Some(basic("git", TOKEN)),
            cookie: None,
        },
        Some(tls),
    );
    let url = format!("https://127.0.0.1:{}/policy.git", server.addr.port());
    let cache = tmp.path().join("cache");
    let secrets = tmp.path().join("secret");
    std::fs::create_dir_all(&secrets).unwrap();
    write(&secrets.join("username"), "git\n");
    write(&secrets.join("token"), &format!("{TOKEN}\n"));

    // Anonymous: the server asks for credentials.
    let err = resolve(GitSource::new(&url).with_ca_cert_file(&ca), &cache).unwrap_err();
    assert!(matches!(err, SourceError::Auth { .. }), "{err}");
    assert!(err.to_string().contains("auth token"), "{err}");
    assert_clean(&err, &[TOKEN]);

    // The right token, from a secret directory named as Config Sync's keys.
    let source = GitSource::new(&url)
        .with_ca_cert_file(&ca)
        .with_secret_dir(AuthType::Token, &secrets)
        .unwrap();
    assert!(!format!("{source:?}").contains(TOKEN));
    let mut f = fetcher(source.clone(), &cache).unwrap();
    let head = git(&repo.work, &["rev-parse", "HEAD"]);
    assert_eq!(f.resolve().unwrap(), head);
    let checkout = f.read(&head).unwrap();
    assert_eq!(checkout.files.len(), 1);
    assert_eq!(checkout.files[0].path, "shop.yaml");
    // A new commit arrives on the next fetch.
    let c2 = repo.commit("web");
    assert_eq!(f.resolve().unwrap(), c2);

    // A wrong token: rejected, with the token file named and the token nowhere.
    let wrong = write(&tmp.path().join("wrong-token"), WRONG_TOKEN);
    let source = GitSource::new(&url)
        .with_ca_cert_file(&ca)
        .with_credentials(Credentials::Token {
            username_file: secrets.join("username"),
            token_file: wrong.clone(),
        });
    let err = resolve(source.clone(), &cache).unwrap_err();
    assert!(matches!(err, SourceError::Auth { .. }), "{err}");
    assert!(
        err.to_string().contains(&wrong.display().to_string()),
        "{err}"
    );
    assert_clean(&err, &[WRONG_TOKEN, TOKEN]);

    // Through the importer: the fetch failure is a KNV2004 diagnostic, without the token.
    let mut importer = Importer::new(
        fetcher(source, &cache).unwrap(),
        ImportConfig {
            options: Options::new(SourceFormat::Unstructured),
            ..ImportConfig::default()
        },
    );
    match importer.import(&[]) {
        ImportOutcome::Rejected {
            commit: None,
            errors,
        } => {
            assert_eq!(errors.len(), 1);
            assert_eq!(errors[0].code, Code::SOURCE);
            let text = format!("{} {:?}", errors[0], errors[0]);
            assert!(
                text.contains("KNV2004") && !text.contains(WRONG_TOKEN),
                "{text}"
            );
        }
        other => panic!("expected a rejected import, got {other:?}"),
    }
}

#[test]
fn https_certificate_must_be_trusted_unless_verification_is_off() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = Repo::new(tmp.path());
    let (tls, _ca) = tls_server(tmp.path());
    let server = HttpServer::start(
        HttpConfig {
            project_root: tmp.path().to_path_buf(),
            basic: None,
            cookie: None,
        },
        Some(tls),
    );
    let url = format!("https://127.0.0.1:{}/policy.git", server.addr.port());
    let cache = tmp.path().join("cache");

    // The system's roots do not include the test CA.
    let err = resolve(GitSource::new(&url), &cache).unwrap_err();
    assert!(matches!(err, SourceError::Tls { .. }), "{err}");
    assert!(err.to_string().contains("CA"), "{err}");
    assert_clean(&err, &[]);

    // A CA file that is not PEM is reported with its path.
    let bogus = write(&tmp.path().join("bogus.pem"), "not a certificate\n");
    let err = resolve(GitSource::new(&url).with_ca_cert_file(&bogus), &cache).unwrap_err();
    assert!(matches!(err, SourceError::Secret { .. }), "{err}");
    assert!(err.to_string().contains("bogus.pem"), "{err}");

    // noSSLVerify accepts it.
    let head = git(&repo.work, &["rev-parse", "HEAD"]);
    let source = GitSource::new(&url).with_no_ssl_verify(true);
    assert_eq!(resolve(source, &cache).unwrap(), head);
}

#[test]
fn http_token_and_cookie_file() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = Repo::new(tmp.path());
    let server = HttpServer::start(
        HttpConfig {
            project_root: tmp.path().to_path_buf(),
            basic: Some(basic("git", TOKEN)),
            cookie: Some(format!("o={COOKIE}")),
        },
        None,
    );
    let url = format!("http://127.0.0.1:{}/policy.git", server.addr.port());
    let cache = tmp.path().join("cache");
    let head = git(&repo.work, &["rev-parse", "HEAD"]);

    // A token over plain http (allowed, as Git and Config Sync do; the importer warns).
    let user = write(&tmp.path().join("username"), "git");
    let token = write(&tmp.path().join("token"), TOKEN);
    let creds = Credentials::Token {
        username_file: user,
        token_file: token,
    };
    assert_eq!(
        resolve(GitSource::new(&url).with_credentials(creds), &cache).unwrap(),
        head
    );

    // A Netscape cookie file (Config Sync's auth cookiefile, secret key cookie_file).
    let secrets = tmp.path().join("cookie-secret");
    std::fs::create_dir_all(&secrets).unwrap();
    write(
        &secrets.join("cookie_file"),
        &format!(
            "# Netscape HTTP Cookie File\n127.0.0.1\tFALSE\t/\tFALSE\t2147483647\to\t{COOKIE}\n"
        ),
    );
    let source = GitSource::new(&url)
        .with_secret_dir(AuthType::CookieFile, &secrets)
        .unwrap();
    assert_eq!(resolve(source, &cache).unwrap(), head);

    // A cookie for another host is not sent: the server asks for credentials.
    let other = write(
        &tmp.path().join("other-cookies"),
        &format!("git.example.com\tFALSE\t/\tFALSE\t0\to\t{COOKIE}\n"),
    );
    let source = GitSource::new(&url).with_credentials(Credentials::CookieFile {
        cookie_file: other.clone(),
    });
    let err = resolve(source, &cache).unwrap_err();
    assert!(matches!(err, SourceError::Auth { .. }), "{err}");
    assert!(err.to_string().contains("other-cookies"), "{err}");
    assert_clean(&err, &[COOKIE]);

    // A missing secret file names the file.
    let source = GitSource::new(&url).with_credentials(Credentials::Token {
        username_file: tmp.path().join("username"),
        token_file: tmp.path().join("missing-token"),
    });
    let err = resolve(source, &cache).unwrap_err();
    assert!(matches!(err, SourceError::Secret { .. }), "{err}");
    assert!(err.to_string().contains("missing-token"), "{err}");
}

#[test]
fn http_credentials_in_the_url_are_used_and_redacted() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = Repo::new(tmp.path());
    let server = HttpServer::start(
        HttpConfig {
            project_root: tmp.path().to_path_buf(),
            basic: Some(basic("git", TOKEN)),
            cookie: None,
        },
        None,
    );
    // Wrong credentials embedded in the URL itself.
    let url = format!(
        "http://git:{WRONG_TOKEN}@127.0.0.1:{}/policy.git",
        server.addr.port()
    );
    let source = GitSource::new(&url);
    assert!(!format!("{source:?}").contains(WRONG_TOKEN));
    let cache = tmp.path().join("cache");
    let err = resolve(source, &cache).unwrap_err();
    assert!(matches!(err, SourceError::Auth { .. }), "{err}");
    assert!(err.to_string().contains("in the URL"), "{err}");
    assert_clean(&err, &[WRONG_TOKEN]);

    // The right ones are used, as Git does.
    let url = format!(
        "http://git:{TOKEN}@127.0.0.1:{}/policy.git",
        server.addr.port()
    );
    let head = git(&repo.work, &["rev-parse", "HEAD"]);
    assert_eq!(resolve(GitSource::new(&url), &cache).unwrap(), head);
}

#[test]
fn unreachable_hosts_are_connect_errors() {
    let tmp = tempfile::tempdir().unwrap();
    // A port nobody listens on.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let cache = tmp.path().join("cache");
    let err = resolve(
        GitSource::new(format!("http://127.0.0.1:{port}/policy.git")),
        &cache,
    )
    .unwrap_err();
    assert!(matches!(err, SourceError::Connect { .. }), "{err}");
    assert_clean(&err, &[]);

    let err = resolve(
        GitSource::new(format!("ssh://git@127.0.0.1:{port}/policy.git"))
            .with_host_key_check(HostKeyCheck::Disabled),
        &cache,
    )
    .unwrap_err();
    assert!(matches!(err, SourceError::Connect { .. }), "{err}");
    assert!(err.to_string().contains("Connection refused"), "{err}");
}

#[test]
fn credentials_must_fit_the_transport() {
    let tmp = tempfile::tempdir().unwrap();
    let key = Credentials::SshKey {
        key_file: tmp.path().join("id"),
    };
    let token = Credentials::Token {
        username_file: tmp.path().join("u"),
        token_file: tmp.path().join("t"),
    };
    for (url, creds) in [
        ("https://git.example/a.git", key.clone()),
        ("git@git.example:a.git", token.clone()),
        ("file:///srv/a.git", token),
    ] {
        let err = fetcher(GitSource::new(url).with_credentials(creds), tmp.path())
            .err()
            .unwrap();
        assert!(matches!(err, SourceError::AuthConfig { .. }), "{err}");
        assert_eq!(err.diagnostic().code, Code::SOURCE);
    }
}

// ---------------------------------------------------------------------------------------------
// SSH

/// `sshd` on `ip:port` for root, with a fresh host key, authorizing `client.pub`.
struct Sshd {
    child: Child,
    dir: PathBuf,
    port: u16,
    ip: String,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ssh_keygen(path: &Path) {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "nomos-test", "-f"])
        .arg(path)
        .output()
        .expect("ssh-keygen runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Sshd {
    /// Start on `ip` (port 0 = any free port). `None` if the address is taken.
    fn start(dir: &Path, ip: &str, port: u16) -> Option<Sshd> {
        let sshd = Path::new("/usr/sbin/sshd");
        assert!(
            sshd.exists(),
            "/usr/sbin/sshd is missing: install openssh-server (.ci/run does)"
        );
        // sshd's privilege separation directory.
        std::fs::create_dir_all("/run/sshd").unwrap();
        let host_key = dir.join("host_key");
        if !host_key.exists() {
            ssh_keygen(&host_key);
            ssh_keygen(&dir.join("client"));
            std::fs::copy(dir.join("client.pub"), dir.join("authorized_keys")).unwrap();
        }
        let port = if port == 0 {
            TcpListener::bind((ip, 0))
                .ok()?
                .local_addr()
                .unwrap()
                .port()
        } else {
            port
        };
        let config = write(
            &dir.join("sshd_config"),
            &format!(
                "Port {port}\nListenAddress {ip}\nHostKey {hk}\nPidFile {d}/sshd.pid\n\
                 AuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nUsePAM no\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 PubkeyAuthentication yes\nPermitRootLogin prohibit-password\nAllowUsers root\n",
                hk = host_key.display(),
                d = dir.display(),
            ),
        );
        let mut child = Command::new(sshd)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("sshd.log")).unwrap())
            .spawn()
            .expect("sshd starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if TcpStream::connect((ip, port)).is_ok() {
                break;
            }
            if child.try_wait().unwrap().is_some() || Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(Sshd {
            child,
            dir: dir.to_path_buf(),
            port,
            ip: ip.to_string(),
        })
    }

    /// A known_hosts file trusting this server's host key.
    fn known_hosts(&self) -> PathBuf {
        let key = std::fs::read_to_string(self.dir.join("host_key.pub")).unwrap();
        let key: Vec<&str> = key.split_whitespace().take(2).collect();
        let host = if self.port == 22 {
            self.ip.clone()
        } else {
            format!("[{}]:{}", self.ip, self.port)
        };
        write(
            &self.dir.join("known_hosts"),
            &format!("{host} {}\n", key.join(" ")),
        )
    }

    fn key(&self) -> PathBuf {
        self.dir.join("client")
    }
}

fn start_sshd(dir: &Path) -> Sshd {
    for _ in 0..5 {
        if let Some(s) = Sshd::start(dir, "127.0.0.1", 0) {
            return s;
        }
    }
    panic!(
        "sshd did not start: {}",
        std::fs::read_to_string(dir.join("sshd.log")).unwrap_or_default()
    );
}

#[test]
fn ssh_with_key_and_known_hosts() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = Repo::new(tmp.path());
    let ssh_dir = tmp.path().join("ssh");
    std::fs::create_dir_all(&ssh_dir).unwrap();
    let sshd = start_sshd(&ssh_dir);
    let cache = tmp.path().join("cache");
    let url = format!("ssh://root@127.0.0.1:{}{}", sshd.port, repo.bare.display());

    // A secret directory as Config Sync mounts it: `ssh` and `known_hosts`.
    let secrets = tmp.path().join("secret");
    std::fs::create_dir_all(&secrets).unwrap();
    std::fs::copy(sshd.key(), secrets.join("ssh")).unwrap();
    std::fs::copy(sshd.known_hosts(), secrets.join("known_hosts")).unwrap();
    // Secret volumes are world-readable by default; ssh refuses such keys, the importer copes.
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(secrets.join("ssh"), std::fs::Permissions::from_mode(0o644))
            .unwrap();
    }
    let source = GitSource::new(&url)
        .with_secret_dir(AuthType::Ssh, &secrets)
        .unwrap();
    assert_eq!(
        source.host_keys,
        HostKeyCheck::KnownHostsFile(secrets.join("known_hosts"))
    );
    let mut f = fetcher(source, &cache).unwrap();
    let head = git(&repo.work, &["rev-parse", "HEAD"]);
    assert_eq!(f.resolve().unwrap(), head);
    assert_eq!(f.read(&head).unwrap().files[0].path, "shop.yaml");
    let c2 = repo.commit("web");
    assert_eq!(f.resolve().unwrap(), c2);
    // The private copy of the key lives only during a fetch.
    assert!(!f.mirror_path().join("nomos-ssh-key").exists());
}

#[test]
fn ssh_scp_like_url() {
    // scp-like URLs cannot carry a port: serve on port 22 of a loopback address of our own.
    let tmp = tempfile::tempdir().unwrap();
    let repo = Repo::new(tmp.path());
    let ssh_dir = tmp.path().join("ssh");
    std::fs::create_dir_all(&ssh_dir).unwrap();
    let base = std::process::id() % 200;
    let sshd = (0..20)
        .find_map(|i| Sshd::start(&ssh_dir, &format!("127.0.{}.{}", 1 + i, 2 + base), 22))
        .unwrap_or_else(|| {
            panic!(
                "sshd could not listen on port 22 of any 127.0.x.y address: {}",
                std::fs::read_to_string(ssh_dir.join("sshd.log")).unwrap_or_default()
            )
        });
    let url = format!("root@{}:{}", sshd.ip, repo.bare.display());
    let source = GitSource::new(&url)
        .with_credentials(Credentials::SshKey {
            key_file: sshd.key(),
        })
        .with_known_hosts(sshd.known_hosts());
    let head = git(&repo.work, &["rev-parse", "HEAD"]);
    assert_eq!(resolve(source, &tmp.path().join("cache")).unwrap(), head);
}

#[test]
fn ssh_wrong_key_and_unknown_host_key() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = Repo::new(tmp.path());
    let ssh_dir = tmp.path().join("ssh");
    std::fs::create_dir_all(&ssh_dir).unwrap();
    let sshd = start_sshd(&ssh_dir);
    let cache = tmp.path().join("cache");
    let url = format!("ssh://root@127.0.0.1:{}{}", sshd.port, repo.bare.display());
    let key = Credentials::SshKey {
        key_file: sshd.key(),
    };

    // A key the server does not authorize.
    let stranger = tmp.path().join("stranger");
    ssh_keygen(&stranger);
    let stranger_key = std::fs::read_to_string(&stranger).unwrap();
    let secret_line = stranger_key.lines().nth(1).unwrap().to_string();
    let err = resolve(
        GitSource::new(&url)
            .with_credentials(Credentials::SshKey {
                key_file: stranger.clone(),
            })
            .with_known_hosts(sshd.known_hosts()),
        &cache,
    )
    .unwrap_err();
    assert!(matches!(err, SourceError::Auth { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("Permission denied") && text.contains(&stranger.display().to_string()),
        "{text}"
    );
    assert_clean(&err, &[&secret_line]);

    // A known_hosts file without this server: refused, with how to fix it.
    let other_host = tmp.path().join("other_host");
    ssh_keygen(&other_host);
    let other = std::fs::read_to_string(other_host.with_extension("pub")).unwrap();
    let other: Vec<&str> = other.split_whitespace().take(2).collect();
    let wrong_known = write(
        &tmp.path().join("wrong_known_hosts"),
        &format!("[127.0.0.1]:{} {}\n", sshd.port, other.join(" ")),
    );
    let empty_known = write(&tmp.path().join("empty_known_hosts"), "");
    for known in [&wrong_known, &empty_known] {
        let err = resolve(
            GitSource::new(&url)
                .with_credentials(key.clone())
                .with_known_hosts(known),
            &cache,
        )
        .unwrap_err();
        assert!(matches!(err, SourceError::HostKey { .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.contains(&known.display().to_string()) && text.contains("ssh-keyscan"),
            "{text}"
        );
        assert_clean(&err, &[]);
    }

    // Host key checking explicitly disabled: the same server is accepted.
    let head = git(&repo.work, &["rev-parse", "HEAD"]);
    let source = GitSource::new(&url)
        .with_credentials(key)
        .with_host_key_check(HostKeyCheck::Disabled);
    assert_eq!(resolve(source, &cache).unwrap(), head);
}
