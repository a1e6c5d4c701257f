//! Reading and merging the Prometheus / OpenMetrics text exposition format: what the
//! standalone monitor needs to serve one `/metrics` made of several syncers' `/metrics`, and
//! what tests use to check metrics by name, labels and value.

use std::collections::BTreeMap;

/// One sample line: `name{labels} value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

impl Sample {
    /// The value of label `key` (empty when absent).
    pub fn label(&self, key: &str) -> &str {
        self.labels.get(key).map(String::as_str).unwrap_or("")
    }
}

/// One metric family: its descriptor lines and its sample lines, as written.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Family {
    pub name: String,
    /// `counter`, `gauge`, `histogram`, … (empty when the text has no `# TYPE`).
    pub kind: String,
    /// `# HELP`, `# TYPE` and `# UNIT` lines.
    pub descriptor: Vec<String>,
    /// Sample lines.
    pub samples: Vec<String>,
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Parse one sample line; `None` for comments, blank and malformed lines.
pub fn parse_sample(line: &str) -> Option<Sample> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let (name, rest) = match line.find(['{', ' ']) {
        Some(i) => (&line[..i], &line[i..]),
        None => return None,
    };
    let mut labels = BTreeMap::new();
    let rest = if let Some(body) = rest.strip_prefix('{') {
        // Labels: key="value" pairs; values may contain escaped quotes and commas.
        let mut chars = body.char_indices().peekable();
        let mut end = None;
        loop {
            while let Some((_, c)) = chars.peek() {
                if *c == ',' || c.is_whitespace() {
                    chars.next();
                } else {
                    break;
                }
            }
            match chars.peek() {
                Some((i, '}')) => {
                    end = Some(*i);
                    break;
                }
                None => break,
                _ => {}
            }
            let mut key = String::new();
            for (_, c) in chars.by_ref() {
                if c == '=' {
                    break;
                }
                key.push(c);
            }
            if !matches!(chars.next(), Some((_, '"'))) {
                return None;
            }
            let mut raw = String::new();
            let mut escaped = false;
            let mut closed = false;
            for (_, c) in chars.by_ref() {
                if escaped {
                    raw.push('\\');
                    raw.push(c);
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == '"' {
                    closed = true;
                    break;
                } else {
                    raw.push(c);
                }
            }
            if !closed {
                return None;
            }
            labels.insert(key.trim().to_string(), unescape(&raw));
        }
        &body[end? + 1..]
    } else {
        rest
    };
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" | "Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v.parse().ok()?,
    };
    Some(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// Every sample of a text exposition.
pub fn samples(text: &str) -> Vec<Sample> {
    text.lines().filter_map(parse_sample).collect()
}

/// Split a text exposition into families (samples belong to the family whose descriptor
/// precedes them; samples with no descriptor form a family of their own name).
pub fn families(text: &str) -> Vec<Family> {
    let mut out: Vec<Family> = Vec::new();
    for line in text.lines() {
        let t = line.trim_end();
        if t.is_empty() || t == "# EOF" {
            continue;
        }
        if let Some(rest) = t.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (Some(what), Some(name)) = (parts.next(), parts.next()) else {
                continue;
            };
            if !matches!(what, "HELP" | "TYPE" | "UNIT") {
                continue;
            }
            if out.last().is_none_or(|f| f.name != name) {
                out.push(Family {
                    name: name.to_string(),
                    ..Family::default()
                });
            }
            let f = out.last_mut().expect("just pushed");
            if what == "TYPE" {
                f.kind = parts.next().unwrap_or("").to_string();
            }
            f.descriptor.push(t.to_string());
            continue;
        }
        if t.starts_with('#') {
            continue;
        }
        let Some(s) = parse_sample(t) else { continue };
        let belongs = out.last().is_some_and(|f| {
            s.name == f.name
                || s.name
                    .strip_prefix(f.name.as_str())
                    .is_some_and(|suffix| suffix.starts_with('_'))
        });
        if !belongs {
            out.push(Family {
                name: s.name.clone(),
                ..Family::default()
            });
        }
        out.last_mut()
            .expect("a family")
            .samples
            .push(t.to_string());
    }
    out
}

/// Merge several expositions into one: families of the same name are written once (the first
/// descriptor wins) with the samples of every input, identical sample lines once, then
/// `# EOF`.
pub fn merge<'a>(texts: impl IntoIterator<Item = &'a str>) -> String {
    let mut order: Vec<String> = Vec::new();
    let mut merged: BTreeMap<String, Family> = BTreeMap::new();
    for text in texts {
        for f in families(text) {
            match merged.get_mut(&f.name) {
                Some(m) => {
                    for s in f.samples {
                        if !m.samples.contains(&s) {
                            m.samples.push(s);
                        }
                    }
                }
                None => {
                    order.push(f.name.clone());
                    merged.insert(f.name.clone(), f);
                }
            }
        }
    }
    let mut out = String::new();
    for name in order {
        let f = &merged[&name];
        for d in &f.descriptor {
            out.push_str(d);
            out.push('\n');
        }
        for s in &f.samples {
            out.push_str(s);
            out.push('\n');
        }
    }
    out.push_str("# EOF\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "# HELP x Things.\n# TYPE x counter\nx_total{cluster=\"a\",msg=\"q\\\"uote, comma\"} 3\n# HELP h Latency.\n# TYPE h histogram\nh_bucket{cluster=\"a\",le=\"+Inf\"} 2\nh_sum{cluster=\"a\"} 0.5\nh_count{cluster=\"a\"} 2\n# EOF\n";
    const B: &str =
        "# HELP x Things.\n# TYPE x counter\nx_total{cluster=\"b\",msg=\"\"} 4\n# EOF\n";

    #[test]
    fn parses_samples_with_escaped_labels() {
        let s = samples(A);
        assert_eq!(s.len(), 4);
        assert_eq!(s[0].name, "x_total");
        assert_eq!(s[0].label("msg"), "q\"uote, comma");
        assert_eq!(s[0].value, 3.0);
        assert_eq!(s[1].label("le"), "+Inf");
        assert_eq!(parse_sample("plain 1.5").unwrap().value, 1.5);
        assert!(parse_sample("# TYPE x counter").is_none());
        assert!(parse_sample("broken{a=\"b} 1").is_none());
    }

    #[test]
    fn merges_families_once() {
        let m = merge([A, B]);
        assert_eq!(m.matches("# TYPE x counter").count(), 1);
        assert_eq!(m.matches("# EOF").count(), 1);
        let fams = families(&m);
        assert_eq!(fams.len(), 2);
        assert_eq!(fams[0].samples.len(), 2);
        assert_eq!(fams[1].kind, "histogram");
        assert_eq!(fams[1].samples.len(), 3);
        let clusters: Vec<String> = samples(&m)
            .iter()
            .filter(|s| s.name == "x_total")
            .map(|s| s.label("cluster").to_string())
            .collect();
        assert_eq!(clusters, ["a", "b"]);
    }
}
