#![forbid(unsafe_code)]
//! Kubernetes strategic merge patch over serde_json::Value.
