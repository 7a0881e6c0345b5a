//! The shape of `config.toml`.

use std::{net::SocketAddr, path::PathBuf};

use indexmap::IndexMap;
use serde::{de, Deserialize, Deserializer};

use crate::media::{turn::TurnConfig, vad::VadConfig};

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Sockets, public URL, plugin directory.
    #[serde(default)]
    pub server: ServerConfig,
    /// Admin API access.
    #[serde(default)]
    pub admin: AdminConfig,
    /// Logging defaults (the CLI's flags win).
    #[serde(default)]
    pub log: LogConfig,
    /// Limits that protect the host.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// Which providers the media pipeline uses, and its tuning.
    #[serde(default)]
    pub pipeline: PipelineConfig,
    /// Transport instances, keyed by instance name (also their URL prefix).
    #[serde(default)]
    pub transports: IndexMap<String, InstanceTable>,
    /// Speech-to-text instances.
    #[serde(default)]
    pub stt: IndexMap<String, InstanceTable>,
    /// Policy instances, evaluated in file order; the first deny wins.
    #[serde(default)]
    pub policies: IndexMap<String, InstanceTable>,
    /// Text-to-speech instances.
    #[serde(default)]
    pub tts: IndexMap<String, InstanceTable>,
    /// Responder instances.
    #[serde(default)]
    pub responders: IndexMap<String, InstanceTable>,
    /// The audit trail.
    #[serde(default)]
    pub audit: AuditConfig,
}

/// `[server]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// The base URL carriers reach (used in stream URLs and signatures).
    #[serde(deserialize_with = "public_url")]
    pub public_url: String,
    /// Where `lib<plugin>.so` files are found; relative to the config file.
    pub plugin_dir: PathBuf,
    /// Largest WebSocket message accepted; larger ones close the stream
    /// with code 1009.
    pub max_frame_bytes: usize,
    /// Most messages per second one media stream may send before the host
    /// drops the excess (a carrier sends 50).
    pub max_frames_per_second: u32,
    /// Seconds an accepted call may wait for its media stream.
    pub connect_timeout_secs: u64,
    /// Seconds in-flight work gets to finish on shutdown.
    pub shutdown_grace_secs: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: "http://127.0.0.1:8080".to_owned(),
            plugin_dir: PathBuf::from("target/release"),
            max_frame_bytes: 64 * 1024,
            max_frames_per_second: 200,
            connect_timeout_secs: 30,
            shutdown_grace_secs: 10,
        }
    }
}

fn public_url<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let raw = String::deserialize(d)?;
    let url = raw.trim_end_matches('/');
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| de::Error::custom(format!("`{raw}` must start with http:// or https://")))?;
    if rest.is_empty() || rest.contains(['?', '#', ' ']) {
        return Err(de::Error::custom(format!(
            "`{raw}` must be a base URL such as https://voice.example.com (no query, no fragment)"
        )));
    }
    Ok(url.to_owned())
}

/// `[admin]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// One admin token (`admin-` and at least 20 more characters).
    #[serde(deserialize_with = "optional_token")]
    pub token: Option<String>,
    /// Several valid tokens (for rotation).
    #[serde(deserialize_with = "tokens")]
    pub tokens: Vec<String>,
}

impl AdminConfig {
    /// Every configured token.
    pub fn all_tokens(&self) -> Vec<String> {
        self.token.iter().chain(&self.tokens).cloned().collect()
    }
}

/// Checks the admin token rule without echoing the token.
pub fn check_admin_token(token: &str) -> Result<(), String> {
    let Some(rest) = token.strip_prefix("admin-") else {
        return Err("an admin token must start with `admin-`".to_owned());
    };
    if rest.chars().count() < 20 {
        return Err(format!(
            "an admin token needs at least 20 characters after `admin-` (this one has {})",
            rest.chars().count()
        ));
    }
    if !rest
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err("an admin token may only use A-Z, a-z, 0-9, `-` and `_`".to_owned());
    }
    Ok(())
}

fn optional_token<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let raw = String::deserialize(d)?;
    if raw.is_empty() {
        return Ok(None);
    }
    check_admin_token(&raw).map_err(de::Error::custom)?;
    Ok(Some(raw))
}

fn tokens<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let raw = Vec::<String>::deserialize(d)?;
    for (i, token) in raw.iter().enumerate() {
        check_admin_token(token).map_err(|e| de::Error::custom(format!("tokens[{i}]: {e}")))?;
    }
    Ok(raw)
}

/// Log output format.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// `[log]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// Text or JSON.
    pub format: LogFormat,
    /// A `tracing` filter (`info`, `voicegate=debug,info`).
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".to_owned(),
        }
    }
}

/// `[limits]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Concurrent calls beyond which new calls are turned away as busy.
    pub max_calls: usize,
    /// Utterances waiting for STT beyond which new ones are dropped with an
    /// `error` event.
    pub stt_queue: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_calls: 1000,
            stt_queue: 64,
        }
    }
}

/// Said when the responder fails, unless `pipeline.apology` says otherwise.
pub const DEFAULT_APOLOGY: &str = "Sorry, I could not answer that. Please try again.";

/// `[pipeline]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineConfig {
    /// STT instance to use; defaults to the only one configured.
    pub stt: Option<String>,
    /// Responder instance; defaults to the only one configured.
    pub responder: Option<String>,
    /// TTS instance; defaults to the only one configured.
    pub tts: Option<String>,
    /// Voice activity detection.
    pub vad: VadConfig,
    /// End-of-turn detection.
    pub turn: TurnConfig,
    /// Pacing of spoken replies.
    pub playout: crate::speech::PlayoutSettings,
    /// Spoken when the responder fails (empty: say nothing).
    pub apology: String,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            stt: None,
            responder: None,
            tts: None,
            vad: VadConfig::default(),
            turn: TurnConfig::default(),
            playout: crate::speech::PlayoutSettings::default(),
            apology: DEFAULT_APOLOGY.to_owned(),
        }
    }
}

/// `[audit]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// The SQLite database; relative to the config file. Empty turns the
    /// audit trail off.
    pub path: PathBuf,
    /// Records waiting for the writer beyond which new ones are dropped
    /// (and counted).
    pub queue: usize,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::from("voicegate.db"),
            queue: 10_000,
        }
    }
}

impl AuditConfig {
    /// Whether auditing is on (`path` is not empty).
    pub fn enabled(&self) -> bool {
        !self.path.as_os_str().is_empty()
    }
}

/// One provider instance: `plugin = "<name>"` plus the provider's own keys,
/// which the host hands to the plugin untouched.
#[derive(Debug, Clone)]
pub struct InstanceTable {
    /// The plugin library's name (`lib<plugin>.so`).
    pub plugin: String,
    /// The rest of the table.
    pub settings: toml::Table,
}

impl<'de> Deserialize<'de> for InstanceTable {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut settings = toml::Table::deserialize(d)?;
        let plugin =
            match settings.remove("plugin") {
                Some(toml::Value::String(s)) if !s.is_empty() => s,
                Some(_) => return Err(de::Error::custom("`plugin` must be a plugin name string")),
                None => return Err(de::Error::custom(
                    "missing `plugin = \"<name>\"` naming the library that provides this instance",
                )),
            };
        if !plugin
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(de::Error::custom(format!(
                "`plugin = \"{plugin}\"` must be a bare library name (letters, digits, `_`, `-`), not a path"
            )));
        }
        Ok(Self { plugin, settings })
    }
}
