//! Compiles our own `.proto` descriptions of Velero's and go-plugin's gRPC services.
//!
//! protox parses the files in pure Rust, so building needs no system `protoc`. The descriptions
//! live in the repository's `proto/` folder (the wire contract, next to the crates that speak it);
//! a path or git dependency on this crate builds from the whole checkout, so they are found.

use std::error::Error;

/// The repository's `proto/` folder, from this crate's folder.
const PROTO_DIR: &str = "../../proto";

const PROTOS: &[&str] = &[
    "velero/shared.proto",
    "velero/plugin_lister.proto",
    "velero/restoreitemaction/v2/restore_item_action.proto",
    "goplugin/controller.proto",
    "goplugin/stdio.proto",
    "goplugin/broker.proto",
];

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed={PROTO_DIR}");
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={PROTO_DIR}/{proto}");
    }
    let descriptors = protox::compile(PROTOS, [PROTO_DIR])?;
    // Clients are generated too: the Rust tests talk to the binary through them.
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(descriptors)?;
    Ok(())
}
