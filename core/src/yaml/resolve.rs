//! Plain-scalar resolution: go-yaml v2 (YAML 1.1, what Kubernetes uses) and the
//! YAML 1.2 core schema (what many editors assume), plus the warnings for the
//! scalars on which the two disagree.
//!
//! Everything here is hand-written byte scanning: no regex, no allocation on
//! the common path (a plain scalar that is just a string).

use std::fmt::Write as _;

/// What a plain (unquoted, untagged) scalar means to Kubernetes.
///
/// This is the result of go-yaml v2's `resolve()` as seen by
/// `sigs.k8s.io/yaml` (which decodes into `interface{}`): timestamps stay
/// strings, so there is no timestamp variant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scalar {
    /// `~`, `null`, `Null`, `NULL` or the empty scalar.
    Null,
    /// One of the YAML 1.1 booleans (`y`, `Yes`, `on`, `OFF`, `true`, …).
    Bool(bool),
    /// An integer that fits in `i64` (decimal, `0x`, `0o`, `0b`, or a
    /// leading-zero octal such as `0755`; `_` separators allowed).
    Int(i64),
    /// An integer above `i64::MAX` that fits in `u64`.
    UInt(u64),
    /// A float (`1.5`, `.5`, `1e3`, `08`, `.inf`, `.nan`, …). May be
    /// non-finite; JSON cannot hold those, so the reader rejects them.
    Float(f64),
    /// Anything else: the scalar is the string it spells.
    Str,
}

/// go-yaml v2's first-byte hint table.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Hint {
    /// Cannot be anything but a string.
    None,
    /// Sign (`+`, `-`).
    Sign,
    /// Digit.
    Digit,
    /// A letter (or `~`) that starts a word in the bool/null table.
    Map,
    /// `.`: `.inf`, `.nan` or a float such as `.5`.
    Dot,
}

fn hint(b: u8) -> Hint {
    match b {
        b'+' | b'-' => Hint::Sign,
        b'0'..=b'9' => Hint::Digit,
        b'y' | b'Y' | b'n' | b'N' | b't' | b'T' | b'f' | b'F' | b'o' | b'O' | b'~' => Hint::Map,
        b'.' => Hint::Dot,
        _ => Hint::None,
    }
}

/// go-yaml v2's lookup table (bools, nulls, infinities, NaN).
fn lookup(s: &str) -> Option<Scalar> {
    Some(match s {
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            Scalar::Bool(true)
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            Scalar::Bool(false)
        }
        "" | "~" | "null" | "Null" | "NULL" => Scalar::Null,
        ".nan" | ".NaN" | ".NAN" => Scalar::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => Scalar::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => Scalar::Float(f64::NEG_INFINITY),
        _ => return None,
    })
}

/// Resolves a plain scalar exactly as go-yaml v2 does for Kubernetes
/// (YAML 1.1 rules).
///
/// * booleans: `y Y yes Yes YES n N no No NO true True TRUE false False FALSE
///   on On ON off Off OFF`; null: `~ null Null NULL` and the empty scalar;
/// * `.inf`, `+.inf`, `-.inf`, `.nan` (three spellings each) are floats;
/// * a scalar starting with a digit or sign: all `_` are removed, then Go's
///   `strconv.ParseInt(s, 0, 64)` (decimal, `0x`, `0o`, `0b`, leading-`0`
///   octal, optional sign), then `ParseUint`, then — only if it looks like
///   `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?` — `ParseFloat`.
///   So `0755` is 493, `08` is the float 8 (not octal, not an int), `1e3` is
///   the float 1000, `+inf` and `1:20` are strings;
/// * a scalar starting with `.` that Go's `ParseFloat` accepts is a float
///   (`.5`, `.5e3`);
/// * a float out of `f64` range (`1e400`) is a string, as in Go;
/// * everything else — including timestamps, which Kubernetes keeps as
///   strings — is [`Scalar::Str`].
///
/// ```
/// use nomos_core::yaml::{resolve_plain, Scalar};
/// assert_eq!(resolve_plain("0755"), Scalar::Int(493));
/// assert_eq!(resolve_plain("NO"), Scalar::Bool(false));
/// assert_eq!(resolve_plain("2001-12-14"), Scalar::Str);
/// ```
pub fn resolve_plain(s: &str) -> Scalar {
    let Some(&first) = s.as_bytes().first() else {
        return Scalar::Null;
    };
    let h = hint(first);
    if h == Hint::None {
        return Scalar::Str;
    }
    if let Some(v) = lookup(s) {
        return v;
    }
    match h {
        Hint::Dot => match go_parse_float_dot(s) {
            Some(f) => Scalar::Float(f),
            None => Scalar::Str,
        },
        Hint::Digit | Hint::Sign => resolve_number(s),
        Hint::Map | Hint::None => Scalar::Str,
    }
}

