//! TeXML documents answering the voice webhook (Telnyx's TwiML-compatible
//! markup, docs/protocols.md d.1).
//!
//! A few fixed elements, so a small writer rather than an XML crate; every
//! variable value goes through [`escape`], which covers the XML specials,
//! keeps whitespace in attributes intact and drops the characters XML 1.0
//! cannot carry, so no input can produce a malformed or injected document.

use voicegate_plugin_api::{Accepted, RejectCause, Rejected};

use crate::config::{Config, DenyAction};

/// The `<Parameter>` that ties a stream to its session; Telnyx echoes it in
/// `start.custom_parameters`.
pub const SESSION_PARAM: &str = "session_id";

/// The document for an accepted call: a bidirectional RTP stream to
/// `stream_url`.
///
/// `<Connect><Stream>` keeps the call on the stream until the socket closes;
/// `codec` asks Telnyx for the inbound audio in the configured G.711 law and
/// `bidirectionalMode="rtp"` + `bidirectionalCodec` make it play what the
/// host sends back (without `rtp`, Telnyx expects MP3 files and ignores raw
/// payloads).
pub fn accept(config: &Config, accepted: &Accepted) -> String {
    let codec = config.codec.name();
    let params = std::iter::once((SESSION_PARAM, accepted.session_id.as_str())).chain(
        accepted
            .params
            .iter()
            .filter(|kv| kv.key.as_str() != SESSION_PARAM)
            .map(|kv| (kv.key.as_str(), kv.value.as_str())),
    );
    let mut doc = Texml::new();
    doc.open("Connect", &[])
        .open(
            "Stream",
            &[
                ("url", accepted.stream_url.as_str()),
                ("track", "inbound_track"),
                ("codec", codec),
                ("bidirectionalMode", "rtp"),
                ("bidirectionalCodec", codec),
            ],
        )
        .parameters(params)
        .close("Stream")
        .close("Connect");
    doc.finish()
}

/// The document for a call turned away.
///
/// * policy: `<Say>deny_message</Say><Hangup/>`, or `<Reject/>` with
///   `deny_action = "reject"`;
/// * busy: `<Reject reason="busy"/>`;
/// * error, or a cause this version does not know:
///   `<Say>error_message</Say><Hangup/>`.
pub fn reject(config: &Config, rejected: &Rejected) -> String {
    let voice = config.voice.as_deref();
    let mut doc = Texml::new();
    match rejected.cause {
        RejectCause::POLICY => match config.deny_action {
            DenyAction::SayHangup => {
                doc.say(&config.deny_message, voice).empty("Hangup", &[]);
            }
            DenyAction::Reject => {
                doc.empty("Reject", &[]);
            }
        },
        RejectCause::BUSY => {
            doc.empty("Reject", &[("reason", "busy")]);
        }
        _ => {
            doc.say(&config.error_message, voice).empty("Hangup", &[]);
        }
    }
    doc.finish()
}

/// The shared TeXML writer: escaping and `<Response>` building live in
/// plugin-api so every XML-speaking carrier uses one audited escaper.
pub use voicegate_plugin_api::markup::{escape_xml as escape, XmlResponse as Texml};

// The escaper and the `<Response>` writer are tested in plugin-api
// (`markup`) and, against a real XML parser with hostile values, in the
// twilio plugin; this plugin's answers are tested in tests/answer.rs.
