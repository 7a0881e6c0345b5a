//! The JSON messages of Twilio Media Streams (docs/protocols.md a.3, a.4).
//!
//! Inbound messages are parsed in one pass into [`Inbound`], a flat struct
//! with one optional member per event body: that avoids serde's buffering of
//! internally tagged enums and lets every string borrow from the frame
//! ([`Text`] only allocates when the JSON string contains escapes). Fields
//! this adapter does not use are skipped, so Twilio may add fields freely.

use std::{borrow::Cow, fmt, ops::Deref};

use serde::{
    de::{self, MapAccess, Visitor},
    Deserialize, Deserializer, Serialize,
};

/// A JSON string, borrowed from the frame unless it had escapes.
///
/// A newtype because serde borrows a `Cow<str>` only when it is a field of
/// its own marked `#[serde(borrow)]`, never inside an `Option`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Text<'a>(#[serde(borrow)] pub Cow<'a, str>);

impl Deref for Text<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

/// Any message Twilio sends.
#[derive(Debug, Deserialize)]
pub struct Inbound<'a> {
    /// `connected`, `start`, `media`, `dtmf`, `mark` or `stop`.
    #[serde(borrow)]
    pub event: Text<'a>,
    /// The stream (absent on `connected`).
    #[serde(borrow, rename = "streamSid")]
    pub stream_sid: Option<Text<'a>>,
    /// `connected`: `"Call"`.
    #[serde(borrow)]
    pub protocol: Option<Text<'a>>,
    /// `start` body.
    #[serde(borrow)]
    pub start: Option<Start<'a>>,
    /// `media` body.
    #[serde(borrow)]
    pub media: Option<Media<'a>>,
    /// `dtmf` body.
    #[serde(borrow)]
    pub dtmf: Option<DtmfBody<'a>>,
    /// `mark` body.
    #[serde(borrow)]
    pub mark: Option<MarkBody<'a>>,
}

/// `start`: who the stream belongs to and what it carries.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Start<'a> {
    /// `MZ…`.
    #[serde(borrow)]
    pub stream_sid: Option<Text<'a>>,
    /// `AC…`.
    #[serde(borrow)]
    pub account_sid: Option<Text<'a>>,
    /// `CA…`.
    #[serde(borrow)]
    pub call_sid: Option<Text<'a>>,
    /// `inbound` and/or `outbound`.
    #[serde(borrow, default)]
    pub tracks: Vec<Text<'a>>,
    /// The `<Parameter>`s of the TwiML, in the order received.
    #[serde(borrow, default)]
    pub custom_parameters: Pairs<'a>,
    /// Always µ-law 8 kHz mono so far.
    #[serde(borrow)]
    pub media_format: Option<WireFormat<'a>>,
}

/// `start.mediaFormat`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireFormat<'a> {
    /// `audio/x-mulaw`.
    #[serde(borrow)]
    pub encoding: Option<Text<'a>>,
    /// 8000.
    pub sample_rate: Option<u32>,
    /// 1.
    pub channels: Option<u16>,
}

/// `media`: 20 ms of one track.
#[derive(Debug, Deserialize)]
pub struct Media<'a> {
    /// `inbound` or `outbound`.
    #[serde(borrow)]
    pub track: Option<Text<'a>>,
    /// Milliseconds since the stream started, sent as a string of digits.
    pub timestamp: Option<Millis>,
    /// Base64 µ-law.
    #[serde(borrow)]
    pub payload: Text<'a>,
}

/// `dtmf`.
#[derive(Debug, Deserialize)]
pub struct DtmfBody<'a> {
    /// `0`–`9`, `*`, `#` (and `A`–`D` on some lines).
    #[serde(borrow)]
    pub digit: Text<'a>,
}

/// `mark`: a mark the host sent has been played.
#[derive(Debug, Deserialize)]
pub struct MarkBody<'a> {
    /// The name the host gave it.
    #[serde(borrow)]
    pub name: Text<'a>,
}

/// Name/value pairs from a JSON object of strings, in document order.
#[derive(Debug, Default)]
pub struct Pairs<'a>(pub Vec<(Text<'a>, Text<'a>)>);

impl<'de: 'a, 'a> Deserialize<'de> for Pairs<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PairsVisitor;

        impl<'de> Visitor<'de> for PairsVisitor {
            type Value = Pairs<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of string values")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(0).min(32));
                while let Some(entry) = map.next_entry::<Text<'de>, Text<'de>>()? {
                    pairs.push(entry);
                }
                Ok(Pairs(pairs))
            }
        }

        deserializer.deserialize_map(PairsVisitor)
    }
}

/// A millisecond count that Twilio sends as a string of digits (a bare
/// number is accepted too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Millis(pub u64);

