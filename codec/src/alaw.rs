//! G.711 A-law (PCMA), bit-exact with the ITU-T G.711 reference as implemented
//! by Sun's `g711.c` and CPython's `audioop` (`lin2alaw` / `alaw2lin`, width 2).
//!
//! Encoding keeps the 13 most significant bits of the sample (`sample >> 3`),
//! as `audioop` does. Decoding yields values in `-32256..=32256`; A-law has no
//! zero level, so silence decodes to `8`.
//!
//! All functions are allocation-free except the `*_into` ones, which grow their
//! `Vec` only when its capacity is too small (so never once it is warm).
//!
//! ```
//! use voicegate_codec::alaw;
//!
//! let pcm = [0i16, 1000, -1000, i16::MAX];
//! let mut codes = [0u8; 4];
//! assert_eq!(alaw::encode(&pcm, &mut codes), 4);
//! let mut back = Vec::new();
//! alaw::decode_into(&codes, &mut back);
//! assert_eq!(back, [8, 1008, -1008, 32256]);
//! ```

/// The A-law code of silence (a zero sample); pad gaps with it.
pub const SILENCE: u8 = 0xD5;

/// Encodes one sample, computing the code (no table).
///
/// Same algorithm as `audioop`'s `st_linear2alaw`, with `leading_zeros` in
/// place of its segment search; only used at compile time to fill
/// [`ENCODE_TABLE`] and in tests.
const fn encode_computed(sample: i16) -> u8 {
    let pcm = (sample >> 3) as i32; // 13-bit
                                    // A-law takes the one's complement of negative samples: -pcm - 1.
    let neg = pcm < 0;
    let mag = if neg { !pcm } else { pcm }; // 0..=4095
    let bits = i32::BITS - (mag | 0x1F).leading_zeros(); // 5..=12
    let seg = bits - 5; // 0..=7
    let shift = if seg < 2 { 1 } else { seg };
    let code = (seg << 4) | ((mag as u32 >> shift) & 0x0F);
    let mask = if neg { 0x55 } else { 0xD5 };
    (code as u8) ^ mask
}

/// Decodes one code, computing the value (no table): `audioop`'s `st_alaw2linear16`.
const fn decode_computed(code: u8) -> i16 {
    let a = code ^ 0x55;
    let t = (a & 0x0F) as i16;
    let seg = (a & 0x70) >> 4;
    let t = if seg != 0 {
        (t + t + 1 + 32) << (seg + 2)
    } else {
        (t + t + 1) << 3
    };
    if a & 0x80 != 0 {
        t
    } else {
        -t
    }
}

/// Encoder table indexed by the 13-bit sample, `(sample as u16 >> 3)`: 8 KiB.
static ENCODE_TABLE: [u8; 1 << 13] = {
    let mut table = [0u8; 1 << 13];
    let mut i = 0;
    while i < table.len() {
        table[i] = encode_computed(((i as u16) << 3) as i16);
        i += 1;
    }
    table
};

/// Decoder table indexed by the code: 512 bytes.
static DECODE_TABLE: [i16; 256] = {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < table.len() {
        table[i] = decode_computed(i as u8);
        i += 1;
    }
    table
};

/// Encodes one 16-bit linear sample to an A-law code.
#[inline]
#[must_use]
pub fn encode_sample(sample: i16) -> u8 {
    // `u16 >> 3` is always below 2^13, the table length, so this cannot panic
    // (and the optimiser drops the bounds check).
    ENCODE_TABLE[usize::from(sample as u16 >> 3)]
}

/// Decodes one A-law code to a 16-bit linear sample.
#[inline]
#[must_use]
pub fn decode_sample(code: u8) -> i16 {
    DECODE_TABLE[usize::from(code)]
}

/// Encodes `src` into `dst`, one code per sample.
///
/// The slices should have equal lengths; if they do not, only the first
/// `min(src.len(), dst.len())` samples are encoded and the rest of `dst` is left
/// untouched. Returns the number of samples encoded.
#[inline]
pub fn encode(src: &[i16], dst: &mut [u8]) -> usize {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = encode_sample(s);
    }
    src.len().min(dst.len())
}

/// Decodes `src` into `dst`, one sample per code.
///
/// The slices should have equal lengths; if they do not, only the first
/// `min(src.len(), dst.len())` codes are decoded and the rest of `dst` is left
/// untouched. Returns the number of samples decoded.
#[inline]
pub fn decode(src: &[u8], dst: &mut [i16]) -> usize {
    for (d, &c) in dst.iter_mut().zip(src) {
        *d = decode_sample(c);
    }
    src.len().min(dst.len())
}

