//! Plugin-mode argv handling, level names and handshake formatting.

use std::ffi::OsString;
use std::path::PathBuf;

use tracing::level_filters::LevelFilter;
use velero_plugin::args::{is_plugin_mode, parse_plugin_args};
use velero_plugin::handshake::{check_protocol_versions, handshake_line};
use velero_plugin::listener::ListenAddress;
use velero_plugin::logging::level_from_velero;

fn level(args: &[&str]) -> LevelFilter {
    parse_plugin_args(args).log_level
}

#[test]
fn velero_115_passes_all_server_flags() {
    // Typical `velero server` argv from `velero install`, plus flags this build cannot know.
    assert_eq!(
        level(&[
            "--features=EnableCSI",
            "--uploader-type=kopia",
            "--default-volumes-to-fs-backup",
            "--fs-backup-timeout",
            "4h",
            "--log-level",
            "debug",
            "--some-future-flag=x",
            "--another-future-flag",
        ]),
        LevelFilter::DEBUG
    );
    assert_eq!(
        level(&["--features=EnableCSI", "--log-level=trace"]),
        LevelFilter::TRACE
    );
}

#[test]
fn velero_114_passes_log_level_and_features() {
    assert_eq!(
        level(&["--log-level", "warning", "--features", "EnableCSI"]),
        LevelFilter::WARN
    );
    assert_eq!(level(&["--log-level", "info"]), LevelFilter::INFO);
}

#[test]
fn default_is_info() {
    assert_eq!(level(&[]), LevelFilter::INFO);
    assert_eq!(
        level(&["--features=EnableCSI", "--uploader-type=kopia"]),
        LevelFilter::INFO
    );
    assert!(
        parse_plugin_args(["--x=v", "--x", "v", "--bare"])
            .problems
            .is_empty()
    );
}

#[test]
fn logrus_level_names_map_to_thresholds() {
    // Velero's --log-level values: panic, fatal, error, warning, info, debug, trace.
    let expected = [
        ("panic", LevelFilter::ERROR),
        ("fatal", LevelFilter::ERROR),
        ("error", LevelFilter::ERROR),
        ("warning", LevelFilter::WARN),
        ("warn", LevelFilter::WARN),
        ("info", LevelFilter::INFO),
        ("debug", LevelFilter::DEBUG),
        ("trace", LevelFilter::TRACE),
        ("DEBUG", LevelFilter::DEBUG),
    ];
    for (name, filter) in expected {
        assert_eq!(level_from_velero(name), Some(filter), "{name}");
        assert_eq!(level(&["--log-level", name]), filter, "{name}");
    }
    assert_eq!(level_from_velero("loud"), None);
}

#[test]
fn last_log_level_wins_and_double_dash_ends_flags() {
    assert_eq!(
        level(&["--log-level", "debug", "--log-level=error"]),
        LevelFilter::ERROR
    );
    assert_eq!(level(&["--", "--log-level", "debug"]), LevelFilter::INFO);
    assert_eq!(level(&["-log-level", "debug"]), LevelFilter::DEBUG);
    // Only the exact flag name counts.
    assert_eq!(
        level(&["--log-levels=debug", "--log-level-x", "debug"]),
        LevelFilter::INFO
    );
}

#[test]
fn bad_log_level_keeps_info_and_reports_it() {
    let parsed = parse_plugin_args(["--log-level", "loud"]);
    assert_eq!(parsed.log_level, LevelFilter::INFO);
    assert_eq!(parsed.problems.len(), 1);
    assert!(parsed.problems[0].contains("loud"));

    let parsed = parse_plugin_args(["--features=X", "--log-level"]);
    assert_eq!(parsed.log_level, LevelFilter::INFO);
    assert_eq!(parsed.problems.len(), 1);
}

#[test]
fn plugin_mode_needs_the_exact_cookie() {
    assert!(is_plugin_mode(Some(OsString::from("hello").as_os_str())));
    assert!(!is_plugin_mode(Some(OsString::from("Hello").as_os_str())));
    assert!(!is_plugin_mode(None));
}

#[test]
fn handshake_lines_follow_go_plugin() {
    // CORE|APP|NETWORK|ADDRESS|PROTOCOL|(empty cert field), as a Go plugin under Velero prints it.
    assert_eq!(
        handshake_line(&ListenAddress::Unix(PathBuf::from("/tmp/plugin1234567890"))),
        "1|2|unix|/tmp/plugin1234567890|grpc|"
    );
    assert_eq!(
        handshake_line(&ListenAddress::Tcp("127.0.0.1:10001".parse().unwrap())),
        "1|2|tcp|127.0.0.1:10001|grpc|"
    );
}

#[test]
fn protocol_versions() {
    assert!(check_protocol_versions(Some("2")).is_ok());
    assert!(check_protocol_versions(Some("1,2,3")).is_ok());
    assert!(check_protocol_versions(Some(" 3 , 2 ")).is_ok());
    assert!(check_protocol_versions(None).is_ok());
    for refused in ["1", "3,1", "", "two", "22"] {
        let error = check_protocol_versions(Some(refused)).expect_err(refused);
        assert!(error.to_string().contains("PLUGIN_PROTOCOL_VERSIONS"));
    }
}
