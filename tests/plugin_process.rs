//! The built binary in plugin mode, driven over a real unix socket like Velero drives it.

mod plugin_support;

use std::time::Duration;

use serde_json::{Value, json};
use tonic::Code;
use velero_plugin::proto::generated::Empty as VeleroEmpty;
use velero_plugin::proto::generated::plugin_lister_client::PluginListerClient;
use velero_plugin::proto::goplugin::Empty as GoPluginEmpty;
use velero_plugin::proto::goplugin::grpc_controller_client::GrpcControllerClient;
use velero_plugin::proto::goplugin::grpc_stdio_client::GrpcStdioClient;
use velero_plugin::proto::v2::restore_item_action_client::RestoreItemActionClient;
use velero_plugin::proto::v2::{
    RestoreItemActionAppliesToRequest, RestoreItemActionCancelRequest,
    RestoreItemActionExecuteRequest, RestoreItemActionItemsReadyRequest,
    RestoreItemActionProgressRequest,
};

use plugin_support::{PLUGIN_NAME, VELERO_115_ARGS, json_lines, start};

const HOST_LIMIT: usize = 512 * 1024 * 1024;

fn restore() -> Value {
    json!({
        "metadata": {"name": "r1", "namespace": "velero", "uid": "6f1c7c1e-0000-4000-8000-000000000001"},
        "spec": {"backupName": "b1", "resourceModifier": {"kind": "ConfigMap", "name": "mods"}},
        "status": {"phase": "InProgress"}
    })
}

fn pod() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web-7d9f8b6c5d-abcde", "namespace": "shop",
                     "labels": {"app": "web", "pod-template-hash": "7d9f8b6c5d"}},
        "spec": {"containers": [{"name": "web", "image": "nginx:1.27",
                                 "env": [{"name": "MODE", "value": "prod"}]}],
                 "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]}
    })
}

fn replica_set() -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "web-7d9f8b6c5d", "namespace": "shop",
                     "labels": {"app": "web", "pod-template-hash": "7d9f8b6c5d"}},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web", "pod-template-hash": "7d9f8b6c5d"}},
                 "template": {"metadata": {"labels": {"app": "web", "pod-template-hash": "7d9f8b6c5d"}},
                              "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}
    })
}

fn deployment() -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "annotations": {"note": "ünïcødé ✓"}},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}
    })
}

fn execute_request(item: &[u8], item_from_backup: &[u8]) -> RestoreItemActionExecuteRequest {
    RestoreItemActionExecuteRequest {
        plugin: PLUGIN_NAME.into(),
        item: item.to_vec(),
        restore: serde_json::to_vec(&restore()).unwrap(),
        item_from_backup: item_from_backup.to_vec(),
    }
}

