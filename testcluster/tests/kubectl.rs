//! kubectl 1.32 as the referee: the shared battery against the binary, and kubectl checks of
//! what the battery does not reach.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

struct Server {
    child: Child,
    urls: Vec<String>,
    dir: tempfile::TempDir,
}

impl Server {
    fn start(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self::start_in(dir, extra)
    }

    fn start_in(dir: tempfile::TempDir, extra: &[&str]) -> Self {
        let kubeconfig = dir.path().join("kubeconfig");
        let mut child = Command::new(env!("CARGO_BIN_EXE_nomos-testcluster"))
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting nomos-testcluster");
        let n: usize = extra
            .iter()
            .position(|a| *a == "--clusters")
            .map(|i| extra[i + 1].parse().unwrap())
            .unwrap_or(1);
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let urls: Vec<String> = (0..n).map(|_| lines.next().unwrap().unwrap()).collect();
        assert!(urls[0].starts_with("http://127.0.0.1:"), "{urls:?}");
        Self { child, urls, dir }
    }

    fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> Output {
        kubectl(
            &self.kubeconfig(),
            &self.dir.path().join("cache"),
            args,
            stdin,
        )
    }

    /// Runs kubectl and returns stdout; panics with stderr if it fails.
    fn ok(&self, args: &[&str]) -> String {
        self.ok_in(args, None)
    }

