//! The instance's config table (`[transports.<name>]` with `plugin = "vonage"`).

use std::fmt;

use serde::Deserialize;
use voicegate_plugin_api::{ConfigIssue, Context, PluginError};

use crate::jwt::Verifier;

/// The L16 rates Vonage's WebSocket offers.
pub const SAMPLE_RATES: [u32; 2] = [8000, 16000];

/// Longest accepted `signature_max_age_secs`: an hour.
pub const MAX_AGE_LIMIT_SECS: u64 = 3600;

/// The instance's configuration, validated.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The account's signature secret (Dashboard → Settings → API
    /// settings), the HS256 key of signed webhooks.
    pub signature_secret: Option<String>,
    /// Check the `Authorization: Bearer <JWT>` of every webhook.
    pub validate_signatures: bool,
    /// How old a webhook's JWT (`iat`) may be, in seconds.
    pub signature_max_age_secs: u64,
    /// Check the JWT's `payload_hash` against the request's payload.
    pub verify_payload_hash: bool,
    /// When set, the JWT's `api_key` claim must be this account key.
    pub api_key: Option<String>,
    /// L16 sample rate of the WebSocket, both ways: 8000 or 16000.
    pub sample_rate: u32,
    /// Put a per-session token (an HMAC of the session id keyed with the
    /// signature secret) in the NCCO's WebSocket headers and require Vonage
    /// to echo it in `websocket:connected`. Default: on when
    /// `signature_secret` is set.
    pub stream_token: Option<bool>,
    /// Said (NCCO `talk`) before the call is connected; empty: nothing.
    pub greeting: String,
    /// Said to a call denied by policy, which then ends.
    pub deny_message: String,
    /// Said when the gateway is at its concurrent-call limit.
    pub busy_message: String,
    /// Said when the gateway failed to take the call.
    pub error_message: String,
    /// `talk` language (BCP-47, e.g. `en-US`); Vonage's default when unset.
    pub language: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            signature_secret: None,
            validate_signatures: true,
            signature_max_age_secs: 300,
            verify_payload_hash: true,
            api_key: None,
            sample_rate: 16000,
            stream_token: None,
            greeting: String::new(),
            deny_message: "Sorry, this call cannot be accepted.".to_owned(),
            busy_message: "Sorry, all our lines are busy. Please try again later.".to_owned(),
            error_message: "Sorry, we cannot take your call right now. Please try again later."
                .to_owned(),
            language: None,
        }
    }
}

// The signature secret is a secret: never print it.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field(
                "signature_secret",
                &self.signature_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("validate_signatures", &self.validate_signatures)
            .field("signature_max_age_secs", &self.signature_max_age_secs)
            .field("verify_payload_hash", &self.verify_payload_hash)
            .field("api_key", &self.api_key)
            .field("sample_rate", &self.sample_rate)
            .field("stream_token", &self.stream_token)
            .field("greeting", &self.greeting)
            .field("deny_message", &self.deny_message)
            .field("busy_message", &self.busy_message)
            .field("error_message", &self.error_message)
            .field("language", &self.language)
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

    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<(), PluginError> {
        let mut issues = Vec::new();
        let mut issue = |key: &str, message: String| {
            issues.push(ConfigIssue {
                key: key.into(),
                message: message.into(),
            });
        };
        match self.signature_secret.as_deref() {
            Some(secret) if secret.trim().is_empty() => issue(
                "signature_secret",
                "is empty; set it to the account's signature secret \
                 (e.g. \"${VONAGE_SIGNATURE_SECRET}\")"
                    .to_owned(),
            ),
            None if self.validate_signatures => issue(
                "signature_secret",
                "is required while `validate_signatures` is true; set it to the account's \
                 signature secret (Dashboard → Settings → API settings), \
                 e.g. \"${VONAGE_SIGNATURE_SECRET}\""
                    .to_owned(),
            ),
            _ => {}
        }
        if self.stream_token == Some(true) && self.signature_secret.is_none() {
            issue(
                "stream_token",
                "needs `signature_secret` (the key of the per-session token); \
                 set it, or stream_token = false"
                    .to_owned(),
            );
        }
        if self.signature_max_age_secs == 0 || self.signature_max_age_secs > MAX_AGE_LIMIT_SECS {
            issue(
                "signature_max_age_secs",
                format!(
                    "{} is out of range; expected 1 to {MAX_AGE_LIMIT_SECS} seconds",
                    self.signature_max_age_secs
                ),
            );
        }
        if let Some(key) = &self.api_key {
            if key.trim().is_empty() {
                issue(
                    "api_key",
                    "is empty; remove it to accept any account key".to_owned(),
                );
            }
        }
        if !SAMPLE_RATES.contains(&self.sample_rate) {
            issue(
                "sample_rate",
                format!(
                    "{} Hz is not offered by Vonage's WebSocket; expected 8000 or 16000",
                    self.sample_rate
                ),
            );
        }
        for (key, value) in [
            ("deny_message", &self.deny_message),
            ("busy_message", &self.busy_message),
            ("error_message", &self.error_message),
        ] {
            if value.trim().is_empty() {
                issue(key, "is empty; set a sentence for the caller".to_owned());
            }
        }
        if let Some(language) = &self.language {
            if language.trim().is_empty() {
                issue(
                    "language",
                    "is empty; remove it to use Vonage's default".to_owned(),
                );
            }
        }
        if issues.is_empty() {
            Ok(())
        } else {
            Err(PluginError::config(issues))
        }
    }

    /// The JWT verifier, when signatures are checked.
    pub fn verifier(&self) -> Option<Verifier> {
        let secret = self.signature_secret.as_deref()?;
        self.validate_signatures.then(|| {
            Verifier::new(
                secret,
                self.signature_max_age_secs,
                self.api_key.as_deref(),
                self.verify_payload_hash,
            )
        })
    }

    /// The key of per-session stream tokens, when they are used.
    pub fn stream_token_key(&self) -> Option<&str> {
        let secret = self.signature_secret.as_deref()?;
        self.stream_token.unwrap_or(true).then_some(secret)
    }

    /// `audio/l16;rate=…` for the configured rate.
    pub fn content_type(&self) -> String {
        format!("audio/l16;rate={}", self.sample_rate)
    }
}

