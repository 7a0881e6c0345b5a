//! Starts and stops the real host binary.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

/// An admin token valid for the tests.
pub const ADMIN_TOKEN: &str = "admin-e2e-tests-0123456789abcdef";

/// A running host, killed on drop.
pub struct Host {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The port.
    pub port: u16,
    /// The config file.
    pub config: PathBuf,
    /// stderr (logs) of the host.
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

/// The output of a one-shot CLI command.
#[derive(Debug)]
pub struct Output {
    /// Exit status success.
    pub success: bool,
    /// stdout.
    pub stdout: String,
    /// stderr.
    pub stderr: String,
}

/// Writes `config` (with `{{PLUGIN_DIR}}`, `{{MODEL}}` and `{{ROOT}}`
/// replaced) into a fresh directory.
pub fn write_config(config: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = config
        .replace(
            "{{PLUGIN_DIR}}",
            &crate::release_dir().display().to_string(),
        )
        .replace("{{ROOT}}", &crate::workspace_root().display().to_string())
        .replace(
            "{{MODEL}}",
            &crate::workspace_root()
                .join("models/ggml-tiny.en.bin")
                .display()
                .to_string(),
        );
    let path = dir.path().join("config.toml");
    std::fs::write(&path, text).expect("write config");
    (dir, path)
}

/// Runs `voicegate <args> --config <file>` to completion.
pub fn run_cli(binary: &Path, config: &Path, args: &[&str]) -> Output {
    let out = Command::new(binary)
        .args(args)
        .arg("--config")
        .arg(config)
        .env_remove("RUST_LOG")
        .output()
        .expect("run voicegate");
    Output {
        success: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

impl Host {
    /// Starts the host on a free port with this config text.
    pub fn start(config: &str) -> Host {
        Self::start_with(config, &[])
    }

    /// Starts the host with extra environment variables.
    pub fn start_with(config: &str, env: &[(&str, &str)]) -> Host {
        let binary = crate::host_binary();
        let (dir, config_path) = write_config(config);
        let log = dir.path().join("host.log");
        let log_file = std::fs::File::create(&log).expect("log file");
        let mut cmd = Command::new(&binary);
        cmd.arg("serve")
            .arg("--config")
            .arg(&config_path)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start voicegate");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("voicegate listening on ") {
                    let _ = tx.send(addr.trim().to_owned());
                }
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                let logs = std::fs::read_to_string(&log).unwrap_or_default();
                panic!("the host did not start within 60 s; its log:\n{logs}");
            }
        };
        let port = addr
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port in the listening line");
        Host {
            child: Some(child),
            base: format!("http://{addr}"),
            port,
            config: config_path,
            log,
            _dir: dir,
        }
    }

    /// GETs an admin API path (`/api/calls`, `/api/calls/<id>` …) with
    /// the admin token and returns its JSON; panics, naming the path, on a
    /// status other than 200.
    pub async fn admin_json(&self, path: &str) -> serde_json::Value {
        let resp = client()
            .get(format!("{}{path}", self.base))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        assert_eq!(resp.status(), 200, "GET {path}");
        resp.json()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: not JSON: {e}"))
    }

    /// `ws://127.0.0.1:PORT`.
    pub fn ws_base(&self) -> String {
        self.base.replacen("http://", "ws://", 1)
    }

    /// The host's log so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or_default()
    }

    /// Sends SIGTERM and waits (bounded) for a clean exit; returns whether
    /// it exited successfully.
    pub fn stop(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return false;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        for _ in 0..200 {
            if let Ok(Some(status)) = child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("---- host log ----\n{}", self.logs());
        }
    }
}

/// An HTTP client for tests.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client")
}
