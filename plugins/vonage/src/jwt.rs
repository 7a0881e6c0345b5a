//! Vonage signed webhooks (docs/protocols.md e.4): `Authorization: Bearer
//! <JWT>`, HS256 with the account's signature secret, an `iat` within a
//! window of the host's clock, and `payload_hash`, the SHA-256 of the
//! request payload.
//!
//! Verified by hand rather than with a JWT crate: one algorithm, three
//! base64url segments and an HMAC. The header must say `HS256` exactly
//! (`none`, `RS256` … are refused before anything else), the MAC is compared
//! in constant time, and only then are the claims read.

use base64::{
    alphabet,
    engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig},
    Engine as _,
};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use voicegate_plugin_api::{HttpRequest, PluginError};

type HmacSha256 = Hmac<Sha256>;

/// base64url, padding optional (JWTs have none).
pub const BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Longest token accepted (Vonage's are a few hundred bytes).
const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Clock skew tolerated for `iat`/`exp`/`nbf` in the future direction, at
/// most the configured window.
pub const MAX_SKEW_SECS: u64 = 60;

/// The claims voicegate reads; others are ignored.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Claims {
    /// Issued at, Unix seconds.
    pub iat: Option<f64>,
    /// Expiry, Unix seconds.
    pub exp: Option<f64>,
    /// Not before, Unix seconds.
    pub nbf: Option<f64>,
    /// The account key whose signature secret signed the token.
    pub api_key: Option<String>,
    /// The Vonage application.
    pub application_id: Option<String>,
    /// Hex SHA-256 of the request payload.
    pub payload_hash: Option<String>,
    /// Token id.
    pub jti: Option<String>,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
}

/// Checks Vonage's webhook JWTs for one signature secret.
#[derive(Clone)]
pub struct Verifier {
    secret: Vec<u8>,
    max_age_secs: u64,
    api_key: Option<String>,
    check_payload_hash: bool,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("secret", &"<redacted>")
            .field("max_age_secs", &self.max_age_secs)
            .field("api_key", &self.api_key)
            .field("check_payload_hash", &self.check_payload_hash)
            .finish()
    }
}

impl Verifier {
    /// A verifier: HS256 with `secret`, tokens at most `max_age_secs` old,
    /// `api_key` (when given) required in the claims, `payload_hash`
    /// checked when `check_payload_hash`.
    pub fn new(
        secret: &str,
        max_age_secs: u64,
        api_key: Option<&str>,
        check_payload_hash: bool,
    ) -> Self {
        Self {
            secret: secret.as_bytes().to_vec(),
            max_age_secs,
            api_key: api_key.map(str::to_owned),
            check_payload_hash,
        }
    }

    /// Checks the request's bearer token and, if configured, that it signs
    /// this payload. Returns the claims.
    pub fn check(&self, req: &HttpRequest<'_>, now_unix_secs: u64) -> Result<Claims, PluginError> {
        let token = bearer(req)?;
        let claims = self.verify_token(token, now_unix_secs)?;
        if self.check_payload_hash {
            let Some(claimed) = claims.payload_hash.as_deref() else {
                return Err(PluginError::unauthorized(
                    "the JWT has no payload_hash claim \
                     (set verify_payload_hash = false to accept such tokens)",
                ));
            };
            if !payload_matches(req, claimed) {
                return Err(PluginError::unauthorized(
                    "the JWT's payload_hash does not match the request's payload: \
                     the request was changed after Vonage signed it",
                ));
            }
        }
        Ok(claims)
    }

