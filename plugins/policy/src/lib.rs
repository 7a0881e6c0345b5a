//! The `policy` plugin: call admission by rate limit, block and allow
//! lists, caller-ID sanity, risk tiers and admin tokens.
//!
//! Each instance is one `[policies.<name>]` table; the host may chain
//! several (first deny wins). The checks, in order:
//!
//! 1. **Identity** (pure): `blocklist` → deny `blocklisted`; a non-empty
//!    `allowlist` the caller is not on → deny `not_allowlisted`; a malformed
//!    caller ID → deny `malformed_number` (`malformed_numbers = "deny"`) or
//!    HIGH tier with the same code as a note (`"high_risk"`).
//! 2. **Tier** (pure): the channel's base tier, raised to HIGH for an
//!    international caller, a recording request or sensitive data, each
//!    with a reason.
//! 3. **Rate limit**, only if nothing denied yet: one hit on the host's
//!    counter `policy:<instance>:rate:<caller>`; more than `calls` in the
//!    window → deny `rate_limited`.
//! 4. **Admin token**, only if nothing denied yet and the tier is HIGH or
//!    above: missing → `admin_token_required`, wrong →
//!    `admin_token_invalid`. Checking it last means denied callers learn
//!    nothing about tokens and guesses are rate limited.
//!
//! A verdict lists the deny reasons first, then the notes. See
//! `docs/policy.md` for the operator's view.

mod caller;
mod config;
mod country;
mod duration;
#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;
mod tokens;

use std::time::Duration;

use voicegate_plugin_api::{
    CallRequest, Context, Host, KeyValue, PluginError, Policy, Reason, RiskTier, Verdict,
};

use crate::{
    caller::{classify, find_match, shown, Caller},
    config::{MalformedMode, Settings},
};

/// Stable reason codes.
pub mod codes {
    /// Over the rate limit (deny).
    pub const RATE_LIMITED: &str = "rate_limited";
    /// On the blocklist (deny).
    pub const BLOCKLISTED: &str = "blocklisted";
    /// The allowlist is in use and the caller is not on it (deny).
    pub const NOT_ALLOWLISTED: &str = "not_allowlisted";
    /// The caller ID is empty, withheld or not E.164 (deny or note).
    pub const MALFORMED_NUMBER: &str = "malformed_number";
    /// The caller's country code is not the home one (note; HIGH).
    pub const INTERNATIONAL_CALLER: &str = "international_caller";
    /// The call asks to be recorded (note; HIGH).
    pub const RECORDING_REQUESTED: &str = "recording_requested";
    /// The call is flagged as carrying sensitive data (note; HIGH).
    pub const SENSITIVE_DATA: &str = "sensitive_data";
    /// HIGH tier and no admin token presented (deny).
    pub const ADMIN_TOKEN_REQUIRED: &str = "admin_token_required";
    /// HIGH tier and the token presented is not valid (deny).
    pub const ADMIN_TOKEN_INVALID: &str = "admin_token_invalid";
    /// HIGH tier and a valid admin token was presented (note).
    pub const ADMIN_TOKEN_ACCEPTED: &str = "admin_token_accepted";
}

/// Values of a flag parameter that do not count as set. Anything else
/// present counts, so an unexpected spelling errs on the safe side.
const FALSY: &[&str] = &["", "0", "false", "no", "off", "none", "do-not-record"];

/// One policy instance.
pub struct CallPolicy {
    instance: String,
    host: Host,
    settings: Settings,
}

impl std::fmt::Debug for CallPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallPolicy")
            .field("instance", &self.instance)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl CallPolicy {
    fn build(ctx: Context, reload: Duration) -> Result<Self, PluginError> {
        let settings = config::load(&ctx, reload)?;
        if settings.admin_tokens.count() == 0 {
            log::warn!(
                "Policy `{}` has no admin tokens; it denies every call of HIGH tier or above.",
                ctx.instance()
            );
        }
        Ok(Self {
            instance: ctx.instance().to_owned(),
            host: ctx.host().clone(),
            settings,
        })
    }

    /// The counter key of a caller.
    fn rate_key(&self, caller: &Caller<'_>) -> String {
        format!("policy:{}:rate:{}", self.instance, caller.counter_id())
    }

    /// The admin token presented: the request's field, else the custom
    /// parameter. `Err` when the parameter is given more than once.
    fn presented_token<'c>(&self, call: &'c CallRequest) -> Option<Result<&'c str, ()>> {
        if let Some(token) = call.admin_token.as_ref().into_option().map(|t| t.as_str()) {
            if !token.is_empty() {
                return Some(Ok(token));
            }
        }
        let name = self.settings.admin_token_param.as_str();
        let mut values = call
            .custom_params
            .iter()
            .filter(|kv| kv.key.as_str() == name)
            .map(|kv| kv.value.as_str());
        match (values.next(), values.next()) {
            (None, _) | (Some(""), None) => None,
            (Some(token), None) => Some(Ok(token)),
            (Some(_), Some(_)) => Some(Err(())),
        }
    }
}

/// Raises a tier to at least HIGH.
fn raise(tier: &mut RiskTier) {
    *tier = (*tier).max(RiskTier::HIGH);
}

