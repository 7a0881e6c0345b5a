//! The host's own model of calls, media, speech and plugin failures.
//!
//! Everything outside `plugins/` speaks these types. Each interface
//! generation's FFI types are converted to and from them in that
//! generation's adapter (`plugins/v1`, `plugins/v2`), so a later generation
//! changes an adapter, not the host.

pub mod call;
pub mod error;
pub mod http;
pub mod media;
pub mod speech;

pub use call::*;
pub use error::*;
pub use http::*;
pub use media::*;
pub use speech::*;

/// A name/value pair (headers, custom call parameters, carrier attributes).
pub type Pair = (String, String);

/// The first value for `key` (exact case).
pub fn lookup<'a>(pairs: &'a [Pair], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}
