//! Table-driven tests of plain-scalar resolution (go-yaml v2 / YAML 1.1 as
//! Kubernetes reads it), quoted and block variants, and explicit tags.

use nomos_core::yaml::{Limits, Scalar, YamlErrorKind, parse, resolve_plain};
use serde_json::{Value, json};

fn same(a: Scalar, b: Scalar) -> bool {
    match (a, b) {
        (Scalar::Float(x), Scalar::Float(y)) => {
            (x.is_nan() && y.is_nan()) || (x == y && x.is_sign_negative() == y.is_sign_negative())
        }
        _ => a == b,
    }
}

#[test]
fn yaml_plain_scalar_table() {
    use Scalar::{Bool, Float, Int, Null, Str, UInt};
    let table: &[(&str, Scalar)] = &[
        // YAML 1.1 booleans.
        ("y", Bool(true)),
        ("Y", Bool(true)),
        ("yes", Bool(true)),
        ("Yes", Bool(true)),
        ("YES", Bool(true)),
        ("on", Bool(true)),
        ("On", Bool(true)),
        ("ON", Bool(true)),
        ("true", Bool(true)),
        ("True", Bool(true)),
        ("TRUE", Bool(true)),
        ("n", Bool(false)),
        ("N", Bool(false)),
        ("no", Bool(false)),
        ("No", Bool(false)),
        ("NO", Bool(false)),
        ("off", Bool(false)),
        ("Off", Bool(false)),
        ("OFF", Bool(false)),
        ("false", Bool(false)),
        ("False", Bool(false)),
        ("FALSE", Bool(false)),
        ("tRUE", Str),
        ("yES", Str),
        ("oN", Str),
        ("yes please", Str),
        // Nulls.
        ("~", Null),
        ("", Null),
        ("null", Null),
        ("Null", Null),
        ("NULL", Null),
        ("nULL", Str),
        // Integers: Go ParseInt(s, 0, 64) after removing '_'.
        ("0", Int(0)),
        ("-0", Int(0)),
        ("00", Int(0)),
        ("+12", Int(12)),
        ("0755", Int(493)),
        ("-0755", Int(-493)),
        ("0x1F", Int(31)),
        ("0X1F", Int(31)),
        ("-0x1F", Int(-31)),
        ("0b101", Int(5)),
        ("0B101", Int(5)),
        ("-0b101", Int(-5)),
        ("0o17", Int(15)),
        ("0O17", Int(15)),
        ("-0o17", Int(-15)),
        ("1_000", Int(1000)),
        ("1__0", Int(10)),
        ("0_x10", Int(16)),
        ("+_1", Int(1)),
        ("9223372036854775807", Int(i64::MAX)),
        ("-9223372036854775808", Int(i64::MIN)),
        ("9223372036854775808", UInt(9_223_372_036_854_775_808)),
        ("18446744073709551615", UInt(u64::MAX)),
        ("0x8000000000000000", UInt(1 << 63)),
        // Beyond u64: only the float pattern is left.
        ("18446744073709551616", Float(18_446_744_073_709_551_616.0)),
        ("-9223372036854775809", Float(-9_223_372_036_854_775_809.0)),
        ("+18446744073709551615", Float(18_446_744_073_709_551_615.0)),
        ("0xFFFFFFFFFFFFFFFFF", Str),
        // Floats.
        ("1e3", Float(1000.0)),
        ("1E3", Float(1000.0)),
        ("1e+3", Float(1000.0)),
        ("-1.5e-3", Float(-0.0015)),
        ("1.5", Float(1.5)),
        (".5", Float(0.5)),
        ("-.5", Float(-0.5)),
        ("+.5", Float(0.5)),
        ("0.", Float(0.0)),
        ("1.", Float(1.0)),
        ("1_0.5", Float(10.5)),
        ("0755.5", Float(755.5)),
        ("08", Float(8.0)),
        ("09", Float(9.0)),
        ("1e-400", Float(0.0)),
        (".5_0", Float(0.5)),
        (".5e3", Float(500.0)),
        ("1e400", Str),
        ("._5", Str),
        (".", Str),
        (".e3", Str),
        ("1e", Str),
        ("1e+", Str),
        // Special floats.
        (".inf", Float(f64::INFINITY)),
        (".Inf", Float(f64::INFINITY)),
        (".INF", Float(f64::INFINITY)),
        ("+.inf", Float(f64::INFINITY)),
        ("-.inf", Float(f64::NEG_INFINITY)),
        ("-.Inf", Float(f64::NEG_INFINITY)),
        (".nan", Float(f64::NAN)),
        (".NaN", Float(f64::NAN)),
        (".NAN", Float(f64::NAN)),
        (".iNf", Str),
        ("-.nan", Str),
        ("+inf", Str),
        ("inf", Str),
        ("nan", Str),
        ("Infinity", Str),
        // Strings: timestamps (kept as strings), sexagesimal (unsupported by
        // go-yaml), near-numbers.
        ("2001-12-14", Str),
        ("2001-12-14T21:59:43.10Z", Str),
        ("1:20", Str),
        ("12:30:45", Str),
        ("0x", Str),
        ("0b", Str),
        ("0o", Str),
        ("0b102", Str),
        ("0x1G", Str),
        ("+", Str),
        ("-", Str),
        ("1 2", Str),
        ("1,000", Str),
        ("1.2.3", Str),
        ("127.0.0.1", Str),
        ("v1", Str),
        ("<<", Str),
        ("_1", Str),
        ("$1", Str),
    ];
    assert!(table.len() >= 40);
    for &(text, want) in table {
        let got = resolve_plain(text);
        assert!(same(got, want), "{text:?}: got {got:?}, want {want:?}");
    }
}

