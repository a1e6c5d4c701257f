//! Credentials and transport security for remote repositories: what Config Sync calls
//! `spec.git.auth`, `secretRef`, `caCertSecretRef` and `noSSLVerify`.
//!
//! Secrets always live in files (mounted Kubernetes Secrets); only their paths are held in
//! [`Credentials`], and their content is read at each fetch (so rotated Secrets are picked up)
//! and never written to logs, errors, status or `Debug` output.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::source::SourceError;

/// Config Sync's secret key (file name in a secret directory) holding the user name (`auth: token`).
pub const SECRET_USERNAME: &str = "username";
/// Config Sync's secret key holding the token or password (`auth: token`).
pub const SECRET_TOKEN: &str = "token";
/// Config Sync's secret key holding a Netscape cookie file (`auth: cookiefile`).
pub const SECRET_COOKIE_FILE: &str = "cookie_file";
/// Config Sync's secret key holding the SSH private key (`auth: ssh`).
pub const SECRET_SSH_KEY: &str = "ssh";
/// Config Sync's optional secret key holding `known_hosts` (`auth: ssh`).
pub const SECRET_KNOWN_HOSTS: &str = "known_hosts";
/// Config Sync's secret key of `caCertSecretRef`.
pub const SECRET_CA_CERT: &str = "cert";

/// Config Sync's `spec.git.auth` values the importer implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthType {
    /// Public repositories (and local paths).
    #[default]
    None,
    /// HTTP(S) basic authentication with `username` and `token`.
    Token,
    /// HTTP(S) cookies from a Netscape cookie file (`cookie_file`).
    CookieFile,
    /// SSH with a private key (`ssh`) and optionally `known_hosts`.
    Ssh,
}

impl AuthType {
    /// Parse Config Sync's spelling (`none`, `token`, `cookiefile`, `ssh`). The Google Cloud and
    /// GitHub App types are recognised and refused with an explanation.
    pub fn parse(s: &str) -> Result<AuthType, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "none" => Ok(AuthType::None),
            "token" => Ok(AuthType::Token),
            "cookiefile" => Ok(AuthType::CookieFile),
            "ssh" => Ok(AuthType::Ssh),
            t @ ("gcenode" | "gcpserviceaccount" | "githubapp") => Err(format!(
                "auth type {t:?} is not supported by nomos (it needs a token-minting sidecar); \
                 use token, cookiefile or ssh"
            )),
            other => Err(format!(
                "unknown auth type {other:?}: use none, token, cookiefile or ssh"
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AuthType::None => "none",
            AuthType::Token => "token",
            AuthType::CookieFile => "cookiefile",
            AuthType::Ssh => "ssh",
        }
    }
}

impl fmt::Display for AuthType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How to authenticate, by reference to files (mounted Secrets): their content is read only when
/// connecting and never appears in logs, errors or status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Credentials {
    /// Public repositories and local paths (`auth: none`). Over ssh, `ssh`'s own default
    /// identities are used.
    #[default]
    None,
    /// HTTP(S) basic authentication (`auth: token`): the user name and the token (or password),
    /// each in a file. Surrounding whitespace (a trailing newline) is ignored.
    Token {
        username_file: PathBuf,
        token_file: PathBuf,
    },
    /// HTTP(S) cookies (`auth: cookiefile`) from a Netscape cookie file, as Git's
    /// `http.cookieFile`. Cookies are sent to the hosts, paths and schemes they name; their
    /// expiry dates are not checked (the server rejects expired ones).
    CookieFile { cookie_file: PathBuf },
    /// An SSH private key (`auth: ssh`); host keys are checked as [`HostKeyCheck`] says.
    SshKey { key_file: PathBuf },
}

impl Credentials {
    /// The Config Sync auth type these credentials implement.
    pub fn auth_type(&self) -> AuthType {
        match self {
            Credentials::None => AuthType::None,
            Credentials::Token { .. } => AuthType::Token,
            Credentials::CookieFile { .. } => AuthType::CookieFile,
            Credentials::SshKey { .. } => AuthType::Ssh,
        }
    }

