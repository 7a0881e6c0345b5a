//! [`Codec`]: the sample formats carriers negotiate, selected by name at run time.

use std::fmt;
use std::str::FromStr;

use crate::error::CodecError;
use crate::{alaw, l16, mulaw};

/// An audio sample format carried in media frames (mono; the sample rate is
/// carried separately by the protocol and does not matter to the codec).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Codec {
    /// G.711 µ-law (PCMU), one byte per sample. See [`mulaw`].
    MuLaw,
    /// G.711 A-law (PCMA), one byte per sample. See [`alaw`].
    ALaw,
    /// 16-bit signed linear PCM, little-endian (Vonage, Plivo). See [`l16`].
    L16Le,
    /// 16-bit signed linear PCM, big-endian / network order (RTP `L16`, Telnyx). See [`l16`].
    L16Be,
}

/// Names accepted by [`Codec::from_name`], compared ASCII-case-insensitively.
const NAMES: &[(&str, Codec)] = &[
    // µ-law: RTP name, Twilio/Plivo MIME type, common spellings.
    ("PCMU", Codec::MuLaw),
    ("audio/x-mulaw", Codec::MuLaw),
    ("audio/mulaw", Codec::MuLaw),
    ("audio/x-ulaw", Codec::MuLaw),
    ("audio/ulaw", Codec::MuLaw),
    ("audio/PCMU", Codec::MuLaw),
    ("audio/basic", Codec::MuLaw),
    ("mulaw", Codec::MuLaw),
    ("ulaw", Codec::MuLaw),
    ("mu-law", Codec::MuLaw),
    ("u-law", Codec::MuLaw),
    ("\u{b5}-law", Codec::MuLaw),
    ("\u{3bc}-law", Codec::MuLaw),
    ("g711u", Codec::MuLaw),
    ("g711_ulaw", Codec::MuLaw),
    // A-law.
    ("PCMA", Codec::ALaw),
    ("audio/x-alaw", Codec::ALaw),
    ("audio/alaw", Codec::ALaw),
    ("audio/PCMA", Codec::ALaw),
    ("alaw", Codec::ALaw),
    ("a-law", Codec::ALaw),
    ("g711a", Codec::ALaw),
    ("g711_alaw", Codec::ALaw),
    // Bare `L16` is the RTP payload name (RFC 3551): network byte order.
    ("L16", Codec::L16Be),
    ("L16BE", Codec::L16Be),
    ("s16be", Codec::L16Be),
    ("pcm_s16be", Codec::L16Be),
    // The MIME types carriers put in WebSocket content types carry little-endian
    // samples in practice (Vonage `audio/l16;rate=16000`, Plivo `audio/x-l16`).
    ("audio/l16", Codec::L16Le),
    ("audio/x-l16", Codec::L16Le),
    ("L16LE", Codec::L16Le),
    ("s16le", Codec::L16Le),
    ("pcm_s16le", Codec::L16Le),
    ("pcm16", Codec::L16Le),
    ("linear16", Codec::L16Le),
];

impl Codec {
    /// Every variant, for iteration.
    pub const ALL: [Codec; 4] = [Codec::MuLaw, Codec::ALaw, Codec::L16Le, Codec::L16Be];

