//! The command line outside plugin mode.

use std::ffi::OsString;

use velero_fsb_guard::cli::Command;

#[test]
fn subcommands() {
    let parse =
        |args: &[&str]| Command::parse(&args.iter().map(OsString::from).collect::<Vec<_>>());
    assert_eq!(parse(&[]), Command::Usage);
    assert_eq!(parse(&["--version"]), Command::Version);
    assert_eq!(parse(&["-V"]), Command::Version);
    assert_eq!(parse(&["--help"]), Command::Help);
    assert_eq!(
        parse(&["frobnicate"]),
        Command::Unknown("frobnicate".into())
    );
}