fn value_of(doc: &str) -> Value {
    let parsed = parse(doc, &Limits::default()).unwrap_or_else(|e| panic!("{doc:?}: {e}"));
    parsed.documents[0].value["v"].clone()
}

fn error_of(doc: &str) -> YamlErrorKind {
    parse(doc, &Limits::default()).expect_err(doc).kind
}

#[test]
fn yaml_values_in_documents() {
    assert_eq!(value_of("v: 0755"), json!(493));
    assert_eq!(value_of("v: NO"), json!(false));
    assert_eq!(value_of("v:"), Value::Null);
    assert_eq!(value_of("v: 1e3"), json!(1000.0));
    assert!(value_of("v: 1e3").as_number().unwrap().is_f64());
    assert!(value_of("v: 08").as_number().unwrap().is_f64());
    assert_eq!(
        value_of("v: 9223372036854775808"),
        json!(9_223_372_036_854_775_808u64)
    );
    assert_eq!(value_of("v: 2001-12-14"), json!("2001-12-14"));
    assert_eq!(value_of("v: plain\n  folded"), json!("plain folded"));
}

#[test]
fn yaml_quoted_and_block_scalars_are_strings() {
    for (doc, want) in [
        ("v: 'yes'", "yes"),
        ("v: \"yes\"", "yes"),
        ("v: '0755'", "0755"),
        ("v: \"0x1F\"", "0x1F"),
        ("v: '~'", "~"),
        ("v: ''", ""),
        ("v: \"null\"", "null"),
        ("v: '.inf'", ".inf"),
        ("v: \"1e3\"", "1e3"),
        ("v: |\n  yes\n", "yes\n"),
        ("v: |-\n  0755\n", "0755"),
        ("v: >-\n  true\n", "true"),
        ("v: >\n  on\n  off\n", "on off\n"),
    ] {
        assert_eq!(value_of(doc), json!(want), "{doc:?}");
    }
}

#[test]
fn yaml_explicit_tags() {
    assert_eq!(value_of("v: !!str 0755"), json!("0755"));
    assert_eq!(value_of("v: !!str"), json!(""));
    assert_eq!(value_of("v: !!int \"12\""), json!(12));
    assert_eq!(value_of("v: !!int 0x10"), json!(16));
    assert_eq!(value_of("v: !<tag:yaml.org,2002:int> '7'"), json!(7));
    let f = value_of("v: !!float 1");
    assert!(f.as_number().unwrap().is_f64() && f == json!(1.0));
    assert_eq!(value_of("v: !!bool yes"), json!(true));
    assert_eq!(value_of("v: !!bool \"False\""), json!(false));
    assert_eq!(value_of("v: !!null ~"), Value::Null);
    assert_eq!(value_of("v: !!null ''"), Value::Null);
    assert_eq!(value_of("v: !!timestamp 2001-12-14"), json!("2001-12-14"));
    assert_eq!(value_of("v: !!binary aGVsbG8="), json!("hello"));
    assert_eq!(value_of("v: !!binary |\n  aGVs\n  bG8=\n"), json!("hello"));
    // Unknown tags: the scalar is the string it spells, as in go-yaml v2.
    assert_eq!(value_of("v: !foo 12"), json!("12"));
    assert_eq!(value_of("v: ! 12"), json!("12"));
    assert_eq!(value_of("v: !!set yes"), json!("yes"));
    // ...and ignored on collections.
    assert_eq!(value_of("v: !custom {a: 1}"), json!({"a": 1}));
    assert_eq!(value_of("v: !!map {a: 1}"), json!({"a": 1}));
    assert_eq!(value_of("v: !!seq [1]"), json!([1]));

    for bad in [
        "v: !!int x",
        "v: !!int 1.5",
        "v: !!float x",
        "v: !!float 18446744073709551615",
        "v: !!bool 1",
        "v: !!null x",
        "v: !!timestamp x",
        "v: !!binary '!!'",
        "v: !!seq {a: 1}",
        "v: !!map [1]",
        "v: !!int [1]",
        "v: !!map x",
    ] {
        assert_eq!(error_of(bad), YamlErrorKind::InvalidTag, "{bad}");
    }
    let e = parse("v: !!int abc", &Limits::default()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "line 1, column 4: !!int tag on \"abc\", which Kubernetes reads as a string; fix the value or remove the tag"
    );
}

#[test]
fn yaml_non_finite_floats_are_errors_in_values() {
    assert!(matches!(resolve_plain(".inf"), Scalar::Float(f) if f.is_infinite()));
    let e = parse("a: 1\nv: .inf\n", &Limits::default()).unwrap_err();
    assert_eq!(e.kind, YamlErrorKind::NonFiniteFloat);
    assert_eq!(
        e.to_string(),
        "line 2, column 4: `.inf` is a YAML 1.1 float (infinity) that JSON cannot represent; quote it: \".inf\""
    );
    assert_eq!(error_of("v: [-.Inf]"), YamlErrorKind::NonFiniteFloat);
    assert_eq!(error_of("v: .NaN"), YamlErrorKind::NonFiniteFloat);
    assert_eq!(error_of("v: !!float .inf"), YamlErrorKind::NonFiniteFloat);
    assert!(
        parse("v: .nan", &Limits::default())
            .unwrap_err()
            .message
            .contains("(not a number)")
    );
    // As a key it is just the string ".inf", as for sigs.k8s.io/yaml.
    let d = parse(".inf: a\n-.inf: b\n.nan: c\n", &Limits::default()).unwrap();
    assert_eq!(
        d.documents[0].value,
        json!({".inf": "a", "-.inf": "b", ".nan": "c"})
    );
}
