//! A load generator for voicegate: N concurrent phone calls as Twilio
//! places them, against a running host, with what the callers saw (setup,
//! failures, send lateness, frames back) and what the host spent (CPU and
//! memory from /proc, its own lag and counters from `/metrics`).
//!
//! It is cheap enough to share two cores with the host it loads: media
//! messages are built once and shared (see [`bank`]), each caller is one
//! task that allocates nothing per frame, and sockets use small buffers.
//!
//! The binary is `voicegate-loadgen`; `scripts/capacity.sh` drives it level
//! by level. The e2e tests use [`twilio`] for signing and call [`run::run`]
//! for the load smoke test.

pub mod bank;
pub mod caller;
pub mod clip;
pub mod events;
pub mod histogram;
pub mod procfs;
pub mod prom;
pub mod report;
pub mod run;
pub mod twilio;

pub use caller::Target;
pub use report::Report;
pub use run::{run, RunConfig, RunError};