    /// Maps an encoding name used by a carrier to a codec.
    ///
    /// Accepted (ASCII case ignored, surrounding spaces and `;` parameters such
    /// as `;rate=16000` ignored):
    ///
    /// * µ-law: `PCMU`, `audio/x-mulaw`, `audio/mulaw`, `audio/x-ulaw`, `audio/ulaw`,
    ///   `audio/PCMU`, `audio/basic`, `mulaw`, `ulaw`, `mu-law`, `u-law`, `µ-law`,
    ///   `g711u`, `g711_ulaw`;
    /// * A-law: `PCMA`, `audio/x-alaw`, `audio/alaw`, `audio/PCMA`, `alaw`, `a-law`,
    ///   `g711a`, `g711_alaw`;
    /// * [`Codec::L16Be`]: `L16` (the RTP payload name, as Telnyx uses it),
    ///   `L16BE`, `s16be`, `pcm_s16be`;
    /// * [`Codec::L16Le`]: `audio/l16` (Vonage's WebSocket content type),
    ///   `audio/x-l16` (Plivo), `L16LE`, `s16le`, `pcm_s16le`, `pcm16`, `linear16`.
    ///
    /// Note the asymmetry: bare `L16` is big-endian and `audio/l16` little-endian,
    /// because that is what the carriers send. A plugin that knows better should
    /// pick the variant itself rather than parse a name.
    ///
    /// # Errors
    ///
    /// [`CodecError::UnknownEncoding`] with the (trimmed, length-capped) name for
    /// anything else, including G.722, Opus and AMR-WB.
    ///
    /// ```
    /// use voicegate_codec::Codec;
    ///
    /// assert_eq!(Codec::from_name("audio/x-mulaw"), Ok(Codec::MuLaw));
    /// assert_eq!(Codec::from_name("audio/l16;rate=16000"), Ok(Codec::L16Le));
    /// assert_eq!(Codec::from_name("L16"), Ok(Codec::L16Be));
    /// assert!(Codec::from_name("OPUS").is_err());
    /// ```
    pub fn from_name(name: &str) -> Result<Self, CodecError> {
        let essence = name
            .split_once(';')
            .map_or(name, |(essence, _params)| essence);
        let essence = essence.trim();
        NAMES
            .iter()
            .find(|(known, _)| known.eq_ignore_ascii_case(essence))
            .map(|&(_, codec)| codec)
            .ok_or_else(|| CodecError::unknown(name))
    }

    /// A canonical name, accepted back by [`Codec::from_name`]:
    /// `PCMU`, `PCMA`, `L16LE`, `L16BE`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Codec::MuLaw => "PCMU",
            Codec::ALaw => "PCMA",
            Codec::L16Le => "L16LE",
            Codec::L16Be => "L16BE",
        }
    }

    /// Bytes per encoded sample: 1 for G.711, 2 for L16.
    #[must_use]
    pub const fn bytes_per_sample(self) -> usize {
        match self {
            Codec::MuLaw | Codec::ALaw => 1,
            Codec::L16Le | Codec::L16Be => 2,
        }
    }

    /// A byte whose repetition encodes silence: `0xFF` (µ-law), `0xD5` (A-law),
    /// `0x00` (L16). Use it to pad gaps in a payload.
    #[must_use]
    pub const fn silence_byte(self) -> u8 {
        match self {
            Codec::MuLaw => mulaw::SILENCE,
            Codec::ALaw => alaw::SILENCE,
            Codec::L16Le | Codec::L16Be => 0,
        }
    }

    /// Clears `dst` and fills it with the samples decoded from `src`, reusing
    /// `dst`'s capacity.
    ///
    /// Returns the number of samples decoded. For L16 an odd trailing byte is
    /// ignored, so the count is `src.len() / 2`
    /// (see [`l16`] for how to detect it).
    #[inline]
    pub fn decode_into(self, src: &[u8], dst: &mut Vec<i16>) -> usize {
        match self {
            Codec::MuLaw => {
                mulaw::decode_into(src, dst);
                dst.len()
            }
            Codec::ALaw => {
                alaw::decode_into(src, dst);
                dst.len()
            }
            Codec::L16Le => l16::decode_le(src, dst),
            Codec::L16Be => l16::decode_be(src, dst),
        }
    }

    /// Clears `dst` and fills it with `src` encoded, reusing `dst`'s capacity.
    /// `dst` ends up `src.len() * self.bytes_per_sample()` bytes long.
    #[inline]
    pub fn encode_into(self, src: &[i16], dst: &mut Vec<u8>) {
        match self {
            Codec::MuLaw => mulaw::encode_into(src, dst),
            Codec::ALaw => alaw::encode_into(src, dst),
            Codec::L16Le => l16::encode_le(src, dst),
            Codec::L16Be => l16::encode_be(src, dst),
        }
    }
}

impl FromStr for Codec {
    type Err = CodecError;

    /// Same as [`Codec::from_name`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Codec::from_name(s)
    }
}

impl fmt::Display for Codec {
    /// Writes [`Codec::name`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::MAX_NAME_CHARS;

