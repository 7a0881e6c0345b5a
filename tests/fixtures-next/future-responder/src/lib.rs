//! A responder from "2.1": its library carries the root field and the
//! responder method the rehearsal appends. A 2.0 host must load it and use
//! what it knows.

use voicegate_plugin_api::{AnswerOut, Context, PluginError, Responder, Turn};

pub struct Future;

impl Responder for Future {
    fn new(_: Context) -> Result<Self, PluginError> {
        Ok(Self)
    }

    fn respond(&self, turn: &Turn, answer: &mut AnswerOut<'_>) -> Result<(), PluginError> {
        answer.say("From the next minor: ");
        answer.say(turn.text.as_str());
        Ok(())
    }
}

voicegate_plugin_api::export_plugin!(responder = Future);
