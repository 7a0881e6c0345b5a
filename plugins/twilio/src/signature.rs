//! `X-Twilio-Signature`: HMAC-SHA1 over the URL (and form parameters), keyed
//! with the account's Auth Token, exactly as Twilio's helper libraries check
//! it (docs/protocols.md (b)).
//!
//! * Form requests: URL, then for each parameter name in byte order, each of
//!   its distinct values in byte order, `name + value`, no separators.
//! * Non-form bodies: the URL carries `bodySHA256=<hex sha256 of the body>`;
//!   only the URL is signed and the body hash must match.
//! * WebSocket upgrades: the URL as Twilio dialled it, `wss://…`, no body.
//!
//! A match on either port form of the URL is accepted (without the port, or
//! with the default port added), because Twilio is inconsistent about ports.

use std::borrow::Cow;

use base64::{engine::general_purpose::STANDARD, Engine as _};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use voicegate_plugin_api::{HttpRequest, PluginError};

/// The header Twilio signs every request with.
pub const HEADER: &str = "x-twilio-signature";

/// The query parameter that carries the body hash of non-form requests.
const BODY_HASH_PARAM: &str = "bodySHA256";

/// A form or query parameter, decoded.
pub type Param<'a> = (Cow<'a, str>, Cow<'a, str>);

/// Computes and checks signatures with one Auth Token.
#[derive(Clone)]
pub struct Signer {
    /// The HMAC state after the key schedule, cloned for every message.
    mac: Hmac<Sha1>,
}

impl Signer {
    /// A signer keyed with the Auth Token.
    pub fn new(auth_token: &str) -> Self {
        // HMAC accepts keys of any length; this cannot fail.
        let mac = match Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC takes keys of any length"),
        };
        Self { mac }
    }

    /// The raw HMAC of `url` followed by the sorted, de-duplicated `params`.
    fn digest(&self, url: &str, params: &[&Param<'_>]) -> [u8; 20] {
        let mut mac = self.mac.clone();
        mac.update(url.as_bytes());
        for (name, value) in params {
            mac.update(name.as_bytes());
            mac.update(value.as_bytes());
        }
        mac.finalize().into_bytes().into()
    }

    /// The signature Twilio would send for `url` and `params` (base64).
    pub fn sign(&self, url: &str, params: &[Param<'_>]) -> String {
        STANDARD.encode(self.digest(url, &canonical(params)))
    }

    /// Whether `signature` matches `url` (in either port form) and `params`.
    /// The comparison is constant-time.
    pub fn matches(&self, url: &str, params: &[Param<'_>], signature: &str) -> bool {
        self.matches_canonical(url, &canonical(params), signature)
    }

    fn matches_canonical(&self, url: &str, params: &[&Param<'_>], signature: &str) -> bool {
        let mut encoded = [0u8; 28]; // base64 of 20 bytes, padded
        let mut ok = subtle::Choice::from(0);
        for candidate in port_variants(url) {
            let digest = self.digest(&candidate, params);
            let written = match STANDARD.encode_slice(digest, &mut encoded) {
                Ok(n) => n,
                Err(_) => unreachable!("28 bytes hold the base64 of 20"),
            };
            ok |= encoded[..written].ct_eq(signature.as_bytes());
        }
        ok.into()
    }

    /// Checks a webhook: the signature over `req.public_request_url()` and
    /// the form `params` of its body, or, when the URL carries `bodySHA256`,
    /// over the URL alone plus the SHA-256 of the raw body.
    pub fn check_webhook(
        &self,
        req: &HttpRequest<'_>,
        params: &[Param<'_>],
    ) -> Result<(), PluginError> {
        let signature = header(req)?;
        let url = req.public_request_url();
        let body_hash = form_urlencoded::parse(req.query.as_bytes())
            .find(|(name, _)| name == BODY_HASH_PARAM)
            .map(|(_, value)| value);
        let signed = match &body_hash {
            Some(_) => self.matches_canonical(&url, &[], signature),
            None => self.matches(&url, params, signature),
        };
        if !signed {
            return Err(mismatch(&url));
        }
        if let Some(expected) = body_hash {
            let actual = hex(&Sha256::digest(req.body.as_slice()));
            let expected = expected.to_ascii_lowercase();
            if !bool::from(actual.as_bytes().ct_eq(expected.as_bytes())) {
                return Err(PluginError::unauthorized(
                    "the body does not match the signed bodySHA256",
                ));
            }
        }
        Ok(())
    }

    /// Checks a WebSocket upgrade: the signature over the URL Twilio dialled,
    /// `wss://` (or `ws://`) + public host + full path + query, no body. The
    /// `https://` form is accepted as well.
    pub fn check_upgrade(&self, req: &HttpRequest<'_>) -> Result<(), PluginError> {
        let signature = header(req)?;
        let url = req.public_request_url();
        let ws_url = websocket_form(&url);
        let signed = ws_url
            .iter()
            .map(String::as_str)
            .chain([url.as_str()])
            .any(|candidate| self.matches_canonical(candidate, &[], signature));
        if signed {
            Ok(())
        } else {
            Err(mismatch(ws_url.as_deref().unwrap_or(&url)))
        }
    }
}

fn header<'a>(req: &HttpRequest<'a>) -> Result<&'a str, PluginError> {
    match req.header(HEADER).map(str::trim) {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(PluginError::unauthorized(
            "missing X-Twilio-Signature header",
        )),
    }
}

fn mismatch(url: &str) -> PluginError {
    PluginError::unauthorized(format!(
        "X-Twilio-Signature does not match {url} \
         (check `auth_token` and that server.public_url is the URL configured at Twilio)"
    ))
}

/// Parameters in signing order: by name, then value, duplicates removed.
fn canonical<'p, 'a>(params: &'p [Param<'a>]) -> Vec<&'p Param<'a>> {
    let mut sorted: Vec<&Param<'a>> = params.iter().collect();
    sorted.sort_unstable();
    sorted.dedup();
    sorted
}

/// Lower-case hex.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0F)]));
    }
    out
}