/// The digit/sign branch of go-yaml v2's resolver.
fn resolve_number(s: &str) -> Scalar {
    // Underscores are removed wholesale (strings.Replace(in, "_", "", -1)).
    let mut buf = [0u8; 64];
    let plain: &[u8] = if s.contains('_') {
        let mut n = 0;
        for &b in s.as_bytes() {
            if b != b'_' {
                if n == buf.len() {
                    // Longer than any number Go could parse as an integer; only a
                    // float could still match. Fall back to an allocation.
                    let owned: Vec<u8> = s.bytes().filter(|&b| b != b'_').collect();
                    return resolve_number_bytes(&owned);
                }
                buf[n] = b;
                n += 1;
            }
        }
        &buf[..n]
    } else {
        s.as_bytes()
    };
    resolve_number_bytes(plain)
}

fn resolve_number_bytes(plain: &[u8]) -> Scalar {
    if let Some(i) = go_parse_int(plain) {
        return Scalar::Int(i);
    }
    if let Some(u) = go_parse_uint(plain) {
        return Scalar::UInt(u);
    }
    if yaml_style_float(plain) {
        // The pattern only admits ASCII, so from_utf8 cannot fail.
        if let Ok(text) = std::str::from_utf8(plain)
            && let Ok(f) = text.parse::<f64>()
            && f.is_finite()
        {
            return Scalar::Float(f);
        }
    }
    // go-yaml's extra `0b`/`-0b` fallbacks are unreachable with Go >= 1.13,
    // whose ParseInt(s, 0, 64) already understands `0b` (and `-0b`).
    Scalar::Str
}

/// Go's `strconv.ParseUint(s, 0, 64)` (no sign allowed, no underscores present).
fn go_parse_uint(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let (base, digits): (u64, &[u8]) = if s[0] == b'0' {
        if s.len() >= 3 && s[1].eq_ignore_ascii_case(&b'b') {
            (2, &s[2..])
        } else if s.len() >= 3 && s[1].eq_ignore_ascii_case(&b'o') {
            (8, &s[2..])
        } else if s.len() >= 3 && s[1].eq_ignore_ascii_case(&b'x') {
            (16, &s[2..])
        } else {
            (8, &s[1..])
        }
    } else {
        (10, s)
    };
    let mut n: u64 = 0;
    for &c in digits {
        let d = match c {
            b'0'..=b'9' => u64::from(c - b'0'),
            b'a'..=b'z' => u64::from(c - b'a') + 10,
            b'A'..=b'Z' => u64::from(c - b'A') + 10,
            _ => return None,
        };
        if d >= base {
            return None;
        }
        n = n.checked_mul(base)?.checked_add(d)?;
    }
    Some(n)
}

