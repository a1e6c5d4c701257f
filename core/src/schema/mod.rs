//! Offline schema validation (built-in kinds against Kubernetes OpenAPI, custom resources against their CRD).
//!
//! PLACEHOLDER: being written.
