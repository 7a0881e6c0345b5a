//! The voicegate host: loads provider plugins named in `config.toml`, owns
//! every socket, and runs the per-call media pipeline.
//!
//! The binary (`src/main.rs`) is a thin CLI over this library so that
//! integration tests and benchmarks can reach the same code.

pub mod audit;
pub mod cli;
pub mod config;
pub mod events;
pub mod lifecycle;
pub mod media;
pub mod model;
pub mod pipeline;
pub mod plugins;
pub mod server;
pub mod sessions;
pub mod speech;
pub mod telemetry;