/// Go's `strconv.ParseInt(s, 0, 64)`.
fn go_parse_int(s: &[u8]) -> Option<i64> {
    let (neg, rest) = match s.first()? {
        b'+' => (false, &s[1..]),
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    let mag = go_parse_uint(rest)?;
    if neg {
        if mag <= 1u64 << 63 {
            Some((mag as i64).wrapping_neg())
        } else {
            None
        }
    } else {
        i64::try_from(mag).ok()
    }
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
fn yaml_style_float(s: &[u8]) -> bool {
    let mut i = 0;
    if matches!(s.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < s.len() && s[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if s.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if s.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i);
        }
    }
    if matches!(s.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(s.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == s.len()
}

/// Go's `strconv.ParseFloat(s, 64)` for a string that starts with `.`
/// (go-yaml's `.` branch passes the raw text, underscores included).
fn go_parse_float_dot(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let mut i = 1; // the leading '.'
    let mut saw_digits = false;
    let mut underscores = false;
    while i < b.len() {
        match b[i] {
            b'_' => underscores = true,
            b'0'..=b'9' => saw_digits = true,
            _ => break,
        }
        i += 1;
    }
    if !saw_digits {
        return None;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        if i >= b.len() || !b[i].is_ascii_digit() {
            return None;
        }
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            underscores |= b[i] == b'_';
            i += 1;
        }
    }
    if i != b.len() {
        return None;
    }
    let f = if underscores {
        if !go_underscore_ok(b) {
            return None;
        }
        s.replace('_', "").parse::<f64>().ok()?
    } else {
        s.parse::<f64>().ok()?
    };
    // Go reports ErrRange (and go-yaml then keeps the string) on overflow.
    f.is_finite().then_some(f)
}

/// Go's `underscoreOK` for a number without base prefix: every `_` sits
/// between two digits.
fn go_underscore_ok(s: &[u8]) -> bool {
    // '^' start, '0' digit, '_' underscore, '!' other.
    let mut saw = b'^';
    let s = if matches!(s.first(), Some(b'+' | b'-')) {
        &s[1..]
    } else {
        s
    };
    for &c in s {
        if c.is_ascii_digit() {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
    }
    saw != b'_'
}

/// Whether Go's `time.Parse` accepts `s` in one of go-yaml v2's timestamp
/// layouts (`2006-1-2T15:4:5.999999999Z07:00`, the same with `t`,
/// `2006-1-2 15:4:5.999999999`, `2006-1-2`). Only consulted for an explicit
/// `!!timestamp` tag: an untagged timestamp is a string either way.
pub(crate) fn is_go_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    // Number of 1..=max digits.
    let num = |i: &mut usize, max: usize| -> Option<u32> {
        let start = *i;
        let mut v = 0u32;
        while *i < b.len() && *i - start < max && b[*i].is_ascii_digit() {
            v = v * 10 + u32::from(b[*i] - b'0');
            *i += 1;
        }
        (*i > start).then_some(v)
    };
    if b.len() < 5 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return false;
    }
    let year = b[..4]
        .iter()
        .fold(0u32, |a, &d| a * 10 + u32::from(d - b'0'));
    let mut i = 5;
    let Some(month) = num(&mut i, 2) else {
        return false;
    };
    if b.get(i) != Some(&b'-') {
        return false;
    }
    i += 1;
    let Some(day) = num(&mut i, 2) else {
        return false;
    };
    if !(1..=12).contains(&month) {
        return false;
    }
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if day < 1 || day > days[month as usize - 1] {
        return false;
    }
    if i == b.len() {
        return true;
    }
    let zoned = match b[i] {
        b'T' | b't' => true,
        b' ' => false,
        _ => return false,
    };
    i += 1;
    let time = |i: &mut usize| -> bool {
        let Some(h) = num(i, 2) else { return false };
        if b.get(*i) != Some(&b':') {
            return false;
        }
        *i += 1;
        let Some(m) = num(i, 2) else { return false };
        if b.get(*i) != Some(&b':') {
            return false;
        }
        *i += 1;
        let Some(sec) = num(i, 2) else { return false };
        if h > 23 || m > 59 || sec > 59 {
            return false;
        }
        if b.get(*i) == Some(&b'.') {
            *i += 1;
            let start = *i;
            while *i < b.len() && b[*i].is_ascii_digit() {
                *i += 1;
            }
            if *i == start {
                return false;
            }
        }
        true
    };
    if !time(&mut i) {
        return false;
    }
    if !zoned {
        return i == b.len();
    }
    match b.get(i) {
        Some(b'Z') => i + 1 == b.len(),
        Some(b'+' | b'-') => {
            let z = &b[i + 1..];
            z.len() == 5
                && z[0].is_ascii_digit()
                && z[1].is_ascii_digit()
                && z[2] == b':'
                && z[3].is_ascii_digit()
                && z[4].is_ascii_digit()
                && (z[0] - b'0') * 10 + (z[1] - b'0') <= 23
                && (z[3] - b'0') * 10 + (z[4] - b'0') <= 59
        }
        _ => false,
    }
}

/// What a plain scalar means under the YAML 1.2 core schema.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Core12 {
    Null,
    Bool(bool),
    /// An integer; `None` when it does not fit in `i128`.
    Int(Option<i128>),
    Float(f64),
    Str,
}

