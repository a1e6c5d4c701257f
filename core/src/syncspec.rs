//! Where a reconciler's source is configured: a `RootSync` (`configsync.gke.io/v1beta1` or
//! `v1alpha1`) `spec`, or the legacy `ConfigManagement` (`configmanagement.gke.io/v1`) `spec`
//! translated the way `nomos migrate` does (reference sections 8.1–8.3).
//!
//! Pure: objects in (as read from a cluster or a file), a validated [`SyncSpec`] or KNV1061
//! diagnostics out. The daemons turn a spec into fetch settings and read the Secret it names.
//!
//! ```
//! use nomos_core::syncspec::{Auth, SyncSpec};
//! let rs = serde_json::json!({
//!     "apiVersion": "configsync.gke.io/v1beta1", "kind": "RootSync",
//!     "metadata": {"name": "root-sync", "namespace": "config-management-system"},
//!     "spec": {"sourceFormat": "unstructured", "git": {
//!         "repo": "https://github.com/org/policy", "branch": "main", "dir": "clusters",
//!         "period": "30s", "auth": "token", "secretRef": {"name": "git-creds"}}}});
//! let spec = SyncSpec::from_object(&rs).unwrap();
//! assert_eq!(spec.git.auth, Auth::Token);
//! assert_eq!(spec.git.git_ref(), "main");
//! assert_eq!(spec.git.period, std::time::Duration::from_secs(30));
//! assert_eq!(spec.git.secret_keys(), ["username", "token"]);
//! ```

use std::time::Duration;

use serde_json::Value;

use crate::SourceFormat;
use crate::diag::{Code, Diagnostic};

/// How the repository is authenticated (`spec.git.auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    None,
    Ssh,
    Cookiefile,
    Token,
    Gcenode,
    GcpServiceAccount,
    Githubapp,
}

impl Auth {
    /// Config Sync's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Auth::None => "none",
            Auth::Ssh => "ssh",
            Auth::Cookiefile => "cookiefile",
            Auth::Token => "token",
            Auth::Gcenode => "gcenode",
            Auth::GcpServiceAccount => "gcpserviceaccount",
            Auth::Githubapp => "githubapp",
        }
    }

    fn parse(s: &str) -> Option<Auth> {
        Some(match s {
            "none" => Auth::None,
            "ssh" => Auth::Ssh,
            "cookiefile" => Auth::Cookiefile,
            "token" => Auth::Token,
            "gcenode" => Auth::Gcenode,
            "gcpserviceaccount" => Auth::GcpServiceAccount,
            "githubapp" => Auth::Githubapp,
            _ => return None,
        })
    }

    /// Whether `spec.git.secretRef` is required (`true`) or forbidden (`false`).
    pub fn needs_secret(self) -> bool {
        matches!(
            self,
            Auth::Ssh | Auth::Cookiefile | Auth::Token | Auth::Githubapp
        )
    }
}

/// `spec.git`, defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitSpec {
    pub repo: String,
    /// Default `master`.
    pub branch: String,
    /// A tag, commit or ref; `None` when unset or `HEAD`.
    pub revision: Option<String>,
    /// The policy directory inside the repository (`""` = the root).
    pub dir: String,
    /// Default 15 s.
    pub period: Duration,
    pub auth: Auth,
    /// Name of the Secret holding the credentials (in the sync object's namespace).
    pub secret_ref: Option<String>,
    pub no_ssl_verify: bool,
    /// Name of the Secret whose `cert` key is the CA certificate.
    pub ca_cert_secret_ref: Option<String>,
    pub proxy: Option<String>,
}

impl GitSpec {
    /// What is fetched: the revision when set (and not `HEAD`), else the branch.
    pub fn git_ref(&self) -> &str {
        self.revision.as_deref().unwrap_or(&self.branch)
    }

    /// The keys the credentials Secret must hold for this auth type.
    pub fn secret_keys(&self) -> &'static [&'static str] {
        match self.auth {
            Auth::Ssh => &["ssh"],
            Auth::Cookiefile => &["cookie_file"],
            Auth::Token => &["username", "token"],
            Auth::Githubapp => &["github-app-private-key", "github-app-installation-id"],
            _ => &[],
        }
    }

    /// KNV1061 for each required key the Secret `secret` lacks (`keys`: what it has).
    pub fn check_secret(&self, secret: &str, keys: &[&str]) -> Vec<Diagnostic> {
        let mut out: Vec<Diagnostic> = self
            .secret_keys()
            .iter()
            .filter(|k| !keys.contains(k))
            .map(|k| {
                invalid(format!(
                    "git secretType was set as \"{}\" but {k} key is not present in the {secret:?} Secret; add the key {k:?} to the Secret",
                    self.auth.as_str()
                ))
            })
            .collect();
        if self.auth == Auth::Githubapp {
            let ids = ["github-app-client-id", "github-app-application-id"];
            let present = ids.iter().filter(|k| keys.contains(k)).count();
            if present != 1 {
                out.push(invalid(format!(
                    "the {secret:?} Secret must hold exactly one of github-app-client-id and github-app-application-id"
                )));
            }
        }
        out
    }
}

