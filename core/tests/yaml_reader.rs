//! The YAML reader: documents, keys, merges, duplicates, errors, JSON files,
//! `locate` and the YAML 1.1 / 1.2 warnings.

use nomos_core::yaml::{Limits, PathSegment, Pos, YamlErrorKind, locate, parse, parse_json};
use serde_json::{Value, json};

fn one(doc: &str) -> Value {
    let parsed = parse(doc, &Limits::default()).unwrap_or_else(|e| panic!("{doc:?}: {e}"));
    assert_eq!(parsed.documents.len(), 1, "{doc:?}");
    parsed.documents[0].value.clone()
}

fn err(doc: &str) -> nomos_core::yaml::YamlError {
    parse(doc, &Limits::default()).expect_err(doc)
}

fn pos(line: u32, column: u32) -> Pos {
    Pos { line, column }
}

#[test]
fn yaml_documents_and_indices() {
    let text = "---\n# nothing\n---\na: 1\n...\n---\n~\n---\nb: 2\n";
    let parsed = parse(text, &Limits::default()).unwrap();
    let got: Vec<(usize, Value)> = parsed
        .documents
        .iter()
        .map(|d| (d.index, d.value.clone()))
        .collect();
    assert_eq!(got, vec![(1, json!({"a": 1})), (3, json!({"b": 2}))]);
    assert_eq!(parsed.documents[0].pos, pos(4, 1));
    assert_eq!(parsed.documents[1].pos, pos(9, 1));

    for empty in [
        "",
        "\n\n",
        "# only a comment\n",
        "---\n",
        "null\n",
        "---\n...\n",
    ] {
        assert!(
            parse(empty, &Limits::default())
                .unwrap()
                .documents
                .is_empty(),
            "{empty:?}"
        );
    }
    assert_eq!(one("\u{feff}a: 1\n"), json!({"a": 1}));
    assert_eq!(
        one("- a\n- b: [1, {c: d}]\n"),
        json!(["a", {"b": [1, {"c": "d"}]}])
    );
    assert_eq!(one("plain"), json!("plain"));
}

#[test]
fn yaml_keys_are_resolved_then_stringified() {
    assert_eq!(one("on: x"), json!({"true": "x"}));
    assert_eq!(one("No: x"), json!({"false": "x"}));
    assert_eq!(one("\"on\": x"), json!({"on": "x"}));
    assert_eq!(one("!!str on: x"), json!({"on": "x"}));
    assert_eq!(one("0x1F: x"), json!({"31": "x"}));
    assert_eq!(one("0755: x"), json!({"493": "x"}));
    assert_eq!(one("1.5: x"), json!({"1.5": "x"}));
    assert_eq!(one("1e3: x"), json!({"1000": "x"}));
    assert_eq!(one("1e6: x"), json!({"1e+06": "x"}));
    assert_eq!(one("3.14159265358979: x"), json!({"3.1415927": "x"}));
    assert_eq!(one("08: x"), json!({"8": "x"}));
    assert_eq!(
        one("9223372036854775807: x"),
        json!({"9223372036854775807": "x"})
    );
    assert_eq!(one("? complex\n: x"), json!({"complex": "x"}));
    assert_eq!(one("a: &k key\n*k : v"), json!({"a": "key", "key": "v"}));
    assert_eq!(one("&k yes : 1\nv: *k"), json!({"true": 1, "v": true}));

    for bad in [
        "~: x",
        "null: x",
        ": x",
        "18446744073709551615: x",
        "[a]: x",
        "{a: 1}: x",
        "? [a]\n: x",
        "? {a: 1}\n: x",
        "a: &m {b: 1}\n*m : x",
    ] {
        assert_eq!(err(bad).kind, YamlErrorKind::UnsupportedKey, "{bad}");
    }
}

