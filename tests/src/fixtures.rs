//! Builds the out-of-workspace plugins in tests/fixtures, once per test
//! process, into their own target directory (the host was built before).

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::Mutex,
};

static BUILT: Mutex<Vec<(bool, PathBuf)>> = Mutex::new(Vec::new());

/// Builds the fixture workspace and returns the directory holding its
/// libraries. `panic_abort` builds a second copy with `panic = "abort"`.
pub fn build(panic_abort: bool) -> PathBuf {
    let mut built = BUILT.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, dir)) = built.iter().find(|(abort, _)| *abort == panic_abort) {
        return dir.clone();
    }
    let root = crate::workspace_root();
    let fixtures = root.join("tests/fixtures");
    // Same dependency versions as the workspace, so the build reuses what
    // the lock file pins.
    let lock = fixtures.join("Cargo.lock");
    if !lock.exists() {
        let _ = std::fs::copy(root.join("Cargo.lock"), &lock);
    }
    let target = root.join("target").join(if panic_abort {
        "fixtures-abort"
    } else {
        "fixtures"
    });
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()));
    cmd.arg("build")
        .arg("--release")
        .arg("--manifest-path")
        .arg(fixtures.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET_DIR");
    if panic_abort {
        cmd.env("CARGO_PROFILE_RELEASE_PANIC", "abort")
            .args(["-p", "hello-transport"]);
    }
    let status = cmd.status().expect("run cargo for the fixtures");
    assert!(status.success(), "building tests/fixtures failed");
    let dir = target.join("release");
    built.push((panic_abort, dir.clone()));
    dir
}

static NEXT_BUILT: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Builds tests/fixtures-next (plugin-api as a 2.1 would be: a responder
/// library and a host program) into the fixtures' target directory and
/// returns the directory holding them.
pub fn build_next_minor() -> PathBuf {
    let mut built = NEXT_BUILT.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(dir) = built.as_ref() {
        return dir.clone();
    }
    let root = crate::workspace_root();
    let fixtures = root.join("tests/fixtures-next");
    let lock = fixtures.join("Cargo.lock");
    if !lock.exists() {
        let _ = std::fs::copy(root.join("Cargo.lock"), &lock);
    }
    let target = root.join("target").join("fixtures");
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
        .arg("build")
        .arg("--release")
        .arg("--manifest-path")
        .arg(fixtures.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET_DIR")
        .status()
        .expect("run cargo for tests/fixtures-next");
    assert!(status.success(), "building tests/fixtures-next failed");
    let dir = target.join("release");
    *built = Some(dir.clone());
    dir
}

/// Copies `lib<name>.so` from `from` into `to`.
pub fn install(from: &Path, name: &str, to: &Path) -> PathBuf {
    let file = format!("lib{name}.so");
    let dest = to.join(&file);
    std::fs::copy(from.join(&file), &dest)
        .unwrap_or_else(|e| panic!("copying {file} from {}: {e}", from.display()));
    dest
}