/// A reconciler's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncSpec {
    /// Default `hierarchy` for a RootSync (and for ConfigManagement).
    pub source_format: SourceFormat,
    pub git: GitSpec,
}

fn invalid(message: impl Into<String>) -> Diagnostic {
    Diagnostic::new(Code::INVALID_SYNC, message)
}

fn str_at<'a>(v: &'a Value, path: &str) -> Option<&'a str> {
    v.pointer(path)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

impl SyncSpec {
    /// From a `RootSync`, or a `ConfigManagement` (translated as `nomos migrate` does).
    pub fn from_object(obj: &Value) -> Result<SyncSpec, Vec<Diagnostic>> {
        let kind = str_at(obj, "/kind").unwrap_or("");
        let group = str_at(obj, "/apiVersion")
            .and_then(|a| a.split_once('/'))
            .map_or("", |(g, _)| g);
        match (group, kind) {
            ("configsync.gke.io", "RootSync") => SyncSpec::from_root_sync(obj),
            ("configmanagement.gke.io", "ConfigManagement") => {
                SyncSpec::from_config_management(obj)
            }
            _ => Err(vec![invalid(format!(
                "expected a RootSync (configsync.gke.io) or a ConfigManagement (configmanagement.gke.io), found {kind:?} of {group:?}"
            ))]),
        }
    }

