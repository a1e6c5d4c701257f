//! Offline Kubernetes schemas for nomos-rs (data only). Filled in by `schemas/generate.py`.