    fn ok_in(&self, args: &[&str], stdin: Option<&str>) -> String {
        let o = self.kubectl(args, stdin);
        assert!(
            o.status.success(),
            "kubectl {args:?} failed: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Runs kubectl expecting failure; returns stderr.
    fn fails(&self, args: &[&str], stdin: Option<&str>) -> String {
        let o = self.kubectl(args, stdin);
        assert!(!o.status.success(), "kubectl {args:?} should fail");
        String::from_utf8_lossy(&o.stderr).into_owned()
    }

    fn stop(&mut self, signal: &str) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args([signal, &pid]).status();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn kubectl(kubeconfig: &Path, cache: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new("kubectl")
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .env("KUBECACHEDIR", cache)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl (1.32, /usr/bin/kubectl) is the referee and must be installed");
    let mut input = child.stdin.take().unwrap();
    if let Some(s) = stdin {
        input.write_all(s.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

const CM: &str = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"NAME","namespace":"default"},"data":{"a":"VALUE"}}"#;

fn cm(name: &str, value: &str) -> String {
    CM.replace("NAME", name).replace("VALUE", value)
}

#[test]
fn kubectl_battery_passes() {
    let s = Server::start(&[]);
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/tools/kubectl-battery.sh"
    );
    assert!(
        Path::new(script).exists(),
        "the battery lives in ../shared beside the checkout: {script}"
    );
    let o = Command::new("bash")
        .arg(script)
        .arg(&s.urls[0])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    println!("{out}");
    let last = out.lines().last().unwrap_or_default();
    assert!(o.status.success(), "battery failed: {last}\n{out}");
    assert!(
        last.ends_with(" passed, 0 failed") && !last.starts_with("0 "),
        "{last}"
    );
}

#[test]
fn several_clusters_on_consecutive_ports() {
    let s = Server::start(&["--clusters", "3", "--name", "fleet"]);
    let ports: Vec<u16> = s
        .urls
        .iter()
        .map(|u| u.rsplit(':').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(ports[1], ports[0] + 1);
    assert_eq!(ports[2], ports[0] + 2);
    let contexts = s.ok(&["config", "get-contexts", "-o", "name"]);
    assert_eq!(
        contexts.split_whitespace().collect::<Vec<_>>(),
        ["fleet-0", "fleet-1", "fleet-2"]
    );
    s.ok_in(
        &["--context", "fleet-1", "create", "-f", "-"],
        Some(&cm("only-1", "x")),
    );
    s.ok(&["--context", "fleet-1", "get", "cm", "only-1"]);
    let e = s.fails(&["--context", "fleet-2", "get", "cm", "only-1"], None);
    assert!(e.contains("NotFound"), "{e}");
}

#[test]
fn server_side_apply_conflicts_and_dry_runs() {
    let s = Server::start(&[]);
    s.ok_in(
        &["apply", "--server-side", "--field-manager=alice", "-f", "-"],
        Some(&cm("shared", "1")),
    );
    let e = s.fails(
        &["apply", "--server-side", "--field-manager=bob", "-f", "-"],
        Some(&cm("shared", "2")),
    );
    assert!(
        e.contains("conflict") && e.contains("alice") && e.contains(".data.a"),
        "{e}"
    );
    s.ok_in(
        &[
            "apply",
            "--server-side",
            "--field-manager=bob",
            "--force-conflicts",
            "-f",
            "-",
        ],
        Some(&cm("shared", "2")),
    );
    let managers = s.ok(&[
        "get",
        "cm",
        "shared",
        "-o",
        "jsonpath={.metadata.managedFields[*].manager}",
    ]);
    assert_eq!(managers, "bob", "alice lost her only field");

    // Server-side dry runs persist nothing.
    s.ok_in(
        &["apply", "--dry-run=server", "-f", "-"],
        Some(&cm("dry", "1")),
    );
    s.ok_in(
        &["apply", "--server-side", "--dry-run=server", "-f", "-"],
        Some(&cm("dry2", "1")),
    );
    let e = s.fails(&["get", "cm", "dry"], None);
    assert!(e.contains("NotFound"), "{e}");
    s.fails(&["get", "cm", "dry2"], None);
    s.ok(&["delete", "cm", "shared", "--dry-run=server"]);
    s.ok(&["get", "cm", "shared"]);

    // No-op apply: resourceVersion unchanged.
    let rv1 = s.ok(&[
        "get",
        "cm",
        "shared",
        "-o",
        "jsonpath={.metadata.resourceVersion}",
    ]);
    s.ok_in(
        &["apply", "--server-side", "--field-manager=bob", "-f", "-"],
        Some(&cm("shared", "2")),
    );
    let rv2 = s.ok(&[
        "get",
        "cm",
        "shared",
        "-o",
        "jsonpath={.metadata.resourceVersion}",
    ]);
    assert_eq!(rv1, rv2);
}

#[test]
fn selectors_pagination_labels_and_annotations() {
    let s = Server::start(&[]);
    for i in 0..5 {
        s.ok_in(&["create", "-f", "-"], Some(&cm(&format!("p{i}"), "x")));
    }
    s.ok(&["label", "cm", "p1", "p3", "tier=web"]);
    s.ok(&["annotate", "cm", "p1", "note=hi"]);
    let out = s.ok(&["get", "cm", "--chunk-size=2", "-o", "name"]);
    assert_eq!(out.lines().count(), 5, "{out}");
    let out = s.ok(&["get", "cm", "-l", "tier=web", "-o", "name"]);
    assert_eq!(out, "configmap/p1\nconfigmap/p3\n");
    let out = s.ok(&["get", "cm", "-l", "tier!=web", "-o", "name"]);
    assert_eq!(out.lines().count(), 3);
    let out = s.ok(&[
        "get",
        "cm",
        "--field-selector",
        "metadata.name=p4",
        "-o",
        "name",
    ]);
    assert_eq!(out, "configmap/p4\n");
    let note = s.ok(&[
        "get",
        "cm",
        "p1",
        "-o",
        "jsonpath={.metadata.annotations.note}",
    ]);
    assert_eq!(note, "hi");
    s.ok(&["delete", "cm", "-l", "tier=web"]);
    let out = s.ok(&["get", "cm", "-o", "name"]);
    assert_eq!(out.lines().count(), 3);
}

#[test]
fn finalizers_and_namespace_deletion() {
    let s = Server::start(&[]);
    s.ok_in(
        &["create", "-f", "-"],
        Some(r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"held","namespace":"default","finalizers":["example.org/hold"]}}"#),
    );
    s.ok(&["delete", "cm", "held", "--wait=false"]);
    let ts = s.ok(&[
        "get",
        "cm",
        "held",
        "-o",
        "jsonpath={.metadata.deletionTimestamp}",
    ]);
    assert!(!ts.is_empty());
    s.ok(&[
        "patch",
        "cm",
        "held",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ]);
    s.fails(&["get", "cm", "held"], None);

    s.ok_in(
        &["create", "-f", "-"],
        Some(r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"team-b"}}"#),
    );
    s.ok_in(
        &["create", "-n", "team-b", "-f", "-"],
        Some(&cm("inside", "1").replace("\"default\"", "\"team-b\"")),
    );
    s.ok(&["delete", "ns", "team-b", "--timeout=20s"]);
    let e = s.fails(&["get", "ns", "team-b"], None);
    assert!(e.contains("NotFound"), "{e}");
    let out = s.ok(&["get", "cm", "-A", "-o", "name"]);
    assert!(!out.contains("inside"), "{out}");
}

#[test]
fn raw_watch_from_resource_version_and_admin_endpoint() {
    let s = Server::start(&[]);
    s.ok_in(&["create", "-f", "-"], Some(&cm("w1", "1")));
    let rv = s.ok(&[
        "get",
        "cm",
        "w1",
        "-o",
        "jsonpath={.metadata.resourceVersion}",
    ]);
    s.ok(&[
        "patch",
        "cm",
        "w1",
        "--type=merge",
        "-p",
        r#"{"data":{"a":"2"}}"#,
    ]);
    let raw = s.ok(&[
        "get",
        "--raw",
        &format!(
            "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={rv}&timeoutSeconds=1"
        ),
    ]);
    let types: Vec<String> = raw
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(types, ["MODIFIED"]);

    // Faults through the admin endpoint.
    s.ok_in(
        &["create", "--raw", "/admin/faults", "-f", "-"],
        Some(r#"{"code":503,"verb":"get","resource":"configmaps","times":1}"#),
    );
    let e = s.fails(&["get", "cm", "w1"], None);
    assert!(
        e.contains("ServiceUnavailable") || e.contains("unable to handle"),
        "{e}"
    );
    s.ok(&["get", "cm", "w1"]);
    // Drift through the admin endpoint, bypassing faults.
    s.ok_in(
        &[
            "create",
            "--raw",
            "/admin/external/api/v1/namespaces/default/configmaps?fieldManager=intruder",
            "-f",
            "-",
        ],
        Some(&cm("drift", "1")),
    );
    let m = s.ok(&[
        "get",
        "cm",
        "drift",
        "-o",
        "jsonpath={.metadata.managedFields[0].manager}",
    ]);
    assert_eq!(m, "intruder");
}

#[test]
fn protobuf_is_refused_with_415() {
    let s = Server::start(&[]);
    // The typed generators send protobuf and do not fall back: a known gap, refused cleanly.
    let e = s.fails(
        &["create", "configmap", "proto", "--from-literal=a=1"],
        None,
    );
    assert!(
        e.to_lowercase().contains("unknown format")
            || e.contains("415")
            || e.contains("UnsupportedMediaType"),
        "{e}"
    );
}

#[test]
fn state_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let state_s = state.to_str().unwrap().to_string();
    let mut s = Server::start_in(dir, &["--state-dir", &state_s]);
    s.ok_in(&["create", "-f", "-"], Some(&cm("kept", "1")));
    s.stop("-TERM");
    let dir = std::mem::replace(&mut s.dir, tempfile::tempdir().unwrap());
    drop(s);
    let s = Server::start_in(dir, &["--state-dir", &state_s]);
    assert_eq!(
        s.ok(&["get", "cm", "kept", "-o", "jsonpath={.data.a}"]),
        "1"
    );
}
