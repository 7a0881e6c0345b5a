//! G.711 / L16 throughput, per 20 ms frame (160 samples at 8 kHz) and per second
//! of audio (8000 samples).
//!
//! Run: `cargo bench -p voicegate-codec -- --warm-up-time 1 --measurement-time 3`
//!
//! Throughput is reported in bytes of *input* per second: code bytes for
//! decoders (1 per sample), PCM bytes for encoders (2 per sample). Multiply a
//! decoder's figure by 2 (or halve an encoder's) for the other side.
//!
//! Besides the crate's own functions it measures the in-house candidates the
//! design was chosen from (see `docs/codec.md`): computing the code instead of
//! looking it up, and a full 65,536-entry encode table. Every candidate is
//! checked against `testdata/` before it is timed; one that is not bit-exact
//! is labelled so. The `audio-codec-algorithms` crate was measured the same
//! way and then dropped; `docs/codec.md` says how to put it back for a re-run.

use std::hint::black_box;

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, Throughput,
};
use voicegate_codec::{alaw, l16, mulaw};

const MULAW_ENCODE: &[u8; 65536] = include_bytes!("../testdata/mulaw_encode.bin");
const ALAW_ENCODE: &[u8; 65536] = include_bytes!("../testdata/alaw_encode.bin");
const MULAW_DECODE: &[u8; 512] = include_bytes!("../testdata/mulaw_decode.bin");
const ALAW_DECODE: &[u8; 512] = include_bytes!("../testdata/alaw_decode.bin");

/// 20 ms and 1 s at 8 kHz.
const SIZES: [(&str, usize); 2] = [("frame_160", 160), ("second_8000", 8000)];

/// Candidate implementations that are not the crate's own.
mod candidates {
    /// µ-law encode computed without a table (audioop's algorithm, branch-free).
    #[inline]
    pub fn mulaw_encode_computed(sample: i16) -> u8 {
        let pcm = i32::from(sample >> 2);
        let neg = pcm >> 31; // 0 or -1
        let mag = ((pcm ^ neg) - neg).min(8158) + 33;
        let seg = (i32::BITS - mag.leading_zeros()) - 6;
        let code = (seg << 4) | ((mag as u32 >> (seg + 1)) & 0x0F);
        (code as u8) ^ (0xFF ^ (neg as u8 & 0x80))
    }

    /// A-law encode computed without a table (audioop's algorithm, branch-free).
    #[inline]
    pub fn alaw_encode_computed(sample: i16) -> u8 {
        let pcm = i32::from(sample >> 3);
        let neg = pcm >> 31;
        let mag = pcm ^ neg; // one's complement of negatives
        let seg = (i32::BITS - (mag | 0x1F).leading_zeros()) - 5;
        let shift = seg.max(1);
        let code = (seg << 4) | ((mag as u32 >> shift) & 0x0F);
        (code as u8) ^ (0xD5 ^ (neg as u8 & 0x80))
    }

    /// µ-law encode through a full 64 KiB table (the reference vector itself).
    #[inline]
    pub fn mulaw_encode_table64k(sample: i16) -> u8 {
        super::MULAW_ENCODE[usize::from(sample as u16 ^ 0x8000)]
    }

    /// A-law encode through a full 64 KiB table (the reference vector itself).
    #[inline]
    pub fn alaw_encode_table64k(sample: i16) -> u8 {
        super::ALAW_ENCODE[usize::from(sample as u16 ^ 0x8000)]
    }

