//! Where a policy repository lives and how to reach it: [`GitSource`], [`Transport`],
//! [`Credentials`], and the [`SourceError`]s fetching and reading can produce.

use std::fmt;
use std::path::{Path, PathBuf};

use nomos_core::diag::{Code, Diagnostic};

pub use crate::auth::{AuthType, Credentials, HostKeyCheck, TlsOptions};

/// Config Sync's default branch.
pub const DEFAULT_BRANCH: &str = "master";

/// A Git repository to import from (Config Sync's `spec.git`).
#[derive(Clone, PartialEq, Eq)]
pub struct GitSource {
    /// The repository URL or local path, exactly as configured. Never logged as is: use
    /// [`GitSource::display_url`], which strips any user information.
    pub url: String,
    /// Branch to follow when no revision is set (default `master`).
    pub branch: String,
    /// Tag, commit (full or abbreviated) or ref name; wins over `branch`. `HEAD` means "the branch".
    pub revision: Option<String>,
    /// The policy directory inside the repository (`""` or `.` = the root).
    pub dir: String,
    /// How to authenticate (secrets stay in files; only their paths are held here).
    pub credentials: Credentials,
    /// How SSH host keys are checked (strictly, unless disabled).
    pub host_keys: HostKeyCheck,
    /// CA file and `noSSLVerify` for `https://`.
    pub tls: TlsOptions,
}

impl fmt::Debug for GitSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitSource")
            .field("url", &self.display_url())
            .field("branch", &self.branch)
            .field("revision", &self.revision)
            .field("dir", &self.dir)
            .field("credentials", &self.credentials)
            .field("host_keys", &self.host_keys)
            .field("tls", &self.tls)
            .finish()
    }
}

impl GitSource {
    /// A source for `url` following `master` at the repository root, without credentials.
    pub fn new(url: impl Into<String>) -> GitSource {
        GitSource {
            url: url.into(),
            branch: DEFAULT_BRANCH.into(),
            revision: None,
            dir: String::new(),
            credentials: Credentials::None,
            host_keys: HostKeyCheck::System,
            tls: TlsOptions::default(),
        }
    }

    pub fn with_credentials(mut self, credentials: Credentials) -> GitSource {
        self.credentials = credentials;
        self
    }

    /// Credentials of `auth` from a mounted Secret: a directory with files named as Config
    /// Sync's secret keys (`username` and `token`, `cookie_file`, or `ssh` and an optional
    /// `known_hosts`, which then becomes the only source of trusted host keys).
    pub fn with_secret_dir(mut self, auth: AuthType, dir: &Path) -> Result<GitSource, SourceError> {
        self.credentials = Credentials::from_secret_dir(auth, dir)?;
        let known_hosts = dir.join(crate::auth::SECRET_KNOWN_HOSTS);
        if auth == AuthType::Ssh && known_hosts.is_file() {
            self.host_keys = HostKeyCheck::KnownHostsFile(known_hosts);
        }
        Ok(self)
    }

    /// Trust only the host keys in this `known_hosts` file.
    pub fn with_known_hosts(mut self, file: impl Into<PathBuf>) -> GitSource {
        self.host_keys = HostKeyCheck::KnownHostsFile(file.into());
        self
    }

    pub fn with_host_key_check(mut self, check: HostKeyCheck) -> GitSource {
        self.host_keys = check;
        self
    }

    /// Trust the CA certificate(s) in this PEM file instead of the system's roots.
    pub fn with_ca_cert_file(mut self, file: impl Into<PathBuf>) -> GitSource {
        self.tls.ca_cert_file = Some(file.into());
        self
    }

    /// Accept any TLS certificate (insecure; Config Sync's `noSSLVerify`).
    pub fn with_no_ssl_verify(mut self, no_verify: bool) -> GitSource {
        self.tls.no_ssl_verify = no_verify;
        self
    }

    pub fn with_branch(mut self, branch: impl Into<String>) -> GitSource {
        self.branch = branch.into();
        self
    }

    pub fn with_revision(mut self, revision: impl Into<String>) -> GitSource {
        self.revision = Some(revision.into());
        self
    }

