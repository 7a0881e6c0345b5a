//! Shared by `tests/accuracy.rs` and `benches/latency.rs`: the model, speech
//! made with espeak-ng, the two audio paths, and word error rate.
//!
//! Audio paths, both ending as 16 kHz mono i16 like the host hands to STT:
//! - **direct**: espeak-ng's 22.05 kHz wav resampled by sox to 16 kHz;
//! - **phone**: sox to 8 kHz, G.711 µ-law encode + decode with the codec the
//!   carrier plugins use, then 8 → 16 kHz with rubato's FFT resampler, as
//!   the host does.

#![allow(dead_code)] // each test target uses a different subset

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use rubato::{audioadapter_buffers::direct::InterleavedSlice, Fft, FixedSync, Resampler};
use voicegate_plugin_api::{codec::mulaw, testkit, Cancel, RStr, Stt, SttRequest, Transcript};
use whisper::Whisper;

/// `models/ggml-tiny.en.bin` at the workspace root; panics with the fix when
/// it is missing (CI fetches it first, so a missing model is an error, never
/// a silent skip).
pub fn model_path() -> PathBuf {
    let path = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../models/ggml-tiny.en.bin"
    ));
    assert!(
        path.is_file(),
        "{} is missing: run `bash scripts/fetch-model.sh` from the workspace root first",
        path.display()
    );
    path.to_path_buf()
}

/// A whisper instance on the test model with extra config keys
/// (a JSON object body without braces, e.g. `"strategy":"greedy"`).
///
/// One thread unless `extra` says otherwise: `cargo test` runs tests in
/// parallel, and ggml's worker threads spin at barriers, so several 2-thread
/// instances on 2 cores can be many times slower than 1-thread ones.
pub fn engine(extra: &str) -> Whisper {
    let mut config = serde_json::json!({ "model": model_path(), "threads": 1 });
    if !extra.is_empty() {
        let more: serde_json::Value =
            serde_json::from_str(&format!("{{{extra}}}")).expect("valid extra config");
        if let (Some(c), Some(m)) = (config.as_object_mut(), more.as_object()) {
            c.extend(m.clone());
        }
    }
    match Whisper::new(testkit::context("stt", "http://x", &config.to_string())) {
        Ok(w) => w,
        Err(err) => panic!("whisper instance with {config}: {err}"),
    }
}

/// Transcribes 16 kHz PCM.
pub fn transcribe(engine: &Whisper, pcm: &[i16]) -> Transcript {
    let req = SttRequest {
        pcm: pcm.into(),
        sample_rate: 16_000,
        session_id: RStr::from("test"),
        language: RStr::from(""),
        extensions_json: RStr::from("{}"),
    };
    match engine.transcribe(&req, &Cancel::new()) {
        Ok(t) => t,
        Err(err) => panic!("transcription failed: {err}"),
    }
}

/// A scratch directory, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("voicegate-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

fn run(cmd: &mut Command) {
    let what = format!("{cmd:?}");
    match cmd.output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "{what} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(err) => panic!(
            "{what} could not start ({err}); install espeak-ng and sox \
             (apt-get install espeak-ng sox)"
        ),
    }
}

/// Speaks `text` into `<dir>/<id>.wav` (espeak-ng, 22.05 kHz).
pub fn speak(dir: &Path, id: &str, voice: &str, speed: u32, text: &str) -> PathBuf {
    let wav = dir.join(format!("{id}.wav"));
    run(Command::new("espeak-ng")
        .args(["-v", voice, "-s", &speed.to_string(), "-w"])
        .arg(&wav)
        .arg(text));
    wav
}