    /// µ-law decode computed without a table (audioop's `st_ulaw2linear16`).
    #[inline]
    pub fn mulaw_decode_computed(code: u8) -> i16 {
        let u = !code;
        let t = ((i16::from(u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4);
        if u & 0x80 != 0 {
            0x84 - t
        } else {
            t - 0x84
        }
    }

    /// A-law decode computed without a table (audioop's `st_alaw2linear16`).
    #[inline]
    pub fn alaw_decode_computed(code: u8) -> i16 {
        let a = code ^ 0x55;
        let t = i16::from(a & 0x0F);
        let seg = (a & 0x70) >> 4;
        let t = if seg != 0 {
            (t + t + 33) << (seg + 2)
        } else {
            (t + t + 1) << 3
        };
        if a & 0x80 != 0 {
            t
        } else {
            -t
        }
    }
}

/// Deterministic, uniformly distributed test signal (xorshift32): the worst
/// case for table lookups (no locality) and for branches.
fn noise(n: usize) -> Vec<i16> {
    let mut x = 0x9E37_79B9u32;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 16) as u16 as i16
        })
        .collect()
}

/// The loop each per-sample candidate runs in: the same shape as the crate's
/// slice functions, and generic so the candidate is inlined into it.
#[inline(always)]
fn encode_with(f: impl Fn(i16) -> u8, src: &[i16], dst: &mut [u8]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = f(s);
    }
}

#[inline(always)]
fn decode_with(f: impl Fn(u8) -> i16, src: &[u8], dst: &mut [i16]) {
    for (d, &c) in dst.iter_mut().zip(src) {
        *d = f(c);
    }
}

/// `name`, marked when the encoder disagrees with `reference` on any input.
fn encoder_label(name: &str, reference: &[u8; 65536], f: impl Fn(&[i16], &mut [u8])) -> String {
    let all: Vec<i16> = (i16::MIN..=i16::MAX).collect();
    let mut out = vec![0u8; all.len()];
    f(&all, &mut out);
    let wrong = out.iter().zip(reference).filter(|(a, b)| a != b).count();
    label(name, wrong, all.len())
}

/// `name`, marked when the decoder disagrees with `reference` on any code.
fn decoder_label(name: &str, reference: &[u8; 512], f: impl Fn(&[u8], &mut [i16])) -> String {
    let all: Vec<u8> = (0..=255).collect();
    let mut out = vec![0i16; all.len()];
    f(&all, &mut out);
    let wrong = out
        .iter()
        .zip(reference.chunks_exact(2))
        .filter(|&(&a, p)| a != i16::from_le_bytes([p[0], p[1]]))
        .count();
    label(name, wrong, all.len())
}

fn label(name: &str, wrong: usize, of: usize) -> String {
    if wrong == 0 {
        name.to_owned()
    } else {
        eprintln!("note: {name} differs from audioop on {wrong} of {of} inputs");
        format!("{name} (NOT bit-exact)")
    }
}

fn bench_encoder(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    reference: &[u8; 65536],
    src: &[i16],
    f: impl Fn(&[i16], &mut [u8]),
) {
    let id = BenchmarkId::new(encoder_label(name, reference, &f), src.len());
    let mut dst = vec![0u8; src.len()];
    group.bench_function(id, |b| {
        b.iter(|| {
            f(black_box(src), &mut dst);
            black_box(&mut dst);
        })
    });
}

fn bench_decoder(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    reference: &[u8; 512],
    src: &[u8],
    f: impl Fn(&[u8], &mut [i16]),
) {
    let id = BenchmarkId::new(decoder_label(name, reference, &f), src.len());
    let mut dst = vec![0i16; src.len()];
    group.bench_function(id, |b| {
        b.iter(|| {
            f(black_box(src), &mut dst);
            black_box(&mut dst);
        })
    });
}