    /// The credentials of `auth` from a directory holding files named as Config Sync's secret
    /// keys (a mounted Secret): `username` and `token`, `cookie_file`, or `ssh`. The files must
    /// exist; they are read at each fetch.
    pub fn from_secret_dir(auth: AuthType, dir: &Path) -> Result<Credentials, SourceError> {
        let file = |key: &str| -> Result<PathBuf, SourceError> {
            let path = dir.join(key);
            if path.is_file() {
                Ok(path)
            } else {
                Err(SourceError::Secret {
                    path,
                    reason: format!(
                        "auth {auth} needs the secret key {key:?}, a file named {key} in the secret directory"
                    ),
                })
            }
        };
        Ok(match auth {
            AuthType::None => Credentials::None,
            AuthType::Token => Credentials::Token {
                username_file: file(SECRET_USERNAME)?,
                token_file: file(SECRET_TOKEN)?,
            },
            AuthType::CookieFile => Credentials::CookieFile {
                cookie_file: file(SECRET_COOKIE_FILE)?,
            },
            AuthType::Ssh => Credentials::SshKey {
                key_file: file(SECRET_SSH_KEY)?,
            },
        })
    }
}

/// How SSH host keys are checked. Checking is on unless explicitly disabled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum HostKeyCheck {
    /// Strict checking against `ssh`'s own files (`~/.ssh/known_hosts`, `/etc/ssh/ssh_known_hosts`).
    #[default]
    System,
    /// Strict checking against this `known_hosts` file only.
    KnownHostsFile(PathBuf),
    /// Accept any host key (man-in-the-middle attacks go unnoticed; for tests and trusted networks).
    Disabled,
}

/// TLS settings for `https://` sources.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// PEM file with the CA certificate(s) to trust instead of the system's roots (Config Sync's
    /// `caCertSecretRef`, key `cert`; Git's `http.sslCAInfo`).
    pub ca_cert_file: Option<PathBuf>,
    /// Accept any server certificate (Config Sync's `noSSLVerify`; insecure).
    pub no_ssl_verify: bool,
}

/// A secret read from a file. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(String);

impl Secret {
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// Read a secret file, trimmed.
pub(crate) fn read_secret(path: &Path, what: &str) -> Result<Secret, SourceError> {
    let text = std::fs::read_to_string(path).map_err(|e| SourceError::Secret {
        path: path.to_path_buf(),
        reason: format!("cannot read the {what}: {}", e.kind()),
    })?;
    let text = text.trim();
    if text.is_empty() {
        return Err(SourceError::Secret {
            path: path.to_path_buf(),
            reason: format!("the {what} file is empty"),
        });
    }
    Ok(Secret(text.to_string()))
}

/// Replaces known secrets and URL user information in text that came from gix, reqwest or ssh.
#[derive(Default, Clone)]
pub(crate) struct Redactor {
    secrets: Vec<String>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} secrets)", self.secrets.len())
    }
}

impl Redactor {
    /// A redactor that knows the secrets in `url`'s user information: the password, and for
    /// HTTP(S) the user name too (`https://TOKEN@host/…` is a common way to pass a token).
    /// An SSH user name (`git@…`) is not a secret.
    pub(crate) fn for_url(url: &str) -> Redactor {
        let mut r = Redactor::default();
        if let Some((scheme, rest)) = url.split_once("://") {
            let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
            if let Some(at) = authority.rfind('@') {
                let userinfo = &authority[..at];
                let http = scheme.to_ascii_lowercase().starts_with("http");
                match userinfo.split_once(':') {
                    Some((user, pass)) => {
                        r.add(userinfo);
                        r.add(pass);
                        if http {
                            r.add(user);
                        }
                    }
                    None if http => r.add(userinfo),
                    None => {}
                }
            }
        }
        r
    }

    pub(crate) fn add(&mut self, secret: &str) {
        // Very short strings would garble messages; real secrets are longer.
        if secret.len() >= 3 && !self.secrets.iter().any(|s| s == secret) {
            self.secrets.push(secret.to_string());
            // Longest first, so a secret containing another is replaced whole.
            self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }

    /// `text` without any known secret and without user information in URLs.
    pub(crate) fn clean(&self, text: &str) -> String {
        let mut out = redact_urls_in_text(text);
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "[redacted]");
            }
        }
        out
    }
}

