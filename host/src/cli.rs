//! Command-line interface.

use std::{net::SocketAddr, path::PathBuf};

use clap::{Parser, Subcommand};

use crate::config::LogFormat;

/// voicegate: a voice gateway for AI agents. Carriers and browsers in,
/// transcripts and answers out; every provider is a plugin.
#[derive(Debug, Parser)]
#[command(name = "voicegate", version, about, long_about = None)]
pub struct Cli {
    /// The configuration file.
    #[arg(
        short,
        long,
        global = true,
        env = "VOICEGATE_CONFIG",
        default_value = "config.toml"
    )]
    pub config: PathBuf,
    /// Log format (overrides `log.format`).
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormat>,
    /// Log filter such as `info` or `voicegate=debug,info` (overrides `log.level`; RUST_LOG also works).
    #[arg(long, global = true)]
    pub log_level: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load every plugin and serve.
    Serve {
        /// Listen address (overrides `server.listen`).
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Validate the config, load every plugin, print what would be served.
    Check,
    /// List loaded plugins, their kinds, versions and routes.
    Plugins,
    /// Model tools.
    #[command(subcommand)]
    Model(ModelCommand),
    /// Query the audit trail (`audit.path`): calls with their verdicts,
    /// transcripts and answers, denied calls, admin actions.
    Audit(AuditArgs),
}

/// `voicegate audit …`.
#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// Only this carrier call id.
    #[arg(long)]
    pub call_id: Option<String>,
    /// Only this caller (E.164, e.g. +14155550100), or a prefix ending in `*`.
    #[arg(long, allow_hyphen_values = true)]
    pub from: Option<String>,
    /// Only what happened at or after this RFC 3339 time (2025-01-31T09:00:00Z).
    #[arg(long)]
    pub since: Option<String>,
    /// Most rows per list (1 to 1000).
    #[arg(long, default_value_t = crate::audit::DEFAULT_LIMIT)]
    pub limit: usize,
    /// Print JSON (the same as `GET /api/audit`) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `voicegate model …`.
#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Convert a CTranslate2 Whisper model directory (faster-whisper format)
    /// into a ggml file whisper.cpp reads.
    ImportCt2 {
        /// Directory with model.bin and vocabulary.txt (or vocabulary.json).
        dir: PathBuf,
        /// Output ggml file.
        out: PathBuf,
    },
}
