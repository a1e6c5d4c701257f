//! `parse(to_yaml(v)) == v` for arbitrary JSON values, with strings chosen
//! to hit every quoting rule.

use nomos_core::yaml::{Limits, parse, to_yaml};
use proptest::prelude::*;
use serde_json::{Map, Number, Value, json};

const NASTY: &[&str] = &[
    "yes",
    "No",
    "on",
    "OFF",
    "y",
    "n",
    "0755",
    "0x1F",
    "0o17",
    "0b101",
    "1e3",
    "1_000",
    "08",
    "~",
    "null",
    "Null",
    "",
    " ",
    " lead",
    "trail ",
    "a: b",
    "a:",
    ":a",
    "- x",
    "-",
    "--- x",
    "...",
    "#c",
    "a #c",
    "a#c",
    "multi\nline",
    "multi\nline\n",
    "two\n\n",
    "\nlead newline",
    " indented\nfirst",
    "\ttab",
    "a\tb",
    "tab\t",
    "x\r\ny",
    "bell\u{7}",
    "del\u{7f}",
    "nel\u{85}x",
    "ls\u{2028}x",
    "bom\u{feff}",
    "é",
    "日本語",
    "emoji 😀",
    "'",
    "\"",
    "\\",
    "[a]",
    "{a: b}",
    "a, b",
    "&a",
    "*a",
    "!tag",
    "|",
    ">",
    "%",
    "@",
    "`",
    "?",
    "<<",
    ".inf",
    "-.inf",
    ".nan",
    "+1",
    "-0",
    "0.",
    ".5",
    "1:20",
    "2001-12-14",
    "true",
    "False",
    "  \n  ",
    "line\n  \nx",
    "a\n b\n  c",
    "end\n\n\n",
    "\u{0}",
    "x\u{1b}[0m",
];

fn arb_string() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(NASTY).prop_map(str::to_owned),
        2 => "[a-z0-9 :#\\-\\n\\t'\"]{0,12}",
        1 => any::<String>(),
    ]
}

fn arb_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        Just(Value::from(i64::MIN)),
        Just(Value::from(i64::MAX)),
        any::<u64>().prop_map(Value::from),
        Just(Value::from(u64::MAX)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| Value::Number(Number::from_f64(f).unwrap())),
        (-1000i32..1000).prop_map(|i| Value::Number(Number::from_f64(f64::from(i)).unwrap())),
        proptest::sample::select(vec![
            0.0,
            -0.0,
            0.1,
            1e16,
            1e21,
            1e-7,
            5e-324,
            f64::MAX,
            f64::MIN
        ])
        .prop_map(|f| Value::Number(Number::from_f64(f).unwrap())),
    ]
}

fn arb_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        arb_number(),
        arb_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(arb_string(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn round_trip(v: &Value) {
    let text = to_yaml(v);
    assert!(text.ends_with('\n'), "{text:?}");
    let parsed = parse(&text, &Limits::default())
        .unwrap_or_else(|e| panic!("{e}\n--- value: {v:?}\n--- yaml:\n{text}"));
    if v.is_null() {
        assert!(parsed.documents.is_empty(), "{text:?}");
        return;
    }
    assert_eq!(parsed.documents.len(), 1, "{text:?}");
    let back = &parsed.documents[0].value;
    assert_eq!(back, v, "\n--- yaml:\n{text}");
    // Same number types, not only equal values.
    assert_eq!(back.to_string(), v.to_string(), "\n--- yaml:\n{text}");
    // The writer never writes something YAML 1.1 and 1.2 would read differently.
    assert!(
        parsed.warnings.is_empty(),
        "{:?}\n--- yaml:\n{text}",
        parsed.warnings
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn yaml_parse_reads_back_what_to_yaml_writes(v in arb_value()) {
        round_trip(&v);
    }
}

#[test]
fn yaml_every_nasty_string_round_trips_as_value_key_and_item() {
    for s in NASTY {
        round_trip(&json!(s));
        round_trip(&json!({ *s: s }));
        round_trip(&json!([s, {"k": [s]}]));
        round_trip(&json!({"outer": { *s: [s, s] }}));
    }
}

#[test]
fn yaml_long_keys_use_the_explicit_form() {
    let long = "k".repeat(3000);
    let v = json!({ long.clone(): [1, 2], "b": {long.clone(): "x"}, "c": { long: {"d": 1}} });
    round_trip(&v);
    let text = to_yaml(&v);
    assert!(text.contains("\n  ? "), "{text}");
}

#[test]
fn yaml_writer_layout_matches_kubectl() {
    let v = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "x", "labels": {"app": "y"}},
        "data": {"on": "yes", "mode": "0755", "script": "#!/bin/sh\necho hi\n"},
        "list": [{"a": 1, "b": [true, null]}, [], {}],
        "f": 1.0,
        "g": 1e21,
    });
    assert_eq!(
        to_yaml(&v),
        "\
apiVersion: v1
data:
  mode: \"0755\"
  \"on\": \"yes\"
  script: |
    #!/bin/sh
    echo hi
f: 1.0
g: 1e21
kind: ConfigMap
list:
- a: 1
  b:
  - true
  - null
- []
- {}
metadata:
  labels:
    app: \"y\"
  name: x
"
    );
    round_trip(&v);
}
