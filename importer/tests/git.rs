//! End-to-end importer tests against real Git repositories built with the `git` CLI.

use std::sync::Arc;

use nomos_core::{Options, SourceFormat};
use nomos_importer::{
    Bounds, Fetcher, GitSource, ImportConfig, ImportOutcome, Importer, Snapshot, SourceError,
};

/// The source repository (`repo/`) and the importer's cache (`cache/`) in one scratch
/// directory.
use nomos_testgit::Repo;

/// An importer of `source` with its cache beside `repo`.
fn importer(repo: &Repo, source: GitSource) -> Importer<Fetcher> {
    importer_with(repo, source, Bounds::default())
}

fn importer_with(repo: &Repo, source: GitSource, bounds: Bounds) -> Importer<Fetcher> {
    let cache = repo.scratch("cache");
    let fetcher = Fetcher::new(source, SourceFormat::Unstructured, bounds, &cache).unwrap();
    Importer::new(
        fetcher,
        ImportConfig {
            options: Options::new(SourceFormat::Unstructured),
            ..ImportConfig::default()
        },
    )
}

fn ns(name: &str) -> String {
    format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n")
}

fn cm(name: &str, cluster: Option<&str>) -> String {
    let ann = cluster
        .map(|c| format!("  annotations:\n    configsync.gke.io/cluster-name-selector: {c}\n"))
        .unwrap_or_default();
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: shop\n{ann}data:\n  k: v\n"
    )
}

/// A two-cluster repository: `a` only on alpha, `b` only on beta.
fn seed(repo: &Repo, prefix: &str) -> String {
    repo.write(&format!("{prefix}ns.yaml"), &ns("shop"));
    repo.write(&format!("{prefix}cm-a.yaml"), &cm("a", Some("alpha")));
    repo.write(&format!("{prefix}cm-b.yaml"), &cm("b", Some("beta")));
    repo.commit("seed")
}

fn clusters() -> Vec<String> {
    vec!["alpha".into(), "beta".into()]
}

fn names(s: &Snapshot, cluster: &str) -> Vec<String> {
    s.per_cluster[cluster]
        .objects
        .iter()
        .map(|o| format!("{}/{}", o.gvk.kind, o.id.name))
        .collect()
}

fn published(o: ImportOutcome) -> Arc<Snapshot> {
    match o {
        ImportOutcome::Published(s) => s,
        other => panic!("expected a snapshot, got {other:?}"),
    }
}

