//! Kubeconfig files pointing kubectl and kube-rs at served clusters (plain HTTP, no auth).

/// A kubeconfig (YAML) with one cluster and context per `(name, url)`; the first entry is the
/// current context. Every context's default namespace is `default`.
pub fn kubeconfig(entries: &[(String, String)]) -> String {
    let q = |s: &str| serde_json::Value::String(s.to_string()).to_string();
    let mut out = String::from("apiVersion: v1\nkind: Config\nclusters:\n");
    for (name, url) in entries {
        out.push_str(&format!(
            "- name: {}\n  cluster:\n    server: {}\n",
            q(name),
            q(url)
        ));
    }
    out.push_str("users:\n- name: testcluster-user\n  user: {}\ncontexts:\n");
    for (name, _) in entries {
        out.push_str(&format!(
            "- name: {}\n  context:\n    cluster: {}\n    user: testcluster-user\n    namespace: default\n",
            q(name),
            q(name)
        ));
    }
    if let Some((first, _)) = entries.first() {
        out.push_str(&format!("current-context: {}\n", q(first)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_shape() {
        let k = kubeconfig(&[
            ("a".into(), "http://127.0.0.1:1".into()),
            ("b".into(), "http://127.0.0.1:2".into()),
        ]);
        assert!(k.contains("server: \"http://127.0.0.1:2\""));
        assert!(k.contains("current-context: \"a\""));
        assert_eq!(k.matches("- name:").count(), 5);
    }
}
