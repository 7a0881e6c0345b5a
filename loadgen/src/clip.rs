//! The audio callers play: a sentence spoken by espeak-ng, converted to
//! 8 kHz by sox and encoded to µ-law, followed by a pause, looped; or
//! silence.

use std::{
    io::Write,
    process::{Command, Stdio},
};

/// Samples (and µ-law bytes) in one 20 ms frame at 8 kHz.
pub const FRAME_SAMPLES: usize = 160;

/// µ-law of 0: what a silent line carries.
pub const MULAW_SILENCE: u8 = 0xFF;

/// What went wrong making the clip.
#[derive(Debug, thiserror::Error)]
pub enum ClipError {
    /// A tool is missing or could not run.
    #[error("cannot run `{tool}` (install espeak-ng and sox: scripts/setup.sh does): {source}")]
    Spawn {
        /// The program.
        tool: &'static str,
        /// Why.
        source: std::io::Error,
    },
    /// A tool ran and failed.
    #[error("`{tool}` failed: {detail}")]
    Failed {
        /// The program.
        tool: &'static str,
        /// Its stderr.
        detail: String,
    },
    /// The speech came out empty.
    #[error("espeak-ng produced no audio for the text")]
    Empty,
}

/// How to speak.
#[derive(Debug, Clone)]
pub struct Speech {
    /// The sentence.
    pub text: String,
    /// espeak-ng voice (`en-us`).
    pub voice: String,
    /// Words per minute.
    pub wpm: u32,
    /// Silence after the sentence before it repeats, in ms.
    pub pause_ms: u32,
}

impl Default for Speech {
    fn default() -> Self {
        Self {
            text: "please schedule the budget review meeting for next tuesday at ten".to_owned(),
            voice: "en-us".to_owned(),
            wpm: 150,
            pause_ms: 1500,
        }
    }
}

/// The sentence as µ-law at 8 kHz, padded with silence to whole 20 ms
/// frames (pause included).
pub fn speech_mulaw(speech: &Speech) -> Result<Vec<u8>, ClipError> {
    let wav = run(
        "espeak-ng",
        Command::new("espeak-ng")
            .args([
                "-v",
                &speech.voice,
                "-s",
                &speech.wpm.to_string(),
                "--stdout",
            ])
            .arg(&speech.text),
        None,
    )?;
    let raw = run(
        "sox",
        Command::new("sox").args([
            "-t",
            "wav",
            "-",
            "-r",
            "8000",
            "-c",
            "1",
            "-b",
            "16",
            "-e",
            "signed-integer",
            "-t",
            "raw",
            "-",
        ]),
        Some(&wav),
    )?;
    let pcm: Vec<i16> = raw
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    if pcm.is_empty() {
        return Err(ClipError::Empty);
    }
    let mut mulaw = Vec::with_capacity(pcm.len() + speech.pause_ms as usize * 8);
    voicegate_codec::mulaw::encode_into(&pcm, &mut mulaw);
    mulaw.resize(mulaw.len() + speech.pause_ms as usize * 8, MULAW_SILENCE);
    let whole = mulaw.len().div_ceil(FRAME_SAMPLES) * FRAME_SAMPLES;
    mulaw.resize(whole, MULAW_SILENCE);
    Ok(mulaw)
}

/// One frame of silence.
pub fn silence_mulaw() -> Vec<u8> {
    vec![MULAW_SILENCE; FRAME_SAMPLES]
}

fn run(tool: &'static str, cmd: &mut Command, input: Option<&[u8]>) -> Result<Vec<u8>, ClipError> {
    let mut child = cmd
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| ClipError::Spawn { tool, source })?;
    if let (Some(bytes), Some(mut stdin)) = (input, child.stdin.take()) {
        // Written from a thread: sox may fill its stdout pipe before it
        // has read all of stdin.
        let bytes = bytes.to_vec();
        std::thread::spawn(move || {
            let _ = stdin.write_all(&bytes);
        });
    }
    let out = child
        .wait_with_output()
        .map_err(|source| ClipError::Spawn { tool, source })?;
    if !out.status.success() {
        return Err(ClipError::Failed {
            tool,
            detail: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(out.stdout)
}
