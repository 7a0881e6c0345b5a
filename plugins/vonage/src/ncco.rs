//! NCCOs (Nexmo Call Control Objects) answering the answer webhook
//! (docs/protocols.md e.1), and the per-session stream token.

use hmac::{Hmac, Mac};
use serde_json::{json, Map, Value};
use sha2::Sha256;
use voicegate_plugin_api::{Accepted, RejectCause, Rejected};

use crate::{config::Config, jwt::BASE64URL};

use base64::Engine as _;

/// The NCCO header that ties a stream to its session; Vonage echoes it in
/// `websocket:connected`.
pub const SESSION_HEADER: &str = "session_id";
/// The NCCO header carrying the per-session token.
pub const TOKEN_HEADER: &str = "stream_token";
/// Vonage's limit on the serialized `headers` object.
pub const MAX_HEADERS_BYTES: usize = 512;

/// The token for `session_id`: base64url HMAC-SHA256 keyed with the
/// signature secret. Only Vonage (which gets it in the signed exchange of
/// the answer webhook) and the gateway know it.
pub fn stream_token(key: &str, session_id: &str) -> String {
    BASE64URL.encode(token_mac(key, session_id).finalize().into_bytes())
}

/// Whether `presented` is the token for `session_id` (constant time).
pub fn token_matches(key: &str, session_id: &str, presented: &str) -> bool {
    match BASE64URL.decode(presented.trim()) {
        Ok(raw) => token_mac(key, session_id).verify_slice(&raw).is_ok(),
        Err(_) => false,
    }
}

fn token_mac(key: &str, session_id: &str) -> Hmac<Sha256> {
    // HMAC takes keys of any length: this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap_or_else(|_| unreachable!());
    mac.update(b"voicegate vonage stream token\n");
    mac.update(session_id.as_bytes());
    mac
}

fn talk(config: &Config, text: &str) -> Value {
    let mut action = json!({ "action": "talk", "text": text });
    if let (Some(language), Some(map)) = (&config.language, action.as_object_mut()) {
        map.insert("language".into(), Value::from(language.as_str()));
    }
    action
}

/// The NCCO for an accepted call: an optional greeting, then `connect` to
/// the session's WebSocket with L16 at the configured rate. The headers
/// carry the session id, the stream token and the host's parameters (as
/// many as fit in Vonage's 512 bytes).
pub fn accept(config: &Config, accepted: &Accepted) -> Value {
    let session_id = accepted.session_id.as_str();
    let mut headers = Map::new();
    headers.insert(SESSION_HEADER.into(), Value::from(session_id));
    if let Some(key) = config.stream_token_key() {
        headers.insert(
            TOKEN_HEADER.into(),
            Value::from(stream_token(key, session_id)),
        );
    }
    for kv in accepted.params.iter() {
        let key = kv.key.as_str();
        if key == SESSION_HEADER || key == TOKEN_HEADER || headers.contains_key(key) {
            continue;
        }
        headers.insert(key.into(), Value::from(kv.value.as_str()));
        if Value::Object(headers.clone()).to_string().len() > MAX_HEADERS_BYTES {
            headers.remove(key);
            log::warn!(
                "Vonage NCCO for session {session_id}: parameter `{key}` left out of the \
                 WebSocket headers (Vonage allows {MAX_HEADERS_BYTES} bytes)"
            );
        }
    }
    let mut ncco = Vec::with_capacity(2);
    if !config.greeting.trim().is_empty() {
        ncco.push(talk(config, &config.greeting));
    }
    ncco.push(json!({
        "action": "connect",
        "endpoint": [{
            "type": "websocket",
            "uri": accepted.stream_url.as_str(),
            "content-type": config.content_type(),
            "headers": headers,
        }],
    }));
    Value::Array(ncco)
}

/// The NCCO for a call turned away: a sentence, after which the NCCO is
/// over and Vonage ends the call.
pub fn reject(config: &Config, rejected: &Rejected) -> Value {
    let text = match rejected.cause {
        RejectCause::POLICY => &config.deny_message,
        RejectCause::BUSY => &config.busy_message,
        _ => &config.error_message,
    };
    Value::Array(vec![talk(config, text)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_per_session_and_per_key() {
        let t = stream_token("k", "vonage-a-1");
        assert_eq!(t.len(), 43);
        assert!(token_matches("k", "vonage-a-1", &t));
        assert!(!token_matches("k", "vonage-a-2", &t));
        assert!(!token_matches("k2", "vonage-a-1", &t));
        assert!(!token_matches("k", "vonage-a-1", "!!"));
        assert!(!token_matches("k", "vonage-a-1", ""));
        assert_ne!(stream_token("k", "vonage-a-2"), t);
    }
}
