//! The Git flags of the daemons that fetch a repository themselves (`nomos-importer`, and
//! `nomos-syncer` with a Git `--source`), defined once: flatten [`GitArgs`] into a clap parser.

use std::path::PathBuf;

use crate::{AuthType, GitSource, HostKeyCheck};

/// Branch, revision, directory, credentials and TLS/ssh settings of a Git source.
#[derive(clap::Args, Debug, Clone)]
pub struct GitArgs {
    /// Git: the branch to follow (Config Sync's default).
    #[arg(long, default_value = "master")]
    pub branch: String,
    /// Git: a tag, commit or ref to pin; wins over --branch.
    #[arg(long)]
    pub revision: Option<String>,
    /// Git: the policy directory inside the repository.
    #[arg(long, default_value = "")]
    pub dir: String,
    /// Git: where the bare mirror is kept (default: a directory in the system's temporary
    /// directory).
    #[arg(long = "cache-dir")]
    pub cache_dir: Option<PathBuf>,
    /// Git: how to authenticate (Config Sync's spec.git.auth): none, token, cookiefile or ssh.
    #[arg(long, default_value = "none")]
    pub auth: String,
    /// Git: the mounted Secret with the credentials, files named as Config Sync's secret keys:
    /// `username` and `token` (token), `cookie_file` (cookiefile), `ssh` and optionally
    /// `known_hosts` (ssh). Read at every fetch; never logged.
    #[arg(long = "secret-dir")]
    pub secret_dir: Option<PathBuf>,
    /// Git over https: trust the CA certificate(s) in this PEM file instead of the system's
    /// roots (Config Sync's caCertSecretRef, key `cert`).
    #[arg(long = "ca-cert-file")]
    pub ca_cert_file: Option<PathBuf>,
    /// Git over https: accept any server certificate (Config Sync's noSSLVerify; insecure).
    #[arg(long = "no-ssl-verify", default_value_t = false)]
    pub no_ssl_verify: bool,
    /// Git over ssh: trust only the host keys in this known_hosts file (default: the secret's
    /// `known_hosts`, else ssh's own known_hosts files; checking is strict).
    #[arg(long = "ssh-known-hosts", conflicts_with = "ssh_no_host_key_check")]
    pub ssh_known_hosts: Option<PathBuf>,
    /// Git over ssh: accept any host key (insecure: man-in-the-middle attacks go unnoticed).
    #[arg(long = "ssh-no-host-key-check", default_value_t = false)]
    pub ssh_no_host_key_check: bool,
}

impl GitArgs {
    /// The source these flags describe for the repository `url`. Errors name the flag to fix.
    pub fn git_source(&self, url: &str) -> Result<GitSource, String> {
        let mut git = GitSource::new(url.to_string())
            .with_branch(self.branch.clone())
            .with_dir(self.dir.clone());
        if let Some(r) = &self.revision {
            git = git.with_revision(r.clone());
        }
        let auth = AuthType::parse(&self.auth).map_err(|e| format!("--auth: {e}"))?;
        match (&self.secret_dir, auth) {
            (None, AuthType::None) => {}
            (Some(_), AuthType::None) => {
                return Err("--secret-dir needs --auth token, cookiefile or ssh".into());
            }
            (None, auth) => {
                return Err(format!(
                    "--auth {auth} needs --secret-dir (the mounted Secret)"
                ));
            }
            (Some(dir), auth) => {
                git = git
                    .with_secret_dir(auth, dir)
                    .map_err(|e| format!("--secret-dir: {}", e.diagnostic()))?;
            }
        }
        if let Some(ca) = &self.ca_cert_file {
            git = git.with_ca_cert_file(ca.clone());
        }
        git = git.with_no_ssl_verify(self.no_ssl_verify);
        if let Some(known_hosts) = &self.ssh_known_hosts {
            git = git.with_known_hosts(known_hosts.clone());
        }
        if self.ssh_no_host_key_check {
            git = git.with_host_key_check(HostKeyCheck::Disabled);
        }
        Ok(git)
    }

    /// `--cache-dir`, or `nomos-git-cache` in the system's temporary directory.
    pub fn cache_dir(&self) -> PathBuf {
        self.cache_dir
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join("nomos-git-cache"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        git: GitArgs,
    }

    #[test]
    fn flags_become_a_source_and_bad_combinations_name_the_flag() {
        let cli = Cli::parse_from(["x", "--branch", "main", "--revision", "v1", "--dir", "cfg"]);
        let g = cli.git.git_source("file:///srv/policy.git").unwrap();
        assert_eq!(g.branch, "main");
        assert_eq!(g.effective_revision(), Some("v1"));
        assert_eq!(g.normalized_dir(), "cfg");
        let cli = Cli::parse_from(["x", "--auth", "token"]);
        let e = cli.git.git_source("https://example.com/r.git").unwrap_err();
        assert!(e.contains("--auth token needs --secret-dir"), "{e}");
        let cli = Cli::parse_from(["x", "--secret-dir", "/nowhere"]);
        let e = cli.git.git_source("https://example.com/r.git").unwrap_err();
        assert!(e.contains("--secret-dir needs --auth"), "{e}");
    }
}