/// The first value of `name` that is set (see [`FALSY`]) among the custom
/// parameters and carrier attributes. Every occurrence is looked at, so a
/// duplicate cannot hide a set flag.
fn flag<'c>(call: &'c CallRequest, name: &str) -> Option<&'c str> {
    let set = |kv: &&'c KeyValue| {
        kv.key.as_str() == name
            && !FALSY
                .iter()
                .any(|f| kv.value.as_str().trim().eq_ignore_ascii_case(f))
    };
    call.custom_params
        .iter()
        .chain(call.attributes.iter())
        .find(set)
        .map(|kv| kv.value.as_str())
}

impl Policy for CallPolicy {
    fn new(ctx: Context) -> Result<Self, PluginError> {
        Self::build(ctx, tokens::RELOAD_INTERVAL)
    }

    fn evaluate(&self, call: &CallRequest) -> Result<Verdict, PluginError> {
        let s = &self.settings;
        let caller = classify(call.from.as_str(), call.channel);
        let mut denies: Vec<Reason> = Vec::new();
        let mut notes: Vec<Reason> = Vec::new();
        let mut tier = s.base_tier.of(call.channel);

        // 1. Identity.
        if let Some(entry) = find_match(&s.blocklist, &caller) {
            denies.push(Reason::new(
                codes::BLOCKLISTED,
                format!(
                    "Caller {} is on the blocklist (entry `{}`).",
                    caller.display(),
                    entry.text()
                ),
            ));
        }
        if !s.allowlist.is_empty() && find_match(&s.allowlist, &caller).is_none() {
            denies.push(Reason::new(
                codes::NOT_ALLOWLISTED,
                format!("Caller {} is not on the allowlist.", caller.display()),
            ));
        }
        if let Caller::Malformed { why } = &caller {
            let reason = Reason::new(
                codes::MALFORMED_NUMBER,
                format!("Malformed caller ID: {why}."),
            );
            match s.malformed_numbers {
                MalformedMode::Deny => denies.push(reason),
                MalformedMode::HighRisk => {
                    raise(&mut tier);
                    notes.push(reason);
                }
            }
        }

        // 2. Tier escalations.
        if let Caller::Number { country_code, .. } = &caller {
            if *country_code != s.home_country_code {
                raise(&mut tier);
                notes.push(Reason::new(
                    codes::INTERNATIONAL_CALLER,
                    format!(
                        "Caller country code +{country_code} is not the home country code +{}.",
                        s.home_country_code
                    ),
                ));
            }
        }
        if let Some(value) = flag(call, &s.recording_param) {
            raise(&mut tier);
            notes.push(Reason::new(
                codes::RECORDING_REQUESTED,
                format!(
                    "Recording requested (`{}` = `{}`).",
                    shown(&s.recording_param),
                    shown(value)
                ),
            ));
        }
        if let Some(value) = flag(call, &s.sensitive_param) {
            raise(&mut tier);
            notes.push(Reason::new(
                codes::SENSITIVE_DATA,
                format!(
                    "Sensitive data flagged (`{}` = `{}`).",
                    shown(&s.sensitive_param),
                    shown(value)
                ),
            ));
        }

        // 3. Rate limit.
        if denies.is_empty() && find_match(&s.rate_limit_exempt, &caller).is_none() {
            let key = self.rate_key(&caller);
            let hits = self
                .host
                .counter_hit(&key, s.rate_limit.window_ms)
                .map_err(|e| e.context(format!("rate limit counter `{key}`")))?;
            if hits > s.rate_limit.calls {
                denies.push(Reason::new(
                    codes::RATE_LIMITED,
                    format!(
                        "{hits} calls in the last {} (limit {}).",
                        s.rate_limit.per, s.rate_limit.calls
                    ),
                ));
            }
        }

        // 4. Admin token.
        if denies.is_empty() && tier >= RiskTier::HIGH {
            let tier_name = tier.name();
            match self.presented_token(call) {
                None => denies.push(Reason::new(
                    codes::ADMIN_TOKEN_REQUIRED,
                    format!(
                        "A {tier_name} risk call needs an admin token (request field `admin_token` or custom parameter `{}`).",
                        shown(&s.admin_token_param)
                    ),
                )),
                Some(Err(())) => denies.push(Reason::new(
                    codes::ADMIN_TOKEN_INVALID,
                    format!(
                        "The custom parameter `{}` was given more than once.",
                        shown(&s.admin_token_param)
                    ),
                )),
                Some(Ok(token)) if s.admin_tokens.accepts(token) => notes.push(Reason::new(
                    codes::ADMIN_TOKEN_ACCEPTED,
                    format!("A valid admin token admitted this {tier_name} risk call."),
                )),
                Some(Ok(_)) => denies.push(Reason::new(
                    codes::ADMIN_TOKEN_INVALID,
                    "The admin token presented is not valid.",
                )),
            }
        }

        let allow = denies.is_empty();
        denies.extend(notes);
        Ok(Verdict {
            allow,
            tier,
            reasons: denies.into(),
            extensions_json: Default::default(),
        })
    }
}

voicegate_plugin_api::export_plugin!(policy = CallPolicy);
