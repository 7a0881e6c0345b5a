//! Telnyx webhook signatures (docs/protocols.md d.4): Ed25519 over
//! `"{telnyx-timestamp}|{raw body}"`, checked with the account's public key,
//! and a timestamp within a tolerance of the host's clock.

use base64::{
    alphabet,
    engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig},
    Engine as _,
};
use ed25519_dalek::{Signature, VerifyingKey, PUBLIC_KEY_LENGTH, SIGNATURE_LENGTH};
use voicegate_plugin_api::{HttpRequest, PluginError};

/// The signature header.
pub const SIGNATURE_HEADER: &str = "telnyx-signature-ed25519";
/// The timestamp header (Unix seconds).
pub const TIMESTAMP_HEADER: &str = "telnyx-timestamp";

/// Standard base64, padding optional.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Checks webhook signatures for one account.
#[derive(Clone)]
pub struct Verifier {
    key: VerifyingKey,
    tolerance_secs: u64,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("tolerance_secs", &self.tolerance_secs)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// A verifier for a raw public key.
    pub fn new(key: VerifyingKey, tolerance_secs: u64) -> Self {
        Self {
            key,
            tolerance_secs,
        }
    }

    /// Decodes the base64 public key the Telnyx portal shows. The error is a
    /// sentence for the `public_key` config issue.
    pub fn from_base64(key: &str, tolerance_secs: u64) -> Result<Self, String> {
        let bytes = BASE64.decode(key.trim()).map_err(|e| {
            format!("is not base64 ({e}); paste the key exactly as the portal shows it")
        })?;
        let bytes: [u8; PUBLIC_KEY_LENGTH] = bytes.as_slice().try_into().map_err(|_| {
            format!(
                "decodes to {} bytes; an Ed25519 public key is {PUBLIC_KEY_LENGTH}",
                bytes.len()
            )
        })?;
        let key = VerifyingKey::from_bytes(&bytes)
            .map_err(|_| "is not a valid Ed25519 public key".to_owned())?;
        Ok(Self::new(key, tolerance_secs))
    }

    /// Checks the request's signature headers against its raw body, with
    /// `now_unix_secs` from the host's clock.
    pub fn check(&self, req: &HttpRequest<'_>, now_unix_secs: u64) -> Result<(), PluginError> {
        let timestamp = header(req, TIMESTAMP_HEADER)?;
        let signature = header(req, SIGNATURE_HEADER)?;
        self.verify(timestamp, signature, req.body.as_slice(), now_unix_secs)
    }

    /// Checks one signature: the timestamp header as received, the base64
    /// signature header, the raw body.
    pub fn verify(
        &self,
        timestamp: &str,
        signature: &str,
        body: &[u8],
        now_unix_secs: u64,
    ) -> Result<(), PluginError> {
        let sent: u64 = match timestamp.parse() {
            Ok(t) if timestamp.bytes().all(|b| b.is_ascii_digit()) => t,
            _ => {
                return Err(PluginError::unauthorized(format!(
                    "{TIMESTAMP_HEADER} {} is not Unix seconds",
                    shown(timestamp)
                )))
            }
        };
        let skew = now_unix_secs.abs_diff(sent);
        if skew > self.tolerance_secs {
            return Err(PluginError::unauthorized(format!(
                "{TIMESTAMP_HEADER} is {skew} s from the host clock (tolerance {} s): \
                 a replayed request, or a clock out of sync",
                self.tolerance_secs
            )));
        }
        let raw = BASE64
            .decode(signature.trim())
            .map_err(|_| PluginError::unauthorized(format!("{SIGNATURE_HEADER} is not base64")))?;
        let raw: [u8; SIGNATURE_LENGTH] = raw.as_slice().try_into().map_err(|_| {
            PluginError::unauthorized(format!(
                "{SIGNATURE_HEADER} is {} bytes, not {SIGNATURE_LENGTH}",
                raw.len()
            ))
        })?;
        let signature = Signature::from_bytes(&raw);
        let mut message = Vec::with_capacity(timestamp.len() + 1 + body.len());
        message.extend_from_slice(timestamp.as_bytes());
        message.push(b'|');
        message.extend_from_slice(body);
        self.key.verify_strict(&message, &signature).map_err(|_| {
            PluginError::unauthorized(format!(
                "{SIGNATURE_HEADER} does not match the body and timestamp \
                 (check `public_key`: it must be this account's key)"
            ))
        })
    }
}

fn header<'a>(req: &HttpRequest<'a>, name: &str) -> Result<&'a str, PluginError> {
    match req.header(name).map(str::trim) {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(PluginError::unauthorized(format!(
            "missing {name} header (is this request from Telnyx?)"
        ))),
    }
}

