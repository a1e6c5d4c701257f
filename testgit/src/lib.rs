//! Scratch Git repositories for tests and benchmarks, built with the `git` program (as the
//! repositories users push to are) under an isolated configuration: no system or global config,
//! a fixed identity, no signing. Every helper panics with git's own error output, which is what
//! a failing test should show.
//!
//! ```no_run
//! let repo = nomos_testgit::Repo::new();
//! repo.write("namespaces/shop/ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n");
//! let commit = repo.commit("first");
//! assert_eq!(commit.len(), 40);
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;

/// Run `git args…` in `dir`; its standard output, trimmed. Panics when git fails.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(["-c", "commit.gpgSign=false", "-c", "tag.gpgSign=false"])
        .args(["-c", "init.defaultBranch=master"])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .expect("the git program runs");
    assert!(
        out.status.success(),
        "git {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A working repository on branch `master`.
pub struct Repo {
    path: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

impl Default for Repo {
    fn default() -> Self {
        Repo::new()
    }
}

impl Repo {
    /// A new repository in `repo/` of a scratch directory (removed when the `Repo` is dropped;
    /// [`Repo::scratch`] names other paths in it).
    pub fn new() -> Repo {
        let tmp = tempfile::tempdir().expect("a temporary directory");
        let mut r = Repo::init(&tmp.path().join("repo"));
        r._tmp = Some(tmp);
        r
    }

    /// A path beside the repository (for a cache, a secret file, …); inside the scratch
    /// directory when the repository was made by [`Repo::new`].
    pub fn scratch(&self, name: &str) -> PathBuf {
        self.path.with_file_name(name)
    }

    /// A new repository at `path` (created if missing; left in place when dropped).
    pub fn init(path: &Path) -> Repo {
        std::fs::create_dir_all(path).expect("the repository directory can be created");
        git(path, &["init", "-q", "-b", "master"]);
        Repo {
            path: path.to_path_buf(),
            _tmp: None,
        }
    }

    /// The existing repository at `path` (left in place when dropped).
    pub fn open(path: &Path) -> Repo {
        Repo {
            path: path.to_path_buf(),
            _tmp: None,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `file://` URL of the repository.
    pub fn url(&self) -> String {
        format!("file://{}", self.path.display())
    }

    /// Run `git args…` in the repository.
    pub fn git(&self, args: &[&str]) -> String {
        git(&self.path, args)
    }

    /// Write `content` to `rel` (parent directories created).
    pub fn write(&self, rel: &str, content: &str) {
        let p = self.path.join(rel);
        std::fs::create_dir_all(p.parent().expect("a file path has a parent"))
            .expect("directories can be created");
        std::fs::write(&p, content).unwrap_or_else(|e| panic!("writing {}: {e}", p.display()));
    }

    /// A symbolic link at `rel` pointing to `target` (parent directories created).
    pub fn symlink(&self, rel: &str, target: &str) {
        let p = self.path.join(rel);
        std::fs::create_dir_all(p.parent().expect("a file path has a parent"))
            .expect("directories can be created");
        std::os::unix::fs::symlink(target, &p)
            .unwrap_or_else(|e| panic!("linking {}: {e}", p.display()));
    }

    /// Commit everything in the working tree (even nothing); the new commit's id.
    pub fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }

    /// Write `files` (path, content) and commit them; the new commit's id.
    pub fn commit_files<P: AsRef<str>, C: AsRef<str>>(
        &self,
        files: &[(P, C)],
        message: &str,
    ) -> String {
        for (p, c) in files {
            self.write(p.as_ref(), c.as_ref());
        }
        self.commit(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_are_made_and_named() {
        let repo = Repo::new();
        let first = repo.commit_files(&[("a/b.yaml", "x: 1\n")], "first");
        let second = repo.commit("empty");
        assert_eq!(first.len(), 40);
        assert_ne!(first, second);
        assert_eq!(repo.git(&["rev-parse", "HEAD~1"]), first);
        assert_eq!(repo.git(&["show", "HEAD~1:a/b.yaml"]), "x: 1");
        assert!(repo.url().starts_with("file:///"));
        assert_eq!(repo.scratch("cache").parent(), repo.path().parent());
    }
}
