#![forbid(unsafe_code)]
//! Velero resource-modifier engine.
