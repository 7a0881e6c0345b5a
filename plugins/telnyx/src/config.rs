//! The instance's config table (`[transports.<name>]` with `plugin = "telnyx"`).

use std::fmt;

use serde::Deserialize;
use voicegate_plugin_api::{codec::Codec, ConfigIssue, Context, PluginError};

use crate::signature::Verifier;

/// The codec Telnyx streams in, both ways (TeXML `codec` and
/// `bidirectionalCodec`). Telnyx transcodes between these two only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
pub enum StreamCodec {
    /// G.711 µ-law, 8 kHz.
    #[default]
    #[serde(rename = "PCMU")]
    Pcmu,
    /// G.711 A-law, 8 kHz.
    #[serde(rename = "PCMA")]
    Pcma,
}

impl StreamCodec {
    /// The name TeXML and the stream's `media_format.encoding` use.
    pub fn name(self) -> &'static str {
        match self {
            Self::Pcmu => "PCMU",
            Self::Pcma => "PCMA",
        }
    }

    /// The sample codec.
    pub fn codec(self) -> Codec {
        match self {
            Self::Pcmu => Codec::MuLaw,
            Self::Pcma => Codec::ALaw,
        }
    }
}

/// What a call turned away by policy gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DenyAction {
    /// `<Say>deny_message</Say><Hangup/>`: the call is answered (and billed).
    #[default]
    SayHangup,
    /// `<Reject/>`: the call is never answered.
    Reject,
}

/// The instance's configuration, validated.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The account's Ed25519 public key, base64 (Mission Control Portal →
    /// Keys & Credentials → Public Key).
    pub public_key: Option<String>,
    /// Check `telnyx-signature-ed25519` on every webhook.
    pub validate_signatures: bool,
    /// How far `telnyx-timestamp` may be from the host's clock, in seconds.
    pub signature_tolerance_secs: u64,
    /// Accept webhooks sent with GET (query parameters). Telnyx signs the
    /// timestamp and the *body*, so the query of a GET is not covered by the
    /// signature; POST is the safe setting.
    pub allow_get: bool,
    /// Codec of the stream, both directions.
    pub codec: StreamCodec,
    /// What a call denied by policy gets.
    pub deny_action: DenyAction,
    /// Said before hanging up on a call denied by policy (`say_hangup`).
    pub deny_message: String,
    /// Said before hanging up when the host failed to take the call.
    pub error_message: String,
    /// `<Say voice="…">`; Telnyx's default when unset.
    pub voice: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            public_key: None,
            validate_signatures: true,
            signature_tolerance_secs: 300,
            allow_get: false,
            codec: StreamCodec::Pcmu,
            deny_action: DenyAction::SayHangup,
            deny_message: "Sorry, this call cannot be accepted.".to_owned(),
            error_message: "Sorry, we cannot take your call right now. Please try again later."
                .to_owned(),
            voice: None,
        }
    }
}

// The public key is not a secret, but keep the output short and uniform
// with the other transports.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("public_key", &self.public_key.as_ref().map(|_| "<set>"))
            .field("validate_signatures", &self.validate_signatures)
            .field("signature_tolerance_secs", &self.signature_tolerance_secs)
            .field("allow_get", &self.allow_get)
            .field("codec", &self.codec)
            .field("deny_action", &self.deny_action)
            .field("deny_message", &self.deny_message)
            .field("error_message", &self.error_message)
            .field("voice", &self.voice)
            .finish()
    }
}

/// Longest accepted `signature_tolerance_secs`: a day. Replays inside the
/// window pass the signature check, so it should stay small.
pub const MAX_TOLERANCE_SECS: u64 = 86_400;

impl Config {
    /// Reads and validates the instance table; returns the config and, when
    /// signatures are checked, the verifier built from `public_key`.
    pub fn from_context(ctx: &Context) -> Result<(Self, Option<Verifier>), PluginError> {
        let config: Self = ctx.config()?;
        let verifier = config.validate()?;
        Ok((config, verifier))
    }

    /// Checks what serde cannot and decodes the public key, reporting every
    /// problem with its key.
    pub fn validate(&self) -> Result<Option<Verifier>, PluginError> {
        let mut issues = Vec::new();
        let mut issue = |key: &str, message: String| {
            issues.push(ConfigIssue {
                key: key.into(),
                message: message.into(),
            });
        };
        let mut verifier = None;
        match self.public_key.as_deref() {
            Some(key) if key.trim().is_empty() => issue(
                "public_key",
                "is empty; set it to the account's base64 Ed25519 public key \
                 (e.g. \"${TELNYX_PUBLIC_KEY}\")"
                    .to_owned(),
            ),
            Some(key) => match Verifier::from_base64(key, self.signature_tolerance_secs) {
                Ok(v) => verifier = Some(v),
                Err(e) => issue("public_key", e),
            },
            None if self.validate_signatures => issue(
                "public_key",
                "is required while `validate_signatures` is true; set it to the account's \
                 base64 Ed25519 public key (Mission Control Portal → Keys & Credentials → \
                 Public Key), e.g. \"${TELNYX_PUBLIC_KEY}\""
                    .to_owned(),
            ),
            None => {}
        }
        if self.signature_tolerance_secs == 0 || self.signature_tolerance_secs > MAX_TOLERANCE_SECS
        {
            issue(
                "signature_tolerance_secs",
                format!(
                    "{} is out of range; expected 1 to {MAX_TOLERANCE_SECS} seconds (Telnyx's SDKs use 300)",
                    self.signature_tolerance_secs
                ),
            );
        }
        if let Some(voice) = &self.voice {
            if voice.trim().is_empty() {
                issue(
                    "voice",
                    "is empty; remove it to use Telnyx's default voice".to_owned(),
                );
            }
        }
        if self.deny_message.trim().is_empty() && self.deny_action == DenyAction::SayHangup {
            issue(
                "deny_message",
                "is empty; set a sentence or use deny_action = \"reject\"".to_owned(),
            );
        }
        if self.error_message.trim().is_empty() {
            issue(
                "error_message",
                "is empty; set a sentence for the caller".to_owned(),
            );
        }
        if !issues.is_empty() {
            return Err(PluginError::config(issues));
        }
        Ok(if self.validate_signatures {
            verifier
        } else {
            None
        })
    }
}