#[tokio::test]
async fn serves_every_velero_call_then_exits_on_shutdown() {
    let plugin = start(VELERO_115_ARGS, &[]);

    // Handshake: exactly go-plugin's format, a fresh socket in PLUGIN_UNIX_SOCKET_DIR.
    let fields = plugin.fields();
    assert_eq!(fields.len(), 6, "handshake: {}", plugin.handshake);
    assert_eq!(
        (
            &fields[0][..],
            &fields[1][..],
            &fields[2][..],
            &fields[4][..],
            &fields[5][..]
        ),
        ("1", "2", "unix", "grpc", "")
    );
    let socket = plugin.socket_path();
    assert_eq!(socket.parent(), Some(plugin.socket_dir.path()));
    let name = socket.file_name().unwrap().to_str().unwrap();
    assert!(
        name.strip_prefix("plugin")
            .is_some_and(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())),
        "socket name {name}"
    );
    assert!(socket.as_os_str().len() < 108);
    assert!(socket.exists());

    let channel = plugin.channel().await;

    // go-plugin opens the stdio stream first; it must stay open (no immediate end, no error).
    let mut stdio = GrpcStdioClient::new(channel.clone())
        .stream_stdio(())
        .await
        .expect("StreamStdio accepted")
        .into_inner();
    let early = tokio::time::timeout(Duration::from_millis(200), stdio.message()).await;
    assert!(
        early.is_err(),
        "stdio stream ended or sent data early: {early:?}"
    );

    // PluginLister: one RestoreItemActionV2, command = argv[0] verbatim.
    let listed = PluginListerClient::new(channel.clone())
        .list_plugins(VeleroEmpty {})
        .await
        .expect("ListPlugins")
        .into_inner();
    assert_eq!(listed.plugins.len(), 1);
    let only = &listed.plugins[0];
    assert_eq!(only.command, plugin_support::BINARY);
    assert_eq!(only.kind, "RestoreItemActionV2");
    assert_eq!(only.name, PLUGIN_NAME);

    let mut action = RestoreItemActionClient::new(channel.clone())
        .max_decoding_message_size(HOST_LIMIT)
        .max_encoding_message_size(HOST_LIMIT);

    // AppliesTo: exactly the three kinds, nothing else restricted.
    let selector = action
        .applies_to(RestoreItemActionAppliesToRequest {
            plugin: PLUGIN_NAME.into(),
        })
        .await
        .expect("AppliesTo")
        .into_inner()
        .resource_selector
        .expect("a selector (an absent one would match everything)");
    assert_eq!(
        selector.included_resources,
        [
            "pods",
            "replicasets.apps",
            "deployments.apps",
            "controllerrevisions.apps",
            "daemonsets.apps",
            "statefulsets.apps"
        ]
    );
    assert!(selector.excluded_resources.is_empty());
    assert!(selector.included_namespaces.is_empty());
    assert!(selector.excluded_namespaces.is_empty());
    assert_eq!(selector.selector, "");

    // Execute: the pass-through action returns each item unchanged.
    for item in [pod(), replica_set(), deployment()] {
        let bytes = serde_json::to_vec(&item).unwrap();
        let reply = action
            .execute(execute_request(&bytes, &bytes))
            .await
            .unwrap_or_else(|status| panic!("Execute {}: {status}", item["kind"]))
            .into_inner();
        let returned: Value = serde_json::from_slice(&reply.item).expect("item is JSON");
        assert_eq!(returned, item);
        assert!(!reply.skip_restore);
        assert!(reply.additional_items.is_empty());
        assert_eq!(reply.operation_id, "");
        assert!(!reply.wait_for_additional_items);
    }

    // A large item (beyond tonic's 4 MiB default) still round-trips.
    let mut big = deployment();
    big["metadata"]["annotations"]["blob"] = Value::from("x".repeat(8 * 1024 * 1024));
    let bytes = serde_json::to_vec(&big).unwrap();
    let reply = action
        .execute(execute_request(&bytes, &bytes))
        .await
        .expect("Execute of an 8 MiB item")
        .into_inner();
    assert_eq!(serde_json::from_slice::<Value>(&reply.item).unwrap(), big);

    // Malformed requests get an error status with a readable message, and serving goes on.
    let not_json = action
        .execute(execute_request(b"{not json", b"{}"))
        .await
        .expect_err("non-JSON item must fail");
    assert!(matches!(
        not_json.code(),
        Code::InvalidArgument | Code::Unknown
    ));
    assert!(not_json.message().contains("not valid JSON"), "{not_json}");

    let no_kind =
        serde_json::to_vec(&json!({"apiVersion": "v1", "metadata": {"name": "x"}})).unwrap();
    let missing_kind = action
        .execute(execute_request(&no_kind, &no_kind))
        .await
        .expect_err("item without kind must fail");
    assert!(matches!(
        missing_kind.code(),
        Code::InvalidArgument | Code::Unknown
    ));
    assert!(missing_kind.message().contains("kind"), "{missing_kind}");

    let wrong_name = action
        .applies_to(RestoreItemActionAppliesToRequest {
            plugin: "example.io/other".into(),
        })
        .await
        .expect_err("unknown plugin name");
    assert!(wrong_name.message().contains("example.io/other"));

    // Progress of an operation the plugin never started: completed, error-free, explained.
    let progress = action
        .progress(RestoreItemActionProgressRequest {
            plugin: PLUGIN_NAME.into(),
            operation_id: "op-1".into(),
            restore: serde_json::to_vec(&restore()).unwrap(),
        })
        .await
        .expect("Progress")
        .into_inner()
        .progress
        .expect("progress must be present: Velero dereferences it");
    assert!(progress.completed);
    assert_eq!(progress.err, "");
    assert!(
        progress.description.contains("not one of this plugin's"),
        "{}",
        progress.description
    );

    action
        .cancel(RestoreItemActionCancelRequest {
            plugin: PLUGIN_NAME.into(),
            operation_id: "op-1".into(),
            restore: serde_json::to_vec(&restore()).unwrap(),
        })
        .await
        .expect("Cancel");

    let ready = action
        .are_additional_items_ready(RestoreItemActionItemsReadyRequest {
            plugin: PLUGIN_NAME.into(),
            restore: serde_json::to_vec(&restore()).unwrap(),
            additional_items: Vec::new(),
        })
        .await
        .expect("AreAdditionalItemsReady")
        .into_inner();
    assert!(ready.ready);

    // Health: service "plugin" is SERVING (what go-plugin's Ping asks).
    let health = tonic_health::pb::health_client::HealthClient::new(channel.clone())
        .check(tonic_health::pb::HealthCheckRequest {
            service: "plugin".into(),
        })
        .await
        .expect("Health/Check")
        .into_inner();
    assert_eq!(
        health.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );

    // Shutdown: replies, then the process exits 0 within 1 s and removes its socket,
    // even though the stdio stream is still open.
    GrpcControllerClient::new(channel.clone())
        .shutdown(GoPluginEmpty {})
        .await
        .expect("Shutdown replies");
    let finished = plugin.wait_exit(Duration::from_secs(1));
    assert_eq!(
        finished.status.code(),
        Some(0),
        "stderr: {}",
        finished.stderr
    );
    assert!(!socket.exists(), "socket file left behind");
    assert!(
        finished.extra_stdout_lines.is_empty(),
        "stdout after the handshake: {:?}",
        finished.extra_stdout_lines
    );
    let stdio_end = tokio::time::timeout(Duration::from_secs(1), stdio.message()).await;
    assert!(stdio_end.is_ok(), "stdio stream still open after exit");

    // Every stderr line is a plugin JSON log line; --log-level debug was honoured.
    let lines = json_lines(&finished.stderr);
    for line in &lines {
        assert!(line["@message"].is_string());
        let level = line["@level"].as_str().expect("@level is a string");
        assert!(
            ["trace", "debug", "info", "warn", "error"].contains(&level),
            "{line:?}"
        );
        assert_eq!(line["@logSourceSetBy"], "plugin");
        assert!(!line.contains_key("@timestamp"));
    }
    assert!(
        lines.iter().any(|line| line["@level"] == "debug"),
        "no debug line at --log-level debug"
    );
    assert!(
        lines.iter().any(|line| line["@level"] == "warn"
            && line["@message"] == "rejecting Execute request"),
        "malformed requests are logged as warnings"
    );
}