fn rejected(o: &ImportOutcome) -> String {
    match o {
        ImportOutcome::Rejected { errors, .. } => errors
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n"),
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn first_import_then_new_commit() {
    let repo = Repo::new();
    let c1 = seed(&repo, "");
    let mut imp = importer(&repo, GitSource::new(repo.url()));
    let rx = imp.subscribe();
    let s1 = published(imp.import(&clusters()));
    assert_eq!(s1.commit, c1);
    assert_eq!(s1.source.branch, "master");
    assert_eq!(names(&s1, "alpha"), ["Namespace/shop", "ConfigMap/a"]);
    assert_eq!(names(&s1, "beta"), ["Namespace/shop", "ConfigMap/b"]);
    assert_eq!(rx.borrow().as_ref().unwrap().commit, c1);
    let token = &s1.per_cluster["alpha"].objects[1].value()["metadata"]["annotations"]
        [nomos_core::ann::TOKEN];
    assert_eq!(token.as_str(), Some(c1.as_str()));

    // Same commit: nothing to do.
    assert!(matches!(
        imp.import(&clusters()),
        ImportOutcome::Unchanged { .. }
    ));

    repo.write("cm-c.yaml", &cm("c", None));
    let c2 = repo.commit("c");
    let s2 = published(imp.import(&clusters()));
    assert_eq!(s2.commit, c2);
    assert_ne!(s2.hash, s1.hash);
    assert!(names(&s2, "alpha").contains(&"ConfigMap/c".to_string()));
    assert!(names(&s2, "beta").contains(&"ConfigMap/c".to_string()));
    assert_eq!(rx.borrow().as_ref().unwrap().commit, c2);
}

#[test]
fn invalid_commit_keeps_last_good() {
    let repo = Repo::new();
    let c1 = seed(&repo, "");
    let mut imp = importer(&repo, GitSource::new(repo.url()));
    published(imp.import(&clusters()));

    repo.write("bad.yaml", &cm("Bad_Name", None));
    repo.commit("bad");
    let out = imp.import(&clusters());
    let text = rejected(&out);
    assert!(text.contains("KNV1036"), "{text}");
    assert_eq!(imp.last_good().unwrap().commit, c1);
    // Re-polling the same bad commit repeats the errors without re-reading.
    match imp.import(&clusters()) {
        ImportOutcome::Unchanged { errors, .. } => assert!(!errors.is_empty()),
        other => panic!("{other:?}"),
    }

    // Fixing it publishes again.
    repo.git(&["rm", "-q", "bad.yaml"]);
    let c3 = repo.commit("fix");
    assert_eq!(published(imp.import(&clusters())).commit, c3);
}

#[test]
fn empty_checkout_is_refused() {
    let repo = Repo::new();
    let c1 = seed(&repo, "policy/");
    let mut imp = importer(&repo, GitSource::new(repo.url()).with_dir("policy"));
    published(imp.import(&clusters()));

    // Every file removed: KNV2006, nothing pruned.
    repo.git(&[
        "rm",
        "-q",
        "policy/ns.yaml",
        "policy/cm-a.yaml",
        "policy/cm-b.yaml",
    ]);
    repo.write("policy/README.md", "empty\n");
    repo.commit("empty");
    let text = rejected(&imp.import(&clusters()));
    assert!(text.contains("KNV2006"), "{text}");
    assert_eq!(imp.last_good().unwrap().commit, c1);

    // The directory gone: KNV2004.
    repo.git(&["rm", "-q", "-r", "policy"]);
    repo.write("README.md", "gone\n");
    repo.commit("no dir");
    let text = rejected(&imp.import(&clusters()));
    assert!(
        text.contains("KNV2004") && text.contains("policy"),
        "{text}"
    );
    assert_eq!(imp.last_good().unwrap().commit, c1);
}

#[test]
fn force_push_to_older_commit_is_applied() {
    let repo = Repo::new();
    let c1 = seed(&repo, "");
    let mut imp = importer(&repo, GitSource::new(repo.url()));
    published(imp.import(&clusters()));
    repo.write("cm-c.yaml", &cm("c", None));
    let c2 = repo.commit("c");
    assert_eq!(published(imp.import(&clusters())).commit, c2);

    // Branch fetches are shallow.
    let mirror = imp.source().mirror_path().to_path_buf();
    assert!(mirror.join("shallow").exists(), "{mirror:?}");

    // A fresh shallow mirror that only ever saw c2.
    let fresh_cache = repo.scratch("cache2");
    let mut fresh = Importer::new(
        Fetcher::new(
            GitSource::new(repo.url()),
            SourceFormat::Unstructured,
            Bounds::default(),
            &fresh_cache,
        )
        .unwrap(),
        ImportConfig {
            options: Options::new(SourceFormat::Unstructured),
            ..ImportConfig::default()
        },
    );
    assert_eq!(published(fresh.import(&clusters())).commit, c2);

    repo.git(&["reset", "-q", "--hard", &c1]);
    assert_eq!(published(fresh.import(&clusters())).commit, c1);
    let s = published(imp.import(&clusters()));
    assert_eq!(s.commit, c1);
    assert!(!names(&s, "alpha").contains(&"ConfigMap/c".to_string()));
}

#[test]
fn revision_wins_over_branch() {
    let repo = Repo::new();
    let c1 = seed(&repo, "");
    repo.git(&["tag", "v1"]);
    repo.git(&["tag", "-a", "-m", "annotated", "v1-annotated"]);
    repo.write("cm-c.yaml", &cm("c", None));
    let c2 = repo.commit("c");

    for rev in [
        "v1".to_string(),
        "v1-annotated".to_string(),
        "refs/tags/v1".to_string(),
        c1.clone(),
        c1[..8].to_string(),
    ] {
        let mut imp = importer(&repo, GitSource::new(repo.url()).with_revision(rev.clone()));
        let s = published(imp.import(&clusters()));
        assert_eq!(s.commit, c1, "revision {rev}");
        assert_eq!(s.source.revision, rev);
    }
    // HEAD means the branch.
    let mut imp = importer(&repo, GitSource::new(repo.url()).with_revision("HEAD"));
    assert_eq!(published(imp.import(&clusters())).commit, c2);

    let mut imp = importer(&repo, GitSource::new(repo.url()).with_revision("nope"));
    let text = rejected(&imp.import(&clusters()));
    assert!(text.contains("KNV2004") && text.contains("nope"), "{text}");

    let mut imp = importer(&repo, GitSource::new(repo.url()).with_branch("missing"));
    let text = rejected(&imp.import(&clusters()));
    assert!(
        text.contains("KNV2004") && text.contains("missing"),
        "{text}"
    );
}

#[test]
fn dir_selects_a_subdirectory() {
    let repo = Repo::new();
    seed(&repo, "policy/");
    // Invalid, but outside the policy directory: never read.
    repo.write("other/bad.yaml", &cm("Bad_Name", None));
    repo.commit("dirs");
    let mut imp = importer(&repo, GitSource::new(repo.url()).with_dir("policy/"));
    let s = published(imp.import(&clusters()));
    assert_eq!(names(&s, "alpha"), ["Namespace/shop", "ConfigMap/a"]);
    assert_eq!(s.source.dir, "policy");
    assert_eq!(
        s.per_cluster["alpha"].objects[1].source_path,
        "policy/cm-a.yaml"
    );
}

#[test]
fn symlinks_in_repo_are_followed_and_escaping_ones_refused() {
    let repo = Repo::new();
    repo.write("policy/ns.yaml", &ns("shop"));
    repo.write("shared/file.yaml", &cm("linked-file", None));
    repo.write("shared/dir/sub.yaml", &cm("linked-dir", None));
    repo.symlink("policy/cm.yaml", "../shared/file.yaml");
    repo.symlink("policy/more", "../shared/dir");
    repo.symlink("policy/dangling.yaml", "nowhere.yaml");
    repo.commit("links");
    let mut imp = importer(&repo, GitSource::new(repo.url()).with_dir("policy"));
    let s = published(imp.import(&["alpha".to_string()]));
    let mut got = names(&s, "alpha");
    got.sort();
    assert_eq!(
        got,
        [
            "ConfigMap/linked-dir",
            "ConfigMap/linked-file",
            "Namespace/shop"
        ]
    );
    let paths: Vec<&str> = s.per_cluster["alpha"]
        .objects
        .iter()
        .map(|o| o.source_path.as_str())
        .collect();
    assert!(paths.contains(&"policy/more/sub.yaml"), "{paths:?}");

    // Escaping links are refused, naming the path.
    repo.symlink("policy/evil.yaml", "../../../etc/passwd");
    repo.commit("evil");
    let text = rejected(&imp.import(&["alpha".to_string()]));
    assert!(
        text.contains("KNV2004") && text.contains("policy/evil.yaml"),
        "{text}"
    );
    assert!(imp.last_good().is_some());
}

#[test]
fn oversized_content_is_refused() {
    let repo = Repo::new();
    seed(&repo, "");
    repo.write("big.yaml", &cm(&"x".repeat(300).replace('x', "a"), None));
    repo.commit("big");
    let bounds = Bounds {
        max_file_bytes: 200,
        ..Bounds::default()
    };
    let mut imp = importer_with(&repo, GitSource::new(repo.url()), bounds);
    let text = rejected(&imp.import(&clusters()));
    assert!(
        text.contains("KNV2004") && text.contains("big.yaml"),
        "{text}"
    );

    let bounds = Bounds {
        max_files: 2,
        ..Bounds::default()
    };
    let mut imp = importer_with(&repo, GitSource::new(repo.url()), bounds);
    assert!(rejected(&imp.import(&clusters())).contains("more than 2 files"));

    let bounds = Bounds {
        max_total_bytes: 300,
        ..Bounds::default()
    };
    let mut imp = importer_with(&repo, GitSource::new(repo.url()), bounds);
    assert!(rejected(&imp.import(&clusters())).contains("more than 300 bytes"));
}

#[test]
fn unreachable_repository_keeps_last_good() {
    let repo = Repo::new();
    let c1 = seed(&repo, "");
    let mut imp = importer(&repo, GitSource::new(repo.path().display().to_string()));
    published(imp.import(&clusters()));

    let moved = repo.path().with_file_name("moved");
    std::fs::rename(repo.path(), &moved).unwrap();
    let out = imp.import(&clusters());
    assert!(matches!(out, ImportOutcome::Rejected { commit: None, .. }));
    assert!(rejected(&out).contains("KNV2004"));
    assert_eq!(imp.last_good().unwrap().commit, c1);

    // Back again: unchanged commit, nothing to do.
    std::fs::rename(&moved, repo.path()).unwrap();
    match imp.import(&clusters()) {
        ImportOutcome::Unchanged { errors, .. } => assert!(errors.is_empty(), "{errors:?}"),
        other => panic!("{other:?}"),
    }
    assert!(imp.last_errors().is_empty());
}

#[test]
fn git_protocol_is_not_supported() {
    // https and ssh are tested against real servers in tests/transport.rs.
    let tmp = tempfile::tempdir().unwrap();
    let err = Fetcher::new(
        GitSource::new("git://user:secret@git.example/a/b"),
        SourceFormat::Unstructured,
        Bounds::default(),
        tmp.path(),
    )
    .err()
    .unwrap();
    assert!(matches!(err, SourceError::Unsupported { .. }), "{err}");
    let text = err.diagnostic().to_string();
    assert!(
        text.contains("KNV2004") && !text.contains("secret"),
        "{text}"
    );
}

#[test]
fn run_loop_imports_on_trigger() {
    use std::future::Future;
    use std::pin::Pin;
    use std::time::Duration;

    /// Never wakes: only triggers drive the loop.
    struct Never;
    impl nomos_importer::Sleeper for Never {
        fn sleep(&self, _: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
            Box::pin(std::future::pending())
        }
    }

    let repo = Repo::new();
    let c1 = seed(&repo, "");
    let imp = importer(&repo, GitSource::new(repo.url()));
    let mut rx = imp.subscribe();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let test = async {
        let (trigger, trigger_rx) = tokio::sync::mpsc::channel(1);
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let handle = tokio::spawn(async move {
            nomos_importer::run(
                imp,
                clusters(),
                nomos_importer::DEFAULT_PERIOD,
                &Never,
                trigger_rx,
                stop_rx,
                |_| {},
            )
            .await
        });
        rx.wait_for(|s| s.as_ref().is_some_and(|s| s.commit == c1))
            .await
            .unwrap();
        repo.write("cm-c.yaml", &cm("c", None));
        let c2 = repo.commit("c");
        trigger.send(()).await.unwrap();
        rx.wait_for(|s| s.as_ref().is_some_and(|s| s.commit == c2))
            .await
            .unwrap();
        stop.send(true).unwrap();
        let imp = handle.await.unwrap();
        assert_eq!(imp.last_good().unwrap().commit, c2);
    };
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(60), test)
            .await
            .expect("the run loop publishes both commits")
    });
}
