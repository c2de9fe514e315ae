//! Shared helpers for the plugin transport tests: start the built binary the way Velero does,
//! read its handshake, and talk to it with tonic clients built from the same protos.

#![allow(dead_code)]

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hyper_util::rt::TokioIo;
use tonic::transport::{Channel, Endpoint, Uri};

pub const BINARY: &str = env!("CARGO_BIN_EXE_velero-fsb-guard");
pub const PLUGIN_NAME: &str = "fsb-guard.io/template-guard";

/// argv Velero ≥ 1.15 passes: all `velero server` flags, in every spelling, unknown ones included.
pub const VELERO_115_ARGS: &[&str] = &[
    "--features=EnableCSI",
    "--uploader-type=kopia",
    "--fs-backup-timeout",
    "4h",
    "--default-volumes-to-fs-backup",
    "--log-level",
    "debug",
    "--some-future-flag=x",
];

/// A plugin process started like go-plugin starts it.
pub struct PluginProcess {
    pub child: Child,
    pub handshake: String,
    pub socket_dir: tempfile::TempDir,
    stdout_rest: Option<JoinHandle<Vec<String>>>,
    stderr: Option<JoinHandle<Vec<u8>>>,
}

pub struct Finished {
    pub status: ExitStatus,
    /// stdout lines after the handshake line.
    pub extra_stdout_lines: Vec<String>,
    pub stderr: String,
}

/// Starts the binary with go-plugin's environment (plus extra `env`) and waits for the handshake.
pub fn start(args: &[&str], env: &[(&str, &str)]) -> PluginProcess {
    let socket_dir = tempfile::tempdir().expect("tempdir");
    let mut command = Command::new(BINARY);
    command
        .args(args)
        .env("VELERO_PLUGIN", "hello")
        .env("PLUGIN_PROTOCOL_VERSIONS", "2")
        .env("PLUGIN_MIN_PORT", "10000")
        .env("PLUGIN_MAX_PORT", "25000")
        .env("PLUGIN_UNIX_SOCKET_DIR", socket_dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("spawn plugin binary");
    let stdout = child.stdout.take().expect("stdout");
    let mut stderr_pipe = child.stderr.take().expect("stderr");
    let stderr = std::thread::spawn(move || {
        let mut all = Vec::new();
        let _ = stderr_pipe.read_to_end(&mut all);
        all
    });
    let (first_tx, first_rx) = mpsc::channel();
    let stdout_rest = std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next().and_then(Result::ok);
        let _ = first_tx.send(first);
        lines.map_while(Result::ok).collect::<Vec<_>>()
    });
    let handshake = match first_rx.recv_timeout(Duration::from_secs(20)) {
        Ok(Some(line)) => line,
        other => {
            let _ = child.kill();
            let _ = child.wait();
            let err = stderr.join().unwrap_or_default();
            panic!(
                "no handshake line ({other:?}); stderr: {}",
                String::from_utf8_lossy(&err)
            );
        }
    };
    PluginProcess {
        child,
        handshake,
        socket_dir,
        stdout_rest: Some(stdout_rest),
        stderr: Some(stderr),
    }
}

impl PluginProcess {
    /// The handshake's fields.
    pub fn fields(&self) -> Vec<String> {
        self.handshake.split('|').map(str::to_owned).collect()
    }

    pub fn socket_path(&self) -> PathBuf {
        let fields = self.fields();
        assert_eq!(fields[2], "unix", "handshake: {}", self.handshake);
        PathBuf::from(&fields[3])
    }

    pub async fn channel(&self) -> Channel {
        let fields = self.fields();
        match fields[2].as_str() {
            "unix" => unix_channel(Path::new(&fields[3])).await,
            "tcp" => Endpoint::try_from(format!("http://{}", fields[3]))
                .expect("endpoint")
                .connect()
                .await
                .expect("connect over tcp"),
            other => panic!("unknown network {other}"),
        }
    }

    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    /// Waits up to `limit` for the process to exit; kills it and panics if it does not.
    pub fn wait_exit(mut self, limit: Duration) -> Finished {
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                // A figure for the record (the test only enforces the host's limit).
                eprintln!("plugin exited {:?} after the stop request", start.elapsed());
                break status;
            }
            if start.elapsed() > limit {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("plugin did not exit within {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        self.collect(status)
    }

    /// Kills the process (test cleanup) and returns its output.
    pub fn kill(mut self) -> Finished {
        let _ = self.child.kill();
        let status = self.child.wait().expect("wait");
        self.collect(status)
    }

    fn collect(&mut self, status: ExitStatus) -> Finished {
        let extra_stdout_lines = self
            .stdout_rest
            .take()
            .map(|handle| handle.join().unwrap_or_default())
            .unwrap_or_default();
        let stderr = self
            .stderr
            .take()
            .map(|handle| handle.join().unwrap_or_default())
            .unwrap_or_default();
        Finished {
            status,
            extra_stdout_lines,
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        }
    }
}

/// A tonic channel over a unix socket (the authority is irrelevant, like go-plugin's "unused").
pub async fn unix_channel(path: &Path) -> Channel {
    let path = path.to_owned();
    Endpoint::try_from("http://unused")
        .expect("endpoint")
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let path = path.clone();
            async move {
                let stream = tokio::net::UnixStream::connect(path).await?;
                Ok::<_, std::io::Error>(TokioIo::new(stream))
            }
        }))
        .await
        .expect("connect over unix socket")
}

/// Parses every stderr line as a JSON object (the plugin log contract).
pub fn json_lines(stderr: &str) -> Vec<serde_json::Map<String, serde_json::Value>> {
    stderr
        .lines()
        .map(
            |line| match serde_json::from_str::<serde_json::Value>(line) {
                Ok(serde_json::Value::Object(object)) => object,
                other => panic!("stderr line is not a JSON object: {line:?} ({other:?})"),
            },
        )
        .collect()
}
