//! Timestamps: RFC 3339 as Kubernetes writes them, and Go's `time.Time` rendering that
//! `nomos status` prints. Pure functions; no clock is read here.

use std::time::SystemTime;

use k8s_openapi::jiff::Timestamp;

/// RFC 3339 in UTC with second precision (`2024-01-15T10:30:00Z`), as `metav1.Time` is
/// serialized. Times before the epoch or out of range render as the epoch.
pub fn rfc3339_seconds(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    Timestamp::from_second(secs)
        .unwrap_or(Timestamp::UNIX_EPOCH)
        .to_string()
}

/// RFC 3339 in UTC with the fraction kept when there is one.
pub fn rfc3339(t: SystemTime) -> String {
    Timestamp::try_from(t)
        .unwrap_or(Timestamp::UNIX_EPOCH)
        .to_string()
}

/// Parse an RFC 3339 timestamp (any offset, optional fraction).
pub fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let ts: Timestamp = s.trim().parse().ok()?;
    Some(SystemTime::from(ts))
}

/// Go's `time.Time.String()` of a UTC time with second precision:
/// `2024-01-15 10:30:00 +0000 UTC` (what `nomos status` prints after `SYNCED @`).
pub fn go_time_string(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let ts = Timestamp::from_second(secs).unwrap_or(Timestamp::UNIX_EPOCH);
    format!("{} +0000 UTC", ts.strftime("%Y-%m-%d %H:%M:%S"))
}

/// Parse a Go duration (`15s`, `1m30s`, `500ms`, `1.5h`, `0`), as `nomos status --poll` and
/// `--timeout` take them. Negative durations are refused.
///
/// ```
/// use std::time::Duration;
/// use nomos_monitor::time::parse_go_duration;
/// assert_eq!(parse_go_duration("1m30s").unwrap(), Duration::from_secs(90));
/// assert_eq!(parse_go_duration("250ms").unwrap(), Duration::from_millis(250));
/// assert_eq!(parse_go_duration("0").unwrap(), Duration::ZERO);
/// assert!(parse_go_duration("15").is_err());
/// ```
pub fn parse_go_duration(s: &str) -> Result<std::time::Duration, String> {
    let t = s.trim();
    if t == "0" {
        return Ok(std::time::Duration::ZERO);
    }
    if t.is_empty() || t.starts_with('-') {
        return Err(format!(
            "invalid duration {s:?}: use a positive Go duration such as 15s, 1m30s or 500ms"
        ));
    }
    let t = t.strip_prefix('+').unwrap_or(t);
    let mut total = 0f64;
    let mut rest = t;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .ok_or_else(|| format!("invalid duration {s:?}: missing unit (ns, us, ms, s, m, h)"))?;
        if num_end == 0 {
            return Err(format!(
                "invalid duration {s:?}: expected a number at {rest:?}"
            ));
        }
        let n: f64 = rest[..num_end]
            .parse()
            .map_err(|_| format!("invalid duration {s:?}: bad number {:?}", &rest[..num_end]))?;
        let after = &rest[num_end..];
        let unit_end = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let scale = match &after[..unit_end] {
            "ns" => 1e-9,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            u => {
                return Err(format!(
                    "invalid duration {s:?}: unknown unit {u:?} (use ns, us, ms, s, m or h)"
                ));
            }
        };
        total += n * scale;
        rest = &after[unit_end..];
    }
    if !total.is_finite() {
        return Err(format!("invalid duration {s:?}: too large"));
    }
    Ok(std::time::Duration::from_secs_f64(total))
}

/// Go's `time.Duration.String()` (`15s`, `1m30s`, `1h0m0s`, `500ms`, `0s`).
pub fn go_duration_string(d: std::time::Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".into();
    }
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return format!("{}\u{b5}s", trim_float(nanos as f64 / 1e3));
    }
    if nanos < 1_000_000_000 {
        return format!("{}ms", trim_float(nanos as f64 / 1e6));
    }
    let secs = d.as_secs();
    let frac = d.subsec_nanos();
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    let s = if frac == 0 {
        s.to_string()
    } else {
        trim_float(s as f64 + f64::from(frac) / 1e9)
    };
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

fn trim_float(v: f64) -> String {
    let s = format!("{v:.9}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// serde for `Option<SystemTime>` as an RFC 3339 string (or null).
pub mod opt_rfc3339 {
    use std::time::SystemTime;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&super::rfc3339(*t)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SystemTime>, D::Error> {
        let v: Option<String> = Option::deserialize(d)?;
        match v {
            None => Ok(None),
            Some(s) if s.is_empty() => Ok(None),
            Some(s) => super::parse_rfc3339(&s)
                .map(Some)
                .ok_or_else(|| serde::de::Error::custom(format!("invalid RFC 3339 time {s:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn formats() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_705_314_600_250);
        assert_eq!(rfc3339_seconds(t), "2024-01-15T10:30:00Z");
        assert_eq!(rfc3339(t), "2024-01-15T10:30:00.25Z");
        assert_eq!(go_time_string(t), "2024-01-15 10:30:00 +0000 UTC");
        assert_eq!(parse_rfc3339("2024-01-15T10:30:00.25Z"), Some(t));
        assert_eq!(
            parse_rfc3339("2024-01-15T12:30:00+02:00"),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_705_314_600))
        );
        assert_eq!(parse_rfc3339("yesterday"), None);
    }

    #[test]
    fn go_durations() {
        for (text, d) in [
            ("15s", Duration::from_secs(15)),
            ("1h", Duration::from_secs(3600)),
            ("1.5m", Duration::from_secs(90)),
            ("2h45m", Duration::from_secs(9900)),
            ("100us", Duration::from_micros(100)),
        ] {
            assert_eq!(parse_go_duration(text).unwrap(), d, "{text}");
        }
        for bad in ["", "-1s", "5", "1d", "s", "1..2s"] {
            assert!(parse_go_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(go_duration_string(Duration::from_secs(15)), "15s");
        assert_eq!(go_duration_string(Duration::from_secs(90)), "1m30s");
        assert_eq!(go_duration_string(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(go_duration_string(Duration::from_millis(500)), "500ms");
        assert_eq!(go_duration_string(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration_string(Duration::ZERO), "0s");
    }
}
