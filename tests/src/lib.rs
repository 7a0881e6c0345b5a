//! Shared harness for the end-to-end tests: builds what needs building,
//! starts the real `voicegate` binary on a free loopback port with a config
//! written for the test, and plays the part of carriers and operators over
//! real sockets. Every wait is bounded.

pub mod agent;
pub mod audio;
pub mod browser;
pub mod carriers;
pub mod fixtures;
pub mod host;
pub mod phone;
pub mod sse;
pub mod telnyx;
pub mod twilio;
pub mod vonage;

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// Where `cargo build --release --workspace` puts the host and plugins.
pub fn release_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
        .join("release")
}

/// The host binary; panics with the command to run when it is missing.
pub fn host_binary() -> PathBuf {
    let path = release_dir().join("voicegate");
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build --release --workspace` first (scripts/test.sh does)",
        path.display()
    );
    path
}

/// The Whisper model the tests use; panics with the fix when missing.
pub fn model_path() -> PathBuf {
    let path = workspace_root().join("models/ggml-tiny.en.bin");
    assert!(
        path.is_file(),
        "{} is missing: run `bash scripts/fetch-model.sh` (scripts/test.sh does)",
        path.display()
    );
    path
}

/// Polls `check` until it returns `Some`, or fails after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// sha256 of a file, hex.
pub fn file_sha256(path: &Path) -> String {
    use sha2::Digest;
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let digest = sha2::Sha256::digest(&bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}
