//! Loads each library named on the command line the way a "2.1" host
//! would (plugin-api's `abi::compat::check`, then the root module), asks
//! it for a responder, and calls both a 2.0 method and the appended one.
//! Prints one JSON object per library, then the snapshot check of this
//! build's layout against the one 2.0 shipped.

use std::path::Path;

use voicegate_plugin_api::{
    abi::{self, HostServicesFfi, HostServicesFfi_TO},
    abi_stable::{
        library::lib_header_from_path,
        sabi_trait::TD_Opaque,
        std_types::{RArc, RResult, RStr, RString},
        StableAbi,
    },
    testkit::RecordedAnswer,
    InstanceConfig, LogLevel, LogRecord, PluginError, Turn,
};

struct Services;

impl HostServicesFfi for Services {
    fn now_unix_ms(&self) -> u64 {
        0
    }
    fn max_log_level(&self) -> LogLevel {
        LogLevel::WARN
    }
    fn log(&self, record: &LogRecord<'_>) {
        eprintln!("plugin: {}", record.message);
    }
    fn counter_hit(&self, _: RStr<'_>, _: u64) -> RResult<u64, PluginError> {
        RResult::ROk(0)
    }
    fn counter_get(&self, _: RStr<'_>, _: u64) -> RResult<u64, PluginError> {
        RResult::ROk(0)
    }
    fn call_ext(&self, _: RStr<'_>, _: RStr<'_>) -> RResult<RString, PluginError> {
        RResult::ROk(RString::new())
    }
}

fn services() -> abi::HostServicesBox {
    HostServicesFfi_TO::from_ptr(RArc::new(Services), TD_Opaque)
}

fn try_library(path: &str) -> Result<serde_json::Value, String> {
    let header = lib_header_from_path(Path::new(path)).map_err(|e| e.to_string())?;
    let root = abi::compat::check(header).map_err(|e| e.to_string())?;
    let cfg = InstanceConfig {
        instance: "r".into(),
        config_json: "{}".into(),
        public_url: "http://x".into(),
        extensions_json: "{}".into(),
    };
    let responder = (root.new_responder())(cfg, services())
        .into_result()
        .map_err(|e| e.to_string())?;
    let turn = Turn {
        session_id: "s".into(),
        turn: 1,
        transport: "t".into(),
        call_id: "c".into(),
        from: "f".into(),
        to: "t".into(),
        text: "hello".into(),
        history: Default::default(),
        context: Default::default(),
        extensions_json: Default::default(),
    };
    let mut recorded = RecordedAnswer::default();
    let sink_text = {
        use voicegate_plugin_api::abi::AnswerSinkFfi_TO;
        use voicegate_plugin_api::abi_stable::sabi_types::RMut;
        let sink = AnswerSinkFfi_TO::from_ptr(RMut::new(&mut recorded), TD_Opaque);
        responder
            .respond(&turn, sink)
            .into_result()
            .map_err(|e| e.to_string())?;
        recorded.text()
    };
    Ok(serde_json::json!({
        "library": path,
        "root_probe": root.rehearsal_probe().map(|f| f()),
        "method_probe": responder.rehearsal_probe(),
        "answer": sink_text,
    }))
}

fn main() {
    for path in std::env::args().skip(1) {
        let line = match try_library(&path) {
            Ok(v) => v,
            Err(error) => serde_json::json!({ "library": path, "error": error }),
        };
        println!("{line}");
    }
    let shipped = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../plugin-api/abi-2.0.txt"),
    )
    .unwrap_or_default();
    let now = voicegate_abi_snapshot::snapshot(
        <abi::PluginRoot_Ref as StableAbi>::LAYOUT,
        "# rehearsal\n",
    );
    let appends = voicegate_abi_snapshot::only_appends(&shipped, &now);
    println!(
        "{}",
        serde_json::json!({
            "snapshot_differs": now.lines().filter(|l| !l.starts_with('#')).ne(shipped.lines().filter(|l| !l.starts_with('#'))),
            "only_appends": appends.is_ok(),
            "gone": appends.err(),
        })
    );
}