/// Clears `dst` and fills it with the encoding of `src` (`src.len()` codes).
///
/// Reuses `dst`'s capacity: it allocates only when the capacity is below
/// `src.len()`, so a buffer kept across frames stops allocating after the first.
#[inline]
pub fn encode_into(src: &[i16], dst: &mut Vec<u8>) {
    dst.clear();
    dst.extend(src.iter().map(|&s| encode_sample(s)));
}

/// Clears `dst` and fills it with the decoding of `src` (`src.len()` samples).
///
/// Reuses `dst`'s capacity: it allocates only when the capacity is below
/// `src.len()`, so a buffer kept across frames stops allocating after the first.
#[inline]
pub fn decode_into(src: &[u8], dst: &mut Vec<i16>) {
    dst.clear();
    dst.extend(src.iter().map(|&c| decode_sample(c)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_vectors::{all_i16, decode_vector, ALAW_DECODE, ALAW_ENCODE};

    #[test]
    fn encode_matches_audioop_for_all_65536_inputs() {
        assert_eq!(ALAW_ENCODE.len(), 65_536);
        for (x, &want) in all_i16().zip(ALAW_ENCODE.iter()) {
            assert_eq!(encode_sample(x), want, "lin2alaw({x})");
            assert_eq!(encode_computed(x), want, "computed lin2alaw({x})");
        }
    }

    #[test]
    fn decode_matches_audioop_for_all_256_codes() {
        let want = decode_vector(ALAW_DECODE);
        for code in 0..=255u8 {
            assert_eq!(
                decode_sample(code),
                want[usize::from(code)],
                "alaw2lin({code:#04x})"
            );
        }
    }

    #[test]
    fn slice_functions_match_sample_functions() {
        let pcm: Vec<i16> = all_i16().collect();
        let mut codes = vec![0u8; pcm.len()];
        assert_eq!(encode(&pcm, &mut codes), pcm.len());
        assert_eq!(codes, ALAW_ENCODE);

        let all_codes: Vec<u8> = (0..=255).collect();
        let mut out = vec![0i16; 256];
        assert_eq!(decode(&all_codes, &mut out), 256);
        assert_eq!(out, decode_vector(ALAW_DECODE));
    }

    #[test]
    fn round_trip_is_stable() {
        for code in 0..=255u8 {
            let x = decode_sample(code);
            let code2 = encode_sample(x);
            assert_eq!(decode_sample(code2), x, "code {code:#04x}");
            // A-law has no negative zero: every code is its own re-encoding.
            assert_eq!(code2, code);
        }
    }

    #[test]
    fn encode_then_decode_is_monotonic_and_close() {
        let mut prev = i16::MIN;
        for x in all_i16() {
            let y = decode_sample(encode_sample(x));
            assert!(y >= prev, "not monotonic at {x}");
            prev = y;
            // Segment 7 step is 1024 (in 16-bit units), half of it around the level.
            assert!((i32::from(y) - i32::from(x)).abs() <= 1024, "{x} -> {y}");
        }
    }

    #[test]
    fn silence_is_the_smallest_positive_level() {
        assert_eq!(decode_sample(SILENCE), 8);
        assert_eq!(encode_sample(0), SILENCE);
    }

    #[test]
    fn length_mismatch_processes_the_shorter() {
        let mut dst = [0xAAu8; 3];
        assert_eq!(encode(&[0, 0, 0, 0, 0], &mut dst), 3);
        assert_eq!(dst, [SILENCE; 3]);
        let mut dst = [7i16; 5];
        assert_eq!(decode(&[SILENCE, SILENCE], &mut dst), 2);
        assert_eq!(dst, [8, 8, 7, 7, 7]);
        assert_eq!(decode(&[], &mut []), 0);
    }

    #[test]
    fn into_functions_reuse_capacity() {
        let mut pcm = Vec::with_capacity(160);
        let frame = [SILENCE; 160];
        decode_into(&frame, &mut pcm);
        let ptr = pcm.as_ptr();
        decode_into(&frame[..80], &mut pcm);
        assert_eq!(pcm, [8i16; 80]);
        decode_into(&frame, &mut pcm);
        assert_eq!((pcm.as_ptr(), pcm.len(), pcm.capacity()), (ptr, 160, 160));

        let mut codes = vec![1u8; 500];
        encode_into(&pcm, &mut codes);
        assert_eq!(codes, [SILENCE; 160]);
        assert_eq!(codes.capacity(), 500);
    }
}
