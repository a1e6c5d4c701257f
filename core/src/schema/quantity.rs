//! The syntax of a Kubernetes `resource.Quantity` string, as `ParseQuantity` accepts it.
//!
//! ```text
//! quantity ::= [sign] number suffix          (surrounding white space is trimmed)
//! number   ::= digits | digits "." [digits] | "." digits
//! suffix   ::= "" | n | u | m | k | M | G | T | P | E | Ki | Mi | Gi | Ti | Pi | Ei
//!            | ("e" | "E") [sign] digits
//! ```

/// Whether `s` parses as a Kubernetes quantity (`500m`, `1Gi`, `2.5`, `1e3`, …).
pub(crate) fn is_valid(s: &str) -> bool {
    let b = s.trim().as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let mut digits = i - start;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let frac = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        digits += i - frac;
    }
    if digits == 0 {
        return false;
    }
    match &b[i..] {
        b"" | b"n" | b"u" | b"m" | b"k" | b"M" | b"G" | b"T" | b"P" | b"E" | b"Ki" | b"Mi"
        | b"Gi" | b"Ti" | b"Pi" | b"Ei" => true,
        [b'e' | b'E', rest @ ..] => {
            let rest = rest
                .strip_prefix(b"+")
                .or_else(|| rest.strip_prefix(b"-"))
                .unwrap_or(rest);
            !rest.is_empty() && rest.iter().all(u8::is_ascii_digit)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::is_valid;

    #[test]
    fn accepts_kubernetes_quantities() {
        for q in [
            "0",
            "1",
            "100m",
            "0.5",
            ".5",
            "5.",
            "1Gi",
            "512Mi",
            "2k",
            "1M",
            "1e3",
            "1E-3",
            "1e+3",
            "+1",
            "-1",
            "250n",
            "10u",
            "1Ei",
            "1E",
            " 1Gi ",
            "128974848",
            "129e6",
            "123Mi",
        ] {
            assert!(is_valid(q), "{q}");
        }
    }

    #[test]
    fn rejects_malformed_quantities() {
        for q in [
            "", "Gi", "1 Gi", "1K", "1gi", "1GB", "1e", "1.5.5", ".", "-", "1Gi ms", "abc", "1mi",
            "e3",
        ] {
            assert!(!is_valid(q), "{q}");
        }
    }
}