    pub fn with_dir(mut self, dir: impl Into<String>) -> GitSource {
        self.dir = dir.into();
        self
    }

    /// The revision that overrides the branch, if any (`HEAD` and empty mean none).
    pub fn effective_revision(&self) -> Option<&str> {
        self.revision
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty() && *r != "HEAD")
    }

    /// The policy directory, normalised: no leading `./` or `/`, no trailing `/`, `""` for the root.
    pub fn normalized_dir(&self) -> String {
        normalize_dir(&self.dir)
    }

    /// The URL with any `user:password@` removed, safe for logs, errors and status.
    pub fn display_url(&self) -> String {
        redact_url(&self.url)
    }

    /// How the URL would be reached.
    pub fn transport(&self) -> Result<Transport, SourceError> {
        Transport::parse(&self.url)
    }
}

/// How a repository URL is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// `file://…` or a plain local path.
    Local(PathBuf),
    /// `https://…` or `http://…` (gix's reqwest transport, rustls).
    Http,
    /// `ssh://…` or scp-like `user@host:path` (runs `ssh`).
    Ssh,
    /// `git://…` (not supported).
    Git,
}

impl Transport {
    /// Classify `url`.
    pub fn parse(url: &str) -> Result<Transport, SourceError> {
        let url = url.trim();
        if url.is_empty() {
            return Err(SourceError::InvalidUrl {
                url: String::new(),
                reason: "the repository URL is empty".into(),
            });
        }
        if let Some(path) = url.strip_prefix("file://") {
            if path.is_empty() {
                return Err(SourceError::InvalidUrl {
                    url: redact_url(url),
                    reason: "a file:// URL needs a path".into(),
                });
            }
            return Ok(Transport::Local(PathBuf::from(path)));
        }
        if let Some((scheme, _)) = url.split_once("://") {
            return match scheme.to_ascii_lowercase().as_str() {
                "https" | "http" => Ok(Transport::Http),
                "ssh" | "git+ssh" | "ssh+git" => Ok(Transport::Ssh),
                "git" => Ok(Transport::Git),
                other => Err(SourceError::InvalidUrl {
                    url: redact_url(url),
                    reason: format!("unknown URL scheme {other:?}"),
                }),
            };
        }
        // scp-like `[user@]host:path`: a colon before the first slash.
        if let Some(colon) = url.find(':') {
            let slash = url.find('/').unwrap_or(usize::MAX);
            if colon < slash && colon > 0 {
                return Ok(Transport::Ssh);
            }
        }
        Ok(Transport::Local(PathBuf::from(url)))
    }
}

/// Bounds on what one commit may contain (counted over the files the importer reads).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Largest accepted file, in bytes.
    pub max_file_bytes: u64,
    /// Largest accepted total of all read files, in bytes.
    pub max_total_bytes: u64,
    /// Most files read from one commit.
    pub max_files: usize,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            max_file_bytes: 16 << 20,
            max_total_bytes: 512 << 20,
            max_files: 100_000,
        }
    }
}