impl<'de> Deserialize<'de> for Millis {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MillisVisitor;

        impl Visitor<'_> for MillisVisitor {
            type Value = Millis;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string of digits")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Millis, E> {
                if v.is_empty() || v.len() > 19 || !v.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(E::invalid_value(de::Unexpected::Str(v), &self));
                }
                v.parse().map(Millis).map_err(E::custom)
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Millis, E> {
                Ok(Millis(v))
            }
        }

        deserializer.deserialize_any(MillisVisitor)
    }
}

/// A message to Twilio (bidirectional streams only).
#[derive(Debug, Serialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum Outbound<'a> {
    /// Audio to play.
    Media {
        /// The stream.
        #[serde(rename = "streamSid")]
        stream_sid: &'a str,
        /// Base64 µ-law.
        media: OutPayload<'a>,
    },
    /// Report back when everything before has played.
    Mark {
        /// The stream.
        #[serde(rename = "streamSid")]
        stream_sid: &'a str,
        /// The mark.
        mark: OutMark<'a>,
    },
    /// Drop queued audio.
    Clear {
        /// The stream.
        #[serde(rename = "streamSid")]
        stream_sid: &'a str,
    },
}

/// `media.payload` of an outbound message.
#[derive(Debug, Serialize)]
pub struct OutPayload<'a> {
    /// Base64 µ-law 8 kHz.
    pub payload: &'a str,
}

/// `mark.name` of an outbound message.
#[derive(Debug, Serialize)]
pub struct OutMark<'a> {
    /// The name Twilio echoes.
    pub name: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_borrow_from_the_frame() {
        let json = r#"{"event":"media","streamSid":"MZ1","media":{"track":"inbound","chunk":"1","timestamp":"25","payload":"//8="}}"#;
        let msg: Inbound<'_> = serde_json::from_str(json).unwrap();
        assert!(matches!(msg.event.0, Cow::Borrowed("media")));
        assert!(matches!(msg.stream_sid.unwrap().0, Cow::Borrowed("MZ1")));
        let media = msg.media.unwrap();
        assert!(matches!(media.payload.0, Cow::Borrowed("//8=")));
        assert_eq!(media.timestamp, Some(Millis(25)));
    }

    #[test]
    fn escaped_strings_still_parse() {
        let json = r#"{"event":"media","media":{"timestamp":"0","payload":"\/\/8="}}"#;
        let msg: Inbound<'_> = serde_json::from_str(json).unwrap();
        assert_eq!(&*msg.media.unwrap().payload, "//8=");
    }

    #[test]
    fn timestamps_are_digits() {
        let parse = |t: &str| {
            serde_json::from_str::<Media<'_>>(&format!(r#"{{"timestamp":{t},"payload":""}}"#))
                .map(|m| m.timestamp)
        };
        assert_eq!(parse(r#""0""#).unwrap(), Some(Millis(0)));
        assert_eq!(parse("40").unwrap(), Some(Millis(40)));
        assert!(parse(r#""-5""#).is_err());
        assert!(parse(r#""+5""#).is_err());
        assert!(parse(r#""""#).is_err());
        assert!(parse(r#""99999999999999999999""#).is_err());
        assert!(parse("1.5").is_err());
    }

    #[test]
    fn custom_parameters_keep_their_order() {
        let json = r#"{"customParameters":{"b":"2","a":"1"}}"#;
        let start: Start<'_> = serde_json::from_str(json).unwrap();
        let pairs: Vec<(&str, &str)> = start
            .custom_parameters
            .0
            .iter()
            .map(|(k, v)| (&**k, &**v))
            .collect();
        assert_eq!(pairs, [("b", "2"), ("a", "1")]);
        assert!(serde_json::from_str::<Start<'_>>(r#"{"customParameters":{"a":1}}"#).is_err());
    }

    #[test]
    fn outbound_shapes() {
        let media = Outbound::Media {
            stream_sid: "MZ1",
            media: OutPayload { payload: "//8=" },
        };
        assert_eq!(
            serde_json::to_string(&media).unwrap(),
            r#"{"event":"media","streamSid":"MZ1","media":{"payload":"//8="}}"#
        );
        let mark = Outbound::Mark {
            stream_sid: "MZ1",
            mark: OutMark { name: "a\"b" },
        };
        assert_eq!(
            serde_json::to_string(&mark).unwrap(),
            r#"{"event":"mark","streamSid":"MZ1","mark":{"name":"a\"b"}}"#
        );
        let clear = Outbound::Clear { stream_sid: "MZ1" };
        assert_eq!(
            serde_json::to_string(&clear).unwrap(),
            r#"{"event":"clear","streamSid":"MZ1"}"#
        );
    }
}
