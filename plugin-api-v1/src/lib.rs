//! The contract between the voicegate host and its plugins.
//!
//! A voicegate plugin is a `cdylib` that depends on this crate alone. It
//! implements one or more of the plain traits below and exports them with
//! [`export_plugin!`]:
//!
//! | kind | trait | what it does |
//! |---|---|---|
//! | `transport` | [`Transport`] + [`MediaStream`] | carrier webhooks and media frames ↔ normalized calls, events and audio |
//! | `stt` | [`Stt`] | PCM in, transcript out |
//! | `policy` | [`Policy`] | a call request in, a verdict out |
//! | `tts` | [`Tts`] | text in, PCM chunks out |
//! | `responder` | [`Responder`] | a caller's turn in, an answer out |
//!
//! The crate has two layers. [`abi`] is the `StableAbi` contract the host
//! checks when it loads a library (interface generation
//! [`INTERFACE_VERSION`]); the traits, [`Context`], [`Host`] and the sinks
//! are the author layer, which never asks a plugin author to write
//! `#[sabi_trait]` or `extern "C"`. Every author method runs inside a panic
//! guard, so one bad call ends one call, never the host.
//!
//! The types in [`types`] are shared by both layers; they use abi_stable's
//! FFI-safe `RString`/`RVec`, which convert from and to `String`/`Vec` with
//! `.into()`.
//!
//! See `docs/plugin-authors.md` for a walk-through and
//! `docs/plugin-api-versioning.md` for the compatibility rules.

#![warn(missing_docs)]

pub mod abi;
#[doc(hidden)]
pub mod adapters;
mod author;
mod bridge;
mod export;
pub mod guard;
pub mod markup;
pub mod testkit;
pub mod types;

pub use abi_stable;
pub use abi_stable::std_types::{ROption, RSlice, RStr, RString, RVec};
pub use author::{
    AudioOut, Context, Events, Frames, Host, MediaStream, Policy, Responder, Stt, Transport, Tts,
};
pub use types::*;
/// The shared G.711 / L16 codec, linked statically into each plugin.
pub use voicegate_codec as codec;

/// The interface generation this crate speaks. Layout-changing versions of
/// the contract get a new generation (see docs/plugin-api-versioning.md).
pub const INTERFACE_VERSION: u32 = 1;

/// The version of this crate, recorded in every plugin's [`PluginInfo`].
pub const API_VERSION: &str = env!("CARGO_PKG_VERSION");