/// Why a commit could not be fetched or read. Every variant is a KNV2004 source error except
/// [`SourceError::Empty`] (KNV2006). Messages never contain credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    #[error("invalid repository URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("{scheme} repositories are not supported: {url}")]
    Unsupported { scheme: &'static str, url: String },
    #[error("failed to fetch {url}: {reason}")]
    Fetch { url: String, reason: String },
    #[error("cannot connect to {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("authentication to {url} failed: {reason}")]
    Auth { url: String, reason: String },
    #[error("invalid credentials for {url}: {reason}")]
    AuthConfig { url: String, reason: String },
    #[error("cannot verify the SSH host key of {url}: {reason}")]
    HostKey { url: String, reason: String },
    #[error("TLS certificate of {url} not trusted: {reason}")]
    Tls { url: String, reason: String },
    #[error("secret file {path:?}: {reason}")]
    Secret { path: PathBuf, reason: String },
    #[error("branch {branch:?} not found in {url}")]
    BranchNotFound { url: String, branch: String },
    #[error("revision {revision:?} not found in {url}")]
    RevisionNotFound { url: String, revision: String },
    #[error("revision {revision:?} is ambiguous in {url}")]
    AmbiguousRevision { url: String, revision: String },
    #[error("policy directory {dir:?} does not exist in commit {commit}")]
    MissingDir { dir: String, commit: String },
    #[error("symbolic link {path:?} points outside the repository ({target:?})")]
    SymlinkEscapes { path: String, target: String },
    #[error("symbolic link {path:?} cannot be resolved: {reason}")]
    SymlinkUnresolvable { path: String, reason: String },
    #[error("file {path:?} is {size} bytes, more than the limit of {limit} bytes")]
    FileTooLarge { path: String, size: u64, limit: u64 },
    #[error("the policy directory holds more than {limit} bytes of configuration")]
    TooManyBytes { limit: u64 },
    #[error("the policy directory holds more than {limit} files")]
    TooManyFiles { limit: usize },
    #[error("cannot read {what} from the object database: {reason}")]
    Read { what: String, reason: String },
    #[error("mirror cache {path:?}: {reason}")]
    Cache { path: PathBuf, reason: String },
    #[error(
        "commit {commit} declares no objects for cluster {cluster:?} while the last synced commit did; refusing to delete everything"
    )]
    Empty { commit: String, cluster: String },
}

impl SourceError {
    /// The KNV code Config Sync reports for this error.
    pub fn code(&self) -> Code {
        match self {
            SourceError::Empty { .. } => Code::EMPTY_SOURCE,
            _ => Code::SOURCE,
        }
    }

    /// The error as a KNV diagnostic.
    pub fn diagnostic(&self) -> Diagnostic {
        let d = Diagnostic::new(self.code(), self.to_string());
        match self {
            SourceError::SymlinkEscapes { path, .. }
            | SourceError::SymlinkUnresolvable { path, .. }
            | SourceError::FileTooLarge { path, .. } => {
                let mut d = d;
                d.paths.push(path.clone());
                d
            }
            _ => d,
        }
    }
}

/// `a/b/` → `a/b`, `./a` → `a`, `.`/`/` → ``.
pub(crate) fn normalize_dir(dir: &str) -> String {
    dir.split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .collect::<Vec<_>>()
        .join("/")
}

/// Remove `user[:password]@` from a `scheme://` URL. scp-like and local paths are unchanged
/// (an scp-like user name is not a secret).
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rfind('@') {
        Some(at) => format!("{scheme}://{}{path}", &authority[at + 1..]),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_urls() {
        assert_eq!(
            Transport::parse("file:///srv/repo").unwrap(),
            Transport::Local("/srv/repo".into())
        );
        assert_eq!(
            Transport::parse("/srv/repo").unwrap(),
            Transport::Local("/srv/repo".into())
        );
        assert_eq!(
            Transport::parse("../repo").unwrap(),
            Transport::Local("../repo".into())
        );
        assert_eq!(
            Transport::parse("https://github.com/a/b").unwrap(),
            Transport::Http
        );
        assert_eq!(
            Transport::parse("ssh://git@github.com/a/b").unwrap(),
            Transport::Ssh
        );
        assert_eq!(
            Transport::parse("git@github.com:a/b.git").unwrap(),
            Transport::Ssh
        );
        assert!(Transport::parse("").is_err());
        assert!(Transport::parse("ftp://x/y").is_err());
    }

    #[test]
    fn redacts_user_info() {
        assert_eq!(
            redact_url("https://user:s3cret@git.example/a/b"),
            "https://git.example/a/b"
        );
        assert_eq!(
            redact_url("https://git.example/a@b"),
            "https://git.example/a@b"
        );
        let s = GitSource::new("https://tok@git.example/r");
        assert!(!format!("{s:?}").contains("tok@"));
    }

    #[test]
    fn revision_and_dir() {
        let s = GitSource::new("/r")
            .with_revision("HEAD")
            .with_dir("./a/b/");
        assert_eq!(s.effective_revision(), None);
        assert_eq!(s.normalized_dir(), "a/b");
        assert_eq!(GitSource::new("/r").with_dir(".").normalized_dir(), "");
    }
}
