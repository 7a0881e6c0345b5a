//! Plugin libraries, the instances built from them, and the services the
//! host offers them.
//!
//! This module is the only place that knows the plugin interface's FFI
//! types: one adapter module per interface generation (`v1`, `v2`) turns
//! them into the host's model (`crate::model`) and plugin traits (`api`).

pub mod api;
pub mod host_services;
pub mod instances;
pub mod loader;
pub mod registry;
pub mod scope;
mod v1;
mod v2;

pub use instances::{
    CallError, InstanceId, Kind, MediaStream, Policy, Responder, Stt, SttSession, Transport, Tts,
};
pub use registry::{Registry, RegistryError};
