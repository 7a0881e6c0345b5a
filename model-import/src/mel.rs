//! Slaney-style mel filterbank, as `librosa.filters.mel(sr, n_fft, n_mels)` computes it
//! with its defaults (`htk=False`, `norm="slaney"`, `fmin=0`, `fmax=sr/2`).
//!
//! The computation is done in f64, following numpy's operation order step by
//! step, and only the final result is rounded to f32. For 16 kHz / 400 / 80 the
//! result is bit-identical to the reference converter's output, and it matches
//! whisper's own `mel_filters.npz` to within 1 ulp.

/// Sample rate of Whisper models.
pub const SAMPLE_RATE: f64 = 16_000.0;
/// FFT size of Whisper models (25 ms window).
pub const N_FFT: usize = 400;

const F_SP: f64 = 200.0 / 3.0;
const MIN_LOG_HZ: f64 = 1000.0;

fn min_log_mel() -> f64 {
    MIN_LOG_HZ / F_SP
}

fn log_step() -> f64 {
    6.4f64.ln() / 27.0
}

/// Hz → mel on the Slaney scale (linear below 1 kHz, logarithmic above).
pub fn hz_to_mel(hz: f64) -> f64 {
    if hz >= MIN_LOG_HZ {
        min_log_mel() + (hz / MIN_LOG_HZ).ln() / log_step()
    } else {
        hz / F_SP
    }
}

/// Mel → Hz on the Slaney scale (inverse of [`hz_to_mel`]).
pub fn mel_to_hz(mel: f64) -> f64 {
    if mel >= min_log_mel() {
        MIN_LOG_HZ * (log_step() * (mel - min_log_mel())).exp()
    } else {
        F_SP * mel
    }
}

/// `numpy.linspace(start, stop, num)` with numpy's exact arithmetic.
fn linspace(start: f64, stop: f64, num: usize) -> Vec<f64> {
    match num {
        0 => Vec::new(),
        1 => vec![start],
        _ => {
            let step = (stop - start) / (num - 1) as f64;
            let mut v: Vec<f64> = (0..num).map(|i| i as f64 * step + start).collect();
            v[num - 1] = stop;
            v
        }
    }
}