/// Resolves a plain scalar by the YAML 1.2 core schema (10.3.2).
pub(crate) fn resolve_core12(s: &str) -> Core12 {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Core12::Null,
        "true" | "True" | "TRUE" => return Core12::Bool(true),
        "false" | "False" | "FALSE" => return Core12::Bool(false),
        ".nan" | ".NaN" | ".NAN" => return Core12::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Core12::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Core12::Float(f64::NEG_INFINITY),
        _ => {}
    }
    let b = s.as_bytes();
    if let Some(rest) = s.strip_prefix("0o") {
        if !rest.is_empty() && rest.bytes().all(|c| (b'0'..=b'7').contains(&c)) {
            return Core12::Int(i128::from_str_radix(rest, 8).ok());
        }
        return Core12::Str;
    }
    if let Some(rest) = s.strip_prefix("0x") {
        if !rest.is_empty() && rest.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Core12::Int(i128::from_str_radix(rest, 16).ok());
        }
        return Core12::Str;
    }
    let unsigned = if matches!(b.first(), Some(b'+' | b'-')) {
        &b[1..]
    } else {
        b
    };
    if !unsigned.is_empty() && unsigned.iter().all(u8::is_ascii_digit) {
        return Core12::Int(s.parse::<i128>().ok());
    }
    if yaml_style_float(b)
        && let Ok(f) = s.parse::<f64>()
    {
        return Core12::Float(f);
    }
    Core12::Str
}