fn encoders(c: &mut Criterion) {
    for (size, n) in SIZES {
        let src = noise(n);
        let mut vec = Vec::with_capacity(n);

        let mut g = c.benchmark_group(format!("mulaw_encode_{size}"));
        g.throughput(Throughput::Bytes(2 * n as u64));
        bench_encoder(&mut g, "voicegate", MULAW_ENCODE, &src, |s, d| {
            mulaw::encode(s, d);
        });
        bench_encoder(&mut g, "computed", MULAW_ENCODE, &src, |s, d| {
            encode_with(candidates::mulaw_encode_computed, s, d)
        });
        bench_encoder(&mut g, "table64k", MULAW_ENCODE, &src, |s, d| {
            encode_with(candidates::mulaw_encode_table64k, s, d)
        });
        g.bench_function(BenchmarkId::new("voicegate encode_into", n), |b| {
            b.iter(|| mulaw::encode_into(black_box(&src), &mut vec))
        });
        g.finish();

        let mut g = c.benchmark_group(format!("alaw_encode_{size}"));
        g.throughput(Throughput::Bytes(2 * n as u64));
        bench_encoder(&mut g, "voicegate", ALAW_ENCODE, &src, |s, d| {
            alaw::encode(s, d);
        });
        bench_encoder(&mut g, "computed", ALAW_ENCODE, &src, |s, d| {
            encode_with(candidates::alaw_encode_computed, s, d)
        });
        bench_encoder(&mut g, "table64k", ALAW_ENCODE, &src, |s, d| {
            encode_with(candidates::alaw_encode_table64k, s, d)
        });
        g.bench_function(BenchmarkId::new("voicegate encode_into", n), |b| {
            b.iter(|| alaw::encode_into(black_box(&src), &mut vec))
        });
        g.finish();
    }
}

fn decoders(c: &mut Criterion) {
    for (size, n) in SIZES {
        let src: Vec<u8> = noise(n).iter().map(|&s| s as u8).collect();
        let mut vec = Vec::with_capacity(n);

        let mut g = c.benchmark_group(format!("mulaw_decode_{size}"));
        g.throughput(Throughput::Bytes(n as u64));
        bench_decoder(&mut g, "voicegate", MULAW_DECODE, &src, |s, d| {
            mulaw::decode(s, d);
        });
        bench_decoder(&mut g, "computed", MULAW_DECODE, &src, |s, d| {
            decode_with(candidates::mulaw_decode_computed, s, d)
        });
        g.bench_function(BenchmarkId::new("voicegate decode_into", n), |b| {
            b.iter(|| mulaw::decode_into(black_box(&src), &mut vec))
        });
        g.finish();

        let mut g = c.benchmark_group(format!("alaw_decode_{size}"));
        g.throughput(Throughput::Bytes(n as u64));
        bench_decoder(&mut g, "voicegate", ALAW_DECODE, &src, |s, d| {
            alaw::decode(s, d);
        });
        bench_decoder(&mut g, "computed", ALAW_DECODE, &src, |s, d| {
            decode_with(candidates::alaw_decode_computed, s, d)
        });
        g.bench_function(BenchmarkId::new("voicegate decode_into", n), |b| {
            b.iter(|| alaw::decode_into(black_box(&src), &mut vec))
        });
        g.finish();
    }
}

fn linear16(c: &mut Criterion) {
    for (size, n) in SIZES {
        let pcm = noise(n);
        let mut bytes = Vec::with_capacity(2 * n);
        l16::encode_le(&pcm, &mut bytes);
        let mut out_pcm = Vec::with_capacity(n);
        let mut out_bytes = Vec::with_capacity(2 * n);
        let mut g = c.benchmark_group(format!("l16_{size}"));
        g.throughput(Throughput::Bytes(2 * n as u64));
        g.bench_function(BenchmarkId::new("decode_le", n), |b| {
            b.iter(|| l16::decode_le(black_box(&bytes), &mut out_pcm))
        });
        g.bench_function(BenchmarkId::new("decode_be", n), |b| {
            b.iter(|| l16::decode_be(black_box(&bytes), &mut out_pcm))
        });
        g.bench_function(BenchmarkId::new("encode_le", n), |b| {
            b.iter(|| l16::encode_le(black_box(&pcm), &mut out_bytes))
        });
        g.bench_function(BenchmarkId::new("encode_be", n), |b| {
            b.iter(|| l16::encode_be(black_box(&pcm), &mut out_bytes))
        });
        g.finish();
    }
}

criterion_group!(benches, decoders, encoders, linear16);
criterion_main!(benches);
