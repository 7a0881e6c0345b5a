//! Plugin libraries, the instances built from them, and the services the
//! host offers them.

pub mod host_services;
pub mod instances;
pub mod loader;
pub mod registry;

pub use instances::{CallError, InstanceId, Policy, Responder, Stt, Transport, Tts};
pub use registry::{Registry, RegistryError};