/// Formats a float the way the writer does, so that it reads back as the
/// same `f64` (always with a `.` or an exponent, so never as an integer).
pub(crate) fn format_float(f: f64) -> String {
    // Debug prints the shortest round-trip digits, `1.0` for integral values
    // and `1e16` / `1e-7` forms at the extremes: all match go-yaml's float
    // pattern.
    format!("{f:?}")
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 32)` with sigs.k8s.io/yaml's
/// `.inf`/`-.inf`/`.nan` replacements: how Kubernetes turns a float mapping
/// key into a string.
pub(crate) fn float_key(f: f64) -> String {
    #[allow(clippy::cast_possible_truncation)]
    let f32v = f as f32;
    if f32v.is_nan() {
        return ".nan".to_owned();
    }
    if f32v.is_infinite() {
        return if f32v > 0.0 { ".inf" } else { "-.inf" }.to_owned();
    }
    // `{:e}` gives the shortest digits that round-trip as f32: "-1.2345e-7".
    let e = format!("{f32v:e}");
    let (neg, e) = match e.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, e.as_str()),
    };
    let (mant, exp) = e.split_once('e').unwrap_or((e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: Vec<u8> = mant.bytes().filter(u8::is_ascii_digit).collect();
    let nd = i32::try_from(digits.len()).unwrap_or(i32::MAX);
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    // Go: shortest 'g' uses %e when exp < -4 || exp >= 6 (eprec = 6).
    if !(-4..6).contains(&exp) {
        out.push(char::from(digits[0]));
        if digits.len() > 1 {
            out.push('.');
            for &d in &digits[1..] {
                out.push(char::from(d));
            }
        }
        let _ = write!(
            out,
            "e{}{:02}",
            if exp < 0 { '-' } else { '+' },
            exp.unsigned_abs()
        );
    } else {
        let dp = exp + 1; // digits before the decimal point
        if dp > 0 {
            for k in 0..dp {
                out.push(digits.get(k as usize).map_or('0', |&d| char::from(d)));
            }
        } else {
            out.push('0');
        }
        let frac = (nd - dp).max(0);
        if frac > 0 {
            out.push('.');
            for k in 0..frac {
                let idx = dp + k;
                out.push(if idx < 0 {
                    '0'
                } else {
                    char::from(digits[idx as usize])
                });
            }
        }
    }
    out
}

/// The warning text for a plain value scalar whose meaning differs between
/// YAML 1.1 (Kubernetes) and the YAML 1.2 core schema, or `None`.
pub(crate) fn scalar_warning(text: &str, k8s: Scalar) -> Option<String> {
    match k8s {
        Scalar::Null | Scalar::Str => None,
        Scalar::Bool(b) => match resolve_core12(text) {
            Core12::Bool(_) => None,
            _ => Some(format!(
                "plain scalar {text} is read as the boolean {b} by Kubernetes (YAML 1.1) but as the string \"{text}\" by YAML 1.2 tools; write \"{text}\" (quoted) if you mean the string, or {b} if you mean the boolean"
            )),
        },
        Scalar::Int(_) | Scalar::UInt(_) | Scalar::Float(_) => {
            let k8s_text = number_text(k8s);
            match resolve_core12(text) {
                Core12::Str | Core12::Null | Core12::Bool(_) => Some(format!(
                    "plain scalar {text} is read as the number {k8s_text} by Kubernetes (YAML 1.1) but as the string \"{text}\" by YAML 1.2 tools; write {k8s_text} if you mean the number, or \"{text}\" (quoted) if you mean the string"
                )),
                Core12::Int(None) => None,
                Core12::Int(Some(i)) => {
                    if same_number(k8s, i) {
                        return None;
                    }
                    if let Some(w) = octal_warning(text, k8s, i) {
                        return Some(w);
                    }
                    Some(format!(
                        "plain scalar {text} is read as the number {k8s_text} by Kubernetes (YAML 1.1) but as the number {i} by YAML 1.2 tools; write {k8s_text} or {i}, whichever you mean, or \"{text}\" (quoted) if you mean the string"
                    ))
                }
                Core12::Float(g) => {
                    let same = match k8s {
                        Scalar::Float(f) => f == g || (f.is_nan() && g.is_nan()),
                        #[allow(clippy::cast_precision_loss)]
                        Scalar::Int(i) => i as f64 == g,
                        #[allow(clippy::cast_precision_loss)]
                        Scalar::UInt(u) => u as f64 == g,
                        _ => true,
                    };
                    (!same).then(|| {
                        format!(
                            "plain scalar {text} is read as the number {k8s_text} by Kubernetes (YAML 1.1) but as the number {} by YAML 1.2 tools; quote it (\"{text}\") if you mean the string",
                            format_float(g)
                        )
                    })
                }
            }
        }
    }
}

fn number_text(s: Scalar) -> String {
    match s {
        Scalar::Int(i) => i.to_string(),
        Scalar::UInt(u) => u.to_string(),
        Scalar::Float(f) if f.is_nan() => ".nan".to_owned(),
        Scalar::Float(f) if f.is_infinite() => if f > 0.0 { ".inf" } else { "-.inf" }.to_owned(),
        Scalar::Float(f) => format_float(f),
        _ => String::new(),
    }
}

fn same_number(k8s: Scalar, i: i128) -> bool {
    match k8s {
        Scalar::Int(a) => i128::from(a) == i,
        Scalar::UInt(u) => i128::from(u) == i,
        Scalar::Float(f) => {
            // Integral and exactly i? (i128 -> f64 may round; compare both ways.)
            #[allow(clippy::cast_precision_loss)]
            let g = i as f64;
            #[allow(clippy::cast_possible_truncation)]
            let back = f as i128;
            f == g && back == i && f.fract() == 0.0
        }
        _ => false,
    }
}

/// `0755`: octal 493 for go-yaml v2, decimal 755 for YAML 1.2.
fn octal_warning(text: &str, k8s: Scalar, decimal: i128) -> Option<String> {
    let Scalar::Int(v) = k8s else { return None };
    let (sign, digits) = match text.as_bytes()[0] {
        b'-' => ("-", &text[1..]),
        b'+' => ("", &text[1..]),
        _ => ("", text),
    };
    if !(digits.len() > 1 && digits.starts_with('0')) {
        return None;
    }
    let octal_digits = digits.trim_start_matches(['0', '_']).replace('_', "");
    let alternatives = if sign.is_empty() {
        format!("{v} or 0o{octal_digits}")
    } else {
        v.to_string()
    };
    Some(format!(
        "plain scalar {text} is read as the octal number {text} = {v} by Kubernetes (YAML 1.1) but as the decimal number {decimal} by YAML 1.2 tools; write {alternatives} if you mean {v} (Kubernetes and YAML 1.2 tools agree on that), {decimal} if you mean decimal {decimal}, or \"{text}\" (quoted) for the string"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_keys_follow_go_g_32() {
        assert_eq!(float_key(1.5), "1.5");
        assert_eq!(float_key(1000.0), "1000");
        assert_eq!(float_key(1e6), "1e+06");
        assert_eq!(float_key(123_456_789.0), "1.2345679e+08");
        assert_eq!(float_key(0.1), "0.1");
        assert_eq!(float_key(0.0001), "0.0001");
        assert_eq!(float_key(0.00001), "1e-05");
        assert_eq!(float_key(-0.0), "-0");
        assert_eq!(float_key(8.0), "8");
        assert_eq!(float_key(std::f64::consts::PI), "3.1415927");
        assert_eq!(float_key(1e300), ".inf");
        assert_eq!(float_key(f64::NEG_INFINITY), "-.inf");
        assert_eq!(float_key(f64::NAN), ".nan");
        assert_eq!(float_key(100_000.0), "100000");
        assert_eq!(float_key(0.000_123), "0.000123");
    }

    #[test]
    fn timestamps() {
        for ok in [
            "2001-12-14",
            "2001-1-2",
            "2001-12-14T21:59:43.10Z",
            "2001-12-14t21:59:43Z",
            "2001-12-14T21:59:43+05:00",
            "2001-12-14 21:59:43.10",
            "2000-02-29",
        ] {
            assert!(is_go_timestamp(ok), "{ok}");
        }
        for bad in [
            "2001-12-14 21:59:43.10 -5",
            "2001-13-01",
            "2001-02-29",
            "01-12-14",
            "2001-12-14T",
            "2001-12-14T21:59:43",
            "abcd-12-14",
        ] {
            assert!(!is_go_timestamp(bad), "{bad}");
        }
    }

    #[test]
    fn core12() {
        assert_eq!(resolve_core12("yes"), Core12::Str);
        assert_eq!(resolve_core12("0755"), Core12::Int(Some(755)));
        assert_eq!(resolve_core12("0o17"), Core12::Int(Some(15)));
        assert_eq!(resolve_core12("0x1F"), Core12::Int(Some(31)));
        assert_eq!(resolve_core12("0X1F"), Core12::Str);
        assert_eq!(resolve_core12("-0x1F"), Core12::Str);
        assert_eq!(resolve_core12("1_000"), Core12::Str);
        assert_eq!(resolve_core12("1e3"), Core12::Float(1000.0));
    }

    #[test]
    fn warnings() {
        let w = |s: &str| scalar_warning(s, resolve_plain(s));
        assert!(w("true").is_none());
        assert!(w("12").is_none());
        assert!(w("0x1F").is_none());
        assert!(w("0o17").is_none());
        assert!(w("1e3").is_none());
        assert!(w("08").is_none(), "8.0 and 8 are the same number");
        assert!(w("~").is_none());
        assert_eq!(
            w("NO").unwrap(),
            "plain scalar NO is read as the boolean false by Kubernetes (YAML 1.1) but as the string \"NO\" by YAML 1.2 tools; write \"NO\" (quoted) if you mean the string, or false if you mean the boolean"
        );
        let octal = w("0755").unwrap();
        assert!(octal.contains("octal number 0755 = 493"), "{octal}");
        assert!(octal.contains("write 493 or 0o755"), "{octal}");
        assert!(octal.contains("decimal number 755"), "{octal}");
        assert!(w("-0755").unwrap().contains("write -493 if"));
        assert!(w("0b1010").unwrap().contains("the number 10 by Kubernetes"));
        assert!(
            w("1_000")
                .unwrap()
                .contains("write 1000 if you mean the number")
        );
        assert!(w("-0x1F").unwrap().contains("the number -31"));
    }
}