    /// From a `RootSync` object's `spec`.
    pub fn from_root_sync(obj: &Value) -> Result<SyncSpec, Vec<Diagnostic>> {
        let name = str_at(obj, "/metadata/name").unwrap_or("root-sync");
        let mut errors = Vec::new();
        let source_type = str_at(obj, "/spec/sourceType").unwrap_or("git");
        if source_type != "git" {
            errors.push(invalid(format!(
                "RootSync {name:?} has spec.sourceType {source_type:?}; nomos-rs syncs Git sources only (set spec.sourceType to git)"
            )));
        }
        let source_format = parse_format(str_at(obj, "/spec/sourceFormat"), name, &mut errors);
        let git = obj.pointer("/spec/git").unwrap_or(&Value::Null);
        let repo = str_at(git, "/repo").unwrap_or("");
        if repo.is_empty() && source_type == "git" {
            errors.push(invalid(format!(
                "RootSync {name:?} must specify spec.git.repo when spec.sourceType is \"git\""
            )));
        }
        let period = match str_at(git, "/period") {
            None => Duration::from_secs(15),
            Some(p) => parse_go_duration(p).unwrap_or_else(|| {
                errors.push(invalid(format!(
                    "RootSync {name:?} has an invalid spec.git.period {p:?}; use a duration such as 15s, 1m or 1h30m"
                )));
                Duration::from_secs(15)
            }),
        };
        let auth_s = str_at(git, "/auth").unwrap_or("none");
        let auth = Auth::parse(auth_s).unwrap_or_else(|| {
            errors.push(invalid(format!(
                "RootSync {name:?} has an unknown spec.git.auth {auth_s:?}; use one of ssh, cookiefile, gcenode, gcpserviceaccount, token, githubapp, none"
            )));
            Auth::None
        });
        let secret_ref = str_at(git, "/secretRef/name").map(str::to_string);
        match (auth.needs_secret(), &secret_ref) {
            (true, None) => errors.push(invalid(format!(
                "RootSync {name:?} must specify spec.git.secretRef.name when spec.git.auth is {auth_s:?}"
            ))),
            (false, Some(_)) => errors.push(invalid(format!(
                "RootSync {name:?} must not specify spec.git.secretRef when spec.git.auth is {auth_s:?}; remove it"
            ))),
            _ => {}
        }
        if auth == Auth::GcpServiceAccount && str_at(git, "/gcpServiceAccountEmail").is_none() {
            errors.push(invalid(format!(
                "RootSync {name:?} must specify spec.git.gcpServiceAccountEmail when spec.git.auth is \"gcpserviceaccount\""
            )));
        }
        let proxy = str_at(git, "/proxy").map(str::to_string);
        if proxy.is_some()
            && !matches!(
                auth,
                Auth::None | Auth::Cookiefile | Auth::Token | Auth::Githubapp
            )
        {
            errors.push(invalid(format!(
                "RootSync {name:?} may only set spec.git.proxy with auth none, cookiefile, token or githubapp"
            )));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(SyncSpec {
            source_format,
            git: GitSpec {
                repo: repo.to_string(),
                branch: str_at(git, "/branch").unwrap_or("master").to_string(),
                revision: str_at(git, "/revision")
                    .filter(|r| *r != "HEAD")
                    .map(str::to_string),
                dir: normalise_dir(str_at(git, "/dir").unwrap_or("")),
                period,
                auth,
                secret_ref,
                no_ssl_verify: git
                    .pointer("/noSSLVerify")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                ca_cert_secret_ref: str_at(git, "/caCertSecretRef/name").map(str::to_string),
                proxy,
            },
        })
    }

    /// From a legacy `ConfigManagement` object's `spec.git` (`syncRepo`, `syncBranch`,
    /// `syncRev`, `policyDir`, `syncWait` in seconds, `secretType`), as `nomos migrate`
    /// translates it into a RootSync. The Secret is Config Sync's `git-creds`.
    pub fn from_config_management(obj: &Value) -> Result<SyncSpec, Vec<Diagnostic>> {
        let git = obj.pointer("/spec/git").unwrap_or(&Value::Null);
        let wait = match git.pointer("/syncWait") {
            None | Some(Value::Null) => 15,
            Some(v) => match v
                .as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            {
                Some(n) => n,
                None => {
                    return Err(vec![invalid(format!(
                        "ConfigManagement spec.git.syncWait must be a number of seconds, found {v}"
                    ))]);
                }
            },
        };
        let auth = str_at(git, "/secretType").unwrap_or("none");
        let mut rs_git = serde_json::json!({
            "repo": str_at(git, "/syncRepo").unwrap_or(""),
            "branch": str_at(git, "/syncBranch").unwrap_or("master"),
            "revision": str_at(git, "/syncRev").unwrap_or("HEAD"),
            "dir": str_at(git, "/policyDir").unwrap_or(""),
            "period": format!("{wait}s"),
            "auth": auth,
        });
        if Auth::parse(auth).is_some_and(Auth::needs_secret) {
            rs_git["secretRef"] = serde_json::json!({"name": "git-creds"});
        }
        if let Some(p) = str_at(obj, "/spec/git/proxy/httpsProxy")
            .or_else(|| str_at(obj, "/spec/git/proxy/httpProxy"))
        {
            rs_git["proxy"] = Value::String(p.to_string());
        }
        if let Some(b) = git.pointer("/noSSLVerify").and_then(Value::as_bool) {
            rs_git["noSSLVerify"] = Value::Bool(b);
        }
        let rs = serde_json::json!({
            "apiVersion": "configsync.gke.io/v1beta1",
            "kind": "RootSync",
            "metadata": {"name": "root-sync", "namespace": "config-management-system"},
            "spec": {
                "sourceFormat": str_at(obj, "/spec/sourceFormat").unwrap_or("hierarchy"),
                "git": rs_git,
            },
        });
        SyncSpec::from_root_sync(&rs)
    }
}

fn parse_format(s: Option<&str>, name: &str, errors: &mut Vec<Diagnostic>) -> SourceFormat {
    match s {
        None | Some("hierarchy") => SourceFormat::Hierarchy,
        Some("unstructured") => SourceFormat::Unstructured,
        Some(other) => {
            errors.push(invalid(format!(
                "RootSync {name:?} has an unknown spec.sourceFormat {other:?}; use hierarchy or unstructured"
            )));
            SourceFormat::Hierarchy
        }
    }
}

/// `./a/b/` → `a/b`; `/` and `.` → the root.
fn normalise_dir(d: &str) -> String {
    d.split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect::<Vec<_>>()
        .join("/")
}

/// A Go `time.Duration` string: `300ms`, `15s`, `1m30s`, `1.5h`, `2h45m` (units ns, us, µs,
/// ms, s, m, h); a bare `0` is zero.
pub fn parse_go_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s == "0" {
        return Some(Duration::ZERO);
    }
    let mut rest = s;
    let mut total = 0f64;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return None;
        }
        let n: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let secs = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += n * secs;
    }
    (total.is_finite() && total >= 0.0).then(|| Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn root_sync(spec: Value) -> Value {
        json!({"apiVersion": "configsync.gke.io/v1beta1", "kind": "RootSync",
               "metadata": {"name": "root-sync", "namespace": "config-management-system"},
               "spec": spec})
    }

    #[test]
    fn defaults_follow_config_sync() {
        let s = SyncSpec::from_object(&root_sync(
            json!({"git": {"repo": "git@github.com:org/repo", "auth": "none"}}),
        ))
        .unwrap();
        assert_eq!(s.source_format, SourceFormat::Hierarchy);
        assert_eq!(s.git.branch, "master");
        assert_eq!(s.git.revision, None);
        assert_eq!(s.git.git_ref(), "master");
        assert_eq!(s.git.dir, "");
        assert_eq!(s.git.period, Duration::from_secs(15));
        assert_eq!(s.git.auth, Auth::None);
    }

    #[test]
    fn revision_wins_over_branch_unless_head() {
        let s = SyncSpec::from_object(&root_sync(json!({"git": {
            "repo": "r", "branch": "main", "revision": "v1.2.0", "auth": "none", "dir": "./a/b/"}})))
        .unwrap();
        assert_eq!(s.git.git_ref(), "v1.2.0");
        assert_eq!(s.git.dir, "a/b");
        let s = SyncSpec::from_object(&root_sync(json!({"git": {
            "repo": "r", "branch": "main", "revision": "HEAD", "auth": "none"}})))
        .unwrap();
        assert_eq!(s.git.git_ref(), "main");
    }

    #[test]
    fn invalid_specs_are_knv1061_with_a_fix() {
        let cases = [
            (
                json!({"git": {"auth": "none"}}),
                "must specify spec.git.repo",
            ),
            (
                json!({"git": {"repo": "r", "auth": "token"}}),
                "must specify spec.git.secretRef.name",
            ),
            (
                json!({"git": {"repo": "r", "auth": "none", "secretRef": {"name": "s"}}}),
                "must not specify spec.git.secretRef",
            ),
            (
                json!({"git": {"repo": "r", "auth": "password"}}),
                "unknown spec.git.auth",
            ),
            (
                json!({"git": {"repo": "r", "auth": "none", "period": "soon"}}),
                "invalid spec.git.period",
            ),
            (
                json!({"git": {"repo": "r", "auth": "ssh", "secretRef": {"name": "s"}, "proxy": "http://p"}}),
                "spec.git.proxy",
            ),
            (
                json!({"git": {"repo": "r", "auth": "gcpserviceaccount"}}),
                "gcpServiceAccountEmail",
            ),
            (
                json!({"sourceFormat": "flat", "git": {"repo": "r", "auth": "none"}}),
                "unknown spec.sourceFormat",
            ),
            (
                json!({"sourceType": "oci", "git": {"repo": "r", "auth": "none"}}),
                "Git sources only",
            ),
        ];
        for (spec, want) in cases {
            let errs = SyncSpec::from_object(&root_sync(spec.clone())).unwrap_err();
            assert!(
                errs.iter()
                    .any(|e| e.code == Code::INVALID_SYNC && e.message.contains(want)),
                "{spec}: {errs:?}"
            );
        }
    }

    #[test]
    fn secret_keys_are_checked() {
        let s = SyncSpec::from_object(&root_sync(json!({"git": {
            "repo": "r", "auth": "token", "secretRef": {"name": "git-creds"}}})))
        .unwrap();
        assert!(
            s.git
                .check_secret("git-creds", &["username", "token"])
                .is_empty()
        );
        let errs = s.git.check_secret("git-creds", &["token"]);
        assert_eq!(errs.len(), 1);
        assert!(errs[0].message.contains("username key is not present"));
        assert_eq!(errs[0].code.knv(), "KNV1061");
    }

    #[test]
    fn config_management_translates_like_nomos_migrate() {
        let cm = json!({"apiVersion": "configmanagement.gke.io/v1", "kind": "ConfigManagement",
            "metadata": {"name": "config-management"},
            "spec": {"sourceFormat": "unstructured", "git": {
                "syncRepo": "https://example.com/r.git", "syncBranch": "prod", "syncRev": "abc123",
                "policyDir": "foo", "syncWait": 30, "secretType": "cookiefile"}}});
        let s = SyncSpec::from_object(&cm).unwrap();
        assert_eq!(s.source_format, SourceFormat::Unstructured);
        assert_eq!(s.git.repo, "https://example.com/r.git");
        assert_eq!(s.git.branch, "prod");
        assert_eq!(s.git.git_ref(), "abc123");
        assert_eq!(s.git.dir, "foo");
        assert_eq!(s.git.period, Duration::from_secs(30));
        assert_eq!(s.git.auth, Auth::Cookiefile);
        assert_eq!(s.git.secret_ref.as_deref(), Some("git-creds"));
        // Defaults: master, HEAD, 15 s, none.
        let s = SyncSpec::from_object(&json!({"apiVersion": "configmanagement.gke.io/v1",
            "kind": "ConfigManagement", "spec": {"git": {"syncRepo": "r"}}}))
        .unwrap();
        assert_eq!(s.git.git_ref(), "master");
        assert_eq!(s.git.period, Duration::from_secs(15));
        assert_eq!(s.source_format, SourceFormat::Hierarchy);
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("15s"), Some(Duration::from_secs(15)));
        assert_eq!(parse_go_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_go_duration("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("300ms"), Some(Duration::from_millis(300)));
        assert_eq!(parse_go_duration("0"), Some(Duration::ZERO));
        for bad in ["", "15", "s", "1x", "-1s"] {
            assert_eq!(parse_go_duration(bad), None, "{bad}");
        }
    }
}