/// The URL with `https` → `wss` and `http` → `ws`; `None` for other schemes.
fn websocket_form(url: &str) -> Option<String> {
    if let Some(rest) = url.strip_prefix("https://") {
        Some(format!("wss://{rest}"))
    } else {
        url.strip_prefix("http://")
            .map(|rest| format!("ws://{rest}"))
    }
}

fn default_port(scheme: &str) -> Option<&'static str> {
    match scheme.to_ascii_lowercase().as_str() {
        "https" | "wss" => Some("443"),
        "http" | "ws" => Some("80"),
        _ => None,
    }
}

/// The two forms twilio-python checks: the URL without its port, and the URL
/// with a port (its own, or the scheme's default added). One of them is the
/// URL itself. A URL that cannot be split is returned as it is.
pub fn port_variants(url: &str) -> Vec<Cow<'_, str>> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return vec![Cow::Borrowed(url)];
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let host_start = authority.rfind('@').map_or(0, |at| at + 1);
    let (userinfo, hostport) = authority.split_at(host_start);
    // A port is `:digits` after the host; an IPv6 host is in brackets.
    let port_colon = hostport
        .rfind(':')
        .filter(|&colon| !hostport[colon..].contains(']'))
        .filter(|&colon| {
            let digits = &hostport[colon + 1..];
            !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
        });
    match port_colon {
        Some(colon) => {
            let without = format!("{scheme}://{userinfo}{}{tail}", &hostport[..colon]);
            vec![Cow::Owned(without), Cow::Borrowed(url)]
        }
        None => match default_port(scheme) {
            Some(port) => {
                let with = format!("{scheme}://{userinfo}{hostport}:{port}{tail}");
                vec![Cow::Borrowed(url), Cow::Owned(with)]
            }
            None => vec![Cow::Borrowed(url)],
        },
    }
}