#[test]
fn sigterm_exits_zero_and_removes_the_socket() {
    let plugin = start(&[], &[]);
    let socket = plugin.socket_path();
    plugin.signal("TERM");
    let finished = plugin.wait_exit(Duration::from_secs(1));
    assert_eq!(
        finished.status.code(),
        Some(0),
        "stderr: {}",
        finished.stderr
    );
    assert!(!socket.exists());
    assert!(finished.extra_stdout_lines.is_empty());
}

#[test]
fn sigint_exits_zero() {
    let plugin = start(&[], &[]);
    plugin.signal("INT");
    let finished = plugin.wait_exit(Duration::from_secs(1));
    assert_eq!(
        finished.status.code(),
        Some(0),
        "stderr: {}",
        finished.stderr
    );
}

#[test]
fn stdin_eof_does_not_stop_the_plugin() {
    // start() gives the child /dev/null as stdin: EOF from the first read.
    let mut plugin = start(&[], &[]);
    std::thread::sleep(Duration::from_millis(300));
    assert!(plugin.is_running(), "plugin exited on stdin EOF");
    let finished = plugin.kill();
    assert!(finished.extra_stdout_lines.is_empty());
}

#[test]
fn velero_114_argv_and_level_threshold() {
    // Velero ≤ 1.14 passes `--log-level <logrus level> [--features <list>]`; "warning" must work
    // and suppress info/debug lines.
    let plugin = start(&["--log-level", "warning", "--features", "EnableCSI"], &[]);
    plugin.signal("TERM");
    let finished = plugin.wait_exit(Duration::from_secs(1));
    assert_eq!(finished.status.code(), Some(0));
    for line in json_lines(&finished.stderr) {
        assert!(
            line["@level"] == "warn" || line["@level"] == "error",
            "line below the threshold: {line:?}"
        );
    }
}

#[test]
fn default_level_is_info() {
    let plugin = start(&["--features=EnableCSI", "--uploader-type=kopia"], &[]);
    plugin.signal("TERM");
    let finished = plugin.wait_exit(Duration::from_secs(1));
    assert_eq!(finished.status.code(), Some(0));
    for line in json_lines(&finished.stderr) {
        assert_ne!(line["@level"], "debug", "{line:?}");
        assert_ne!(line["@level"], "trace", "{line:?}");
    }
}