/// The wav as mono 16-bit PCM at `rate`, resampled by sox.
pub fn sox_pcm(wav: &Path, rate: u32) -> Vec<i16> {
    let raw = wav.with_extension(format!("{rate}.raw"));
    run(Command::new("sox")
        .arg(wav)
        .args([
            "-t",
            "raw",
            "-e",
            "signed-integer",
            "-b",
            "16",
            "-c",
            "1",
            "-r",
        ])
        .arg(rate.to_string())
        .arg(&raw));
    let bytes = std::fs::read(&raw).expect("read sox output");
    bytes
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

/// The direct path: 16 kHz straight from the synthesizer.
pub fn direct_path(wav: &Path) -> Vec<i16> {
    sox_pcm(wav, 16_000)
}

/// The phone path: 8 kHz, µ-law round trip, rubato back to 16 kHz.
pub fn phone_path(wav: &Path) -> Vec<i16> {
    let narrow = sox_pcm(wav, 8_000);
    let mut codes = Vec::new();
    mulaw::encode_into(&narrow, &mut codes);
    let mut decoded = Vec::new();
    mulaw::decode_into(&codes, &mut decoded);
    upsample_8k_to_16k(&decoded)
}

/// 8 → 16 kHz with rubato's synchronous FFT resampler (delay trimmed).
pub fn upsample_8k_to_16k(pcm: &[i16]) -> Vec<i16> {
    let input: Vec<f32> = pcm.iter().map(|&s| f32::from(s) / 32_768.0).collect();
    let mut resampler =
        Fft::<f32>::new(8_000, 16_000, 1024, 1, FixedSync::Input).expect("rubato resampler");
    let adapter = InterleavedSlice::new(&input, 1, input.len()).expect("rubato adapter");
    let output = resampler
        .process_all(&adapter, input.len(), None)
        .expect("rubato resampling");
    output
        .take_data()
        .into_iter()
        .map(|s| (s * 32_768.0).round().clamp(-32_768.0, 32_767.0) as i16)
        .collect()
}

/// Writes 16 kHz mono PCM as a wav file (for the faster-whisper script).
pub fn write_wav(path: &Path, pcm: &[i16]) {
    let data_len = (pcm.len() * 2) as u32;
    let mut out = Vec::with_capacity(44 + pcm.len() * 2);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16_u32.to_le_bytes());
    out.extend_from_slice(&1_u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1_u16.to_le_bytes()); // mono
    out.extend_from_slice(&16_000_u32.to_le_bytes());
    out.extend_from_slice(&32_000_u32.to_le_bytes()); // byte rate
    out.extend_from_slice(&2_u16.to_le_bytes()); // block align
    out.extend_from_slice(&16_u16.to_le_bytes()); // bits
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for s in pcm {
        out.extend_from_slice(&s.to_le_bytes());
    }
    std::fs::write(path, out).expect("write wav");
}

/// Lower case, punctuation removed, digits 0-12 spelled out, "%" as
/// "percent", so "At 3 p.m." and "at three pm" compare equal.
pub fn normalize(text: &str) -> Vec<String> {
    const NUMBERS: [&str; 13] = [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "eleven", "twelve",
    ];
    let spaced: String = text
        .to_lowercase()
        .replace('%', " percent ")
        .replace('-', " ")
        .chars()
        .filter(|c| c.is_alphanumeric() || c.is_whitespace() || *c == '\'')
        .collect();
    spaced
        .split_whitespace()
        .map(|w| w.trim_matches('\''))
        .filter(|w| !w.is_empty())
        .map(|w| match w.parse::<usize>() {
            Ok(n) if n < NUMBERS.len() => NUMBERS[n].to_owned(),
            _ => w.to_owned(),
        })
        .collect()
}

/// Word-level edit distance (substitutions + deletions + insertions).
pub fn word_errors(reference: &[String], hypothesis: &[String]) -> usize {
    let mut prev: Vec<usize> = (0..=hypothesis.len()).collect();
    for (i, r) in reference.iter().enumerate() {
        let mut cur = vec![i + 1; hypothesis.len() + 1];
        for (j, h) in hypothesis.iter().enumerate() {
            let sub = prev[j] + usize::from(r != h);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[hypothesis.len()]
}
