//! The instance table: every key checked at construction, every problem
//! reported at once, each with its key.
//!
//! serde's `deny_unknown_fields` stops at the first unknown key, so the top
//! level is read as a map and checked key by key; the nested tables
//! (`rate_limit`, `base_tier`) are typed structs with `deny_unknown_fields`.
//! Values are never echoed for `admin_tokens` (type errors name the type
//! only), so a misplaced secret does not end up in the host's logs.

use std::time::Duration;

use serde::{de::DeserializeOwned, Deserialize};
use serde_json::{Map, Value};
use voicegate_plugin_api::{Channel, ConfigIssue, Context, PluginError, RiskTier};

use crate::{
    caller::{Pattern, PATTERN_SYNTAX},
    country,
    duration::{parse_period, PERIOD_SYNTAX},
    tokens::{check_rule, AdminTokens, TokenFile},
};

/// Every top-level key, in the order the docs list them.
pub(crate) const KEYS: &[&str] = &[
    "rate_limit",
    "rate_limit_exempt",
    "blocklist",
    "allowlist",
    "malformed_numbers",
    "base_tier",
    "home_country_code",
    "recording_param",
    "sensitive_param",
    "admin_token_param",
    "admin_tokens",
    "admin_tokens_file",
];

/// What to do with a caller whose ID is not a usable number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum MalformedMode {
    /// Deny the call.
    Deny,
    /// Raise the tier to HIGH (so an admin token is needed).
    HighRisk,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RateLimitTable {
    calls: Option<u64>,
    per: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum TierName {
    Low,
    Medium,
    High,
    Critical,
}

impl From<TierName> for RiskTier {
    fn from(name: TierName) -> Self {
        match name {
            TierName::Low => RiskTier::LOW,
            TierName::Medium => RiskTier::MEDIUM,
            TierName::High => RiskTier::HIGH,
            TierName::Critical => RiskTier::CRITICAL,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BaseTierTable {
    pstn: Option<TierName>,
    browser: Option<TierName>,
    sip: Option<TierName>,
    other: Option<TierName>,
}

/// The tier each channel starts at.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BaseTiers {
    pstn: RiskTier,
    browser: RiskTier,
    sip: RiskTier,
    other: RiskTier,
}

impl Default for BaseTiers {
    fn default() -> Self {
        Self {
            pstn: RiskTier::MEDIUM,
            browser: RiskTier::LOW,
            sip: RiskTier::MEDIUM,
            other: RiskTier::MEDIUM,
        }
    }
}

impl BaseTiers {
    pub(crate) fn of(&self, channel: Channel) -> RiskTier {
        match channel {
            Channel::PSTN => self.pstn,
            Channel::BROWSER => self.browser,
            Channel::SIP => self.sip,
            _ => self.other,
        }
    }
}

/// The rate limit.
#[derive(Debug, Clone)]
pub(crate) struct RateLimit {
    pub(crate) calls: u64,
    pub(crate) window_ms: u64,
    /// The period as the operator wrote it (`1h`), for messages.
    pub(crate) per: String,
}

/// A validated instance configuration.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) rate_limit: RateLimit,
    pub(crate) rate_limit_exempt: Vec<Pattern>,
    pub(crate) blocklist: Vec<Pattern>,
    pub(crate) allowlist: Vec<Pattern>,
    pub(crate) malformed_numbers: MalformedMode,
    pub(crate) base_tier: BaseTiers,
    pub(crate) home_country_code: String,
    pub(crate) recording_param: String,
    pub(crate) sensitive_param: String,
    pub(crate) admin_token_param: String,
    pub(crate) admin_tokens: AdminTokens,
}

/// Collects issues.
#[derive(Default)]
struct Issues(Vec<ConfigIssue>);

impl Issues {
    fn push(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigIssue {
            key: key.into().into(),
            message: message.into().into(),
        });
    }
}

/// Reads and checks the instance table. `reload` is how often the tokens
/// file may be looked at.
pub(crate) fn load(ctx: &Context, reload: Duration) -> Result<Settings, PluginError> {
    let table: Map<String, Value> = ctx.config()?;
    let mut issues = Issues::default();

    for key in table.keys() {
        if !KEYS.contains(&key.as_str()) {
            issues.push(
                key.as_str(),
                format!("unknown key; expected one of {}", KEYS.join(", ")),
            );
        }
    }

    let rate_limit = rate_limit(&table, &mut issues);
    let rate_limit_exempt = patterns(&table, "rate_limit_exempt", &mut issues);
    let blocklist = patterns(&table, "blocklist", &mut issues);
    let allowlist = patterns(&table, "allowlist", &mut issues);
    let malformed_numbers = typed::<MalformedMode>(&table, "malformed_numbers", &mut issues)
        .unwrap_or(MalformedMode::HighRisk);
    let base_tier = base_tier(&table, &mut issues);
    let home_country_code = home_country_code(&table, &mut issues);
    let recording_param = param_name(&table, "recording_param", "record", &mut issues);
    let sensitive_param = param_name(&table, "sensitive_param", "sensitive_data", &mut issues);
    let admin_token_param = param_name(&table, "admin_token_param", "admin_token", &mut issues);
    let inline_tokens = admin_tokens(&table, &mut issues);
    let file = admin_tokens_file(ctx, &table, reload, &mut issues);

    if !issues.0.is_empty() {
        return Err(PluginError::config(issues.0));
    }
    Ok(Settings {
        rate_limit,
        rate_limit_exempt,
        blocklist,
        allowlist,
        malformed_numbers,
        base_tier,
        home_country_code,
        recording_param,
        sensitive_param,
        admin_token_param,
        admin_tokens: AdminTokens::new(&inline_tokens, file),
    })
}

/// A JSON type's name, for messages that must not echo the value.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a table",
    }
}

