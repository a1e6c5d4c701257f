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

use crate::source::{Bounds, GitSource, SourceError, Transport};
use crate::{Checkout, Source};

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
        match source.transport()? {
            Transport::Local(_) => {}
            Transport::Http => {
                return Err(SourceError::Unsupported {
                    scheme: "HTTP(S)",
                    url: source.display_url(),
                });
            }
            Transport::Ssh => {
                return Err(SourceError::Unsupported {
                    scheme: "SSH",
                    url: source.display_url(),
                });
            }
            Transport::Git => {
                return Err(SourceError::Unsupported {
                    scheme: "git://",
                    url: source.display_url(),
                });
            }
        }
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

    /// Fetch and resolve the branch or revision to a commit id.
    fn fetch_commit(&mut self) -> Result<ObjectId, SourceError> {
        let repo = self.open_mirror()?;
        let remote = repo
            .remote_at(self.source.url.as_str())
            .map_err(|e| self.fetch_err(e))?
            .with_refspecs(
                self.refspecs().iter().map(String::as_str),
                gix::remote::Direction::Fetch,
            )
            .map_err(|e| self.fetch_err(e))?;
        let connection = remote
            .connect(gix::remote::Direction::Fetch)
            .map_err(|e| self.fetch_err(e))?;
        let outcome = connection
            .prepare_fetch(gix::progress::Discard, Default::default())
            .map_err(|e| self.fetch_err(e))?
            .with_shallow(if shallow_ok(&self.source) {
                gix::remote::fetch::Shallow::DepthAtRemote(std::num::NonZeroU32::MIN)
            } else {
                gix::remote::fetch::Shallow::NoChange
            })
            .receive(gix::progress::Discard, &self.interrupt)
            .map_err(|e| self.fetch_err(e))?;

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

#[cfg(test)]
mod tests {
    use super::normalize_link;

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
