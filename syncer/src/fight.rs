//! Fight detection: an object we keep correcting because someone keeps rewriting it.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use nomos_core::ObjectId;
use serde_json::Value;

/// When corrections of one object count as a fight, and how to back off.
#[derive(Debug, Clone, PartialEq)]
pub struct FightConfig {
    /// More corrections than this within `window` is a fight (Config Sync: 5 a minute).
    pub threshold: usize,
    pub window: Duration,
    /// First back-off once a fight is detected; doubles with each further detection.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
}

impl Default for FightConfig {
    fn default() -> Self {
        FightConfig {
            threshold: 5,
            window: Duration::from_secs(60),
            backoff_base: Duration::from_secs(10),
            backoff_max: Duration::from_secs(300),
        }
    }
}

#[derive(Debug, Default)]
struct Entry {
    hits: VecDeque<Instant>,
    strikes: u32,
    suppressed_until: Option<Instant>,
}

/// A detected fight.
#[derive(Debug, Clone, PartialEq)]
pub struct Fight {
    /// Corrections within the window.
    pub count: usize,
    /// Corrections are suspended until then.
    pub until: Instant,
}

/// Counts corrections per object in a sliding window.
#[derive(Debug, Default)]
pub struct FightDetector {
    cfg: FightConfig,
    per: HashMap<ObjectId, Entry>,
}

impl FightDetector {
    pub fn new(cfg: FightConfig) -> Self {
        FightDetector {
            cfg,
            per: HashMap::new(),
        }
    }

    /// Record a correction of `id` at `now`; a fight when the window holds more than the
    /// threshold (the object is then suspended with exponential back-off).
    pub fn record(&mut self, id: &ObjectId, now: Instant) -> Option<Fight> {
        let cfg = &self.cfg;
        let e = self.per.entry(id.clone()).or_default();
        while let Some(&t) = e.hits.front() {
            if now.saturating_duration_since(t) >= cfg.window {
                e.hits.pop_front();
            } else {
                break;
            }
        }
        e.hits.push_back(now);
        if e.hits.len() <= cfg.threshold {
            if e.hits.len() == 1 {
                e.strikes = 0;
            }
            return None;
        }
        let factor = 2u32.saturating_pow(e.strikes.min(16));
        let backoff = cfg.backoff_base.saturating_mul(factor).min(cfg.backoff_max);
        e.strikes += 1;
        let until = now + backoff;
        e.suppressed_until = Some(until);
        Some(Fight {
            count: e.hits.len(),
            until,
        })
    }

    /// Whether corrections of `id` are suspended at `now`.
    pub fn suppressed(&self, id: &ObjectId, now: Instant) -> bool {
        self.per
            .get(id)
            .and_then(|e| e.suppressed_until)
            .is_some_and(|u| now < u)
    }

    /// When the suspension of `id` ends, if it is suspended.
    pub fn suppressed_until(&self, id: &ObjectId) -> Option<Instant> {
        self.per.get(id).and_then(|e| e.suppressed_until)
    }

    /// Forget objects that are no longer declared.
    pub fn retain(&mut self, mut keep: impl FnMut(&ObjectId) -> bool) {
        self.per.retain(|id, _| keep(id));
    }
}

/// The field manager other than ours that wrote the object most recently (from
/// `metadata.managedFields`), for the KNV2005 message.
pub fn other_manager(live: &Value, ours: &str) -> Option<String> {
    let entries = live.get("metadata")?.get("managedFields")?.as_array()?;
    entries
        .iter()
        .filter_map(|e| {
            let m = e.get("manager")?.as_str()?;
            (m != ours).then(|| (e.get("time").and_then(Value::as_str).unwrap_or(""), m))
        })
        .max_by(|a, b| a.0.cmp(b.0))
        .map(|(_, m)| m.to_string())
}

/// The KNV2005 message.
pub fn fight_message(
    id: &ObjectId,
    count: usize,
    window: Duration,
    manager: Option<&str>,
) -> String {
    let per_minute = if window.as_secs_f64() > 0.0 {
        (count as f64 * 60.0 / window.as_secs_f64()).round() as u64
    } else {
        count as u64
    };
    let who = manager
        .map(|m| format!(" (the other manager is {m:?})"))
        .unwrap_or_default();
    format!(
        "detected excessive object updates, approximately {per_minute} times per minute. This may indicate Config Sync is fighting with another controller over the object{who}: {id}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn six_corrections_in_a_minute_is_a_fight_and_backs_off() {
        let mut f = FightDetector::new(FightConfig::default());
        let id = ObjectId {
            kind: "ConfigMap".into(),
            namespace: "ns".into(),
            name: "a".into(),
            ..Default::default()
        };
        let t0 = Instant::now();
        for i in 0..5 {
            assert!(f.record(&id, t0 + Duration::from_secs(i)).is_none());
        }
        let fight = f.record(&id, t0 + Duration::from_secs(5)).expect("a fight");
        assert_eq!(fight.count, 6);
        assert!(f.suppressed(&id, t0 + Duration::from_secs(6)));
        assert!(!f.suppressed(&id, t0 + Duration::from_secs(16)));
        // Another detection doubles the back-off.
        let fight = f
            .record(&id, t0 + Duration::from_secs(20))
            .expect("still a fight");
        assert_eq!(fight.until, t0 + Duration::from_secs(40));
        // Slow corrections are no fight.
        let mut f = FightDetector::new(FightConfig::default());
        for i in 0..20 {
            assert!(f.record(&id, t0 + Duration::from_secs(15 * i)).is_none());
        }
    }

    #[test]
    fn names_the_other_manager() {
        let live = serde_json::json!({"metadata": {"managedFields": [
            {"manager": "configsync.gke.io", "time": "2024-01-01T00:00:09Z"},
            {"manager": "old", "time": "2024-01-01T00:00:01Z"},
            {"manager": "kubectl-edit", "time": "2024-01-01T00:00:05Z"},
        ]}});
        assert_eq!(
            other_manager(&live, "configsync.gke.io").as_deref(),
            Some("kubectl-edit")
        );
        let msg = fight_message(&ObjectId::default(), 6, Duration::from_secs(60), Some("x"));
        assert!(
            msg.starts_with("detected excessive object updates, approximately 6 times per minute.")
        );
    }
}