#[tokio::test]
async fn falls_back_to_tcp_when_no_socket_can_be_made() {
    let plugin = start(
        &[],
        &[
            ("PLUGIN_UNIX_SOCKET_DIR", "/nonexistent/fsb-guard-test"),
            ("PLUGIN_MIN_PORT", "27100"),
            ("PLUGIN_MAX_PORT", "27199"),
        ],
    );
    let fields = plugin.fields();
    assert_eq!(fields[2], "tcp", "handshake: {}", plugin.handshake);
    let addr: std::net::SocketAddr = fields[3].parse().expect("tcp address");
    assert!(addr.ip().is_loopback());
    assert!((27100..=27199).contains(&addr.port()));
    let listed = PluginListerClient::new(plugin.channel().await)
        .list_plugins(VeleroEmpty {})
        .await
        .expect("ListPlugins over tcp")
        .into_inner();
    assert_eq!(listed.plugins[0].name, PLUGIN_NAME);
    plugin.signal("TERM");
    let finished = plugin.wait_exit(Duration::from_secs(1));
    assert_eq!(finished.status.code(), Some(0));
}

#[test]
fn protocol_version_without_2_is_refused() {
    for offered in ["1", "3,1"] {
        let output = std::process::Command::new(plugin_support::BINARY)
            .env("VELERO_PLUGIN", "hello")
            .env("PLUGIN_PROTOCOL_VERSIONS", offered)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run");
        assert_eq!(output.status.code(), Some(1), "offered {offered}");
        assert!(output.stdout.is_empty(), "no handshake may be printed");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("PLUGIN_PROTOCOL_VERSIONS"), "{stderr}");
        assert!(stderr.contains("protocol version 2"), "{stderr}");
    }
}

#[test]
fn protocol_versions_listing_2_among_others_is_accepted() {
    let plugin = start(&[], &[("PLUGIN_PROTOCOL_VERSIONS", "1,2")]);
    assert!(plugin.handshake.starts_with("1|2|"));
    plugin.signal("TERM");
    assert_eq!(
        plugin.wait_exit(Duration::from_secs(1)).status.code(),
        Some(0)
    );
}

#[test]
fn without_velero_plugin_cookie_prints_usage_and_fails() {
    for cookie in [None, Some("nope")] {
        let mut command = std::process::Command::new(plugin_support::BINARY);
        command.env_remove("VELERO_PLUGIN");
        if let Some(value) = cookie {
            command.env("VELERO_PLUGIN", value);
        }
        let output = command.output().expect("run");
        assert_eq!(output.status.code(), Some(2));
        assert!(output.stdout.is_empty());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("Velero plugin"), "{stderr}");
        assert!(stderr.contains("velero plugin add <image>"), "{stderr}");
    }
}

#[test]
fn version_flag_prints_the_crate_version() {
    let output = std::process::Command::new(plugin_support::BINARY)
        .env_remove("VELERO_PLUGIN")
        .arg("--version")
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        format!("velero-fsb-guard {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn socket_goes_to_tmpdir_when_no_socket_dir_is_given() {
    let tmp = tempfile::tempdir().unwrap();
    let plugin = start(
        &[],
        &[
            ("PLUGIN_UNIX_SOCKET_DIR", ""),
            ("TMPDIR", tmp.path().to_str().unwrap()),
        ],
    );
    assert_eq!(plugin.socket_path().parent(), Some(tmp.path()));
    plugin.signal("TERM");
    assert_eq!(
        plugin.wait_exit(Duration::from_secs(1)).status.code(),
        Some(0)
    );
}

#[test]
fn socket_path_too_long_for_sun_path_falls_back_to_tcp() {
    let tmp = tempfile::tempdir().unwrap();
    let deep = tmp.path().join("d".repeat(110));
    std::fs::create_dir(&deep).unwrap();
    let plugin = start(
        &[],
        &[
            ("PLUGIN_UNIX_SOCKET_DIR", deep.to_str().unwrap()),
            ("PLUGIN_MIN_PORT", "27200"),
            ("PLUGIN_MAX_PORT", "27299"),
        ],
    );
    assert_eq!(plugin.fields()[2], "tcp", "handshake: {}", plugin.handshake);
    plugin.signal("TERM");
    assert_eq!(
        plugin.wait_exit(Duration::from_secs(1)).status.code(),
        Some(0)
    );
}

#[test]
fn socket_group_gets_mode_0660() {
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
    // Our own primary group (that of a file we create): chgrp to it is always allowed.
    let probe = tempfile::NamedTempFile::new().unwrap();
    let gid = probe.as_file().metadata().unwrap().gid().to_string();
    let plugin = start(&[], &[("PLUGIN_UNIX_SOCKET_GROUP", gid.as_str())]);
    let metadata = std::fs::metadata(plugin.socket_path()).unwrap();
    assert_eq!(metadata.permissions().mode() & 0o777, 0o660);
    assert_eq!(metadata.gid().to_string(), gid);
    plugin.signal("TERM");
    assert_eq!(
        plugin.wait_exit(Duration::from_secs(1)).status.code(),
        Some(0)
    );
}
