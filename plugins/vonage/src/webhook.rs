//! The HTTP routes: the answer webhook (`answer`, GET with query parameters
//! by default) and the event webhook (`event`, POST JSON by default), both
//! signed with a JWT (docs/protocols.md e.1, e.4).

use std::borrow::Cow;

use serde_json::Value;
use voicegate_plugin_api::{
    CallEnded, CallRequest, Channel, ErrorKind, Host, HttpOutcome, HttpRequest, HttpResponse,
    KeyValue, PluginError, RString, RVec,
};

use crate::jwt::{Claims, Verifier};

/// The answer webhook route.
pub const ANSWER: &str = "answer";
/// The event webhook route.
pub const EVENT: &str = "event";

/// Call statuses after which a leg is over.
pub const FINAL_STATUSES: [&str; 7] = [
    "completed",
    "busy",
    "cancelled",
    "failed",
    "rejected",
    "timeout",
    "unanswered",
];

/// Fields that become [`CallRequest`] fields rather than attributes.
const CALL_FIELDS: [&str; 3] = ["uuid", "from", "to"];

/// Longest id accepted from Vonage (UUIDs, `CON-…`).
const MAX_ID_CHARS: usize = 128;

/// What the routes need from the instance.
pub struct Webhooks<'a> {
    /// `None` when `validate_signatures = false`.
    pub verifier: Option<&'a Verifier>,
    /// The host's clock.
    pub host: &'a Host,
}

impl Webhooks<'_> {
    /// Handles a request on one of the transport's HTTP routes.
    pub fn handle(&self, req: &HttpRequest<'_>) -> Result<HttpOutcome, PluginError> {
        let route = req.path.as_str();
        if route != ANSWER && route != EVENT {
            return Err(PluginError::new(
                ErrorKind::NOT_FOUND,
                format!("no Vonage route `{}`", route.escape_default()),
            ));
        }
        let method = req.method.as_str();
        let is_get = method.eq_ignore_ascii_case("GET");
        if !is_get && !method.eq_ignore_ascii_case("POST") {
            return Err(PluginError::invalid_input(format!(
                "`{route}` takes GET or POST, not {}",
                method.escape_default()
            )));
        }
        // Before anything from the request is looked at.
        let claims = match self.verifier {
            Some(v) => v.check(req, self.host.now_unix_ms() / 1000)?,
            None => Claims::default(),
        };
        let params = if is_get {
            form_urlencoded::parse(req.query.as_bytes()).collect()
        } else {
            json_params(req.body.as_slice())?
        };
        if route == ANSWER {
            answer(req, &params, &claims).map(HttpOutcome::NewCall)
        } else {
            event(&params)
        }
    }
}

/// One parameter: a query pair, or a top-level field of a JSON body
/// (strings as they are, other values as JSON text).
type Param<'a> = (Cow<'a, str>, Cow<'a, str>);

fn json_params(body: &[u8]) -> Result<Vec<Param<'static>>, PluginError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| PluginError::invalid_input(format!("the body is not JSON: {e}")))?;
    let Value::Object(map) = value else {
        return Err(PluginError::invalid_input("the body is not a JSON object"));
    };
    Ok(map
        .into_iter()
        .map(|(k, v)| {
            let v = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            (Cow::Owned(k), Cow::Owned(v))
        })
        .collect())
}