#[cfg(test)]
mod tests {
    use voicegate_plugin_api::{ErrorKind, KeyValue, RSlice, RStr};

    use super::*;

    const TOKEN: &str = "12345";
    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";

    fn p<'a>(pairs: &[(&'a str, &'a str)]) -> Vec<Param<'a>> {
        pairs
            .iter()
            .map(|&(k, v)| (Cow::Borrowed(k), Cow::Borrowed(v)))
            .collect()
    }

    fn params1() -> Vec<Param<'static>> {
        p(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ])
    }

    fn signer() -> Signer {
        Signer::new(TOKEN)
    }

    // b.4 vector 1.
    #[test]
    fn vector_1_form_params() {
        assert_eq!(
            signer().sign(URL, &params1()),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        );
        assert!(signer().matches(URL, &params1(), "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
    }

    #[test]
    fn vector_1_signed_string() {
        // The exact string of b.4, signed with a fresh HMAC.
        let s = "https://mycompany.com/myapp.php?foo=1&bar=2CallSidCA1234567890ABCDECaller+14158675309Digits1234From+14158675309To+18005551212";
        let mut mac = Hmac::<Sha1>::new_from_slice(TOKEN.as_bytes()).unwrap();
        mac.update(s.as_bytes());
        let want = STANDARD.encode(mac.finalize().into_bytes());
        assert_eq!(want, "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
        // Parameter order in the request does not matter.
        let mut shuffled = params1();
        shuffled.reverse();
        assert_eq!(signer().sign(URL, &shuffled), want);
    }

    // b.4 vector 2: repeated names, duplicate values removed, values sorted.
    #[test]
    fn vector_2_repeated_and_duplicate_values() {
        let params = p(&[
            ("Sid", "CA123"),
            ("SidAccount", "AC123"),
            ("Digits", "5678"),
            ("Digits", "1234"),
            ("Digits", "1234"),
        ]);
        assert_eq!(signer().sign(URL, &params), "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
        assert!(signer().matches(URL, &params, "IK+Dwps556ElfBT0I3Rgjkr1wJU="));
    }

    // b.4 vector 3: https with :443 in the signed URL.
    #[test]
    fn vector_3_https_default_port() {
        let url = "https://mycompany.com:443/myapp.php?foo=1&bar=2";
        let sig = "kvajT1Ptam85bY51eRf/AJRuM3w=";
        assert_eq!(signer().sign(url, &params1()), sig);
        assert!(signer().matches(url, &params1(), sig));
        // Validates for the port-less URL (the port is added).
        assert!(signer().matches(URL, &params1(), sig));
    }

    // b.4 vector 4: http with :80.
    #[test]
    fn vector_4_http_default_port() {
        let url = "http://mycompany.com:80/myapp.php?foo=1&bar=2";
        let sig = "0ZXoZLH/DfblKGATFgpif+LLRf4=";
        assert_eq!(signer().sign(url, &params1()), sig);
        assert!(signer().matches(
            "http://mycompany.com/myapp.php?foo=1&bar=2",
            &params1(),
            sig
        ));
    }

    // b.4 vector 5: a non-default port.
    #[test]
    fn vector_5_custom_port() {
        let url = "http://mycompany.com:1234/myapp.php?foo=1&bar=2";
        let sig = "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=";
        assert_eq!(signer().sign(url, &params1()), sig);
        assert!(signer().matches(url, &params1(), sig));
        // A non-default port is never invented for a port-less URL.
        assert!(!signer().matches(
            "http://mycompany.com/myapp.php?foo=1&bar=2",
            &params1(),
            sig
        ));
        assert!(!signer().matches(
            "http://mycompany.com:80/myapp.php?foo=1&bar=2",
            &params1(),
            sig
        ));
    }

    #[test]
    fn vector_1_validates_with_a_port_added() {
        // twilio-python: the port is removed before signing.
        let url = "https://mycompany.com:1234/myapp.php?foo=1&bar=2";
        assert!(signer().matches(url, &params1(), "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
    }

    #[test]
    fn wrong_inputs_fail() {
        let sig = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";
        assert!(!Signer::new("54321").matches(URL, &params1(), sig));
        let other_query = "https://mycompany.com/myapp.php?foo=2&bar=2";
        assert!(!signer().matches(other_query, &params1(), sig));
        let mut params = params1();
        params[2].1 = Cow::Borrowed("1235");
        assert!(!signer().matches(URL, &params, sig));
        assert!(!signer().matches(URL, &params1(), ""));
        assert!(!signer().matches(URL, &params1(), &sig[..27]));
        assert!(!signer().matches(URL, &params1(), "RSOYDt4T1cUTdK1PDd93/VVr8B8=="));
    }

    #[test]
    fn port_variants_cover_both_forms() {
        let v = |url| {
            port_variants(url)
                .into_iter()
                .map(Cow::into_owned)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            v("https://a.b/x?y=1"),
            ["https://a.b/x?y=1", "https://a.b:443/x?y=1"]
        );
        assert_eq!(v("http://a.b"), ["http://a.b", "http://a.b:80"]);
        assert_eq!(v("wss://a.b/s"), ["wss://a.b/s", "wss://a.b:443/s"]);
        assert_eq!(v("ws://a.b:8080/s"), ["ws://a.b/s", "ws://a.b:8080/s"]);
        assert_eq!(
            v("https://u:p@a.b:1234/x"),
            ["https://u:p@a.b/x", "https://u:p@a.b:1234/x"]
        );
        assert_eq!(
            v("http://[::1]:8080/x"),
            ["http://[::1]/x", "http://[::1]:8080/x"]
        );
        assert_eq!(v("http://[::1]/x"), ["http://[::1]/x", "http://[::1]:80/x"]);
        assert_eq!(
            v("http://a.b/x?t=1:2"),
            ["http://a.b/x?t=1:2", "http://a.b:80/x?t=1:2"]
        );
        assert_eq!(v("ftp://a.b/x"), ["ftp://a.b/x"]);
        assert_eq!(v("not a url"), ["not a url"]);
    }

    fn request<'a>(
        headers: &'a [KeyValue],
        public_url: &'a str,
        full_path: &'a str,
        query: &'a str,
        body: &'a [u8],
    ) -> HttpRequest<'a> {
        HttpRequest {
            method: RStr::from("POST"),
            path: RStr::from(""),
            full_path: RStr::from(full_path),
            query: RStr::from(query),
            headers: RSlice::from_slice(headers),
            body: RSlice::from_slice(body),
            remote_addr: RStr::from("127.0.0.1:5000"),
            public_url: RStr::from(public_url),
            peer_trusted: false,
        }
    }

    // b.4 vector 6: a JSON body, signed through bodySHA256.
    #[test]
    fn vector_6_body_sha256() {
        let body = br#"{"property": "value", "boolean": true}"#;
        let query = "foo=1&bar=2&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
        let sig = "a9nBmqA0ju/hNViExpshrM61xv4=";
        assert_eq!(hex(&Sha256::digest(body)), &query[23..]);
        assert_eq!(
            signer().sign(&format!("https://mycompany.com/myapp.php?{query}"), &[]),
            sig
        );

        let headers = [KeyValue::new("x-twilio-signature", sig)];
        let req = request(&headers, "https://mycompany.com", "/myapp.php", query, body);
        signer().check_webhook(&req, &[]).unwrap();

        // Only when the body hash also matches.
        let tampered = br#"{"property": "value", "boolean": false}"#;
        let req = request(
            &headers,
            "https://mycompany.com",
            "/myapp.php",
            query,
            tampered,
        );
        let err = signer().check_webhook(&req, &[]).unwrap_err();
        assert_eq!(err.kind, ErrorKind::UNAUTHORIZED);
        assert!(err.message.contains("bodySHA256"), "{err}");

        // And the hash in the URL is covered by the signature.
        let other = query.replace("0a1f", "0a1e");
        let req = request(
            &headers,
            "https://mycompany.com",
            "/myapp.php",
            &other,
            body,
        );
        assert_eq!(
            signer().check_webhook(&req, &[]).unwrap_err().kind,
            ErrorKind::UNAUTHORIZED
        );
    }

    #[test]
    fn webhook_check_uses_the_public_url_and_form_params() {
        let sig = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";
        let headers = [KeyValue::new("x-twilio-signature", sig)];
        let req = request(
            &headers,
            "https://mycompany.com",
            "/myapp.php",
            "foo=1&bar=2",
            b"",
        );
        signer().check_webhook(&req, &params1()).unwrap();
        let req = request(
            &headers,
            "https://mycompany.com:443",
            "/myapp.php",
            "foo=1&bar=2",
            b"",
        );
        signer().check_webhook(&req, &params1()).unwrap();
        let req = request(
            &headers,
            "https://other.com",
            "/myapp.php",
            "foo=1&bar=2",
            b"",
        );
        let err = signer().check_webhook(&req, &params1()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::UNAUTHORIZED);
        assert!(
            err.message
                .contains("https://other.com/myapp.php?foo=1&bar=2"),
            "{err}"
        );
    }

    #[test]
    fn missing_header_is_unauthorized() {
        let req = request(
            &[],
            "https://mycompany.com",
            "/myapp.php",
            "foo=1&bar=2",
            b"",
        );
        let err = signer().check_webhook(&req, &params1()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::UNAUTHORIZED);
        assert!(err.message.contains("missing"), "{err}");
        let headers = [KeyValue::new("X-Twilio-Signature", " ")];
        let req = request(&headers, "https://mycompany.com", "/myapp.php", "", b"");
        assert_eq!(
            signer().check_upgrade(&req).unwrap_err().kind,
            ErrorKind::UNAUTHORIZED
        );
    }

    #[test]
    fn upgrade_check_accepts_wss_https_and_port_forms() {
        let path = "/api/voice/twilio/stream/twilio-CA1-abc";
        for signed in [
            "wss://voice.example.com/api/voice/twilio/stream/twilio-CA1-abc",
            "wss://voice.example.com:443/api/voice/twilio/stream/twilio-CA1-abc",
            "https://voice.example.com/api/voice/twilio/stream/twilio-CA1-abc",
            "https://voice.example.com:443/api/voice/twilio/stream/twilio-CA1-abc",
        ] {
            let sig = signer().sign(signed, &[]);
            let headers = [KeyValue::new("x-twilio-signature", &sig)];
            for public in ["https://voice.example.com", "https://voice.example.com:443"] {
                let req = request(&headers, public, path, "", b"");
                signer()
                    .check_upgrade(&req)
                    .unwrap_or_else(|e| panic!("{signed} via {public}: {e}"));
            }
        }
        // Plain-HTTP deployments (tests, a local fake carrier) sign ws://.
        let sig = signer().sign("ws://127.0.0.1:8080/s?x=1", &[]);
        let headers = [KeyValue::new("x-twilio-signature", &sig)];
        signer()
            .check_upgrade(&request(
                &headers,
                "http://127.0.0.1:8080",
                "/s",
                "x=1",
                b"",
            ))
            .unwrap();
        // Query and path are covered.
        let err = signer()
            .check_upgrade(&request(
                &headers,
                "http://127.0.0.1:8080",
                "/s",
                "x=2",
                b"",
            ))
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::UNAUTHORIZED);
        assert!(err.message.contains("ws://127.0.0.1:8080/s?x=2"), "{err}");
    }
}
