//! The `StableAbi` contract between host and plugins (interface v2).
//!
//! Plugin authors do not use this module directly: they implement the plain
//! traits of the crate root and call [`crate::export_plugin!`]. The host uses
//! it to load libraries ([`compat::check`]) and call instances.

#![allow(unsafe_code)]

pub mod compat;
mod root;
mod traits;

pub use root::{Factory, PluginRoot, PluginRoot_Ref, ROOT_MODULE_NAME};
pub use traits::*;