#[test]
fn yaml_duplicate_keys_name_both_lines() {
    let e = err("apiVersion: v1\nmetadata:\n  name: a\n  labels: {}\n  name: b\n");
    assert_eq!(e.kind, YamlErrorKind::DuplicateKey);
    assert_eq!(e.pos, Some(pos(5, 3)));
    assert_eq!(
        e.to_string(),
        "line 5, column 3: duplicate key \"name\" (first defined at line 3); remove one of them"
    );
    // Keys collide after conversion: yes and true are both "true".
    let e = err("yes: a\ntrue: b\n");
    assert_eq!(
        e.to_string(),
        "line 2, column 1: duplicate key \"true\" (first defined at line 1); remove one of them"
    );
    // Flow mappings, nested in sequences, in later documents.
    let e = err("a: 1\n---\n- x\n- {k: 1, j: 2, k: 3}\n");
    assert_eq!(e.pos, Some(pos(4, 16)));
    assert!(e.message.contains("first defined at line 4"), "{e}");
    // Two merge keys.
    let e = err("b: &b {x: 1}\nc:\n  <<: *b\n  <<: *b\n");
    assert_eq!(e.kind, YamlErrorKind::DuplicateKey);
    assert!(
        e.message.contains("\"<<\" (first defined at line 3)"),
        "{e}"
    );
}

#[test]
fn yaml_merge_keys() {
    let text = "\
base: &b {a: 1, b: 2}
other: &o {b: 3, c: 4}
m1:
  <<: [*b, *o]
  c: 5
m2:
  a: 9
  <<: *b
m3:
  <<: {q: 1}
  \"<<\": literal
";
    let v = one(text);
    assert_eq!(v["m1"], json!({"a": 1, "b": 2, "c": 5}));
    assert_eq!(v["m2"], json!({"a": 9, "b": 2}));
    assert_eq!(v["m3"], json!({"q": 1, "<<": "literal"}));
    // `y` is a YAML 1.1 boolean, so this key is "true".
    assert_eq!(one("y:\n  <<: {k: 1}\n"), json!({"true": {"k": 1}}));
    for bad in [
        "a:\n  <<: 1\n",
        "a:\n  <<:\n",
        "s: &s [1]\na:\n  <<: *s\n",
        "a:\n  <<: [{x: 1}, 2]\n",
    ] {
        assert_eq!(err(bad).kind, YamlErrorKind::InvalidMerge, "{bad}");
    }
}

#[test]
fn yaml_anchors_and_aliases() {
    assert_eq!(
        one("a: &x {k: [1, 2]}\nb: *x\nc: &s str\nd: *s\n"),
        json!({"a": {"k": [1, 2]}, "b": {"k": [1, 2]}, "c": "str", "d": "str"})
    );
    // Anchors do not cross documents.
    let e = err("a: &x 1\n---\nb: *x\n");
    assert_eq!(e.kind, YamlErrorKind::UnknownAnchor);
    assert_eq!(
        e.to_string(),
        "line 3, column 4: alias *x refers to no anchor defined earlier in this document"
    );
    // An undefined anchor name within a document is a syntax error of the parser.
    assert_eq!(err("b: *nope\n").kind, YamlErrorKind::Syntax);
}

#[test]
fn yaml_syntax_errors_have_positions() {
    let e = err("a: [1, 2\nb: 3\n");
    assert_eq!(e.kind, YamlErrorKind::Syntax);
    assert!(e.pos.is_some());
    let e = err("a: b: c\n");
    assert_eq!(e.kind, YamlErrorKind::Syntax);
    assert_eq!(e.pos.map(|p| p.line), Some(1));
    let e = err("a:\n  - 1\n - 2\n");
    assert_eq!(e.kind, YamlErrorKind::Syntax);
}

#[test]
fn yaml_warnings_for_yaml_1_1_vs_1_2() {
    let text = "\
a: NO
b: 0755
c: yes please
d: 'NO'
NO: 1
e: [on, 0b1010, 1_000, true, 12, 0x1F, 0o17, 1e3, ~]
f: !!bool yes
";
    let parsed = parse(text, &Limits::default()).unwrap();
    let got: Vec<(Pos, &str)> = parsed
        .warnings
        .iter()
        .map(|w| (w.pos, w.text.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (pos(1, 4), "NO"),
            (pos(2, 4), "0755"),
            (pos(6, 5), "on"),
            (pos(6, 9), "0b1010"),
            (pos(6, 17), "1_000"),
        ]
    );
    assert_eq!(
        parsed.warnings[0].message,
        "plain scalar NO is read as the boolean false by Kubernetes (YAML 1.1) but as the string \"NO\" by YAML 1.2 tools; write \"NO\" (quoted) if you mean the string, or false if you mean the boolean"
    );
    assert_eq!(
        parsed.warnings[1].message,
        "plain scalar 0755 is read as the octal number 0755 = 493 by Kubernetes (YAML 1.1) but as the decimal number 755 by YAML 1.2 tools; write 493 or 0o755 if you mean 493 (Kubernetes and YAML 1.2 tools agree on that), 755 if you mean decimal 755, or \"0755\" (quoted) for the string"
    );
    assert_eq!(
        parsed.warnings[3].message,
        "plain scalar 0b1010 is read as the number 10 by Kubernetes (YAML 1.1) but as the string \"0b1010\" by YAML 1.2 tools; write 10 if you mean the number, or \"0b1010\" (quoted) if you mean the string"
    );
}

