//! TwiML documents answering the voice webhook.
//!
//! Built with a tiny writer rather than an XML crate: the documents are a
//! handful of fixed elements, and everything variable (URLs, parameters,
//! sentences from the config or a policy) goes through [`escape`], which
//! covers the five XML specials, keeps whitespace in attributes intact
//! (`&#10;` …) and drops the control characters XML 1.0 cannot carry at
//! all, so no input can produce a malformed or injected document.

use voicegate_plugin_api::{Accepted, RejectCause, Rejected};

use crate::config::{Config, DenyAction, Mode};

/// The `<Parameter>` that ties a stream to its session; Twilio echoes it in
/// `start.customParameters`.
pub const SESSION_PARAM: &str = "session_id";

/// How long a listen-mode call stays up after the greeting, in seconds.
pub const LISTEN_PAUSE_SECONDS: &str = "3600";

/// The document for an accepted call: stream its media to `stream_url`.
///
/// Connect mode: `<Connect><Stream>` (bidirectional; the call goes on until
/// the host closes the socket). Listen mode: `<Start><Stream track=…>`, the
/// greeting, then a long `<Pause>` to keep the call up.
pub fn accept(config: &Config, accepted: &Accepted) -> String {
    let url = accepted.stream_url.as_str();
    let params = std::iter::once((SESSION_PARAM, accepted.session_id.as_str())).chain(
        accepted
            .params
            .iter()
            .filter(|kv| kv.key.as_str() != SESSION_PARAM)
            .map(|kv| (kv.key.as_str(), kv.value.as_str())),
    );
    let mut doc = Twiml::new();
    match config.mode {
        Mode::Connect => {
            doc.open("Connect", &[])
                .open("Stream", &[("url", url)])
                .parameters(params)
                .close("Stream")
                .close("Connect");
        }
        Mode::Listen => {
            doc.open("Start", &[])
                .open("Stream", &[("url", url), ("track", &config.track)])
                .parameters(params)
                .close("Stream")
                .close("Start");
            if !config.greeting.trim().is_empty() {
                doc.say(&config.greeting, config.voice.as_deref());
            }
            doc.empty("Pause", &[("length", LISTEN_PAUSE_SECONDS)]);
        }
    }
    doc.finish()
}

/// The document for a call turned away.
///
/// * policy: `<Say>deny_message</Say><Hangup/>`, or `<Reject/>` with
///   `deny_action = "reject"`;
/// * busy (the host is at capacity): `<Reject reason="busy"/>`;
/// * error, or a cause this version does not know: `<Say>error_message</Say><Hangup/>`.
pub fn reject(config: &Config, rejected: &Rejected) -> String {
    let mut doc = Twiml::new();
    match rejected.cause {
        RejectCause::POLICY => match config.deny_action {
            DenyAction::SayHangup => {
                doc.say(&config.deny_message, config.voice.as_deref())
                    .empty("Hangup", &[]);
            }
            DenyAction::Reject => {
                doc.empty("Reject", &[]);
            }
        },
        RejectCause::BUSY => {
            doc.empty("Reject", &[("reason", "busy")]);
        }
        _ => {
            doc.say(&config.error_message, config.voice.as_deref())
                .empty("Hangup", &[]);
        }
    }
    doc.finish()
}

/// The shared TwiML writer: escaping and `<Response>` building live in
/// plugin-api so every XML-speaking carrier uses one audited escaper.
pub use voicegate_plugin_api::markup::{escape_xml as escape, XmlResponse as Twiml};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_values_stay_inside_their_attribute() {
        let mut doc = Twiml::new();
        doc.open("Connect", &[])
            .open("Stream", &[("url", "wss://x/s\"/><Hangup/><x y=\"")])
            .parameters([("a\"b", "<Dial>+1</Dial>")])
            .close("Stream")
            .close("Connect")
            .say("]]><Hangup/>", Some("Polly.\"Joanna\""));
        let xml = doc.finish();
        let parsed = roxmltree::Document::parse(&xml).unwrap();
        let root = parsed.root_element();
        let names: Vec<_> = root.children().map(|n| n.tag_name().name()).collect();
        assert_eq!(names, ["Connect", "Say"]);
        let stream = root.first_child().unwrap().first_child().unwrap();
        assert_eq!(
            stream.attribute("url"),
            Some("wss://x/s\"/><Hangup/><x y=\"")
        );
        let param = stream.first_child().unwrap();
        assert_eq!(param.attribute("name"), Some("a\"b"));
        assert_eq!(param.attribute("value"), Some("<Dial>+1</Dial>"));
        let say = root.last_child().unwrap();
        assert_eq!(say.text(), Some("]]><Hangup/>"));
        assert_eq!(say.attribute("voice"), Some("Polly.\"Joanna\""));
    }
}
