//! Fault injection: failing requests, latency, dropped watches, forced 410s, unreachability.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::watch;

use crate::resources::ResourceInfo;
use crate::status::ApiError;

/// What a fault does to a matching request.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultAction {
    /// Answer with this HTTP code and a matching `Status` (500, 503, 429, 409, …).
    Error(u16),
    /// Delay the request, then serve it.
    Latency(Duration),
}

/// A fault rule: which requests it hits and what it does.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    action: FaultAction,
    verb: Option<String>,
    resource: Option<String>,
    remaining: Option<u32>,
    fraction: f64,
}

impl Fault {
    /// Fail matching requests with `code`.
    pub fn error(code: u16) -> Self {
        Self {
            action: FaultAction::Error(code),
            verb: None,
            resource: None,
            remaining: None,
            fraction: 1.0,
        }
    }

    /// Delay matching requests.
    pub fn latency(d: Duration) -> Self {
        Self {
            action: FaultAction::Latency(d),
            ..Self::error(0)
        }
    }

    /// Only requests of this verb: get, list, watch, create, update, patch, apply, delete,
    /// deletecollection (`patch` also matches apply).
    pub fn verb(mut self, verb: &str) -> Self {
        self.verb = Some(verb.to_ascii_lowercase());
        self
    }

    /// Only requests for this resource (plural, singular or Kind, case-insensitive).
    pub fn resource(mut self, resource: &str) -> Self {
        self.resource = Some(resource.to_ascii_lowercase());
        self
    }

    /// Only the next `n` matching requests.
    pub fn times(mut self, n: u32) -> Self {
        self.remaining = Some(n);
        self
    }

    /// Only this fraction of matching requests (chosen by a seeded generator).
    pub fn fraction(mut self, p: f64) -> Self {
        self.fraction = p.clamp(0.0, 1.0);
        self
    }

    fn matches(&self, verb: &str, info: Option<&ResourceInfo>) -> bool {
        let verb_ok = match self.verb.as_deref() {
            None | Some("*") => true,
            Some("patch") => verb == "patch" || verb == "apply",
            Some(v) => v == verb,
        };
        let res_ok = match self.resource.as_deref() {
            None | Some("*") => true,
            Some(r) => info.is_some_and(|i| {
                i.plural == r || i.singular == r || i.kind.eq_ignore_ascii_case(r)
            }),
        };
        verb_ok && res_ok
    }
}

/// The JSON form of a fault for the admin endpoint (`POST /admin/faults`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultSpec {
    /// HTTP code to fail with.
    pub code: Option<u16>,
    /// Latency to add, in milliseconds.
    pub latency_ms: Option<u64>,
    /// Verb filter.
    pub verb: Option<String>,
    /// Resource filter.
    pub resource: Option<String>,
    /// Count limit.
    pub times: Option<u32>,
    /// Fraction of matching requests.
    pub fraction: Option<f64>,
}

impl FaultSpec {
    /// The fault this spec describes.
    pub fn into_fault(self) -> Result<Fault, String> {
        let mut f = match (self.code, self.latency_ms) {
            (Some(c), None) => Fault::error(c),
            (None, Some(ms)) => Fault::latency(Duration::from_millis(ms)),
            _ => return Err("exactly one of code and latencyMs is required".into()),
        };
        if let Some(v) = self.verb {
            f = f.verb(&v);
        }
        if let Some(r) = self.resource {
            f = f.resource(&r);
        }
        if let Some(n) = self.times {
            f = f.times(n);
        }
        if let Some(p) = self.fraction {
            f = f.fraction(p);
        }
        Ok(f)
    }
}

/// The fault state of one cluster.
#[derive(Debug)]
pub struct Faults {
    rules: Mutex<Vec<Fault>>,
    rng: Mutex<u64>,
    expire_watches: AtomicU32,
    drops: watch::Sender<u64>,
    reachable: watch::Sender<bool>,
}

