//! The `echo` responder: answers each turn with "You said: <text>".
//!
//! The default agent, so that a fresh install has a complete conversation
//! loop without any outside service. The prefix is configurable. The answer
//! is streamed a word at a time, the way an LLM's would be, and stops when
//! the host no longer wants it.

use serde::Deserialize;
use voicegate_plugin_api::{AnswerOut, Context, PluginError, Responder, Turn};

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

    fn respond(&self, turn: &Turn, answer: &mut AnswerOut<'_>) -> Result<(), PluginError> {
        if !answer.say(&self.prefix) {
            return Ok(());
        }
        let mut words = turn.text.split_whitespace().peekable();
        while let Some(word) = words.next() {
            let delta = if words.peek().is_some() {
                format!("{word} ")
            } else {
                word.to_owned()
            };
            if !answer.say(&delta) {
                break;
            }
        }
        Ok(())
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
            turn: 1,
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

    fn answer(echo: &Echo, text: &str, stop_after: Option<usize>) -> testkit::RecordedAnswer {
        let mut recorded = testkit::RecordedAnswer {
            stop_after,
            ..Default::default()
        };
        recorded
            .answer(|out| echo.respond(&turn(text), out))
            .unwrap();
        recorded
    }

    #[test]
    fn echoes_with_the_default_prefix_a_word_at_a_time() {
        let echo = Echo::new(testkit::context("echo", "http://x", "{}")).unwrap();
        let answer = answer(&echo, " hello there ", None);
        assert_eq!(answer.text(), "You said: hello there");
        assert_eq!(answer.deltas, ["You said: ", "hello ", "there"]);
    }

    #[test]
    fn stops_when_the_host_no_longer_wants_the_answer() {
        let echo = Echo::new(testkit::context("echo", "http://x", "{}")).unwrap();
        let answer = answer(&echo, "one two three four", Some(2));
        assert_eq!(answer.deltas, ["You said: ", "one "]);
    }

    #[test]
    fn rejects_unknown_keys_with_their_name() {
        let err = Echo::new(testkit::context("echo", "http://x", r#"{"prefx":"a"}"#))
            .err()
            .unwrap();
        assert!(err.to_string().contains("prefx"), "{err}");
    }
}