    /// Verifies a token's algorithm, signature and time claims.
    pub fn verify_token(&self, token: &str, now_unix_secs: u64) -> Result<Claims, PluginError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(PluginError::unauthorized(format!(
                "the JWT is {} bytes, over the {MAX_TOKEN_BYTES}-byte limit",
                token.len()
            )));
        }
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(PluginError::unauthorized(
                "the bearer token is not a JWT (header.payload.signature)",
            ));
        };
        let header: Header = decode_json(header, "header")?;
        if header.alg != "HS256" {
            return Err(PluginError::unauthorized(format!(
                "the JWT is signed with {:?}; Vonage signs webhooks with HS256",
                header.alg.chars().take(16).collect::<String>()
            )));
        }
        let signature = BASE64URL
            .decode(signature)
            .map_err(|_| PluginError::unauthorized("the JWT signature is not base64url"))?;
        let signed_len = token.len() - signature_len(token);
        let mut mac = HmacSha256::new_from_slice(&self.secret)
            .map_err(|e| PluginError::internal(format!("HMAC key: {e}")))?;
        mac.update(&token.as_bytes()[..signed_len]);
        mac.verify_slice(&signature).map_err(|_| {
            PluginError::unauthorized(
                "the JWT signature does not match (check `signature_secret`: \
                 Dashboard → Settings → API settings → Signature secret)",
            )
        })?;
        let claims: Claims = decode_json(payload, "claims")?;
        self.check_time(&claims, now_unix_secs)?;
        if let Some(want) = &self.api_key {
            if claims.api_key.as_deref() != Some(want.as_str()) {
                return Err(PluginError::unauthorized(format!(
                    "the JWT's api_key {:?} is not the configured `api_key`",
                    claims.api_key.as_deref().unwrap_or_default()
                )));
            }
        }
        Ok(claims)
    }

    fn check_time(&self, claims: &Claims, now: u64) -> Result<(), PluginError> {
        let now = now as f64;
        let skew = MAX_SKEW_SECS.min(self.max_age_secs) as f64;
        let Some(iat) = claims.iat.filter(|t| t.is_finite()) else {
            return Err(PluginError::unauthorized("the JWT has no iat claim"));
        };
        if now - iat > self.max_age_secs as f64 {
            return Err(PluginError::unauthorized(format!(
                "the JWT was issued {:.0} s ago, over the {} s window \
                 (`signature_max_age_secs`): a replayed request, or a clock out of sync",
                now - iat,
                self.max_age_secs
            )));
        }
        if iat - now > skew {
            return Err(PluginError::unauthorized(format!(
                "the JWT is issued {:.0} s in the future: a clock out of sync",
                iat - now
            )));
        }
        if let Some(exp) = claims.exp {
            if !exp.is_finite() || now > exp + skew {
                return Err(PluginError::unauthorized("the JWT has expired (exp)"));
            }
        }
        if let Some(nbf) = claims.nbf {
            if !nbf.is_finite() || now + skew < nbf {
                return Err(PluginError::unauthorized("the JWT is not valid yet (nbf)"));
            }
        }
        Ok(())
    }
}

/// Length of the `.signature` suffix, dot included.
fn signature_len(token: &str) -> usize {
    token.rfind('.').map_or(0, |dot| token.len() - dot)
}

fn decode_json<T: for<'de> Deserialize<'de>>(segment: &str, what: &str) -> Result<T, PluginError> {
    let bytes = BASE64URL
        .decode(segment)
        .map_err(|_| PluginError::unauthorized(format!("the JWT {what} is not base64url")))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| PluginError::unauthorized(format!("the JWT {what} is not valid JSON: {e}")))
}

fn bearer<'a>(req: &HttpRequest<'a>) -> Result<&'a str, PluginError> {
    let value = req
        .header("authorization")
        .map(str::trim)
        .unwrap_or_default();
    let token = value
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .unwrap_or_default();
    if token.is_empty() {
        return Err(PluginError::unauthorized(
            "missing `Authorization: Bearer <JWT>` (are signed webhooks enabled for this \
             Vonage application?)",
        ));
    }
    Ok(token)
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0F)]));
    }
    out
}

/// Whether `claimed` (hex SHA-256) is the hash of the request's payload:
/// for a GET, its query parameters as a JSON object in received order
/// without whitespace; otherwise the body, as sent or with its insignificant
/// whitespace removed.
pub fn payload_matches(req: &HttpRequest<'_>, claimed: &str) -> bool {
    let claimed = claimed.trim();
    let matches = |data: &[u8]| hex(&Sha256::digest(data)).eq_ignore_ascii_case(claimed);
    if req.method.eq_ignore_ascii_case("GET") {
        matches(query_json(req.query.as_str()).as_bytes())
    } else {
        let body = req.body.as_slice();
        matches(body) || matches(&minify_json(body))
    }
}

/// The query's pairs as a compact JSON object, in order (repeated names are
/// kept, as a JavaScript `JSON.stringify` of the parsed query would not, but
/// Vonage sends none).
pub fn query_json(query: &str) -> String {
    let mut out = String::with_capacity(query.len() + 16);
    out.push('{');
    for (i, (key, value)) in form_urlencoded::parse(query.as_bytes()).enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_json_string(&mut out, &key);
        out.push(':');
        push_json_string(&mut out, &value);
    }
    out.push('}');
    out
}

fn push_json_string(out: &mut String, value: &str) {
    // A &str always serializes.
    out.push_str(&serde_json::to_string(value).unwrap_or_default());
}

/// `body` with the whitespace outside JSON strings removed.
pub fn minify_json(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let (mut in_string, mut escaped) = (false, false);
    for &b in body {
        if in_string {
            out.push(b);
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
            if b == b'"' {
                in_string = true;
            }
            out.push(b);
        }
    }
    out
}

