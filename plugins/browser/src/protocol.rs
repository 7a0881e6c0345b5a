//! The browser WebSocket protocol, version 1 (docs/transports/browser.md):
//! JSON text messages with a `type`, and binary frames of 16-bit
//! little-endian mono PCM both ways.
//!
//! Unknown fields are ignored both ways, so fields can be added within a
//! version; a change that old peers would misread gets a new version.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{json, Value};
use voicegate_plugin_api::PluginError;

/// Protocol versions this plugin speaks.
pub const VERSIONS: [u32; 1] = [1];

/// Sample rates a client may send (`hello.sample_rate`); the host
/// resamples for speech recognition.
pub const INPUT_RATES: [u32; 4] = [8000, 16000, 24000, 48000];

/// Longest text message read, in bytes.
pub const MAX_TEXT_BYTES: usize = 16 * 1024;

/// Most custom parameters in a `hello`.
pub const MAX_PARAMS: usize = 16;

/// A message from the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientMessage {
    /// The first message: protocol version and audio format.
    Hello(Hello),
    /// A mark the server sent has played.
    Mark(String),
    /// The caller hung up.
    Hangup(String),
}

/// `{"type":"hello","version":1,…}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Hello {
    /// Protocol version the client speaks.
    pub version: u32,
    /// Rate of the binary frames that follow; 16000 when absent.
    #[serde(default = "default_rate")]
    pub sample_rate: u32,
    /// `s16le` (the only one in version 1) when absent.
    #[serde(default = "default_encoding")]
    pub encoding: String,
    /// 1 (the only one in version 1) when absent.
    #[serde(default = "default_channels")]
    pub channels: u32,
    /// Custom parameters for policies and the call's events.
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// The client's name and version, for logs (`voicegate-web/1`).
    #[serde(default)]
    pub client: String,
}

fn default_rate() -> u32 {
    16000
}

fn default_encoding() -> String {
    "s16le".to_owned()
}

fn default_channels() -> u32 {
    1
}

/// Why a message could not be used: a code the page can act on, and a
/// sentence for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError {
    /// `bad_json`, `unknown_type`, `unsupported_version`, …
    pub code: &'static str,
    /// What was wrong.
    pub message: String,
}

impl ProtocolError {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// The `error` message sent to the page.
    pub fn to_json(&self) -> String {
        let mut msg = json!({ "type": "error", "code": self.code, "message": self.message });
        if self.code == "unsupported_version" {
            msg["supported"] = json!(VERSIONS);
        }
        msg.to_string()
    }

    /// The same, as a plugin error of kind INVALID_INPUT (the host counts
    /// it in the call's `decode_errors` and goes on).
    pub fn to_plugin_error(&self) -> PluginError {
        PluginError::invalid_input(format!("{}: {}", self.code, self.message))
    }
}

/// At most `max` characters of client text, for messages.
pub fn shown(text: &str, max: usize) -> String {
    let mut out: String = text
        .chars()
        .take(max)
        .flat_map(char::escape_debug)
        .collect();
    if text.chars().count() > max {
        out.push('…');
    }
    out
}

fn field<'a, T: Deserialize<'a>>(value: &'a Value, what: &str) -> Result<T, ProtocolError> {
    T::deserialize(value).map_err(|e| ProtocolError::new("bad_message", format!("{what}: {e}")))
}