    #[test]
    fn carrier_names() {
        let cases = [
            // Twilio `start.mediaFormat.encoding`, Plivo `contentType`.
            ("audio/x-mulaw", Codec::MuLaw),
            ("audio/x-mulaw;rate=8000", Codec::MuLaw),
            // Telnyx `media_format.encoding` / `stream_codec`.
            ("PCMU", Codec::MuLaw),
            ("PCMA", Codec::ALaw),
            ("L16", Codec::L16Be),
            // Vonage content type, Plivo.
            ("audio/l16;rate=16000", Codec::L16Le),
            ("audio/L16; rate=8000", Codec::L16Le),
            ("audio/x-l16;rate=8000", Codec::L16Le),
            // Spellings.
            ("mulaw", Codec::MuLaw),
            ("ulaw", Codec::MuLaw),
            ("  pcmu ", Codec::MuLaw),
            ("µ-law", Codec::MuLaw),
            ("alaw", Codec::ALaw),
            ("audio/x-alaw", Codec::ALaw),
            ("G711_ALAW", Codec::ALaw),
            ("l16", Codec::L16Be),
        ];
        for (name, want) in cases {
            assert_eq!(Codec::from_name(name), Ok(want), "{name:?}");
            assert_eq!(name.parse::<Codec>(), Ok(want), "{name:?}");
        }
    }

    #[test]
    fn every_listed_name_parses() {
        for &(name, codec) in NAMES {
            assert_eq!(Codec::from_name(name), Ok(codec), "{name:?}");
        }
    }

    #[test]
    fn unknown_names_are_reported() {
        for name in [
            "OPUS",
            "G722",
            "AMR-WB",
            "",
            ";rate=8000",
            "audio/",
            "pcmu2",
            "L16 x",
        ] {
            let err = Codec::from_name(name).unwrap_err();
            assert_eq!(
                err,
                CodecError::UnknownEncoding {
                    name: name.trim().to_owned()
                }
            );
        }
        let msg = Codec::from_name("G722").unwrap_err().to_string();
        assert!(msg.contains("\"G722\""), "{msg}");
    }

    #[test]
    fn unknown_long_names_are_capped() {
        let long = "é".repeat(10_000);
        let CodecError::UnknownEncoding { name } = Codec::from_name(&long).unwrap_err();
        assert_eq!(name.chars().count(), MAX_NAME_CHARS);
    }

    #[test]
    fn canonical_names_round_trip() {
        for codec in Codec::ALL {
            assert_eq!(Codec::from_name(codec.name()), Ok(codec));
            assert_eq!(codec.to_string().parse::<Codec>(), Ok(codec));
        }
    }

    #[test]
    fn sizes_and_silence() {
        let mut pcm = Vec::new();
        let mut bytes = Vec::new();
        for codec in Codec::ALL {
            let frame = vec![codec.silence_byte(); 320];
            let n = codec.decode_into(&frame, &mut pcm);
            assert_eq!(n, 320 / codec.bytes_per_sample());
            assert_eq!(pcm.len(), n);
            // A-law silence is the smallest positive level, 8.
            assert!(pcm
                .iter()
                .all(|&s| s == 0 || (codec == Codec::ALaw && s == 8)));
            codec.encode_into(&pcm, &mut bytes);
            assert_eq!(bytes, frame, "{codec}");
        }
    }

    #[test]
    fn dispatch_matches_modules() {
        let pcm: Vec<i16> = (-300..300).map(|i| i * 109).collect();
        let mut got = Vec::new();
        let mut want = vec![0u8; pcm.len()];

        Codec::MuLaw.encode_into(&pcm, &mut got);
        mulaw::encode(&pcm, &mut want);
        assert_eq!(got, want);
        Codec::ALaw.encode_into(&pcm, &mut got);
        alaw::encode(&pcm, &mut want);
        assert_eq!(got, want);

        Codec::L16Be.encode_into(&pcm, &mut got);
        let mut back = Vec::new();
        assert_eq!(Codec::L16Be.decode_into(&got, &mut back), pcm.len());
        assert_eq!(back, pcm);
        got.push(0xAB);
        assert_eq!(Codec::L16Le.decode_into(&got, &mut back), pcm.len());
    }
}