fn single<'p>(params: &'p [Param<'_>], name: &str) -> Result<Option<&'p str>, PluginError> {
    let mut values = params.iter().filter(|(k, _)| k == name).map(|(_, v)| &**v);
    let first = values.next();
    if values.next().is_some() {
        return Err(PluginError::invalid_input(format!(
            "the request repeats `{name}`"
        )));
    }
    Ok(first)
}

/// Whether `value` looks like a Vonage id.
pub fn is_id(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= MAX_ID_CHARS
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn id<'p>(params: &'p [Param<'_>], name: &str) -> Result<&'p str, PluginError> {
    match single(params, name)? {
        Some(v) if is_id(v) => Ok(v),
        Some(v) => Err(PluginError::invalid_input(format!(
            "`{name}` {:?} is not a Vonage id",
            v.chars().take(48).collect::<String>()
        ))),
        None => Err(PluginError::invalid_input(format!(
            "missing `{name}` (is this the Vonage answer webhook?)"
        ))),
    }
}

/// Vonage writes phone numbers as E.164 digits without the `+`
/// (`447700900001`); the call request carries E.164 (`+447700900001`), as
/// policies expect from every transport. Anything else (a SIP URI, an
/// app user, `Unknown`) is passed on as it is.
pub fn e164(number: &str) -> Cow<'_, str> {
    let digits = (7..=15).contains(&number.len())
        && !number.starts_with('0')
        && number.bytes().all(|b| b.is_ascii_digit());
    if digits {
        Cow::Owned(format!("+{number}"))
    } else {
        Cow::Borrowed(number)
    }
}

/// The answer webhook: a call is ringing; report it to the host, which runs
/// the policies and then asks [`crate::Vonage`] for the NCCO.
fn answer(
    req: &HttpRequest<'_>,
    params: &[Param<'_>],
    claims: &Claims,
) -> Result<CallRequest, PluginError> {
    let uuid = id(params, "uuid")?;
    let number =
        |name| Ok::<RString, PluginError>(e164(single(params, name)?.unwrap_or_default()).into());
    // Vonage says what kind of endpoint called: a phone, a SIP trunk, an
    // in-app (Client SDK) user …
    let channel = match single(params, "endpoint_type")? {
        None | Some("phone") => Channel::PSTN,
        Some("sip") => Channel::SIP,
        Some(_) => Channel::OTHER,
    };
    let mut attributes: Vec<KeyValue> = params
        .iter()
        .filter(|(k, _)| !CALL_FIELDS.contains(&&**k))
        .map(|(k, v)| KeyValue::new(&**k, &**v))
        .collect();
    if let Some(app) = &claims.application_id {
        if !attributes.iter().any(|kv| kv.key == "application_id") {
            attributes.push(KeyValue::new("application_id", app.as_str()));
        }
    }
    Ok(CallRequest {
        call_id: uuid.into(),
        account_id: claims.api_key.as_deref().unwrap_or_default().into(),
        from: number("from")?,
        to: number("to")?,
        direction: "inbound".into(),
        channel,
        attributes: RVec::from(attributes),
        remote_addr: req.remote_addr.as_str().into(),
        ..CallRequest::default()
    })
}

/// The event webhook: answered with 200; a final status of a leg ends the
/// session of the call with that `uuid` (the host ignores other legs, such
/// as the WebSocket's own).
fn event(params: &[Param<'_>]) -> Result<HttpOutcome, PluginError> {
    let response = HttpResponse::new(200);
    let status = single(params, "status")?;
    match (status, single(params, "uuid")?) {
        (Some(status), Some(uuid)) if FINAL_STATUSES.contains(&status) && is_id(uuid) => {
            Ok(HttpOutcome::CallEnded(CallEnded {
                call_id: uuid.into(),
                reason: status.into(),
                response,
            }))
        }
        _ => Ok(HttpOutcome::Respond(response)),
    }
}

#[cfg(test)]
mod tests {
    use super::e164;

    #[test]
    fn numbers_become_e164() {
        assert_eq!(e164("447700900001"), "+447700900001");
        assert_eq!(e164("14155550100"), "+14155550100");
        assert_eq!(e164("+14155550100"), "+14155550100");
        assert_eq!(e164("Unknown"), "Unknown");
        assert_eq!(e164("sip:alice@example.com"), "sip:alice@example.com");
        assert_eq!(e164("123456"), "123456");
        assert_eq!(e164("0123456789"), "0123456789");
        assert_eq!(e164(""), "");
    }
}
