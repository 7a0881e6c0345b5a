//! The instance's config table (`[transports.<name>]` with `plugin = "twilio"`).

use std::fmt;

use serde::Deserialize;
use voicegate_plugin_api::{ConfigIssue, Context, PluginError};

/// How calls are connected to the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// `<Connect><Stream>`: bidirectional; the host may play audio, send
    /// marks and clear, and closing the socket ends the call.
    #[default]
    Connect,
    /// `<Start><Stream>` + `<Say>` + `<Pause>`: the host only listens.
    Listen,
}

/// What a call turned away by policy hears.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DenyAction {
    /// `<Say>deny_message</Say><Hangup/>`: the call is answered (and billed).
    #[default]
    SayHangup,
    /// `<Reject/>`: the call is never answered; the caller hears a
    /// "not in service" tone from the carrier.
    Reject,
}

/// The `track` values `<Start><Stream>` accepts.
pub const TRACKS: [&str; 3] = ["inbound_track", "outbound_track", "both_tracks"];

/// The instance's configuration, validated.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The account's Auth Token, the HMAC key of `X-Twilio-Signature`.
    pub auth_token: Option<String>,
    /// Check `X-Twilio-Signature` on every webhook and WebSocket upgrade.
    pub validate_signatures: bool,
    /// `connect` (bidirectional) or `listen` (listen-only fork).
    pub mode: Mode,
    /// What the caller hears in listen mode while the stream runs; empty for
    /// nothing.
    pub greeting: String,
    /// What a call denied by policy gets.
    pub deny_action: DenyAction,
    /// Said before hanging up on a call denied by policy (`say_hangup`).
    pub deny_message: String,
    /// Said before hanging up when the host failed to take the call.
    pub error_message: String,
    /// `<Say voice="…">`, e.g. `Polly.Joanna`; Twilio's default when unset.
    pub voice: Option<String>,
    /// `<Start><Stream track="…">` in listen mode.
    pub track: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            auth_token: None,
            validate_signatures: true,
            mode: Mode::Connect,
            greeting: "Hello. This call is being transcribed.".to_owned(),
            deny_action: DenyAction::SayHangup,
            deny_message: "Sorry, this call cannot be accepted.".to_owned(),
            error_message: "Sorry, we cannot take your call right now. Please try again later."
                .to_owned(),
            voice: None,
            track: "inbound_track".to_owned(),
        }
    }
}

// The auth token is a secret: never print it.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field(
                "auth_token",
                &self.auth_token.as_ref().map(|_| "<redacted>"),
            )
            .field("validate_signatures", &self.validate_signatures)
            .field("mode", &self.mode)
            .field("greeting", &self.greeting)
            .field("deny_action", &self.deny_action)
            .field("deny_message", &self.deny_message)
            .field("error_message", &self.error_message)
            .field("voice", &self.voice)
            .field("track", &self.track)
            .finish()
    }
}