/// Parses one text message.
pub fn parse(text: &str) -> Result<ClientMessage, ProtocolError> {
    if text.len() > MAX_TEXT_BYTES {
        return Err(ProtocolError::new(
            "too_large",
            format!(
                "a text message of {} bytes is over the {MAX_TEXT_BYTES}-byte limit",
                text.len()
            ),
        ));
    }
    let value: Value = serde_json::from_str(text)
        .map_err(|e| ProtocolError::new("bad_json", format!("not JSON: {e}")))?;
    let kind = match value.get("type") {
        Some(Value::String(kind)) => kind.as_str(),
        Some(_) => return Err(ProtocolError::new("bad_message", "`type` must be a string")),
        None if value.is_object() => {
            return Err(ProtocolError::new(
                "bad_message",
                "a message without `type`",
            ))
        }
        None => return Err(ProtocolError::new("bad_message", "not a JSON object")),
    };
    match kind {
        "hello" => {
            let hello: Hello = field(&value, "hello")?;
            Ok(ClientMessage::Hello(hello))
        }
        "mark" => {
            #[derive(Deserialize)]
            struct Mark {
                name: String,
            }
            let mark: Mark = field(&value, "mark")?;
            if mark.name.is_empty() || mark.name.len() > 256 {
                return Err(ProtocolError::new(
                    "bad_message",
                    "mark: `name` must be 1 to 256 bytes",
                ));
            }
            Ok(ClientMessage::Mark(mark.name))
        }
        "hangup" => {
            #[derive(Deserialize)]
            struct Hangup {
                #[serde(default)]
                reason: String,
            }
            let hangup: Hangup = field(&value, "hangup")?;
            Ok(ClientMessage::Hangup(hangup.reason))
        }
        other => Err(ProtocolError::new(
            "unknown_type",
            format!("unknown message type \"{}\"", shown(other, 32)),
        )),
    }
}