/// Deserializes `table[key]` into `T`; errors name the nested key.
fn typed<T: DeserializeOwned>(
    table: &Map<String, Value>,
    key: &str,
    issues: &mut Issues,
) -> Option<T> {
    let value = table.get(key)?;
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(v) => Some(v),
        Err(err) => {
            let inner = err.path().to_string();
            let full = if inner == "." {
                key.to_owned()
            } else {
                format!("{key}.{inner}")
            };
            issues.push(full, err.into_inner().to_string());
            None
        }
    }
}

/// A string value, or `None` (with an issue) when it is not one. The
/// message names the type only.
fn string<'t>(table: &'t Map<String, Value>, key: &str, issues: &mut Issues) -> Option<&'t str> {
    match table.get(key)? {
        Value::String(s) => Some(s),
        other => {
            issues.push(key, format!("expected a string, found {}", kind(other)));
            None
        }
    }
}

/// A list of strings, each with its index; non-strings become issues
/// naming `key[i]` and the type only.
fn strings<'t>(
    table: &'t Map<String, Value>,
    key: &str,
    issues: &mut Issues,
) -> Vec<(usize, &'t str)> {
    match table.get(key) {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| match item {
                Value::String(s) => Some((i, s.as_str())),
                other => {
                    issues.push(
                        format!("{key}[{i}]"),
                        format!("expected a string, found {}", kind(other)),
                    );
                    None
                }
            })
            .collect(),
        Some(other) => {
            issues.push(
                key,
                format!("expected a list of strings, found {}", kind(other)),
            );
            Vec::new()
        }
    }
}

fn patterns(table: &Map<String, Value>, key: &str, issues: &mut Issues) -> Vec<Pattern> {
    strings(table, key, issues)
        .into_iter()
        .filter_map(|(i, text)| match Pattern::parse(text) {
            Ok(p) => Some(p),
            Err(why) => {
                issues.push(format!("{key}[{i}]"), format!("{why}; {PATTERN_SYNTAX}"));
                None
            }
        })
        .collect()
}

fn rate_limit(table: &Map<String, Value>, issues: &mut Issues) -> RateLimit {
    let mut limit = RateLimit {
        calls: 10,
        window_ms: 3_600_000,
        per: "1h".to_owned(),
    };
    let Some(t) = typed::<RateLimitTable>(table, "rate_limit", issues) else {
        return limit;
    };
    match t.calls {
        Some(0) => issues.push(
            "rate_limit.calls",
            "must be at least 1 (to let no call through, use `allowlist` or `blocklist`)",
        ),
        Some(calls) => limit.calls = calls,
        None => {}
    }
    if let Some(per) = t.per {
        match parse_period(&per) {
            Ok(ms) => {
                limit.window_ms = ms;
                limit.per = per;
            }
            Err(why) => issues.push("rate_limit.per", format!("{why}; expected {PERIOD_SYNTAX}")),
        }
    }
    limit
}

fn base_tier(table: &Map<String, Value>, issues: &mut Issues) -> BaseTiers {
    let mut tiers = BaseTiers::default();
    if let Some(t) = typed::<BaseTierTable>(table, "base_tier", issues) {
        let set = |slot: &mut RiskTier, name: Option<TierName>| {
            if let Some(name) = name {
                *slot = name.into();
            }
        };
        set(&mut tiers.pstn, t.pstn);
        set(&mut tiers.browser, t.browser);
        set(&mut tiers.sip, t.sip);
        set(&mut tiers.other, t.other);
    }
    tiers
}

fn home_country_code(table: &Map<String, Value>, issues: &mut Issues) -> String {
    const KEY: &str = "home_country_code";
    let Some(code) = string(table, KEY, issues) else {
        return "1".to_owned();
    };
    let digits = code.strip_prefix('+').unwrap_or(code);
    if country::is_assigned(digits) {
        digits.to_owned()
    } else {
        issues.push(
            KEY,
            format!(
                "`{code}` is not an assigned E.164 country code (for example `1`, `44`, `353`)"
            ),
        );
        "1".to_owned()
    }
}

fn param_name(table: &Map<String, Value>, key: &str, default: &str, issues: &mut Issues) -> String {
    match string(table, key, issues) {
        Some("") => {
            issues.push(key, "must not be empty");
            default.to_owned()
        }
        Some(name) => name.to_owned(),
        None => default.to_owned(),
    }
}

fn admin_tokens(table: &Map<String, Value>, issues: &mut Issues) -> Vec<String> {
    strings(table, "admin_tokens", issues)
        .into_iter()
        .filter_map(|(i, token)| match check_rule(token) {
            Ok(()) => Some(token.to_owned()),
            Err(why) => {
                issues.push(format!("admin_tokens[{i}]"), format!("the token {why}"));
                None
            }
        })
        .collect()
}

fn admin_tokens_file(
    ctx: &Context,
    table: &Map<String, Value>,
    reload: Duration,
    issues: &mut Issues,
) -> Option<TokenFile> {
    const KEY: &str = "admin_tokens_file";
    let path = string(table, KEY, issues)?;
    if path.is_empty() {
        issues.push(KEY, "must not be empty");
        return None;
    }
    match TokenFile::open(ctx.resolve_path(path), ctx.instance(), reload) {
        Ok(file) => Some(file),
        Err(problems) => {
            for problem in problems {
                issues.push(KEY, problem);
            }
            None
        }
    }
}
