//! The foundation's promises, tested against the real binary:
//! a plugin built after the host is served by the unchanged host; every
//! load error is reported, all at once, in a line or two; a panicking plugin
//! call is an error for that request while the host keeps serving; config
//! errors point at the key and line; health, readiness, metrics, admin auth
//! and graceful shutdown work.

use std::time::Duration;

use voicegate_e2e::{
    file_sha256, fixtures,
    host::{client, run_cli, write_config, Host, ADMIN_TOKEN},
    host_binary, workspace_root,
};

#[tokio::test(flavor = "multi_thread")]
async fn a_plugin_built_after_the_host_is_served_by_the_unchanged_host() {
    let binary = host_binary();
    let before = file_sha256(&binary);

    let built = fixtures::build(false);
    let plugins = tempfile::tempdir().unwrap();
    fixtures::install(&built, "hello", plugins.path());

    let config = format!(
        "[server]\nplugin_dir = \"{}\"\n\n[transports.hi]\nplugin = \"hello\"\ngreeting = \"hello from outside the workspace\"\n",
        plugins.path().display()
    );
    let mut host = Host::start(&config);
    let http = client();

    let resp = http
        .get(format!("{}/api/voice/hi/hello", host.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.text().await.unwrap(),
        "hello from outside the workspace"
    );

    // A panic inside the plugin is an error for this request only.
    let resp = http
        .get(format!("{}/api/voice/hi/panic", host.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 500);
    let body = resp.text().await.unwrap();
    assert!(
        !body.contains("panicked at"),
        "no internals in the response: {body}"
    );
    assert!(host.is_running(), "the host survived the plugin's panic");
    let resp = http
        .get(format!("{}/api/voice/hi/hello", host.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "the host keeps serving after the panic");
    assert!(
        host.logs().contains("a bug in a third-party plugin"),
        "the panic is logged: {}",
        host.logs()
    );

    // Unknown routes and instances are plain 404s.
    let resp = http
        .get(format!("{}/api/voice/hi/nope", host.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let resp = http
        .get(format!("{}/api/voice/nobody/hello", host.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);

    assert!(host.stop(), "graceful shutdown exits 0");
    assert_eq!(
        file_sha256(&binary),
        before,
        "the host binary was not rebuilt"
    );
}

#[test]
fn every_load_error_is_reported_at_once_with_its_instance_and_file() {
    let built = fixtures::build(false);
    let plugins = tempfile::tempdir().unwrap();
    for name in ["hello", "not_a_plugin", "misfit_version", "misfit_layout"] {
        fixtures::install(&built, name, plugins.path());
    }
    let config = format!(
        r#"[server]
plugin_dir = "{dir}"

[transports.missing]
plugin = "nowhere"

[transports.notplugin]
plugin = "not_a_plugin"

[transports.future]
plugin = "misfit_version"

[transports.layout]
plugin = "misfit_layout"

[transports.fails]
plugin = "hello"
greeting = "x"
fail_construct = true

[transports.panics]
plugin = "hello"
greeting = "x"
panic_construct = true

[transports.typo]
plugin = "hello"
greting = "x"

[stt.wrongkind]
plugin = "hello"
"#,
        dir = plugins.path().display()
    );
    let (_dir, path) = write_config(&config);
    let out = run_cli(&host_binary(), &path, &["check"]);
    assert!(!out.success, "check must fail");
    let err = out.stderr;
    let expect = [
        // missing file
        "transport `missing` (plugin nowhere)",
        "libnowhere.so does not exist",
        // not a voicegate plugin
        "libnot_a_plugin.so is not a voicegate plugin",
        // an unknown generation, found vs what the host loads, in one line
        "libmisfit_version.so speaks plugin interface `voicegate_plugin_v3`; this host loads `voicegate_plugin_v2` (voicegate-plugin-api 2.0.0) or `voicegate_plugin_v1` (voicegate-plugin-api 1.0.0)",
        // layout mismatch, summarised
        "libmisfit_layout.so: the plugin's types do not match this host's interface v2",
        // constructor error and panic
        "transport `fails` (plugin hello)",
        "constructor asked to fail",
        "transport `panics` (plugin hello)",
        "transport constructor panicked: constructor asked to panic",
        // plugin config error with key and line
        "`transports.typo.greting`: unknown field `greting`",
        // kind not provided
        "`stt.wrongkind.plugin`: plugin `hello` does not provide the stt kind (it provides: transport)",
    ];
    for needle in expect {
        assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
    }
    let typo_line = config
        .lines()
        .position(|l| l.starts_with("greting"))
        .unwrap()
        + 1;
    assert!(
        err.contains(&format!(
            "config.toml:{typo_line}: `transports.typo.greting`"
        )),
        "the typo's line ({typo_line}) is named:\n{err}"
    );
    assert!(
        err.lines().count() < 40,
        "errors stay short, no layout dumps:\n{err}"
    );
}

#[test]
fn a_plugin_built_with_panic_abort_is_refused() {
    let built = fixtures::build(true);
    let plugins = tempfile::tempdir().unwrap();
    fixtures::install(&built, "hello", plugins.path());
    let config = format!(
        "[server]\nplugin_dir = \"{}\"\n[transports.hi]\nplugin = \"hello\"\ngreeting = \"x\"\n",
        plugins.path().display()
    );
    let (_dir, path) = write_config(&config);
    let out = run_cli(&host_binary(), &path, &["check"]);
    assert!(!out.success);
    assert!(
        out.stderr.contains("was built with panic = \"abort\""),
        "{}",
        out.stderr
    );
}

#[test]
fn config_errors_name_the_key_and_the_line() {
    let (_dir, path) =
        write_config("[server]\nlisten = \"127.0.0.1:0\"\npublik_url = \"https://x\"\n");
    let out = run_cli(&host_binary(), &path, &["check"]);
    assert!(!out.success);
    assert!(
        out.stderr
            .contains("config.toml:3: `server.publik_url`: unknown field `publik_url`"),
        "{}",
        out.stderr
    );

    let (_dir, path) = write_config("[admin]\ntoken = \"admin-tooshort\"\n");
    let out = run_cli(&host_binary(), &path, &["check"]);
    assert!(!out.success);
    assert!(
        out.stderr.contains("config.toml:2: `admin.token`"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("at least 20 characters"),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("admin-tooshort"),
        "never echo a secret: {}",
        out.stderr
    );
}

#[test]
fn the_default_config_checks_and_lists_its_plugins() {
    voicegate_e2e::model_path();
    let config = workspace_root().join("config.toml");
    let out = run_cli(&host_binary(), &config, &["check"]);
    assert!(
        out.success,
        "voicegate check on config.toml failed:\n{}{}",
        out.stdout, out.stderr
    );
    for needle in [
        "is valid",
        "POST /api/voice/twilio/inbound",
        "WS   /api/voice/twilio/stream/{session_id}",
        "WS   /api/voice/browser/ws",
        "whisper (plugin whisper, 16000 Hz)",
        "default (plugin policy)",
        "echo (plugin echo)",
    ] {
        assert!(
            out.stdout.contains(needle),
            "missing {needle:?} in:\n{}",
            out.stdout
        );
    }
    let out = run_cli(&host_binary(), &config, &["plugins"]);
    assert!(out.success, "{}", out.stderr);
    assert!(
        out.stdout
            .contains("twilio 0.1.0 (plugin-api 2.0.0, interface v2, kinds: transport)"),
        "{}",
        out.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn health_metrics_admin_auth_and_graceful_shutdown() {
    let built = fixtures::build(false);
    let plugins = tempfile::tempdir().unwrap();
    fixtures::install(&built, "hello", plugins.path());
    let config = format!(
        "[server]\nplugin_dir = \"{}\"\n[admin]\ntoken = \"{ADMIN_TOKEN}\"\n[transports.hi]\nplugin = \"hello\"\ngreeting = \"x\"\n",
        plugins.path().display()
    );
    let mut host = Host::start(&config);
    let http = client();
    for path in ["/healthz", "/readyz"] {
        let resp = http
            .get(format!("{}{path}", host.base))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
    }
    // Traffic first, so the counters exist.
    let _ = http
        .get(format!("{}/api/voice/hi/hello", host.base))
        .send()
        .await
        .unwrap();
    let metrics = http
        .get(format!("{}/metrics", host.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("# TYPE"),
        "Prometheus text format:\n{metrics}"
    );

    let resp = http
        .get(format!("{}/api/calls", host.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401, "no token");
    let resp = http
        .get(format!("{}/api/calls", host.base))
        .bearer_auth("admin-wrongwrongwrongwrongwrong")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403, "wrong token");
    let resp = http
        .get(format!("{}/api/calls", host.base))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "right token");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["active"], 0);
    let resp = http
        .post(format!("{}/api/calls/nope/hangup", host.base))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);

    let started = std::time::Instant::now();
    assert!(host.stop(), "SIGTERM ends the host cleanly");
    assert!(started.elapsed() < Duration::from_secs(10));
}