/// Remove `user[:password]@` from every `scheme://` URL inside `text`.
pub(crate) fn redact_urls_in_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c == '/' || c.is_whitespace() || c == '"' || c == '\'' || c == '>')
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) => out.push_str(&authority[at + 1..]),
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// One cookie of a Netscape cookie file.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Cookie {
    domain: String,
    include_subdomains: bool,
    path: String,
    secure: bool,
    name: String,
    value: String,
}

impl fmt::Debug for Cookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cookie")
            .field("domain", &self.domain)
            .field("path", &self.path)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Parse a Netscape cookie file (curl's and Git's `http.cookieFile` format): tab-separated
/// `domain`, `include-subdomains`, `path`, `secure`, `expiry`, `name`, `value`; `#` comments
/// (except the `#HttpOnly_` domain prefix) and malformed lines are skipped.
pub(crate) fn parse_cookie_file(text: &str) -> Vec<Cookie> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        let line = line.strip_prefix("#HttpOnly_").unwrap_or(line);
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        if fields.len() < 7 {
            continue;
        }
        let domain = fields[0].trim().to_ascii_lowercase();
        let domain = domain.split(':').next().unwrap_or_default().to_string();
        out.push(Cookie {
            include_subdomains: fields[1].eq_ignore_ascii_case("TRUE") || domain.starts_with('.'),
            domain: domain.trim_start_matches('.').to_string(),
            path: if fields[2].is_empty() {
                "/".into()
            } else {
                fields[2].to_string()
            },
            secure: fields[3].eq_ignore_ascii_case("TRUE"),
            name: fields[5].to_string(),
            value: fields[6..].join("\t"),
        });
    }
    out
}

/// The `Cookie` header value for a request to `https`/`http` `host` at `path`, if any cookie applies.
pub(crate) fn cookie_header(
    cookies: &[Cookie],
    https: bool,
    host: &str,
    path: &str,
) -> Option<String> {
    let host = host.to_ascii_lowercase();
    let pairs: Vec<String> = cookies
        .iter()
        .filter(|c| {
            let host_ok = host == c.domain
                || (c.include_subdomains && host.ends_with(&format!(".{}", c.domain)));
            let path_ok = path.starts_with(&c.path)
                && (c.path.ends_with('/')
                    || path.len() == c.path.len()
                    || path[c.path.len()..].starts_with('/'));
            host_ok && path_ok && (https || !c.secure)
        })
        .map(|c| format!("{}={}", c.name, c.value))
        .collect();
    (!pairs.is_empty()).then(|| pairs.join("; "))
}

/// The values of the cookies, for redaction.
pub(crate) fn cookie_values(cookies: &[Cookie]) -> impl Iterator<Item = &str> {
    cookies.iter().map(|c| c.value.as_str())
}

