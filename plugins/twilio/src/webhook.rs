//! The HTTP routes: the voice webhook (`inbound`) and the call status
//! callback (`status`), both signed form posts (docs/protocols.md (b), (c)).

use voicegate_plugin_api::{
    CallEnded, CallRequest, Channel, ErrorKind, HttpOutcome, HttpRequest, HttpResponse, KeyValue,
    PluginError, RString, RVec,
};

use crate::{
    sid,
    signature::{Param, Signer},
};

/// The voice webhook route.
pub const INBOUND: &str = "inbound";
/// The status callback route.
pub const STATUS: &str = "status";

/// Call statuses after which the call is over.
const FINAL_STATUSES: [&str; 5] = ["completed", "busy", "failed", "no-answer", "canceled"];

/// Form fields that become [`CallRequest`] fields rather than attributes.
const CALL_FIELDS: [&str; 5] = ["CallSid", "AccountSid", "From", "To", "Direction"];

/// Handles a request on one of the transport's HTTP routes.
pub fn handle(signer: Option<&Signer>, req: &HttpRequest<'_>) -> Result<HttpOutcome, PluginError> {
    let route = req.path.as_str();
    if route != INBOUND && route != STATUS {
        return Err(PluginError::new(
            ErrorKind::NOT_FOUND,
            format!("no Twilio route `{}`", route.escape_default()),
        ));
    }
    if !req.method.eq_ignore_ascii_case("POST") {
        return Err(PluginError::invalid_input(format!(
            "`{route}` takes POST (configure the Twilio console with HTTP POST), not {}",
            req.method.as_str().escape_default()
        )));
    }
    let params = form_params(req);
    if let Some(signer) = signer {
        signer.check_webhook(req, &params)?;
    }
    let form = Form(&params);
    if route == INBOUND {
        inbound(req, &form).map(HttpOutcome::NewCall)
    } else {
        status(&form)
    }
}

/// The decoded form body: every pair, in order, repeated names included.
/// A body that is not form-encoded yields no pairs (the signature check then
/// needs `bodySHA256`).
fn form_params<'a>(req: &HttpRequest<'a>) -> Vec<Param<'a>> {
    let is_form = req.header("content-type").is_none_or(|ct| {
        ct.trim_start()
            .get(..33)
            .is_some_and(|t| t.eq_ignore_ascii_case("application/x-www-form-urlencoded"))
    });
    if is_form {
        form_urlencoded::parse(req.body.as_slice()).collect()
    } else {
        Vec::new()
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

    /// A SID field that must be present and well-formed.
    fn sid(&self, name: &str, prefix: &str) -> Result<&str, PluginError> {
        match self.single(name)? {
            Some(value) if sid::is_valid(prefix, value) => Ok(value),
            Some(value) => Err(PluginError::invalid_input(format!(
                "`{name}` {} is not a Twilio SID ({prefix} + 32 hex digits)",
                sid::shown(value)
            ))),
            None => Err(PluginError::invalid_input(format!(
                "missing `{name}` (is this the Twilio voice webhook?)"
            ))),
        }
    }

    fn text(&self, name: &str) -> Result<RString, PluginError> {
        Ok(self.single(name)?.unwrap_or_default().into())
    }
}

/// The voice webhook: a call is ringing; report it to the host, which runs
/// the policies and then asks [`crate::Twilio`] for the TwiML answer.
fn inbound(req: &HttpRequest<'_>, form: &Form<'_, '_>) -> Result<CallRequest, PluginError> {
    let call_id = form.sid("CallSid", sid::CALL)?;
    let account_id = form.sid("AccountSid", sid::ACCOUNT)?;
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
        direction: form.text("Direction")?,
        channel: Channel::PSTN,
        attributes,
        remote_addr: req.remote_addr.as_str().into(),
        ..CallRequest::default()
    })
}

/// The status callback: answered with 204; a final status ends the call.
fn status(form: &Form<'_, '_>) -> Result<HttpOutcome, PluginError> {
    let call_id = form.sid("CallSid", sid::CALL)?;
    form.sid("AccountSid", sid::ACCOUNT)?;
    let status = form
        .single("CallStatus")?
        .ok_or_else(|| PluginError::invalid_input("missing `CallStatus`"))?;
    let response = HttpResponse::new(204);
    if FINAL_STATUSES.contains(&status) {
        Ok(HttpOutcome::CallEnded(CallEnded {
            call_id: call_id.into(),
            reason: status.into(),
            response,
        }))
    } else {
        Ok(HttpOutcome::Respond(response))
    }
}