#[cfg(test)]
mod tests {
    use voicegate_plugin_api::{testkit, ErrorKind};

    use super::*;

    // The public key of the signing key whose seed is 32 bytes of 7.
    const KEY: &str = "6kpsY+KcUgq+9VB7Ey7F+ZVHdq6+vnuSQh7qaRRG0iw=";

    fn load(json: &str) -> Result<(Config, Option<Verifier>), PluginError> {
        Config::from_context(&testkit::context(
            "telnyx",
            "https://voice.example.com",
            json,
        ))
    }

    fn keys(err: &PluginError) -> Vec<&str> {
        err.issues.iter().map(|i| i.key.as_str()).collect()
    }

    #[test]
    fn defaults_with_a_key() {
        let (config, verifier) = load(&format!(r#"{{"public_key":"{KEY}"}}"#)).unwrap();
        assert!(config.validate_signatures);
        assert!(verifier.is_some());
        assert_eq!(config.signature_tolerance_secs, 300);
        assert!(!config.allow_get);
        assert_eq!(config.codec, StreamCodec::Pcmu);
        assert_eq!(config.deny_action, DenyAction::SayHangup);
        assert_eq!(config.voice, None);
    }

    #[test]
    fn every_key_parses() {
        let (config, _) = load(&format!(
            r#"{{"public_key":"{KEY}","validate_signatures":true,"signature_tolerance_secs":60,
                "allow_get":true,"codec":"PCMA","deny_action":"reject","deny_message":"No",
                "error_message":"Oops","voice":"female"}}"#
        ))
        .unwrap();
        assert_eq!(config.codec, StreamCodec::Pcma);
        assert_eq!(config.codec.codec(), Codec::ALaw);
        assert_eq!(config.deny_action, DenyAction::Reject);
        assert_eq!(config.signature_tolerance_secs, 60);
        assert!(config.allow_get);
        assert_eq!(config.voice.as_deref(), Some("female"));
    }

    #[test]
    fn key_is_required_while_validating() {
        let err = load("{}").unwrap_err();
        assert_eq!(err.kind, ErrorKind::CONFIG);
        assert_eq!(keys(&err), ["public_key"]);
        let (_, verifier) = load(r#"{"validate_signatures":false}"#).unwrap();
        assert!(verifier.is_none());
        // With validation off a key may stay, unused.
        let (_, verifier) = load(&format!(
            r#"{{"validate_signatures":false,"public_key":"{KEY}"}}"#
        ))
        .unwrap();
        assert!(verifier.is_none());
    }

    #[test]
    fn bad_keys_name_the_key() {
        for bad in [
            "  ",
            "not base64!",
            "AAAA",
            "6kpsY+KcUgq+9VB7Ey7F+ZVHdq6+vnuSQh7qaRRG0iwAAAA=",
        ] {
            let err = load(&format!(r#"{{"public_key":"{bad}"}}"#)).unwrap_err();
            assert_eq!(keys(&err), ["public_key"], "{bad}: {err}");
        }
    }

    #[test]
    fn unknown_keys_and_bad_values_name_their_key() {
        let err = load(&format!(r#"{{"public_key":"{KEY}","public_kee":"x"}}"#)).unwrap_err();
        assert!(err.to_string().contains("public_kee"), "{err}");
        let err = load(&format!(r#"{{"public_key":"{KEY}","codec":"OPUS"}}"#)).unwrap_err();
        assert_eq!(keys(&err), ["codec"]);
        let err = load(&format!(r#"{{"public_key":"{KEY}","codec":"pcmu"}}"#)).unwrap_err();
        assert_eq!(keys(&err), ["codec"]);
        let err = load(&format!(r#"{{"public_key":"{KEY}","deny_action":"drop"}}"#)).unwrap_err();
        assert_eq!(keys(&err), ["deny_action"]);
        let err = load(&format!(
            r#"{{"public_key":"{KEY}","signature_tolerance_secs":-1}}"#
        ))
        .unwrap_err();
        assert_eq!(keys(&err), ["signature_tolerance_secs"]);
    }

    #[test]
    fn collects_every_issue() {
        let err = load(
            r#"{"signature_tolerance_secs":0,"voice":"","error_message":"","deny_message":" "}"#,
        )
        .unwrap_err();
        assert_eq!(
            keys(&err),
            [
                "public_key",
                "signature_tolerance_secs",
                "voice",
                "deny_message",
                "error_message"
            ]
        );
        assert!(
            err.to_string().contains("5 configuration problems"),
            "{err}"
        );
    }

    #[test]
    fn debug_is_short() {
        let (config, _) = load(&format!(r#"{{"public_key":"{KEY}"}}"#)).unwrap();
        let printed = format!("{config:?}");
        assert!(!printed.contains(KEY), "{printed}");
    }
}