/// A rustls client configuration on the `ring` provider: the CA file's certificates, or the
/// platform's trust store, or no verification at all.
pub(crate) fn tls_config(tls: &TlsOptions) -> Result<rustls::ClientConfig, SourceError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls_err = |path: &Path, reason: String| SourceError::Secret {
        path: path.to_path_buf(),
        reason,
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| SourceError::Fetch {
            url: String::new(),
            reason: format!("TLS setup: {e}"),
        })?;
    if tls.no_ssl_verify {
        return Ok(builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider)))
            .with_no_client_auth());
    }
    if let Some(ca) = &tls.ca_cert_file {
        let mut roots = rustls::RootCertStore::empty();
        let certs = CertificateDer::pem_file_iter(ca)
            .map_err(|e| tls_err(ca, format!("cannot read the CA certificate file: {e}")))?;
        for cert in certs {
            let cert = cert
                .map_err(|e| tls_err(ca, format!("invalid PEM in the CA certificate file: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| tls_err(ca, format!("invalid CA certificate: {e}")))?;
        }
        if roots.is_empty() {
            return Err(tls_err(
                ca,
                "the CA certificate file holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
                    .into(),
            ));
        }
        return Ok(builder.with_root_certificates(roots).with_no_client_auth());
    }
    use rustls_platform_verifier::BuilderVerifierExt;
    Ok(builder
        .with_platform_verifier()
        .map_err(|e| SourceError::Fetch {
            url: String::new(),
            reason: format!("cannot load the system's trusted certificates: {e}"),
        })?
        .with_no_client_auth())
}

/// `noSSLVerify`: accepts any certificate, still checks handshake signatures.
#[derive(Debug)]
struct AcceptAnyCert(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Quote `s` for a POSIX shell.
fn shell_quote(s: &std::ffi::OsStr) -> String {
    let s = s.to_string_lossy();
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The `ssh` command line (run by `sh`, as `GIT_SSH_COMMAND` is) for a fetch: never prompts,
/// uses only `key` when given, checks host keys as `host_keys` says, and writes its diagnostics
/// to `stderr_file` so failures can be explained.
pub(crate) fn ssh_command(
    key: Option<&Path>,
    host_keys: &HostKeyCheck,
    stderr_file: &Path,
) -> OsString {
    let mut cmd = String::from("ssh -o BatchMode=yes -o ConnectTimeout=30");
    if let Some(key) = key {
        cmd.push_str(" -o IdentitiesOnly=yes -i ");
        cmd.push_str(&shell_quote(key.as_os_str()));
    }
    match host_keys {
        HostKeyCheck::System => cmd.push_str(" -o StrictHostKeyChecking=yes"),
        HostKeyCheck::KnownHostsFile(path) => {
            cmd.push_str(" -o StrictHostKeyChecking=yes -o GlobalKnownHostsFile=/dev/null");
            cmd.push_str(" -o UserKnownHostsFile=");
            cmd.push_str(&shell_quote(path.as_os_str()));
        }
        HostKeyCheck::Disabled => cmd.push_str(
            " -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
             -o GlobalKnownHostsFile=/dev/null -o LogLevel=ERROR",
        ),
    }
    cmd.push_str(r#" "$@" 2>"#);
    cmd.push_str(&shell_quote(stderr_file.as_os_str()));
    cmd.into()
}

/// What `ssh` said about a failed connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SshFailure {
    /// The host key is unknown or changed.
    HostKey(String),
    /// The server refused the key (or no key was accepted).
    Denied(String),
    /// The private key cannot be used.
    BadKey(String),
    /// The host cannot be reached.
    Connect(String),
    /// Anything else `ssh` or the remote printed.
    Other(String),
}

/// Classify `ssh`'s stderr; `None` when it printed nothing relevant.
pub(crate) fn classify_ssh_stderr(stderr: &str) -> Option<SshFailure> {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("Warning: Permanently added"))
        .collect();
    if lines.is_empty() {
        return None;
    }
    let find = |needles: &[&str]| {
        lines
            .iter()
            .find(|l| needles.iter().any(|n| l.contains(n)))
            .map(|l| l.to_string())
    };
    if lines
        .iter()
        .any(|l| l.contains("Host key verification failed"))
    {
        // The most specific line: a changed key names the host, an unknown one too.
        let detail = [
            "Host key for",
            "host key is known",
            "IDENTIFICATION HAS CHANGED",
        ]
        .iter()
        .find_map(|n| find(&[n]))
        .unwrap_or_else(|| "Host key verification failed.".into());
        let detail = detail.trim_matches(|c: char| c == '@' || c.is_whitespace());
        return Some(SshFailure::HostKey(detail.to_string()));
    }
    if let Some(l) = find(&[
        "UNPROTECTED PRIVATE KEY",
        "Load key",
        "bad permissions",
        "invalid format",
        "no such identity",
    ]) {
        return Some(SshFailure::BadKey(l));
    }
    if let Some(l) = find(&["Permission denied", "Too many authentication failures"]) {
        return Some(SshFailure::Denied(l));
    }
    if let Some(l) = find(&[
        "Could not resolve hostname",
        "Connection refused",
        "Connection timed out",
        "No route to host",
        "Network is unreachable",
        "connect to host",
        "Connection closed by",
        "Connection reset",
    ]) {
        return Some(SshFailure::Connect(l));
    }
    Some(SshFailure::Other(lines.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_types() {
        assert_eq!(AuthType::parse("cookiefile"), Ok(AuthType::CookieFile));
        assert_eq!(AuthType::parse("SSH"), Ok(AuthType::Ssh));
        assert_eq!(AuthType::parse(""), Ok(AuthType::None));
        let e = AuthType::parse("gcenode").unwrap_err();
        assert!(e.contains("not supported"), "{e}");
        assert!(AuthType::parse("kerberos").is_err());
    }

    #[test]
    fn secret_dir_needs_config_sync_keys() {
        let dir = tempfile::tempdir().unwrap();
        let err = Credentials::from_secret_dir(AuthType::Token, dir.path()).unwrap_err();
        assert!(err.to_string().contains("\"username\""), "{err}");
        std::fs::write(dir.path().join("username"), "me\n").unwrap();
        std::fs::write(dir.path().join("token"), "t0ken\n").unwrap();
        let c = Credentials::from_secret_dir(AuthType::Token, dir.path()).unwrap();
        assert_eq!(c.auth_type(), AuthType::Token);
        assert!(!format!("{c:?}").contains("t0ken"));
        let s = read_secret(&dir.path().join("token"), "token").unwrap();
        assert_eq!(s.expose(), "t0ken");
        assert!(!format!("{s:?}").contains("t0ken"));
        assert!(Credentials::from_secret_dir(AuthType::Ssh, dir.path()).is_err());
    }

    #[test]
    fn redacts_secrets_and_userinfo() {
        let mut r = Redactor::for_url("https://bob:hunter22@git.example/r");
        r.add("tok-123");
        let text = "GET https://bob:hunter22@git.example/r failed; token tok-123; see http://a@b/c";
        let clean = r.clean(text);
        assert!(
            !clean.contains("hunter22") && !clean.contains("tok-123"),
            "{clean}"
        );
        assert!(clean.contains("https://git.example/r"), "{clean}");
        assert!(clean.contains("http://b/c"), "{clean}");
        assert!(!format!("{r:?}").contains("tok"));
    }

    #[test]
    fn cookies_match_host_path_and_scheme() {
        let file = "# Netscape HTTP Cookie File\n\
                    .example.com\tTRUE\t/\tTRUE\t0\to\tgit-secret\n\
                    #HttpOnly_git.other.org\tFALSE\t/repo\tFALSE\t0\tsid\tabc\n\
                    bad line\n";
        let cookies = parse_cookie_file(file);
        assert_eq!(cookies.len(), 2);
        assert_eq!(
            cookie_header(&cookies, true, "git.example.com", "/a/b").as_deref(),
            Some("o=git-secret")
        );
        assert_eq!(
            cookie_header(&cookies, false, "git.example.com", "/a"),
            None
        );
        assert_eq!(
            cookie_header(&cookies, false, "git.other.org", "/repo/info/refs").as_deref(),
            Some("sid=abc")
        );
        assert_eq!(
            cookie_header(&cookies, true, "git.other.org", "/repository"),
            None
        );
        assert_eq!(
            cookie_header(&cookies, true, "sub.git.other.org", "/repo"),
            None
        );
        assert!(!format!("{cookies:?}").contains("git-secret"));
    }

    #[test]
    fn ssh_command_is_quoted_and_strict_by_default() {
        let cmd = ssh_command(
            Some(Path::new("/secrets/it's/ssh")),
            &HostKeyCheck::System,
            Path::new("/m/err"),
        );
        let cmd = cmd.to_string_lossy();
        assert!(cmd.contains(r"-i '/secrets/it'\''s/ssh'"), "{cmd}");
        assert!(cmd.contains("StrictHostKeyChecking=yes"), "{cmd}");
        assert!(cmd.contains("BatchMode=yes"), "{cmd}");
        assert!(cmd.ends_with(r#""$@" 2>'/m/err'"#), "{cmd}");
        let off = ssh_command(None, &HostKeyCheck::Disabled, Path::new("/e"));
        assert!(off.to_string_lossy().contains("StrictHostKeyChecking=no"));
    }

    #[test]
    fn classifies_ssh_errors() {
        let unknown = "No ED25519 host key is known for [127.0.0.1]:2222 and you have requested strict checking.\r\nHost key verification failed.\r\n";
        assert!(matches!(
            classify_ssh_stderr(unknown),
            Some(SshFailure::HostKey(l)) if l.contains("127.0.0.1")
        ));
        assert!(matches!(
            classify_ssh_stderr("root@127.0.0.1: Permission denied (publickey).\n"),
            Some(SshFailure::Denied(_))
        ));
        assert!(matches!(
            classify_ssh_stderr("ssh: connect to host 127.0.0.1 port 1: Connection refused\n"),
            Some(SshFailure::Connect(_))
        ));
        assert_eq!(classify_ssh_stderr("\n"), None);
    }
}
