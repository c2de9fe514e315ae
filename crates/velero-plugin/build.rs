//! Compiles our own `.proto` descriptions of Velero's and go-plugin's gRPC services.
//!
//! protox parses the files in pure Rust, so building needs no system `protoc`.

use std::error::Error;

const PROTOS: &[&str] = &[
    "velero/shared.proto",
    "velero/plugin_lister.proto",
    "velero/restoreitemaction/v2/restore_item_action.proto",
    "goplugin/controller.proto",
    "goplugin/stdio.proto",
    "goplugin/broker.proto",
];

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed=proto");
    for proto in PROTOS {
        println!("cargo:rerun-if-changed=proto/{proto}");
    }
    let descriptors = protox::compile(PROTOS, ["proto"])?;
    // Clients are generated too: the Rust tests talk to the binary through them.
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(descriptors)?;
    Ok(())
}
