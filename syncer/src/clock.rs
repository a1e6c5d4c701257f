//! Injectable time: the only place the syncer reads the clock.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// A monotonic clock (for deadlines and windows) and a wall clock (for status timestamps).
pub trait Clock: Send + Sync {
    fn now(&self) -> Instant;
    fn wall(&self) -> SystemTime;
}

/// The real clocks.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
    fn wall(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that moves only when told to (tests).
#[derive(Debug)]
pub struct ManualClock {
    start: Instant,
    wall_start: SystemTime,
    offset: Mutex<Duration>,
}

impl ManualClock {
    /// A clock standing at `start` (monotonic) and `wall_start` (wall).
    pub fn new(start: Instant, wall_start: SystemTime) -> Self {
        ManualClock {
            start,
            wall_start,
            offset: Mutex::new(Duration::ZERO),
        }
    }

    /// Move both clocks forward.
    pub fn advance(&self, by: Duration) {
        *self.offset.lock().unwrap_or_else(|p| p.into_inner()) += by;
    }

    fn offset(&self) -> Duration {
        *self.offset.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.start + self.offset()
    }
    fn wall(&self) -> SystemTime {
        self.wall_start + self.offset()
    }
}