/// Signs `claims` as Vonage does (HS256). For tests and fake carriers.
pub fn sign(secret: &str, claims: &serde_json::Value) -> String {
    let header = BASE64URL.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = BASE64URL.encode(claims.to_string());
    let signed = format!("{header}.{payload}");
    // Any key length is valid for HMAC.
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!());
    mac.update(signed.as_bytes());
    format!("{signed}.{}", BASE64URL.encode(mac.finalize().into_bytes()))
}

/// The hex SHA-256 Vonage puts in `payload_hash` for these bytes.
pub fn payload_hash(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use voicegate_plugin_api::{ErrorKind, KeyValue, RSlice, RStr};

    use super::*;

    const SECRET: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";
    const NOW: u64 = 1_700_000_000;

    fn verifier() -> Verifier {
        Verifier::new(SECRET, 300, None, true)
    }

    fn fails(v: &Verifier, token: &str, now: u64) -> String {
        let err = v.verify_token(token, now).unwrap_err();
        assert_eq!(err.kind, ErrorKind::UNAUTHORIZED);
        err.message.to_string()
    }

    #[test]
    fn a_signed_token_verifies() {
        let token = sign(
            SECRET,
            &json!({"iat": NOW, "api_key": "abc123", "jti": "x"}),
        );
        let claims = verifier().verify_token(&token, NOW).unwrap();
        assert_eq!(claims.api_key.as_deref(), Some("abc123"));
        // Within the window, and a little clock skew.
        verifier().verify_token(&token, NOW + 300).unwrap();
        verifier().verify_token(&token, NOW - 60).unwrap();
        let v = Verifier::new(SECRET, 300, Some("abc123"), true);
        v.verify_token(&token, NOW).unwrap();
    }

    /// A token made by an independent HS256 implementation (Python's
    /// `hmac` + `base64.urlsafe_b64encode`, padding stripped).
    #[test]
    fn a_known_token_verifies() {
        let token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.\
                     eyJpYXQiOjE3MDAwMDAwMDAsImFwaV9rZXkiOiJhYmMxMjMifQ.\
                     UZqdoMHYHmxEaphsMRNOVDpO0cSb3pVcus-fbXfHpBU";
        let claims = verifier().verify_token(token, NOW).unwrap();
        assert_eq!(claims.api_key.as_deref(), Some("abc123"));
        assert_eq!(claims.iat, Some(1_700_000_000.0));
    }

    /// The payload hash of a GET answer webhook, computed independently
    /// (Python: `sha256(json.dumps(params, separators=(",", ":")))`).
    #[test]
    fn a_known_query_hash() {
        let query = "to=447700900000&from=447700900001&uuid=aaa-bbb&conversation_uuid=CON-1";
        assert_eq!(
            payload_hash(query_json(query).as_bytes()),
            "6007377d7d9b7db3e64cdf190fa376ebfdf97aa84129b8cf67b4b184e587acc9"
        );
    }

    #[test]
    fn wrong_tokens_are_refused() {
        let v = verifier();
        let good = sign(SECRET, &json!({"iat": NOW}));
        assert!(
            fails(&v, &sign("another secret", &json!({"iat": NOW})), NOW)
                .contains("signature_secret")
        );
        assert!(fails(&v, &good, NOW + 301).contains("301 s ago"));
        assert!(fails(&v, &good, NOW - 61).contains("future"));
        assert!(fails(&v, &sign(SECRET, &json!({"api_key": "a"})), NOW).contains("no iat"));
        assert!(fails(
            &v,
            &sign(SECRET, &json!({"iat": NOW, "exp": NOW - 120})),
            NOW
        )
        .contains("expired"));
        assert!(fails(
            &v,
            &sign(SECRET, &json!({"iat": NOW, "nbf": NOW + 120})),
            NOW
        )
        .contains("not valid yet"));
        // Tampered claims, same signature.
        let (head, rest) = good.split_once('.').unwrap();
        let sig = rest.split_once('.').unwrap().1;
        let forged = format!(
            "{head}.{}.{sig}",
            BASE64URL.encode(json!({"iat": NOW, "api_key": "evil"}).to_string())
        );
        assert!(fails(&v, &forged, NOW).contains("does not match"));
        // `alg: none` and friends.
        let none = format!(
            "{}.{}.",
            BASE64URL.encode(br#"{"alg":"none","typ":"JWT"}"#),
            BASE64URL.encode(json!({"iat": NOW}).to_string())
        );
        assert!(fails(&v, &none, NOW).contains("\"none\""));
        let rs = format!(
            "{}.{}.{sig}",
            BASE64URL.encode(br#"{"alg":"RS256"}"#),
            BASE64URL.encode(json!({"iat": NOW}).to_string())
        );
        assert!(fails(&v, &rs, NOW).contains("RS256"));
        // Not JWTs.
        assert!(fails(&v, "abc", NOW).contains("not a JWT"));
        assert!(fails(&v, "a.b.c.d", NOW).contains("not a JWT"));
        assert!(fails(&v, "!!.b.c", NOW).contains("header is not base64url"));
        assert!(fails(&v, &format!("{good}x!"), NOW).contains("base64url"));
        assert!(fails(&v, &"a".repeat(9000), NOW).contains("limit"));
        // A configured api_key must match.
        let v = Verifier::new(SECRET, 300, Some("mine"), true);
        let token = sign(SECRET, &json!({"iat": NOW, "api_key": "theirs"}));
        assert!(fails(&v, &token, NOW).contains("api_key"));
        let token = sign(SECRET, &json!({"iat": NOW}));
        assert!(fails(&v, &token, NOW).contains("api_key"));
    }

    #[test]
    fn a_short_window_also_bounds_the_skew() {
        let v = Verifier::new(SECRET, 10, None, true);
        let token = sign(SECRET, &json!({"iat": NOW}));
        v.verify_token(&token, NOW + 10).unwrap();
        v.verify_token(&token, NOW - 10).unwrap();
        assert!(fails(&v, &token, NOW + 11).contains("10 s window"));
        assert!(fails(&v, &token, NOW - 11).contains("future"));
    }

    #[test]
    fn query_json_is_compact_and_ordered() {
        assert_eq!(
            query_json("to=447700900000&from=447700900001&uuid=aaa-bbb&conversation_uuid=CON-1"),
            r#"{"to":"447700900000","from":"447700900001","uuid":"aaa-bbb","conversation_uuid":"CON-1"}"#
        );
        assert_eq!(query_json(""), "{}");
        assert_eq!(
            query_json("a=%22q%22&b=x+y&c=%2F%F0%9F%93%9E"),
            r#"{"a":"\"q\"","b":"x y","c":"/📞"}"#
        );
    }

    #[test]
    fn minify_keeps_strings() {
        assert_eq!(
            minify_json(b"{ \"a b\" : [1, 2],\n\t\"c\":\"x \\\" y\" }"),
            b"{\"a b\":[1,2],\"c\":\"x \\\" y\"}"
        );
    }

    fn req<'a>(
        method: &'a str,
        query: &'a str,
        headers: &'a [KeyValue],
        body: &'a [u8],
    ) -> HttpRequest<'a> {
        HttpRequest {
            method: RStr::from(method),
            path: RStr::from("answer"),
            full_path: RStr::from("/api/voice/vonage/answer"),
            query: RStr::from(query),
            headers: RSlice::from_slice(headers),
            body: RSlice::from_slice(body),
            remote_addr: RStr::from("127.0.0.1:1"),
            public_url: RStr::from("https://x"),
            peer_trusted: false,
        }
    }

    #[test]
    fn check_covers_header_and_payload() {
        let now = NOW;
        let query = "to=1&from=2&uuid=u";
        let hash = payload_hash(query_json(query).as_bytes());
        let token = sign(SECRET, &json!({"iat": now, "payload_hash": hash}));
        let auth = [KeyValue::new("Authorization", format!("Bearer {token}"))];
        verifier()
            .check(&req("GET", query, &auth, b""), now)
            .unwrap();
        // Another query: refused; without hash checks: accepted.
        let err = verifier()
            .check(&req("GET", "to=1&from=3&uuid=u", &auth, b""), now)
            .unwrap_err();
        assert!(err.message.contains("payload_hash"), "{err}");
        Verifier::new(SECRET, 300, None, false)
            .check(&req("GET", "to=1&from=3&uuid=u", &auth, b""), now)
            .unwrap();
        // POST: the body, as sent or minified.
        let body = br#"{ "status": "completed", "uuid": "u" }"#;
        for hashed in [&body[..], &minify_json(body)] {
            let token = sign(
                SECRET,
                &json!({"iat": now, "payload_hash": payload_hash(hashed)}),
            );
            let auth = [KeyValue::new("authorization", format!("bearer {token}"))];
            verifier()
                .check(&req("POST", "", &auth, body), now)
                .unwrap();
        }
        // No hash claim.
        let token = sign(SECRET, &json!({"iat": now}));
        let auth = [KeyValue::new("authorization", format!("Bearer {token}"))];
        let err = verifier()
            .check(&req("POST", "", &auth, body), now)
            .unwrap_err();
        assert!(err.message.contains("no payload_hash"), "{err}");
        // Missing or other schemes.
        for auth in [
            vec![],
            vec![KeyValue::new("authorization", format!("Basic {token}"))],
            vec![KeyValue::new("authorization", "Bearer ")],
        ] {
            let err = verifier()
                .check(&req("GET", query, &auth, b""), now)
                .unwrap_err();
            assert!(err.message.contains("missing"), "{err}");
        }
    }

    #[test]
    fn debug_hides_the_secret() {
        assert!(!format!("{:?}", verifier()).contains(SECRET));
    }
}