/// A value from a client, quoted and cut for an error message.
pub fn shown(value: &str) -> String {
    const MAX: usize = 48;
    let cut: String = value.chars().take(MAX).collect();
    if cut.len() < value.len() {
        format!("{:?}…", cut)
    } else {
        format!("{cut:?}")
    }
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::STANDARD;
    use ed25519_dalek::{Signer as _, SigningKey};
    use voicegate_plugin_api::{ErrorKind, KeyValue, RSlice, RStr};

    use super::*;

    const NOW: u64 = 1_700_000_000;

    fn signing_key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn verifier() -> Verifier {
        Verifier::new(signing_key(7).verifying_key(), 300)
    }

    fn sign(key: &SigningKey, timestamp: &str, body: &[u8]) -> String {
        let mut message = format!("{timestamp}|").into_bytes();
        message.extend_from_slice(body);
        STANDARD.encode(key.sign(&message).to_bytes())
    }

    #[test]
    fn a_correct_signature_verifies() {
        let body = b"CallSid=v3%3Aabc&From=%2B13125550100";
        let sig = sign(&signing_key(7), "1700000000", body);
        verifier().verify("1700000000", &sig, body, NOW).unwrap();
        // Within the tolerance either way.
        verifier()
            .verify("1700000000", &sig, body, NOW + 300)
            .unwrap();
        verifier()
            .verify("1700000000", &sig, body, NOW - 300)
            .unwrap();
        // Unpadded base64 is accepted.
        verifier()
            .verify("1700000000", sig.trim_end_matches('='), body, NOW)
            .unwrap();
    }

    #[test]
    fn anything_changed_fails() {
        let body = b"CallSid=v3%3Aabc";
        let sig = sign(&signing_key(7), "1700000000", body);
        let fails = |ts: &str, sig: &str, body: &[u8], now: u64| {
            let err = verifier().verify(ts, sig, body, now).unwrap_err();
            assert_eq!(err.kind, ErrorKind::UNAUTHORIZED);
            err.message.to_string()
        };
        assert!(fails("1700000000", &sig, b"CallSid=v3%3Aabd", NOW).contains("does not match"));
        // The timestamp is signed: moving it breaks the signature.
        assert!(fails("1700000001", &sig, body, NOW).contains("does not match"));
        // Too old / too far ahead.
        assert!(fails("1700000000", &sig, body, NOW + 301).contains("301 s"));
        assert!(fails("1700000000", &sig, body, NOW - 301).contains("301 s"));
        // Another account's key.
        let other = sign(&signing_key(8), "1700000000", body);
        assert!(fails("1700000000", &other, body, NOW).contains("public_key"));
        // Malformed headers.
        assert!(fails("+1700000000", &sig, body, NOW).contains("Unix seconds"));
        assert!(fails("17e8", &sig, body, NOW).contains("Unix seconds"));
        assert!(fails("1700000000", "!!", body, NOW).contains("not base64"));
        assert!(fails("1700000000", "AAAA", body, NOW).contains("3 bytes"));
    }

    #[test]
    fn check_reads_the_headers() {
        let body = b"a=1";
        let sig = sign(&signing_key(7), "1700000000", body);
        let headers = [
            KeyValue::new("Telnyx-Timestamp", "1700000000"),
            KeyValue::new("telnyx-signature-ed25519", &sig),
        ];
        fn req<'a>(headers: &'a [KeyValue], body: &'a [u8]) -> HttpRequest<'a> {
            HttpRequest {
                method: RStr::from("POST"),
                path: RStr::from("inbound"),
                full_path: RStr::from("/api/voice/telnyx/inbound"),
                query: RStr::from(""),
                headers: RSlice::from_slice(headers),
                body: RSlice::from_slice(body),
                remote_addr: RStr::from("127.0.0.1:1"),
                public_url: RStr::from("https://x"),
                peer_trusted: false,
            }
        }
        verifier().check(&req(&headers, body), NOW).unwrap();
        let err = verifier()
            .check(&req(&headers[..1], body), NOW)
            .unwrap_err();
        assert!(
            err.message.contains("missing telnyx-signature-ed25519"),
            "{err}"
        );
        let err = verifier()
            .check(&req(&headers[1..], body), NOW)
            .unwrap_err();
        assert!(err.message.contains("missing telnyx-timestamp"), "{err}");
    }

    #[test]
    fn public_keys_are_validated() {
        let good = STANDARD.encode(signing_key(7).verifying_key().to_bytes());
        assert!(Verifier::from_base64(&good, 300).is_ok());
        assert!(Verifier::from_base64(&format!(" {good}\n"), 300).is_ok());
        assert!(Verifier::from_base64("%%%", 300)
            .unwrap_err()
            .contains("not base64"));
        assert!(Verifier::from_base64("AAAA", 300)
            .unwrap_err()
            .contains("3 bytes"));
    }

    #[test]
    fn shown_quotes_and_cuts() {
        assert_eq!(shown("ab\"c"), r#""ab\"c""#);
        assert!(shown(&"x".repeat(100)).ends_with('…'));
    }
}