/// The mel filterbank: `n_mels` rows of `n_fft / 2 + 1` weights, row-major (mel-major).
///
/// For Whisper use `mel_filters(SAMPLE_RATE, N_FFT, n_mels)` with `n_mels` = 80 (or 128
/// for large-v3).
pub fn mel_filters(sample_rate: f64, n_fft: usize, n_mels: usize) -> Vec<f32> {
    let n_bins = n_fft / 2 + 1;
    // numpy.fft.rfftfreq(n_fft, d=1/sr): i * (1 / (n * d)).
    let val = 1.0 / (n_fft as f64 * (1.0 / sample_rate));
    let fftfreqs: Vec<f64> = (0..n_bins).map(|i| i as f64 * val).collect();

    let mels = linspace(hz_to_mel(0.0), hz_to_mel(sample_rate / 2.0), n_mels + 2);
    let freqs: Vec<f64> = mels.iter().map(|&m| mel_to_hz(m)).collect();

    let mut out = Vec::with_capacity(n_mels * n_bins);
    for i in 0..n_mels {
        let fdiff_lo = freqs[i + 1] - freqs[i];
        let fdiff_hi = freqs[i + 2] - freqs[i + 1];
        let enorm = 2.0 / (freqs[i + 2] - freqs[i]);
        for &f in &fftfreqs {
            let lower = -(freqs[i] - f) / fdiff_lo;
            let upper = (freqs[i + 2] - f) / fdiff_hi;
            // np.minimum(lower, upper), then np.maximum(0, m). numpy's maximum
            // returns its second operand when both are zero, so -0.0 survives:
            // that happens exactly once (row 0, bin 0) and the reference file's
            // checksum depends on it.
            let m = if lower <= upper { lower } else { upper };
            let w = if m < 0.0 { 0.0 } else { m };
            out.push((w * enorm) as f32);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    fn whisper80() -> Vec<f32> {
        mel_filters(SAMPLE_RATE, N_FFT, 80)
    }

    #[test]
    fn scale_round_trips_and_is_continuous_at_1khz() {
        for hz in [0.0, 100.0, 999.0, 1000.0, 1234.5, 8000.0] {
            assert!((mel_to_hz(hz_to_mel(hz)) - hz).abs() < 1e-9, "{hz}");
        }
        // Like numpy: 1000 / (200 / 3) is 14.999999999999998 in f64.
        assert_eq!(hz_to_mel(1000.0), 1000.0 / (200.0 / 3.0));
        assert!((hz_to_mel(999.999_999) - 15.0).abs() < 1e-6);
        // numpy: 15 + np.log(8) / (np.log(6.4) / 27)
        assert!((hz_to_mel(8000.0) - 45.245_640_471_924_965).abs() < 1e-12);
    }

    #[test]
    fn filterbank_shape_and_shape_of_triangles() {
        let m = whisper80();
        assert_eq!(m.len(), 80 * 201);
        assert!(m.iter().all(|&x| x >= 0.0 && x.is_finite()));
        for row in m.chunks(201) {
            // Each triangle is one contiguous run of non-zero weights.
            let nz: Vec<usize> = (0..201).filter(|&j| row[j] > 0.0).collect();
            assert!(!nz.is_empty());
            assert_eq!(nz.len(), nz[nz.len() - 1] - nz[0] + 1);
            // The top bin (8 kHz) is never reached.
            assert_eq!(row[200], 0.0);
        }
        // Constants from numpy (float64 formula, then float32):
        // m[0,1], m[1,2], m[10,10], m[40,43], m[79,192], m[79,190]
        let expect = [
            (0, 1, 0x3ccb_aca4_u32),
            (1, 2, 0x3cbb_5d95),
            (10, 10, 0x3ca3_1690),
            (40, 43, 0x3c71_6d71),
            (79, 192, 0x3b4f_670d),
            (79, 190, 0x3b12_47ab),
        ];
        for (i, j, bits) in expect {
            assert_eq!(
                m[i * 201 + j].to_bits(),
                bits,
                "m[{i},{j}] = {}",
                m[i * 201 + j]
            );
        }
        assert!((m[1] - 0.024_862_595).abs() < 1e-9);
        assert_eq!(m[0], 0.0);
        assert_eq!(m[2], 0.0);
        // Non-zero extents from numpy: row 40 → bins 42..=44, row 79 → bins 186..=199.
        let extent = |i: usize| {
            let row = &m[i * 201..(i + 1) * 201];
            let nz: Vec<usize> = (0..201).filter(|&j| row[j] > 0.0).collect();
            (nz[0], nz[nz.len() - 1])
        };
        assert_eq!(extent(40), (42, 44));
        assert_eq!(extent(79), (186, 199));
    }

    #[test]
    fn filterbank_is_bit_identical_to_numpy() {
        // sha256 of np.float32 bytes of the numpy formula for (16000, 400, 80) and (…, 128).
        let hash = |m: Vec<f32>| {
            let bytes: Vec<u8> = m.iter().flat_map(|x| x.to_le_bytes()).collect();
            format!("{:x}", Sha256::digest(bytes))
        };
        assert_eq!(
            hash(whisper80()),
            "2150c30cbbeb6029f52002ffa666c1c72d83dbf53f463cb8462052055806e891"
        );
        assert_eq!(
            hash(mel_filters(SAMPLE_RATE, N_FFT, 128)),
            "aaac37f621282123f884373225515a47f119d6635d1fecd7fd78700fd961ae1c"
        );
    }

    #[test]
    fn slaney_normalisation_gives_constant_area() {
        // Slaney normalisation makes every triangle's area 1 (in Hz); sampled every
        // 40 Hz, each row sums to ≈ 1/40. Narrow low triangles deviate more.
        let m = whisper80();
        for (i, row) in m.chunks(201).enumerate() {
            let s: f32 = row.iter().sum::<f32>() * 40.0;
            let tolerance = if i >= 60 { 0.01 } else { 0.1 };
            assert!((s - 1.0).abs() < tolerance, "row {i}: {s}");
        }
        let total: f32 = m.iter().sum();
        assert!((total - 1.999_024_2).abs() < 1e-4, "{total}");
        // The single negative zero (see mel_filters).
        assert_eq!(m[0].to_bits(), (-0.0f32).to_bits());
        assert_eq!(m.iter().filter(|x| x.is_sign_negative()).count(), 1);
    }
}
