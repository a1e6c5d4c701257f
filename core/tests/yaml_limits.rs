//! Hostile inputs: alias bombs, deep nesting, huge files. Each must fail
//! with the right error, fast and without crashing; the deep tests run on a
//! thread with an ordinary 2 MiB stack to prove nothing recurses per level.
//! (The time bound is only a generous sanity check; benches measure speed.)

use nomos_core::yaml::{Limits, YamlErrorKind, parse, parse_json};
use std::time::{Duration, Instant};

const SANITY: Duration = Duration::from_secs(5);

/// Runs `f` on a thread with a 2 MiB stack (a stack overflow aborts the
/// test binary, so a pass proves there is none).
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("thread panicked")
}

fn kind_within_bound(text: &str, limits: &Limits) -> YamlErrorKind {
    let start = Instant::now();
    let kind = parse(text, limits).expect_err("must fail").kind;
    assert!(start.elapsed() < SANITY, "took {:?}", start.elapsed());
    kind
}

fn billion_laughs() -> String {
    let mut s = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
    for w in names.windows(2) {
        let (prev, cur) = (w[0], w[1]);
        let refs = vec![format!("*{prev}"); 10].join(",");
        s.push_str(&format!("{cur}: &{cur} [{refs}]\n"));
    }
    s
}

#[test]
fn yaml_billion_laughs_fails_fast() {
    let text = billion_laughs();
    assert_eq!(
        kind_within_bound(&text, &Limits::default()),
        YamlErrorKind::TooManyNodes
    );
    // A small, legitimate use of aliases stays fine.
    let ok = "a: &a [1, 2]\nb: [*a, *a, *a]\n";
    assert!(parse(ok, &Limits::default()).is_ok());
    // The count includes expansions: 1 map + 2 keys... fails at a low limit.
    let tight = Limits {
        max_nodes: 12,
        ..Limits::default()
    };
    assert_eq!(
        parse(ok, &tight).unwrap_err().kind,
        YamlErrorKind::TooManyNodes
    );
}

#[test]
fn yaml_deep_flow_nesting_fails_fast_on_a_small_stack() {
    let kind = on_small_stack(|| {
        let text = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        kind_within_bound(&text, &Limits::default())
    });
    assert_eq!(kind, YamlErrorKind::TooDeep);
    let kind = on_small_stack(|| {
        let text = format!("{}{}", "{a: ".repeat(10_000), "}".repeat(10_000));
        kind_within_bound(&text, &Limits::default())
    });
    assert_eq!(kind, YamlErrorKind::TooDeep);
    // Unterminated, too.
    let kind = on_small_stack(|| kind_within_bound(&"[".repeat(10_000), &Limits::default()));
    assert_eq!(kind, YamlErrorKind::TooDeep);
    let kind = on_small_stack(|| {
        parse_json(&"[".repeat(10_000), &Limits::default())
            .unwrap_err()
            .kind
    });
    assert_eq!(kind, YamlErrorKind::TooDeep);
}

#[test]
fn yaml_deep_block_nesting_fails_fast_on_a_small_stack() {
    let kind = on_small_stack(|| {
        let text = format!("{}x\n", "- ".repeat(10_000));
        kind_within_bound(&text, &Limits::default())
    });
    assert_eq!(kind, YamlErrorKind::TooDeep);
    // Indented mappings: 4,000 levels is 8 MB of indentation already.
    let kind = on_small_stack(|| {
        let mut text = String::new();
        for i in 0..4_000 {
            text.push_str(&" ".repeat(i));
            text.push_str("k:\n");
        }
        kind_within_bound(&text, &Limits::default())
    });
    assert_eq!(kind, YamlErrorKind::TooDeep);
}

#[test]
fn yaml_the_parser_itself_survives_10000_levels_on_a_small_stack() {
    // With the depth limit lifted, saphyr-parser (pulled event by event, not
    // through its recursive `load`) and our stack-based builder must still
    // not recurse per level. Flow nesting is capped by saphyr at 255 levels
    // (reported as TooDeep); block nesting has no such cap.
    on_small_stack(|| {
        let limits = Limits {
            max_depth: 20_000,
            ..Limits::default()
        };
        let flow = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let e = parse(&flow, &limits).unwrap_err();
        assert_eq!(e.kind, YamlErrorKind::TooDeep);
        assert_eq!(e.message, "nesting deeper than 255 levels");
        assert!(parse(&format!("{}{}", "[".repeat(255), "]".repeat(255)), &limits).is_ok());

        let text = format!("{}x\n", "- ".repeat(10_000));
        let parsed = parse(&text, &limits).expect("parses");
        // Dismantle the deep value iteratively: serde_json's Drop recurses.
        let mut v = parsed.documents.into_iter().next().unwrap().value;
        loop {
            match v {
                serde_json::Value::Array(mut items) if !items.is_empty() => v = items.remove(0),
                _ => break,
            }
        }
        let mut events = 0usize;
        let mut p = saphyr_parser::Parser::new_from_str(&text);
        while let Some(ev) = p.next_event() {
            ev.expect("event");
            events += 1;
        }
        assert_eq!(events, 20_005);
    });
}

#[test]
fn yaml_depth_limit_is_exact() {
    let limits = Limits {
        max_depth: 3,
        ..Limits::default()
    };
    assert!(parse("a: {b: [1]}", &limits).is_ok());
    assert_eq!(
        parse("a: {b: [[1]]}", &limits).unwrap_err().kind,
        YamlErrorKind::TooDeep
    );
    let e = parse("a:\n  b:\n    c:\n      d: 1\n", &limits).unwrap_err();
    assert_eq!(e.kind, YamlErrorKind::TooDeep);
    assert_eq!(
        e.to_string(),
        "line 4, column 7: nesting deeper than 3 levels"
    );
}

#[test]
fn yaml_aliases_cannot_pile_up_depth() {
    // Each anchor adds 3 levels; aliases nest them past the limit.
    let limits = Limits {
        max_depth: 10,
        ..Limits::default()
    };
    let text = "a: &a [[[1]]]\nb: &b [[[*a]]]\nc: &c [[[*b]]]\nd: [[[*c]]]\n";
    assert_eq!(
        parse(text, &limits).unwrap_err().kind,
        YamlErrorKind::TooDeep
    );
    assert!(parse("a: &a [[[1]]]\nb: &b [[[*a]]]\n", &limits).is_ok());
}

#[test]
fn yaml_huge_input_is_rejected_before_parsing() {
    let text = "a".repeat(100 << 20);
    let start = Instant::now();
    let e = parse(&text, &Limits::default()).unwrap_err();
    assert!(start.elapsed() < SANITY);
    assert_eq!(e.kind, YamlErrorKind::TooLarge);
    assert_eq!(e.pos, None);
    assert_eq!(
        parse_json(&text, &Limits::default()).unwrap_err().kind,
        YamlErrorKind::TooLarge
    );
    let small = Limits {
        max_bytes: 4,
        ..Limits::default()
    };
    assert!(parse("a: 1", &small).is_ok());
    assert_eq!(
        parse("a: 12", &small).unwrap_err().kind,
        YamlErrorKind::TooLarge
    );
}
