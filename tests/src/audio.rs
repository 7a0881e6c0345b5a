//! Real speech for tests: espeak-ng speaks, sox converts.

use std::{path::Path, process::Command};

/// Speaks `text` and returns mono 16-bit PCM at `rate` Hz, with `lead_ms`
/// of silence before and `tail_ms` after.
pub fn speak(
    text: &str,
    voice: &str,
    words_per_minute: u32,
    rate: u32,
    lead_ms: u32,
    tail_ms: u32,
) -> Vec<i16> {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out.raw");
    speak_to(text, voice, words_per_minute, rate, lead_ms, tail_ms, &out);
    let bytes = std::fs::read(&out).expect("read converted audio");
    bytes
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

/// espeak-ng speaks into a temporary WAV, sox resamples and pads it into
/// `output`, whose extension (`raw` or `wav`) picks the container.
fn speak_to(
    text: &str,
    voice: &str,
    words_per_minute: u32,
    rate: u32,
    lead_ms: u32,
    tail_ms: u32,
    output: &Path,
) {
    let dir = tempfile::tempdir().expect("temp dir");
    let spoken = dir.path().join("speech.wav");
    let status = Command::new("espeak-ng")
        .args(["-v", voice, "-s", &words_per_minute.to_string(), "-w"])
        .arg(&spoken)
        .arg(text)
        .status()
        .expect("espeak-ng is not installed: run scripts/test.sh (it installs it)");
    assert!(status.success(), "espeak-ng failed for {text:?}");
    let container = output
        .extension()
        .and_then(|e| e.to_str())
        .expect("output path needs a .raw or .wav extension");
    let status = Command::new("sox")
        .arg(&spoken)
        .args([
            "-r",
            &rate.to_string(),
            "-c",
            "1",
            "-b",
            "16",
            "-e",
            "signed-integer",
            "-t",
            container,
        ])
        .arg(output)
        .args([
            "pad",
            &format!("{:.3}", f64::from(lead_ms) / 1000.0),
            &format!("{:.3}", f64::from(tail_ms) / 1000.0),
        ])
        .status()
        .expect("sox is not installed: run scripts/test.sh (it installs it)");
    assert!(status.success(), "sox failed writing {}", output.display());
}

/// Encodes PCM to mu-law.
pub fn mulaw(pcm: &[i16]) -> Vec<u8> {
    let mut out = Vec::new();
    voicegate_codec::mulaw::encode_into(pcm, &mut out);
    out
}

/// Root-mean-square level of a mu-law payload, decoded.
pub fn mulaw_rms(payload: &[u8]) -> f64 {
    let mut pcm = Vec::new();
    voicegate_codec::mulaw::decode_into(payload, &mut pcm);
    if pcm.is_empty() {
        return 0.0;
    }
    let sum: f64 = pcm.iter().map(|s| f64::from(*s).powi(2)).sum();
    (sum / pcm.len() as f64).sqrt()
}

/// Lower-cased words without punctuation, for comparing transcripts.
pub fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Word error rate of `hypothesis` against `reference` (edit distance over words).
pub fn wer(reference: &str, hypothesis: &str) -> f64 {
    let r = words(reference);
    let h = words(hypothesis);
    let mut prev: Vec<usize> = (0..=h.len()).collect();
    for (i, rw) in r.iter().enumerate() {
        let mut cur = vec![i + 1; h.len() + 1];
        for (j, hw) in h.iter().enumerate() {
            let sub = prev[j] + usize::from(rw != hw);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[h.len()] as f64 / r.len().max(1) as f64
}

/// Speaks `text` into a WAV file (mono, 16-bit PCM at `rate` Hz) with
/// `lead_ms` of silence before and `tail_ms` after: what Chromium's fake
/// microphone plays (it reads 16-bit PCM WAV; 24-bit or A-law play as
/// silence without an error).
pub fn speak_wav(
    text: &str,
    voice: &str,
    words_per_minute: u32,
    rate: u32,
    lead_ms: u32,
    tail_ms: u32,
    wav: &Path,
) {
    speak_to(text, voice, words_per_minute, rate, lead_ms, tail_ms, wav);
}
