//! The HTTP routes: the TeXML voice webhook (`inbound`) and the call status
//! callback (`status`), both signed with Ed25519 (docs/protocols.md d.1, d.4).

use std::borrow::Cow;

use voicegate_plugin_api::{
    CallEnded, CallRequest, Channel, ErrorKind, Host, HttpOutcome, HttpRequest, HttpResponse,
    KeyValue, PluginError, RString, RVec,
};

use crate::signature::{shown, Verifier};

/// The voice webhook route.
pub const INBOUND: &str = "inbound";
/// The status callback route.
pub const STATUS: &str = "status";

/// Call statuses after which the call is over.
pub const FINAL_STATUSES: [&str; 5] = ["completed", "busy", "failed", "no-answer", "canceled"];

/// Form fields that become [`CallRequest`] fields rather than attributes.
const CALL_FIELDS: [&str; 5] = ["CallSid", "AccountSid", "From", "To", "Direction"];

/// Longest id accepted from Telnyx (`v3:` + base64url, a UUID …).
const MAX_ID_CHARS: usize = 256;

/// One form pair, decoded.
pub type Param<'a> = (Cow<'a, str>, Cow<'a, str>);

/// What the routes need from the instance.
pub struct Webhooks<'a> {
    /// `None` when `validate_signatures = false`.
    pub verifier: Option<&'a Verifier>,
    /// Whether GET requests are accepted.
    pub allow_get: bool,
    /// The host's clock.
    pub host: &'a Host,
}

impl Webhooks<'_> {
    /// Handles a request on one of the transport's HTTP routes.
    pub fn handle(&self, req: &HttpRequest<'_>) -> Result<HttpOutcome, PluginError> {
        let route = req.path.as_str();
        if route != INBOUND && route != STATUS {
            return Err(PluginError::new(
                ErrorKind::NOT_FOUND,
                format!("no Telnyx route `{}`", route.escape_default()),
            ));
        }
        let method = req.method.as_str();
        let is_get = method.eq_ignore_ascii_case("GET");
        if is_get && !self.allow_get {
            return Err(PluginError::invalid_input(format!(
                "`{route}` got a GET: set the TeXML application's webhook method to POST \
                 (Telnyx signs the body, so a GET's query is not covered by the signature), \
                 or set allow_get = true"
            )));
        }
        if !is_get && !method.eq_ignore_ascii_case("POST") {
            return Err(PluginError::invalid_input(format!(
                "`{route}` takes POST, not {}",
                method.escape_default()
            )));
        }
        // Before anything from the request is looked at.
        if let Some(verifier) = self.verifier {
            verifier.check(req, self.host.now_unix_ms() / 1000)?;
        }
        let params: Vec<Param<'_>> = if is_get {
            form_urlencoded::parse(req.query.as_bytes()).collect()
        } else {
            form_urlencoded::parse(req.body.as_slice()).collect()
        };
        let form = Form(&params);
        if route == INBOUND {
            inbound(req, &form).map(HttpOutcome::NewCall)
        } else {
            status(&form)
        }
    }
}

/// Lookups into the form.
struct Form<'p, 'a>(&'p [Param<'a>]);

impl Form<'_, '_> {
    /// The value of a field that must appear at most once.
    fn single(&self, name: &str) -> Result<Option<&str>, PluginError> {
        let mut values = self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| &**v);
        let first = values.next();
        if values.next().is_some() {
            return Err(PluginError::invalid_input(format!(
                "the form repeats `{name}`"
            )));
        }
        Ok(first)
    }

    /// An id field that must be present: printable ASCII, no spaces.
    fn id(&self, name: &str) -> Result<&str, PluginError> {
        match self.single(name)? {
            Some(value) if is_id(value) => Ok(value),
            Some(value) => Err(PluginError::invalid_input(format!(
                "`{name}` {} is not a Telnyx id (1 to {MAX_ID_CHARS} printable ASCII characters)",
                shown(value)
            ))),
            None => Err(PluginError::invalid_input(format!(
                "missing `{name}` (is this a Telnyx TeXML webhook?)"
            ))),
        }
    }

    fn text(&self, name: &str) -> Result<RString, PluginError> {
        Ok(self.single(name)?.unwrap_or_default().into())
    }
}

/// Whether `value` looks like a Telnyx id (`v3:…`, a UUID, digits).
pub fn is_id(value: &str) -> bool {
    !value.is_empty() && value.len() <= MAX_ID_CHARS && value.bytes().all(|b| b.is_ascii_graphic())
}

/// The voice webhook: a call is ringing; report it to the host, which runs
/// the policies and then asks [`crate::Telnyx`] for the TeXML answer.
fn inbound(req: &HttpRequest<'_>, form: &Form<'_, '_>) -> Result<CallRequest, PluginError> {
    let call_id = form.id("CallSid")?;
    let account_id = form.id("AccountSid")?;
    // Instruction fetches for inbound calls need not say so.
    let direction = form.single("Direction")?.unwrap_or("inbound");
    let attributes: RVec<KeyValue> = form
        .0
        .iter()
        .filter(|(k, _)| !CALL_FIELDS.contains(&&**k))
        .map(|(k, v)| KeyValue::new(&**k, &**v))
        .collect();
    Ok(CallRequest {
        call_id: call_id.into(),
        account_id: account_id.into(),
        from: form.text("From")?,
        to: form.text("To")?,
        direction: direction.into(),
        channel: Channel::PSTN,
        attributes,
        remote_addr: req.remote_addr.as_str().into(),
        ..CallRequest::default()
    })
}

/// The status callback: answered with 204; a final status ends the call.
/// Stream status callbacks (`StreamEvent`) carry no `CallStatus` and are
/// only acknowledged.
fn status(form: &Form<'_, '_>) -> Result<HttpOutcome, PluginError> {
    let call_id = form.id("CallSid")?;
    let response = HttpResponse::new(204);
    match form.single("CallStatus")? {
        Some(status) if FINAL_STATUSES.contains(&status) => Ok(HttpOutcome::CallEnded(CallEnded {
            call_id: call_id.into(),
            reason: status.into(),
            response,
        })),
        Some(_) => Ok(HttpOutcome::Respond(response)),
        None if form.single("StreamEvent")?.is_some() => Ok(HttpOutcome::Respond(response)),
        None => Err(PluginError::invalid_input(
            "missing `CallStatus` (is this a Telnyx status callback?)",
        )),
    }
}