impl Config {
    /// Reads and validates the instance table, reporting every problem with
    /// its key.
    pub fn from_context(ctx: &Context) -> Result<Self, PluginError> {
        let config: Self = ctx.config()?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what serde cannot: keys that depend on each other, values in a
    /// fixed set.
    pub fn validate(&self) -> Result<(), PluginError> {
        let mut issues = Vec::new();
        let mut issue = |key: &str, message: &str| {
            issues.push(ConfigIssue {
                key: key.into(),
                message: message.into(),
            });
        };
        match self.auth_token.as_deref() {
            Some(token) if token.trim().is_empty() => issue(
                "auth_token",
                "is empty; set it to the account's Auth Token (e.g. \"${TWILIO_AUTH_TOKEN}\")",
            ),
            None if self.validate_signatures => issue(
                "auth_token",
                "is required while `validate_signatures` is true; \
                 set it to the account's Auth Token (e.g. \"${TWILIO_AUTH_TOKEN}\")",
            ),
            _ => {}
        }
        if !TRACKS.contains(&self.track.as_str()) {
            issue(
                "track",
                &format!(
                    "`{}` is not a Twilio stream track; expected one of {}",
                    self.track,
                    TRACKS.join(", ")
                ),
            );
        }
        if let Some(voice) = &self.voice {
            if voice.trim().is_empty() {
                issue("voice", "is empty; remove it to use Twilio's default voice");
            }
        }
        if self.deny_message.trim().is_empty() && self.deny_action == DenyAction::SayHangup {
            issue(
                "deny_message",
                "is empty; set a sentence or use deny_action = \"reject\"",
            );
        }
        if self.error_message.trim().is_empty() {
            issue("error_message", "is empty; set a sentence for the caller");
        }
        if issues.is_empty() {
            Ok(())
        } else {
            Err(PluginError::config(issues))
        }
    }

    /// The HMAC key, when signatures are checked.
    pub fn signing_key(&self) -> Option<&str> {
        if self.validate_signatures {
            self.auth_token.as_deref()
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use voicegate_plugin_api::{testkit, ErrorKind};

    use super::*;

    fn load(json: &str) -> Result<Config, PluginError> {
        Config::from_context(&testkit::context(
            "twilio",
            "https://voice.example.com",
            json,
        ))
    }

    fn keys(err: &PluginError) -> Vec<&str> {
        err.issues.iter().map(|i| i.key.as_str()).collect()
    }

    #[test]
    fn defaults_with_a_token() {
        let config = load(r#"{"auth_token":"secret"}"#).unwrap();
        assert!(config.validate_signatures);
        assert_eq!(config.mode, Mode::Connect);
        assert_eq!(config.deny_action, DenyAction::SayHangup);
        assert_eq!(config.deny_message, "Sorry, this call cannot be accepted.");
        assert_eq!(config.track, "inbound_track");
        assert_eq!(config.voice, None);
        assert_eq!(config.signing_key(), Some("secret"));
    }

    #[test]
    fn every_key_parses() {
        let config = load(
            r#"{"auth_token":"t","validate_signatures":true,"mode":"listen",
                "greeting":"Hi","deny_action":"reject","deny_message":"No",
                "error_message":"Oops","voice":"Polly.Joanna","track":"both_tracks"}"#,
        )
        .unwrap();
        assert_eq!(config.mode, Mode::Listen);
        assert_eq!(config.deny_action, DenyAction::Reject);
        assert_eq!(config.voice.as_deref(), Some("Polly.Joanna"));
        assert_eq!(config.track, "both_tracks");
        assert_eq!(config.greeting, "Hi");
    }

    #[test]
    fn token_is_required_while_validating() {
        let err = load("{}").unwrap_err();
        assert_eq!(err.kind, ErrorKind::CONFIG);
        assert_eq!(keys(&err), ["auth_token"]);
        assert!(err.to_string().contains("auth_token"), "{err}");
    }

    #[test]
    fn empty_token_names_the_key() {
        let err = load(r#"{"auth_token":"  "}"#).unwrap_err();
        assert_eq!(keys(&err), ["auth_token"]);
        // Even with validation off an empty token is a mistake.
        let err = load(r#"{"auth_token":"","validate_signatures":false}"#).unwrap_err();
        assert_eq!(keys(&err), ["auth_token"]);
    }

    #[test]
    fn token_is_optional_without_validation() {
        let config = load(r#"{"validate_signatures":false}"#).unwrap();
        assert_eq!(config.signing_key(), None);
        let config = load(r#"{"validate_signatures":false,"auth_token":"t"}"#).unwrap();
        assert_eq!(config.signing_key(), None);
    }

    #[test]
    fn unknown_keys_and_bad_values_name_their_key() {
        let err = load(r#"{"auth_token":"t","auth_tokn":"x"}"#).unwrap_err();
        assert!(err.to_string().contains("auth_tokn"), "{err}");
        let err = load(r#"{"auth_token":"t","mode":"stream"}"#).unwrap_err();
        assert_eq!(keys(&err), ["mode"]);
        let err = load(r#"{"auth_token":"t","deny_action":"drop"}"#).unwrap_err();
        assert_eq!(keys(&err), ["deny_action"]);
        let err = load(r#"{"auth_token":"t","validate_signatures":"yes"}"#).unwrap_err();
        assert_eq!(keys(&err), ["validate_signatures"]);
    }

    #[test]
    fn collects_every_issue() {
        let err = load(r#"{"track":"left","voice":"","error_message":""}"#).unwrap_err();
        assert_eq!(
            keys(&err),
            ["auth_token", "track", "voice", "error_message"]
        );
        assert!(
            err.to_string().contains("4 configuration problems"),
            "{err}"
        );
    }

    #[test]
    fn debug_hides_the_token() {
        let config = load(r#"{"auth_token":"hunter2"}"#).unwrap();
        let printed = format!("{config:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("<redacted>"));
    }
}