#[test]
fn yaml_json_files() {
    let l = Limits::default();
    assert!(parse_json("", &l).unwrap().documents.is_empty());
    assert!(parse_json(" \n\t\n", &l).unwrap().documents.is_empty());
    let v = parse_json(
        "{\"apiVersion\":\"v1\",\"data\":{\"a\":[1,-2.5e3,true,null,\"\\ud83d\\ude00 \\u00e9\"]},\"n\":0}",
        &l,
    )
    .unwrap();
    assert_eq!(
        v.documents[0].value,
        json!({"apiVersion": "v1", "data": {"a": [1, -2500.0, true, null, "😀 é"]}, "n": 0})
    );
    let v = parse_json("[\n  1,\n  {\"k\": \"v\"}\n]\n", &l).unwrap();
    assert_eq!(v.documents[0].value, json!([1, {"k": "v"}]));
    assert_eq!(
        parse_json("\"s\"", &l).unwrap().documents[0].value,
        json!("s")
    );

    let e = parse_json("{\n  \"a\": 1,\n  \"a\": 2\n}", &l).unwrap_err();
    assert_eq!(e.kind, YamlErrorKind::DuplicateKey);
    assert_eq!(
        e.to_string(),
        "line 3, column 3: duplicate key \"a\" (first defined at line 2); remove one of them"
    );
    for bad in [
        "kind: Namespace",
        "- 1",
        "{\"a\": yes}",
        "{\"a\": 0755}",
        "{\"a\": 1e400}",
        "{\"a\": 'x'}",
        "{a: 1}",
        "{\"a\": &x 1, \"b\": *x}",
        "{\"a\": !!str 1}",
        "{\"a\": 1}\n---\n{}",
        "---\n{}",
        "'x'",
        "{\"a\": |\n  x\n}",
    ] {
        let e = parse_json(bad, &l).expect_err(bad);
        assert_eq!(e.kind, YamlErrorKind::Syntax, "{bad}: {e}");
    }
}

#[test]
fn yaml_locate_finds_keys_items_merges_and_aliases() {
    let text = "\
a: 1
---
kind: Deployment
spec:
  template:
    spec:
      containers:
      - name: app
        image: x
        ports: [{containerPort: 80}, {containerPort: 443}]
base: &b {replicas: 2}
merged:
  <<: *b
  own: 1
alias: *b
on: yes
";
    let k = |s: &str| PathSegment::Key(s.to_owned());
    let i = PathSegment::Index;
    assert_eq!(locate(text, 1, &[]), Some(pos(3, 1)));
    assert_eq!(locate(text, 0, &[k("a")]), Some(pos(1, 1)));
    assert_eq!(locate(text, 1, &[k("kind")]), Some(pos(3, 1)));
    let c = [k("spec"), k("template"), k("spec"), k("containers")];
    assert_eq!(locate(text, 1, &c), Some(pos(7, 7)));
    let mut p = c.to_vec();
    p.push(i(0));
    assert_eq!(locate(text, 1, &p), Some(pos(8, 9)));
    p.push(k("image"));
    assert_eq!(locate(text, 1, &p), Some(pos(9, 9)));
    p.pop();
    p.extend([k("ports"), i(1), k("containerPort")]);
    assert_eq!(locate(text, 1, &p), Some(pos(10, 39)));
    assert_eq!(locate(text, 1, &[k("merged"), k("own")]), Some(pos(14, 3)));
    assert_eq!(
        locate(text, 1, &[k("merged"), k("replicas")]),
        Some(pos(13, 3))
    );
    assert_eq!(
        locate(text, 1, &[k("alias"), k("replicas")]),
        Some(pos(15, 8))
    );
    assert_eq!(locate(text, 1, &[k("true")]), Some(pos(16, 1)));
    assert_eq!(locate(text, 1, &[k("nope")]), None);
    assert_eq!(locate(text, 1, &[k("kind"), k("deeper")]), None);
    assert_eq!(locate(text, 2, &[]), None);
    assert_eq!(locate(text, 0, &[i(0)]), None);
}
