//! Word error rate of the `whisper` plugin on synthetic speech, over the
//! direct 16 kHz path and the phone path (8 kHz µ-law, back to 16 kHz).
//!
//! Needs `models/ggml-tiny.en.bin` (`bash scripts/fetch-model.sh`), espeak-ng
//! and sox. Run with `--nocapture` to see the per-sentence table.

mod common;

use common::{direct_path, engine, normalize, phone_path, speak, transcribe, word_errors, Scratch};

/// Phrases a caller might say to a voice agent; 9 of them so that each
/// (voice, speed) pair below is used exactly once.
const SENTENCES: [&str; 9] = [
    "Please schedule the budget review meeting for next Tuesday at three in the afternoon.",
    "I would like to check the balance of my savings account.",
    "Can you send me the quarterly report before Friday?",
    "My order has not arrived yet and I need a refund.",
    "The weather in London will be cloudy with light rain tomorrow.",
    "Please transfer me to someone in the billing department.",
    "We need two tickets for the evening train to Boston.",
    "Artificial intelligence is transforming how we write software.",
    "Thank you for calling, how can I help you today?",
];

/// espeak-ng voices: American, British (default `en`), British RP.
const VOICES: [&str; 3] = ["en-us", "en", "en-gb-x-rp"];
/// Words per minute: slow, espeak's default, fast.
const SPEEDS: [u32; 3] = [140, 175, 200];

struct Score {
    errors: usize,
    words: usize,
}

impl Score {
    fn wer(&self) -> f64 {
        self.errors as f64 / self.words.max(1) as f64
    }
}

#[test]
fn word_error_rate_on_synthetic_speech() {
    common::model_path();
    let scratch = Scratch::new("whisper-accuracy");
    // Default config (beam 5, audio_ctx auto) and the reference 30 s window.
    let engines = [
        ("auto", engine("")),
        ("full", engine(r#""audio_ctx":"full""#)),
    ];
    // [path][engine]
    let mut scores: Vec<Vec<Score>> = (0..2)
        .map(|_| {
            (0..engines.len())
                .map(|_| Score {
                    errors: 0,
                    words: 0,
                })
                .collect()
        })
        .collect();

    println!(
        "{:<5} {:<11} {:>3} {:<5} {:<4} {:>4}  text",
        "path", "voice", "wpm", "win", "err", "words"
    );
    for (i, sentence) in SENTENCES.iter().enumerate() {
        let (voice, speed) = (VOICES[i % 3], SPEEDS[i / 3]);
        let wav = speak(&scratch.0, &format!("s{i}"), voice, speed, sentence);
        let reference = normalize(sentence);
        for (p, (path, pcm)) in [("16k", direct_path(&wav)), ("phone", phone_path(&wav))]
            .into_iter()
            .enumerate()
        {
            for (e, (window, engine)) in engines.iter().enumerate() {
                let transcript = transcribe(engine, &pcm);
                let errors = word_errors(&reference, &normalize(&transcript.text));
                scores[p][e].errors += errors;
                scores[p][e].words += reference.len();
                println!(
                    "{path:<5} {voice:<11} {speed:>3} {window:<5} {errors:>3} {:>5}  {}",
                    reference.len(),
                    transcript.text
                );
            }
        }
    }

    println!();
    for (p, path) in ["16k", "phone"].iter().enumerate() {
        for (e, (window, _)) in engines.iter().enumerate() {
            let s = &scores[p][e];
            println!(
                "WER {path:<5} audio_ctx={window:<4}: {}/{} = {:.1} %",
                s.errors,
                s.words,
                100.0 * s.wer()
            );
        }
    }

    // Bounds from measured runs (2-core x86, whisper.cpp 1.8.3, espeak-ng
    // 1.51; docs/stt/whisper.md). The set is 93 words.
    // - 16 kHz: 5-7 errors (5-7.5 %) with either window.
    // - phone: 14-23 errors (15-25 %) with either window and either
    //   strategy. The loss is the 8 kHz band limit itself (sox 8 -> 16 kHz
    //   without µ-law scores the same), on robotic espeak voices that tiny.en
    //   finds hard; a 10 % phone-path WER needs a larger model (base.en).
    // Which words fail moves with the order of calls (the temperature
    // fallback samples from a per-state RNG), so the bounds leave room for
    // that and catch real breakage instead: a broken resampler or codec
    // (WER near 100 %), or whisper repeating itself (dozens of insertions,
    // as a 2-6 s window did).
    let [direct, phone] = [&scores[0], &scores[1]];
    assert!(direct[0].wer() <= 0.12, "16 kHz WER {:.3}", direct[0].wer());
    assert!(
        phone[0].wer() <= 0.30,
        "phone-path WER {:.3}",
        phone[0].wer()
    );
    // The shortened window must not cost accuracy beyond that noise (phone
    // path measured: auto 14-24 errors, full 14-16, over runs).
    for (path, s) in [("16k", direct), ("phone", phone)] {
        assert!(
            s[0].errors <= s[1].errors + 12,
            "{path}: audio_ctx auto made {} errors, full {}",
            s[0].errors,
            s[1].errors
        );
    }
}

#[test]
fn wer_helpers() {
    let r = normalize("At 3 p.m., the fox-trot!");
    assert_eq!(r, ["at", "three", "pm", "the", "fox", "trot"]);
    let h = normalize("at three PM the fox");
    assert_eq!(word_errors(&r, &h), 1);
    assert_eq!(word_errors(&r, &[]), 6);
    assert_eq!(word_errors(&[], &h), 5);
}
