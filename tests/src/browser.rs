//! A real browser: Debian's headless Chromium driven by playwright-core
//! (`tests/browser/drive.mjs`), with a WAV file as its microphone.

use std::{
    io::Read,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;

/// The Chromium binary: `VOICEGATE_CHROMIUM`, else Debian's
/// `/usr/bin/chromium`. Panics with the fix when it is missing: a browser
/// test that skips would pass without testing anything.
pub fn chromium() -> PathBuf {
    let path = std::env::var_os("VOICEGATE_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        path.is_file(),
        "Chromium is missing at {}: run `bash scripts/setup.sh --tests` \
         (it runs `apt-get install chromium`), or point VOICEGATE_CHROMIUM at a Chromium binary",
        path.display()
    );
    path
}

/// Checks Node and the pinned playwright-core; panics with the fix.
fn check_node(root: &Path) {
    let node = Command::new("node").arg("--version").output();
    let version = match node {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        _ => panic!(
            "Node.js is missing: the browser test drives Chromium with playwright-core, which \
             needs Node 20 or newer"
        ),
    };
    let major: u32 = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    assert!(
        major >= 20,
        "Node {version} is too old: playwright-core 1.65 needs Node 20 or newer"
    );
    let package = root.join("node_modules/playwright-core/package.json");
    assert!(
        package.is_file(),
        "{} is missing: run `npm ci` in {} (scripts/setup.sh --tests does)",
        package.display(),
        root.display()
    );
}

/// What the driver saw, or why it failed.
pub struct Drive {
    /// The driver's JSON report (`{"error":…}` on failure).
    pub report: Value,
    /// Whether it exited successfully.
    pub ok: bool,
    /// Its stderr (Chromium's noise included).
    pub stderr: String,
}

/// Settings of one drive.
#[derive(Debug, Clone)]
pub struct DriveArgs {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Path and query of the voice page.
    pub page: String,
    /// The admin token the dashboard is given.
    pub admin_token: String,
    /// The microphone's WAV.
    pub wav: PathBuf,
    /// Where screenshots go.
    pub out: PathBuf,
    /// The driver's own budget; the process is killed a little after it.
    pub budget: Duration,
}

/// Runs the driver to its end (bounded) and parses its report.
pub fn drive(args: &DriveArgs) -> Drive {
    let root = crate::workspace_root();
    let chromium = chromium();
    check_node(&root);
    let mut child = Command::new("node")
        .arg(root.join("tests/browser/drive.mjs"))
        .current_dir(&root)
        .env("VG_BASE", &args.base)
        .env("VG_PAGE", &args.page)
        .env("VG_ADMIN_TOKEN", &args.admin_token)
        .env("VG_WAV", &args.wav)
        .env("VG_OUT", &args.out)
        .env("VG_CHROMIUM", &chromium)
        .env("VG_TIMEOUT_MS", args.budget.as_millis().to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start node");
    // Read both pipes on threads so a chatty Chromium cannot fill one and
    // stall the driver.
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + args.budget + Duration::from_secs(20);
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    let report = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<Value>(l).ok())
        .unwrap_or_else(|| {
            serde_json::json!({ "error": format!("no report from the driver; stdout: {stdout}") })
        });
    let ok = matches!(status, Some(s) if s.success()) && report.get("error").is_none();
    Drive { report, ok, stderr }
}
