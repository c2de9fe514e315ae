//! Rust types and gRPC stubs generated (by `build.rs`) from our `proto/` files.
//!
//! Module names follow the protobuf packages, because generated code refers to other packages by
//! relative path (`v2` uses `super::generated::ResourceIdentifier`).

#![allow(missing_docs, clippy::all, clippy::pedantic)]

/// Velero's `generated` package: shared messages and PluginLister.
pub mod generated {
    tonic::include_proto!("generated");
}

/// Velero's `v2` package: RestoreItemAction v2.
pub mod v2 {
    tonic::include_proto!("v2");
}

/// go-plugin's `plugin` package: controller, stdio and broker services.
pub mod goplugin {
    tonic::include_proto!("plugin");
}
