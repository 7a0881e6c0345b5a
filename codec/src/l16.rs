//! L16: 16-bit signed linear PCM, mono, as bytes in either byte order.
//!
//! * Vonage (`audio/l16;rate=…` WebSocket frames) and Plivo (`audio/x-l16`) send
//!   **little-endian** samples: use [`decode_le`] / [`encode_le`].
//! * Telnyx `L16` is an RTP payload (RFC 3551), i.e. **big-endian** network
//!   order: use [`decode_be`] / [`encode_be`].
//!
//! A byte buffer with an odd length has a trailing byte that is not a whole
//! sample. The decoders ignore it and return the number of samples decoded, so
//! a caller detects it with `samples * 2 != bytes.len()` (or
//! [`has_trailing_byte`]) and can count or log it.
//!
//! The functions clear their output `Vec` and refill it, reusing its capacity:
//! a buffer kept across frames stops allocating after the first frame.
//!
//! ```
//! use voicegate_codec::l16;
//!
//! let mut pcm = Vec::new();
//! let frame = [0x01, 0x02, 0xFF, 0x7F, 0x99]; // odd: the 0x99 is ignored
//! assert_eq!(l16::decode_le(&frame, &mut pcm), 2);
//! assert_eq!(pcm, [0x0201, 0x7FFF]);
//! assert!(l16::has_trailing_byte(&frame));
//!
//! let mut bytes = Vec::new();
//! l16::encode_be(&pcm, &mut bytes);
//! assert_eq!(bytes, [0x02, 0x01, 0x7F, 0xFF]);
//! ```

/// Whether `bytes` ends with a byte that is not part of a whole 16-bit sample.
#[inline]
#[must_use]
pub fn has_trailing_byte(bytes: &[u8]) -> bool {
    bytes.len() % 2 == 1
}

/// Clears `dst` and fills it with the little-endian samples of `bytes`.
///
/// Returns the number of samples decoded, `bytes.len() / 2`; an odd trailing
/// byte is ignored (see the [module docs](self)).
#[inline]
pub fn decode_le(bytes: &[u8], dst: &mut Vec<i16>) -> usize {
    let (pairs, _trailing) = bytes.as_chunks::<2>();
    dst.clear();
    dst.extend(pairs.iter().map(|&p| i16::from_le_bytes(p)));
    pairs.len()
}

/// Clears `dst` and fills it with the big-endian samples of `bytes`.
///
/// Returns the number of samples decoded, `bytes.len() / 2`; an odd trailing
/// byte is ignored (see the [module docs](self)).
#[inline]
pub fn decode_be(bytes: &[u8], dst: &mut Vec<i16>) -> usize {
    let (pairs, _trailing) = bytes.as_chunks::<2>();
    dst.clear();
    dst.extend(pairs.iter().map(|&p| i16::from_be_bytes(p)));
    pairs.len()
}

/// Clears `dst` and fills it with `src` as little-endian bytes (`2 * src.len()`).
#[inline]
pub fn encode_le(src: &[i16], dst: &mut Vec<u8>) {
    dst.clear();
    dst.resize(src.len() * 2, 0);
    for (d, s) in dst.as_chunks_mut::<2>().0.iter_mut().zip(src) {
        *d = s.to_le_bytes();
    }
}

/// Clears `dst` and fills it with `src` as big-endian bytes (`2 * src.len()`).
#[inline]
pub fn encode_be(src: &[i16], dst: &mut Vec<u8>) {
    dst.clear();
    dst.resize(src.len() * 2, 0);
    for (d, s) in dst.as_chunks_mut::<2>().0.iter_mut().zip(src) {
        *d = s.to_be_bytes();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_vectors::all_i16;

    #[test]
    fn byte_order() {
        let mut pcm = Vec::new();
        assert_eq!(decode_le(&[0x34, 0x12, 0x00, 0x80], &mut pcm), 2);
        assert_eq!(pcm, [0x1234, i16::MIN]);
        assert_eq!(decode_be(&[0x12, 0x34, 0x80, 0x00], &mut pcm), 2);
        assert_eq!(pcm, [0x1234, i16::MIN]);

        let mut bytes = Vec::new();
        encode_le(&[0x1234, -1], &mut bytes);
        assert_eq!(bytes, [0x34, 0x12, 0xFF, 0xFF]);
        encode_be(&[0x1234, -2], &mut bytes);
        assert_eq!(bytes, [0x12, 0x34, 0xFF, 0xFE]);
    }

    #[test]
    fn round_trip_all_i16_both_orders() {
        let pcm: Vec<i16> = all_i16().collect();
        let (mut bytes, mut back) = (Vec::new(), Vec::new());
        encode_le(&pcm, &mut bytes);
        assert_eq!(bytes.len(), 2 * pcm.len());
        assert_eq!(decode_le(&bytes, &mut back), pcm.len());
        assert_eq!(back, pcm);
        encode_be(&pcm, &mut bytes);
        assert_eq!(decode_be(&bytes, &mut back), pcm.len());
        assert_eq!(back, pcm);
        // The two orders differ by a byte swap.
        assert_eq!(decode_le(&bytes, &mut back), pcm.len());
        assert!(back.iter().zip(&pcm).all(|(a, b)| *a == b.swap_bytes()));
    }

    #[test]
    fn odd_trailing_byte_is_ignored_and_reported() {
        let mut pcm = vec![9; 4];
        for len in 0..=9usize {
            let bytes: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let n = decode_le(&bytes, &mut pcm);
            assert_eq!(n, len / 2);
            assert_eq!(pcm.len(), n);
            assert_eq!(has_trailing_byte(&bytes), n * 2 != len);
            assert_eq!(decode_be(&bytes, &mut pcm), len / 2);
        }
    }

    #[test]
    fn buffers_are_reused() {
        let mut pcm = Vec::with_capacity(320);
        let frame = [0u8; 640];
        decode_le(&frame, &mut pcm);
        let ptr = pcm.as_ptr();
        decode_be(&frame, &mut pcm);
        assert_eq!((pcm.as_ptr(), pcm.capacity()), (ptr, 320));

        let mut bytes = Vec::with_capacity(640);
        encode_le(&pcm, &mut bytes);
        let ptr = bytes.as_ptr();
        encode_be(&pcm[..10], &mut bytes);
        assert_eq!(bytes.len(), 20);
        encode_le(&pcm, &mut bytes);
        assert_eq!((bytes.as_ptr(), bytes.capacity()), (ptr, 640));
    }
}