impl Faults {
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            rules: Mutex::new(Vec::new()),
            rng: Mutex::new(seed | 1),
            expire_watches: AtomicU32::new(0),
            drops: watch::Sender::new(0),
            reachable: watch::Sender::new(true),
        }
    }

    /// Adds a fault rule.
    pub fn inject(&self, fault: Fault) {
        self.rules
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(fault);
    }

    /// Removes every fault rule (and pending forced 410s).
    pub fn clear(&self) {
        self.rules.lock().unwrap_or_else(|e| e.into_inner()).clear();
        self.expire_watches.store(0, Ordering::SeqCst);
    }

    /// Cuts every open watch stream (the connection is aborted mid-stream).
    pub fn drop_watches(&self) {
        self.drops.send_modify(|g| *g += 1);
    }

    /// The next `n` watch requests get a 410 Expired ERROR event.
    pub fn expire_next_watches(&self, n: u32) {
        self.expire_watches.fetch_add(n, Ordering::SeqCst);
    }

    /// Makes the cluster unreachable (`false`: connections refused, in-process calls fail) or
    /// brings it back (`true`).
    pub fn set_reachable(&self, reachable: bool) {
        self.reachable.send_replace(reachable);
        if !reachable {
            self.drop_watches();
        }
    }

    /// Whether the cluster is reachable.
    pub fn is_reachable(&self) -> bool {
        *self.reachable.borrow()
    }

    pub(crate) fn reachable_rx(&self) -> watch::Receiver<bool> {
        self.reachable.subscribe()
    }

    pub(crate) fn drops_rx(&self) -> watch::Receiver<u64> {
        self.drops.subscribe()
    }

    pub(crate) fn take_expired_watch(&self) -> bool {
        self.expire_watches
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }

    fn roll(&self) -> f64 {
        let mut s = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        *s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Applies the rules to one request: the total latency to add and the error to answer
    /// with, if any.
    pub(crate) fn check(
        &self,
        verb: &str,
        info: Option<&ResourceInfo>,
    ) -> (Duration, Option<ApiError>) {
        let mut rules = self.rules.lock().unwrap_or_else(|e| e.into_inner());
        let mut delay = Duration::ZERO;
        let mut error = None;
        for rule in rules.iter_mut() {
            if rule.remaining == Some(0) || !rule.matches(verb, info) {
                continue;
            }
            if rule.fraction < 1.0 && self.roll() >= rule.fraction {
                continue;
            }
            match &rule.action {
                FaultAction::Latency(d) => delay += *d,
                FaultAction::Error(code) => {
                    if error.is_some() {
                        continue;
                    }
                    error = Some(ApiError::injected(*code));
                }
            }
            if let Some(n) = rule.remaining.as_mut() {
                *n -= 1;
            }
        }
        rules.retain(|r| r.remaining != Some(0));
        (delay, error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::builtins;

    #[test]
    fn counts_and_filters() {
        let f = Faults::new(7);
        let cm = builtins().into_iter().find(|r| r.plural == "configmaps");
        f.inject(Fault::error(503).verb("get").resource("ConfigMap").times(2));
        assert!(f.check("list", cm.as_ref()).1.is_none());
        assert_eq!(f.check("get", cm.as_ref()).1.unwrap().code, 503);
        assert_eq!(
            f.check("get", cm.as_ref()).1.unwrap().reason,
            "ServiceUnavailable"
        );
        assert!(f.check("get", cm.as_ref()).1.is_none());
        f.inject(Fault::error(429).fraction(0.5));
        let hits = (0..1000)
            .filter(|_| f.check("get", None).1.is_some())
            .count();
        assert!((350..650).contains(&hits), "{hits}");
        f.clear();
        f.inject(Fault::latency(Duration::from_millis(5)).verb("patch"));
        assert_eq!(f.check("apply", None).0, Duration::from_millis(5));
        f.expire_next_watches(1);
        assert!(f.take_expired_watch());
        assert!(!f.take_expired_watch());
    }
}
