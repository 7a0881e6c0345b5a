//! Per-frame cost of the media pipeline: the numbers behind "a thousand calls on two cores".
//!
//! Every benchmark processes a clip frame by frame, as a session does, with throughput set
//! to the number of 20 ms frames, so criterion's time per element is the cost of one frame.
//!
//! Run with `cargo bench -p voicegate --bench media`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use voicegate::media::{StreamResampler, TurnConfig, TurnDetector, Vad, VadConfig};

/// 20 ms at 16 kHz.
const FRAME_16K: usize = 320;

/// Deterministic white noise at roughly `level_db` dBFS.
fn noise(len: usize, level_db: f64, mut state: u64) -> Vec<i16> {
    let amp = 32768.0 * 10f64.powf(level_db / 20.0) * 3f64.sqrt();
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let u = (state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0;
            (u * amp).round() as i16
        })
        .collect()
}

/// The eSpeak fixture sentences (8 kHz) with half a second of line noise after each,
/// upsampled to 16 kHz: about 5.6 s holding two utterances.
fn speech_16k() -> Vec<i16> {
    let mut pcm = Vec::new();
    for wav in [
        &include_bytes!("../src/media/testdata/sentence1_8k.wav")[..],
        &include_bytes!("../src/media/testdata/sentence2_8k.wav")[..],
    ] {
        // The fixtures are canonical PCM WAVs: samples start after a 44-byte header.
        pcm.extend(
            wav[44..]
                .chunks_exact(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]])),
        );
        pcm.extend(noise(4000, -60.0, 1));
    }
    let mut resampler = StreamResampler::new(8000, 16000).expect("valid rates");
    let mut out = Vec::new();
    resampler.process(&pcm, &mut out);
    resampler.flush(&mut out);
    out
}

fn vad_and_turn(c: &mut Criterion) {
    let silence = noise(FRAME_16K * 500, -60.0, 7);
    let speech = speech_16k();
    let mut group = c.benchmark_group("turn_per_20ms_frame");
    for (name, clip) in [("silence", &silence), ("speech", &speech)] {
        let frames = clip.len() / FRAME_16K;
        group.throughput(Throughput::Elements(frames as u64));
        group.bench_with_input(BenchmarkId::new("vad_only", name), clip, |b, clip| {
            let mut vad = Vad::new(&VadConfig::default(), 16000).expect("valid config");
            b.iter(|| {
                for frame in clip.chunks_exact(FRAME_16K) {
                    black_box(vad.classify(black_box(frame)));
                }
            });
        });
        group.bench_with_input(BenchmarkId::new("vad_and_turn", name), clip, |b, clip| {
            let mut turns = TurnDetector::new(&TurnConfig::default(), &VadConfig::default(), 16000)
                .expect("valid config");
            let mut events = Vec::with_capacity(16);
            b.iter(|| {
                for frame in clip.chunks_exact(FRAME_16K) {
                    turns.push(black_box(frame), &mut events);
                    events.clear();
                }
            });
        });
    }
    group.finish();
}

fn resampling(c: &mut Criterion) {
    let mut group = c.benchmark_group("resample_per_20ms_frame");
    for (from, to) in [
        (8000u32, 16000u32),
        (16000, 8000),
        (24000, 8000),
        (22050, 16000),
    ] {
        let frame = from as usize / 50;
        let clip = noise(frame * 250, -20.0, 3);
        group.throughput(Throughput::Elements(250));
        group.bench_function(format!("{from}_to_{to}"), |b| {
            let mut resampler = StreamResampler::new(from, to).expect("valid rates");
            let mut out = Vec::with_capacity(to as usize / 50 * 2);
            b.iter(|| {
                for chunk in clip.chunks_exact(frame) {
                    out.clear();
                    resampler.process(black_box(chunk), &mut out);
                    black_box(&out);
                }
            });
        });
    }
    group.finish();
}

criterion_group!(benches, vad_and_turn, resampling);
criterion_main!(benches);