#[cfg(test)]
mod tests {
    use voicegate_plugin_api::{testkit, ErrorKind};

    use super::*;

    fn load(json: &str) -> Result<Config, PluginError> {
        Config::from_context(&testkit::context(
            "vonage",
            "https://voice.example.com",
            json,
        ))
    }

    fn keys(err: &PluginError) -> Vec<&str> {
        err.issues.iter().map(|i| i.key.as_str()).collect()
    }

    #[test]
    fn defaults_with_a_secret() {
        let config = load(r#"{"signature_secret":"s3cret"}"#).unwrap();
        assert!(config.validate_signatures);
        assert!(config.verify_payload_hash);
        assert_eq!(config.signature_max_age_secs, 300);
        assert_eq!(config.sample_rate, 16000);
        assert_eq!(config.content_type(), "audio/l16;rate=16000");
        assert!(config.verifier().is_some());
        assert_eq!(config.stream_token_key(), Some("s3cret"));
        assert!(config.greeting.is_empty());
    }

    #[test]
    fn every_key_parses() {
        let config = load(
            r#"{"signature_secret":"s","validate_signatures":true,"signature_max_age_secs":60,
                "verify_payload_hash":false,"api_key":"abc123","sample_rate":8000,
                "stream_token":false,"greeting":"Hi","deny_message":"No","busy_message":"Busy",
                "error_message":"Oops","language":"en-GB"}"#,
        )
        .unwrap();
        assert_eq!(config.sample_rate, 8000);
        assert_eq!(config.content_type(), "audio/l16;rate=8000");
        assert_eq!(config.stream_token_key(), None);
        assert_eq!(config.api_key.as_deref(), Some("abc123"));
        assert_eq!(config.language.as_deref(), Some("en-GB"));
    }

    #[test]
    fn secret_is_required_while_validating() {
        let err = load("{}").unwrap_err();
        assert_eq!(err.kind, ErrorKind::CONFIG);
        assert_eq!(keys(&err), ["signature_secret"]);
        let config = load(r#"{"validate_signatures":false}"#).unwrap();
        assert!(config.verifier().is_none());
        assert_eq!(config.stream_token_key(), None);
        // Validation off but a secret: stream tokens still work.
        let config = load(r#"{"validate_signatures":false,"signature_secret":"s"}"#).unwrap();
        assert!(config.verifier().is_none());
        assert_eq!(config.stream_token_key(), Some("s"));
    }

    #[test]
    fn bad_values_name_their_key() {
        let err = load(r#"{"signature_secret":" "}"#).unwrap_err();
        assert_eq!(keys(&err), ["signature_secret"]);
        let err = load(r#"{"validate_signatures":false,"stream_token":true}"#).unwrap_err();
        assert_eq!(keys(&err), ["stream_token"]);
        let err = load(r#"{"signature_secret":"s","sample_rate":44100}"#).unwrap_err();
        assert_eq!(keys(&err), ["sample_rate"]);
        let err = load(r#"{"signature_secret":"s","sample_rate":"16k"}"#).unwrap_err();
        assert_eq!(keys(&err), ["sample_rate"]);
        let err = load(r#"{"signature_secret":"s","signature_max_age_secs":0}"#).unwrap_err();
        assert_eq!(keys(&err), ["signature_max_age_secs"]);
        let err = load(r#"{"signature_secret":"s","signature_secrt":"s"}"#).unwrap_err();
        assert!(err.to_string().contains("signature_secrt"), "{err}");
    }

    #[test]
    fn collects_every_issue() {
        let err = load(
            r#"{"api_key":"","sample_rate":1,"deny_message":"","busy_message":" ","language":""}"#,
        )
        .unwrap_err();
        assert_eq!(
            keys(&err),
            [
                "signature_secret",
                "api_key",
                "sample_rate",
                "deny_message",
                "busy_message",
                "language"
            ]
        );
    }

    #[test]
    fn debug_hides_the_secret() {
        let config = load(r#"{"signature_secret":"hunter2"}"#).unwrap();
        let printed = format!("{config:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("<redacted>"));
    }
}
