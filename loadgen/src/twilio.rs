//! What a Twilio client needs to be taken for Twilio: request signatures
//! (docs/protocols.md b.1, b.3), the voice webhook's form, the TwiML answer
//! and the Media Streams JSON messages (a.3).
//!
//! This is an implementation independent of the twilio plugin's validator,
//! so a bug in one cannot cancel out in the other; the e2e tests use it too.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::json;

/// Account SID the simulated carrier uses.
pub const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";

/// Twilio's signature: HMAC-SHA1 over the URL followed by the POST
/// parameters sorted by name (then value), base64.
pub fn sign(token: &str, url: &str, params: &[(&str, &str)]) -> String {
    let mut sorted: Vec<(&str, &str)> = params.to_vec();
    sorted.sort();
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(token.as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(url.as_bytes());
    for (k, v) in sorted {
        mac.update(k.as_bytes());
        mac.update(v.as_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// A 34-character SID: a two-letter prefix and 32 hex digits.
pub fn sid(prefix: &str, n: u64) -> String {
    format!("{prefix}{n:032x}")
}

/// The form Twilio posts to the voice webhook for an inbound call.
pub fn webhook_params<'a>(
    call_sid: &'a str,
    from: &'a str,
    to: &'a str,
) -> [(&'a str, &'a str); 7] {
    [
        ("CallSid", call_sid),
        ("AccountSid", ACCOUNT_SID),
        ("From", from),
        ("To", to),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
        ("ApiVersion", "2010-04-01"),
    ]
}

/// The `url` attribute of `<Stream>` in a TwiML document.
pub fn stream_url(twiml: &str) -> Option<String> {
    let start = twiml.find("<Stream")?;
    let rest = &twiml[start..];
    let attr = rest.find("url=\"")? + 5;
    let end = rest[attr..].find('"')?;
    Some(rest[attr..attr + end].replace("&amp;", "&"))
}

/// What the TwiML answer says about the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Stream the call's media to this (public) URL.
    Stream(String),
    /// `<Reject reason="busy"/>`: the host is at its call limit.
    Busy,
    /// Anything else: `<Reject/>`, `<Say>…</Say><Hangup/>` …
    Refused,
}

/// Reads a TwiML answer.
pub fn answer(twiml: &str) -> Answer {
    if let Some(url) = stream_url(twiml) {
        return Answer::Stream(url);
    }
    if twiml.contains("<Reject") && twiml.contains("reason=\"busy\"") {
        return Answer::Busy;
    }
    Answer::Refused
}

/// The path (with its leading `/`) of an absolute URL.
pub fn url_path(url: &str) -> &str {
    let after_scheme = url.find("://").map(|i| i + 3).unwrap_or(0);
    match url[after_scheme..].find('/') {
        Some(i) => &url[after_scheme + i..],
        None => "/",
    }
}

/// `connected`, the first message of every stream.
pub fn connected() -> String {
    json!({"event": "connected", "protocol": "Call", "version": "1.0.0"}).to_string()
}

/// `start`, naming the call and carrying the TwiML's `<Parameter>`s.
pub fn start(call_sid: &str, stream_sid: &str, session_id: &str) -> String {
    json!({
        "event": "start",
        "sequenceNumber": "1",
        "streamSid": stream_sid,
        "start": {
            "streamSid": stream_sid,
            "accountSid": ACCOUNT_SID,
            "callSid": call_sid,
            "tracks": ["inbound"],
            "customParameters": { "session_id": session_id },
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}
        }
    })
    .to_string()
}

/// One inbound `media` message: 20 ms of µ-law, base64.
pub fn media(
    seq: u64,
    stream_sid: &str,
    chunk: u64,
    timestamp_ms: u64,
    payload_b64: &str,
) -> String {
    json!({
        "event": "media",
        "sequenceNumber": seq.to_string(),
        "streamSid": stream_sid,
        "media": {
            "track": "inbound",
            "chunk": chunk.to_string(),
            "timestamp": timestamp_ms.to_string(),
            "payload": payload_b64,
        }
    })
    .to_string()
}

/// A mark echo: the audio queued before the mark has played.
pub fn mark(seq: u64, stream_sid: &str, name: &str) -> String {
    json!({
        "event": "mark",
        "sequenceNumber": seq.to_string(),
        "streamSid": stream_sid,
        "mark": {"name": name}
    })
    .to_string()
}

/// `stop`, the last message of a stream.
pub fn stop(seq: u64, stream_sid: &str, call_sid: &str) -> String {
    json!({
        "event": "stop",
        "sequenceNumber": seq.to_string(),
        "streamSid": stream_sid,
        "stop": {"accountSid": ACCOUNT_SID, "callSid": call_sid}
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/protocols.md b.4, rows 1 and 2 (twilio-python's test vectors).
    #[test]
    fn signatures_match_twilios_test_vectors() {
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        let params = [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ];
        assert_eq!(sign("12345", url, &params), "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
    }

    #[test]
    fn answers_are_read() {
        let twiml = r#"<?xml version="1.0"?><Response><Connect><Stream url="wss://x.test/api/voice/twilio/stream/s-1?a=1&amp;b=2"><Parameter name="session_id" value="s-1"/></Stream></Connect></Response>"#;
        assert_eq!(
            answer(twiml),
            Answer::Stream("wss://x.test/api/voice/twilio/stream/s-1?a=1&b=2".to_owned())
        );
        assert_eq!(
            answer(r#"<Response><Reject reason="busy"/></Response>"#),
            Answer::Busy
        );
        assert_eq!(
            answer("<Response><Say>no</Say><Hangup/></Response>"),
            Answer::Refused
        );
        assert_eq!(url_path("wss://x.test/api/voice/a"), "/api/voice/a");
        assert_eq!(url_path("wss://x.test"), "/");
    }

    #[test]
    fn messages_are_json() {
        let m: serde_json::Value = serde_json::from_str(&media(2, "MZ1", 1, 0, "//8=")).unwrap();
        assert_eq!(m["media"]["timestamp"], "0");
        assert_eq!(m["sequenceNumber"], "2");
        let s: serde_json::Value = serde_json::from_str(&start("CA1", "MZ1", "s")).unwrap();
        assert_eq!(s["start"]["customParameters"]["session_id"], "s");
    }
}
