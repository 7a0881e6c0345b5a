//! The data types that cross the plugin boundary.
//!
//! Every type here is `#[repr(C)]` and derives [`abi_stable::StableAbi`], so
//! the host checks its layout when it loads a plugin. Both layers of the
//! crate use them: plugin authors build and read them directly.

pub mod call;
pub mod common;
pub mod http;
pub mod info;
pub mod media;
pub mod speech;

pub use call::*;
pub use common::*;
pub use http::*;
pub use info::*;
pub use media::*;
pub use speech::*;
