//! Builds a carrier plugin the way an operator adds one to a running
//! deployment: after the host, in a cargo invocation of its own, into a
//! target directory of its own (`target/carriers`, so it neither waits on
//! nor touches the `target/release` that holds the host), then installs it
//! with the host's other plugins into a fresh plugin directory.

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::Mutex,
};

static BUILT: Mutex<Vec<(String, PathBuf)>> = Mutex::new(Vec::new());

/// Builds the workspace package `package` (e.g. `voicegate-telnyx`) in
/// release mode, once per test process, and returns the directory holding
/// its library. Concurrent builds from other test processes wait on
/// cargo's own lock of that directory.
pub fn build(package: &str) -> PathBuf {
    let mut built = BUILT.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, dir)) = built.iter().find(|(p, _)| p == package) {
        return dir.clone();
    }
    let root = crate::workspace_root();
    let target = crate::release_dir()
        .parent()
        .map(|t| t.join("carriers"))
        .unwrap_or_else(|| root.join("target/carriers"));
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
        .arg("build")
        .arg("--release")
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"))
        .args(["-p", package])
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET_DIR")
        .status()
        .unwrap_or_else(|e| panic!("running cargo to build {package}: {e}"));
    assert!(status.success(), "building {package} failed");
    let dir = target.join("release");
    built.push((package.to_owned(), dir.clone()));
    dir
}

/// A fresh plugin directory with `lib<carrier>.so` from `carrier_dir` and
/// the named plugins (`whisper`, `echo`, `policy` …) from the host's
/// release directory.
pub fn plugin_dir(carrier_dir: &Path, carrier: &str, others: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    crate::fixtures::install(carrier_dir, carrier, dir.path());
    for name in others {
        crate::fixtures::install(&crate::release_dir(), name, dir.path());
    }
    dir
}

/// `application/x-www-form-urlencoded`, every byte outside the unreserved
/// set percent-encoded.
pub fn form_encode(params: &[(&str, &str)]) -> String {
    fn encode(out: &mut String, value: &str) {
        for b in value.bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                out.push(char::from(b));
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    let mut body = String::new();
    for (i, (key, value)) in params.iter().enumerate() {
        if i > 0 {
            body.push('&');
        }
        encode(&mut body, key);
        body.push('=');
        encode(&mut body, value);
    }
    body
}
