//! The `echo` responder: answers each turn with "You said: <text>".
//!
//! The default agent, so that a fresh install has a complete conversation
//! loop without any outside service. The prefix is configurable.

use serde::Deserialize;
use voicegate_plugin_api::{Answer, Context, PluginError, Responder, Turn};

/// Instance configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Config {
    /// Put before the caller's words.
    prefix: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            prefix: "You said: ".to_owned(),
        }
    }
}

/// Echoes the caller.
pub struct Echo {
    prefix: String,
}

impl Responder for Echo {
    fn new(ctx: Context) -> Result<Self, PluginError> {
        let config: Config = ctx.config()?;
        Ok(Self {
            prefix: config.prefix,
        })
    }

    fn respond(&self, turn: &Turn) -> Result<Answer, PluginError> {
        let text = turn.text.trim();
        Ok(Answer {
            text: format!("{}{}", self.prefix, text).into(),
            ..Answer::default()
        })
    }
}

voicegate_plugin_api::export_plugin!(responder = Echo);

#[cfg(test)]
mod tests {
    use voicegate_plugin_api::testkit;

    use super::*;

    fn turn(text: &str) -> Turn {
        Turn {
            session_id: "s".into(),
            transport: "t".into(),
            call_id: "c".into(),
            from: "+1".into(),
            to: "+2".into(),
            text: text.into(),
            history: Default::default(),
            context: Default::default(),
            extensions_json: Default::default(),
        }
    }

    #[test]
    fn echoes_with_the_default_prefix() {
        let echo = Echo::new(testkit::context("echo", "http://x", "{}")).unwrap();
        let answer = echo.respond(&turn(" hello there ")).unwrap();
        assert_eq!(answer.text.as_str(), "You said: hello there");
    }

    #[test]
    fn rejects_unknown_keys_with_their_name() {
        let err = Echo::new(testkit::context("echo", "http://x", r#"{"prefx":"a"}"#))
            .err()
            .unwrap();
        assert!(err.to_string().contains("prefx"), "{err}");
    }
}
