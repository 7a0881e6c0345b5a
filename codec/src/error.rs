//! Errors of this crate.

/// Longest encoding name, in characters, kept in a [`CodecError::UnknownEncoding`].
///
/// Names come from carrier messages; a hostile peer must not be able to make us
/// store or log an arbitrarily long string.
pub const MAX_NAME_CHARS: usize = 64;

/// Error returned when an audio encoding name cannot be mapped to a [`crate::Codec`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The encoding name is not one this crate knows.
    #[error(
        "unknown audio encoding {name:?} (supported: PCMU/mu-law, PCMA/A-law, L16 big- or little-endian)"
    )]
    UnknownEncoding {
        /// The name as received (trimmed, cut to [`MAX_NAME_CHARS`] characters).
        name: String,
    },
}

impl CodecError {
    pub(crate) fn unknown(name: &str) -> Self {
        Self::UnknownEncoding {
            name: name.trim().chars().take(MAX_NAME_CHARS).collect(),
        }
    }
}