impl Hello {
    /// Checks the version and the audio format, and the parameters'
    /// shape (they reach policies, events and the audit trail).
    pub fn validate(&self) -> Result<(), ProtocolError> {
        if !VERSIONS.contains(&self.version) {
            return Err(ProtocolError::new(
                "unsupported_version",
                format!(
                    "protocol version {} is not supported; this server speaks version {}",
                    self.version,
                    VERSIONS
                        .iter()
                        .map(u32::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        if !INPUT_RATES.contains(&self.sample_rate) {
            return Err(ProtocolError::new(
                "unsupported_format",
                format!(
                    "sample_rate {} is not one of {INPUT_RATES:?}",
                    self.sample_rate
                ),
            ));
        }
        if self.encoding != "s16le" {
            return Err(ProtocolError::new(
                "unsupported_format",
                format!(
                    "encoding \"{}\" is not supported; version 1 sends \"s16le\"",
                    shown(&self.encoding, 32)
                ),
            ));
        }
        if self.channels != 1 {
            return Err(ProtocolError::new(
                "unsupported_format",
                format!("{} channels; version 1 sends mono", self.channels),
            ));
        }
        if self.params.len() > MAX_PARAMS {
            return Err(ProtocolError::new(
                "bad_message",
                format!("{} params; at most {MAX_PARAMS}", self.params.len()),
            ));
        }
        for (key, value) in &self.params {
            let key_ok = !key.is_empty()
                && key.len() <= 64
                && key
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
            if !key_ok {
                return Err(ProtocolError::new(
                    "bad_message",
                    format!(
                        "param name \"{}\" must be 1 to 64 of A-Z a-z 0-9 _ - .",
                        shown(key, 64)
                    ),
                ));
            }
            if value.len() > 256 || value.chars().any(char::is_control) {
                return Err(ProtocolError::new(
                    "bad_message",
                    format!("param `{key}` must be at most 256 bytes without control characters"),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_message() {
        let hello = parse(r#"{"type":"hello","version":1}"#).unwrap();
        let ClientMessage::Hello(hello) = hello else {
            panic!("{hello:?}")
        };
        assert_eq!(hello.version, 1);
        assert_eq!(hello.sample_rate, 16000);
        assert_eq!(hello.encoding, "s16le");
        assert_eq!(hello.channels, 1);
        assert!(hello.params.is_empty());
        assert!(hello.validate().is_ok());

        let full = parse(
            r#"{"type":"hello","version":1,"sample_rate":48000,"encoding":"s16le","channels":1,
                "params":{"lang":"en"},"client":"voicegate-web/1","future":true}"#,
        )
        .unwrap();
        let ClientMessage::Hello(full) = full else {
            panic!("{full:?}")
        };
        assert_eq!(full.sample_rate, 48000);
        assert_eq!(full.params["lang"], "en");
        assert_eq!(full.client, "voicegate-web/1");

        assert_eq!(
            parse(r#"{"type":"mark","name":"vg-1-320"}"#).unwrap(),
            ClientMessage::Mark("vg-1-320".into())
        );
        assert_eq!(
            parse(r#"{"type":"hangup","reason":"user"}"#).unwrap(),
            ClientMessage::Hangup("user".into())
        );
        assert_eq!(
            parse(r#"{"type":"hangup"}"#).unwrap(),
            ClientMessage::Hangup(String::new())
        );
    }

    #[test]
    fn bad_messages_have_codes() {
        let code = |text: &str| parse(text).unwrap_err().code;
        assert_eq!(code("{not json"), "bad_json");
        assert_eq!(code(""), "bad_json");
        assert_eq!(code("[1,2]"), "bad_message");
        assert_eq!(code(r#"{"version":1}"#), "bad_message");
        assert_eq!(code(r#"{"type":7}"#), "bad_message");
        assert_eq!(code(r#"{"type":"hello"}"#), "bad_message");
        assert_eq!(code(r#"{"type":"hello","version":"1"}"#), "bad_message");
        assert_eq!(
            code(r#"{"type":"hello","version":1,"params":{"a":1}}"#),
            "bad_message"
        );
        assert_eq!(code(r#"{"type":"mark"}"#), "bad_message");
        assert_eq!(code(r#"{"type":"mark","name":""}"#), "bad_message");
        assert_eq!(code(r#"{"type":"dance"}"#), "unknown_type");
        let big = format!(
            r#"{{"type":"hello","version":1,"client":"{}"}}"#,
            "x".repeat(20_000)
        );
        assert_eq!(code(&big), "too_large");
        let weird = parse(&format!(r#"{{"type":"{}"}}"#, "\\u0007".repeat(50))).unwrap_err();
        assert!(weird.message.contains("\\u{7}"), "{}", weird.message);
        assert!(weird.message.ends_with("…\""), "{}", weird.message);
    }

    fn hello(json: &str) -> Hello {
        match parse(json).unwrap() {
            ClientMessage::Hello(h) => h,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn hello_validation() {
        let err = hello(r#"{"type":"hello","version":2}"#)
            .validate()
            .unwrap_err();
        assert_eq!(err.code, "unsupported_version");
        assert!(err.message.contains("version 2"), "{}", err.message);
        let json: Value = serde_json::from_str(&err.to_json()).unwrap();
        assert_eq!(json["type"], "error");
        assert_eq!(json["code"], "unsupported_version");
        assert_eq!(json["supported"], json!([1]));
        assert_eq!(
            hello(r#"{"type":"hello","version":0}"#)
                .validate()
                .unwrap_err()
                .code,
            "unsupported_version"
        );
        for bad in [
            r#"{"type":"hello","version":1,"sample_rate":44100}"#,
            r#"{"type":"hello","version":1,"encoding":"f32le"}"#,
            r#"{"type":"hello","version":1,"channels":2}"#,
        ] {
            assert_eq!(
                hello(bad).validate().unwrap_err().code,
                "unsupported_format",
                "{bad}"
            );
        }
        let many: BTreeMap<String, String> =
            (0..17).map(|i| (format!("k{i}"), "v".to_owned())).collect();
        let mut h = hello(r#"{"type":"hello","version":1}"#);
        h.params = many;
        assert_eq!(h.validate().unwrap_err().code, "bad_message");
        for bad in [
            r#"{"type":"hello","version":1,"params":{"a b":"x"}}"#,
            r#"{"type":"hello","version":1,"params":{"":"x"}}"#,
            r#"{"type":"hello","version":1,"params":{"a":"line\nbreak"}}"#,
        ] {
            assert_eq!(
                hello(bad).validate().unwrap_err().code,
                "bad_message",
                "{bad}"
            );
        }
    }

    #[test]
    fn errors_become_invalid_input() {
        let err = parse("nope").unwrap_err().to_plugin_error();
        assert_eq!(err.kind, voicegate_plugin_api::ErrorKind::INVALID_INPUT);
        assert!(err.message.starts_with("bad_json: "), "{err}");
    }
}
