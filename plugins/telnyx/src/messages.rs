//! The JSON messages of Telnyx media streaming (docs/protocols.md d.2, d.3).
//!
//! Inbound messages are parsed in one pass into [`Inbound`], a flat struct
//! with one optional member per event body: strings borrow from the frame
//! ([`Text`] allocates only for escaped strings) and unknown fields are
//! skipped, so Telnyx may add fields freely. Counters and timestamps are
//! accepted as strings of digits (what Telnyx sends) or as numbers.

use std::{borrow::Cow, fmt, ops::Deref};

use serde::{
    de::{self, MapAccess, Visitor},
    Deserialize, Deserializer, Serialize,
};

/// A JSON string, borrowed from the frame unless it had escapes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Text<'a>(#[serde(borrow)] pub Cow<'a, str>);

impl Deref for Text<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

/// Any message Telnyx sends.
#[derive(Debug, Deserialize)]
pub struct Inbound<'a> {
    /// `connected`, `start`, `media`, `dtmf`, `mark`, `error` or `stop`.
    #[serde(borrow)]
    pub event: Text<'a>,
    /// The stream (absent on `connected`).
    #[serde(borrow)]
    pub stream_id: Option<Text<'a>>,
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
pub struct Start<'a> {
    /// The call (`v3:…`); TeXML's `CallSid`.
    #[serde(borrow)]
    pub call_control_id: Option<Text<'a>>,
    /// The call session, shared by the legs of a call.
    #[serde(borrow)]
    pub call_session_id: Option<Text<'a>>,
    /// Caller.
    #[serde(borrow)]
    pub from: Option<Text<'a>>,
    /// Callee.
    #[serde(borrow)]
    pub to: Option<Text<'a>>,
    /// The TeXML `<Parameter>`s, in the order received.
    #[serde(borrow, default)]
    pub custom_parameters: Pairs<'a>,
    /// The inbound audio format.
    #[serde(borrow)]
    pub media_format: Option<WireFormat<'a>>,
}

/// `start.media_format`.
#[derive(Debug, Deserialize)]
pub struct WireFormat<'a> {
    /// `PCMU`, `PCMA`, `L16`, … (RTP payload names).
    #[serde(borrow)]
    pub encoding: Option<Text<'a>>,
    /// 8000 or 16000.
    pub sample_rate: Option<Num>,
    /// 1.
    pub channels: Option<Num>,
}

/// `media`: one RTP payload of one track.
#[derive(Debug, Deserialize)]
pub struct Media<'a> {
    /// `inbound` or `outbound`.
    #[serde(borrow)]
    pub track: Option<Text<'a>>,
    /// Frame counter, for ordering.
    pub chunk: Option<Num>,
    /// Milliseconds since the stream started.
    pub timestamp: Option<Num>,
    /// Base64 RTP payload (no RTP header) in the stream's encoding.
    #[serde(borrow)]
    pub payload: Text<'a>,
}

/// `dtmf`.
#[derive(Debug, Deserialize)]
pub struct DtmfBody<'a> {
    /// `0`–`9`, `*`, `#`, `A`–`D`.
    #[serde(borrow)]
    pub digit: Text<'a>,
}

/// `mark`: a mark the host sent has been played (or cleared).
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

            // `"custom_parameters": null` when there are none.
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Pairs::default())
            }
        }

        deserializer.deserialize_any(PairsVisitor)
    }
}

/// A non-negative integer sent as a string of digits or as a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Num(pub u64);

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NumVisitor;

        impl Visitor<'_> for NumVisitor {
            type Value = Num;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a non-negative integer or a string of digits")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Num, E> {
                if v.is_empty() || v.len() > 19 || !v.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(E::invalid_value(de::Unexpected::Str(v), &self));
                }
                v.parse().map(Num).map_err(E::custom)
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Num, E> {
                Ok(Num(v))
            }
        }

        deserializer.deserialize_any(NumVisitor)
    }
}

/// A message to Telnyx (bidirectional RTP mode).
#[derive(Debug, Serialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum Outbound<'a> {
    /// Audio to play.
    Media {
        /// Base64 RTP payload.
        media: OutPayload<'a>,
    },
    /// Report back when everything before has played.
    Mark {
        /// The mark.
        mark: OutMark<'a>,
    },
    /// Drop queued audio.
    Clear,
}

/// `media.payload` of an outbound message.
#[derive(Debug, Serialize)]
pub struct OutPayload<'a> {
    /// Base64 RTP payload in the bidirectional codec.
    pub payload: &'a str,
}

/// `mark.name` of an outbound message.
#[derive(Debug, Serialize)]
pub struct OutMark<'a> {
    /// The name Telnyx echoes.
    pub name: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_borrow_from_the_frame() {
        let json = r#"{"event":"media","sequence_number":"4","stream_id":"32DE","media":{"track":"inbound","chunk":"2","timestamp":"5","payload":"//8="}}"#;
        let msg: Inbound<'_> = serde_json::from_str(json).unwrap();
        assert!(matches!(msg.event.0, Cow::Borrowed("media")));
        assert!(matches!(msg.stream_id.unwrap().0, Cow::Borrowed("32DE")));
        let media = msg.media.unwrap();
        assert!(matches!(media.payload.0, Cow::Borrowed("//8=")));
        assert_eq!(media.chunk, Some(Num(2)));
        assert_eq!(media.timestamp, Some(Num(5)));
    }

    #[test]
    fn numbers_are_digits_or_numbers() {
        let parse = |t: &str| {
            serde_json::from_str::<Media<'_>>(&format!(r#"{{"timestamp":{t},"payload":""}}"#))
                .map(|m| m.timestamp)
        };
        assert_eq!(parse(r#""0""#).unwrap(), Some(Num(0)));
        assert_eq!(parse("40").unwrap(), Some(Num(40)));
        assert!(parse(r#""-5""#).is_err());
        assert!(parse("-5").is_err());
        assert!(parse(r#""""#).is_err());
        assert!(parse("1.5").is_err());
        assert!(parse(r#""99999999999999999999""#).is_err());
    }

    #[test]
    fn custom_parameters_keep_their_order_and_may_be_null() {
        let start: Start<'_> =
            serde_json::from_str(r#"{"custom_parameters":{"b":"2","a":"1"}}"#).unwrap();
        let pairs: Vec<(&str, &str)> = start
            .custom_parameters
            .0
            .iter()
            .map(|(k, v)| (&**k, &**v))
            .collect();
        assert_eq!(pairs, [("b", "2"), ("a", "1")]);
        let start: Start<'_> = serde_json::from_str(r#"{"custom_parameters":null}"#).unwrap();
        assert!(start.custom_parameters.0.is_empty());
        assert!(serde_json::from_str::<Start<'_>>(r#"{"custom_parameters":{"a":1}}"#).is_err());
    }

    #[test]
    fn outbound_shapes() {
        let media = Outbound::Media {
            media: OutPayload { payload: "//8=" },
        };
        assert_eq!(
            serde_json::to_string(&media).unwrap(),
            r#"{"event":"media","media":{"payload":"//8="}}"#
        );
        let mark = Outbound::Mark {
            mark: OutMark { name: "a\"b" },
        };
        assert_eq!(
            serde_json::to_string(&mark).unwrap(),
            r#"{"event":"mark","mark":{"name":"a\"b"}}"#
        );
        assert_eq!(
            serde_json::to_string(&Outbound::Clear).unwrap(),
            r#"{"event":"clear"}"#
        );
    }
}
