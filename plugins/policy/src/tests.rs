//! Policy-level tests through the author API and the testkit host.

use std::time::{Duration, Instant};

use voicegate_plugin_api::{
    testkit, CallRequest, Channel, ErrorKind, Host, KeyValue, PluginError, Policy, RiskTier,
    Verdict,
};

use crate::{test_support::TempDir, CallPolicy};

const TOKEN: &str = "admin-0123456789abcdefghijKLMN";
const OTHER_TOKEN: &str = "admin-zyxwvutsrqponmlkjihgfedcba";
const US: &str = "+14155550100";

/// The instance table as an operator writes it, turned into JSON the way
/// the host passes it.
fn context(toml_table: &str) -> voicegate_plugin_api::Context {
    let table: toml::Table = toml::from_str(toml_table).expect("test TOML");
    let json = serde_json::to_string(&table).expect("TOML as JSON");
    testkit::context("default", "http://localhost", &json)
}

fn try_policy(toml_table: &str) -> Result<CallPolicy, PluginError> {
    CallPolicy::new(context(toml_table))
}

fn policy(toml_table: &str) -> CallPolicy {
    try_policy(toml_table).expect("valid config")
}

/// A policy and a handle on its host, to look at counters.
fn policy_and_host(toml_table: &str) -> (CallPolicy, Host) {
    let ctx = context(toml_table);
    let host = ctx.host().clone();
    (CallPolicy::new(ctx).expect("valid config"), host)
}

fn config_error(toml_table: &str) -> PluginError {
    let err = try_policy(toml_table).expect_err("the config should be refused");
    assert_eq!(err.kind, ErrorKind::CONFIG, "{err}");
    err
}

fn issue_keys(err: &PluginError) -> Vec<&str> {
    err.issues.iter().map(|i| i.key.as_str()).collect()
}

fn call(from: &str) -> CallRequest {
    CallRequest {
        from: from.into(),
        to: "+14155550199".into(),
        channel: Channel::PSTN,
        ..CallRequest::default()
    }
}

fn browser(from: &str) -> CallRequest {
    CallRequest {
        channel: Channel::BROWSER,
        ..call(from)
    }
}

fn with_param(mut call: CallRequest, key: &str, value: &str) -> CallRequest {
    call.custom_params.push(KeyValue::new(key, value));
    call
}

fn with_token(mut call: CallRequest, token: &str) -> CallRequest {
    call.admin_token = voicegate_plugin_api::ROption::RSome(token.into());
    call
}

fn codes(verdict: &Verdict) -> Vec<&str> {
    verdict.reasons.iter().map(|r| r.code.as_str()).collect()
}

fn judge(policy: &CallPolicy, call: &CallRequest) -> Verdict {
    policy.evaluate(call).expect("evaluate")
}

// Defaults.

#[test]
fn a_domestic_pstn_caller_is_allowed_at_medium_by_default() {
    let v = judge(&policy(""), &call(US));
    assert!(v.allow);
    assert_eq!(v.tier, RiskTier::MEDIUM);
    assert!(v.reasons.is_empty(), "{:?}", v.reasons);
}

#[test]
fn a_browser_client_is_allowed_at_low() {
    let v = judge(&policy(""), &browser("client:alice"));
    assert!(v.allow, "{:?}", v.reasons);
    assert_eq!(v.tier, RiskTier::LOW);
}

// Rate limit.

#[test]
fn the_eleventh_call_in_the_window_is_rate_limited() {
    let p = policy("");
    for n in 1..=10 {
        assert!(judge(&p, &call(US)).allow, "call {n} should pass");
    }
    let v = judge(&p, &call(US));
    assert!(!v.allow);
    assert_eq!(codes(&v), ["rate_limited"]);
    assert_eq!(
        v.reasons[0].message.as_str(),
        "11 calls in the last 1h (limit 10)."
    );
}

#[test]
fn numbers_are_counted_independently() {
    let p = policy("rate_limit = { calls = 2, per = \"15m\" }");
    assert!(judge(&p, &call(US)).allow);
    assert!(judge(&p, &call(US)).allow);
    assert!(!judge(&p, &call(US)).allow);
    assert!(judge(&p, &call("+14155550101")).allow);
    assert!(judge(&p, &call("+14155550101")).allow);
    assert!(!judge(&p, &call("+14155550101")).allow);
}

#[test]
fn the_window_slides() {
    let (p, host) = policy_and_host("rate_limit = { calls = 2, per = \"1s\" }");
    assert!(judge(&p, &call(US)).allow);
    assert!(judge(&p, &call(US)).allow);
    assert_eq!(codes(&judge(&p, &call(US))), ["rate_limited"]);
    // Bounded polling on the host's counter (not on the policy, whose every
    // attempt is a hit), then one more call.
    let key = format!("policy:default:rate:{US}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while host.counter_get(&key, 1_000).unwrap() > 0 {
        assert!(Instant::now() < deadline, "the window never emptied");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(judge(&p, &call(US)).allow);
}

#[test]
fn hits_go_to_the_host_counter_under_the_documented_key() {
    let ctx = testkit::context("inbound", "http://localhost", "{}");
    let host = ctx.host().clone();
    let p = CallPolicy::new(ctx).unwrap();
    judge(&p, &call(US));
    judge(&p, &browser("client:alice"));
    assert_eq!(
        host.counter_get("policy:inbound:rate:+14155550100", 3_600_000)
            .unwrap(),
        1
    );
    assert_eq!(
        host.counter_get("policy:inbound:rate:client:alice", 3_600_000)
            .unwrap(),
        1
    );
}

#[test]
fn exempt_numbers_and_prefixes_skip_the_rate_limit() {
    let (p, host) = policy_and_host(
        r#"
        rate_limit = { calls = 1, per = "1h" }
        rate_limit_exempt = ["+15005550006", "+1202*"]
        "#,
    );
    for _ in 0..5 {
        assert!(judge(&p, &call("+15005550006")).allow);
        assert!(judge(&p, &call("+12025550100")).allow);
    }
    assert_eq!(
        host.counter_get("policy:default:rate:+15005550006", 3_600_000)
            .unwrap(),
        0
    );
    assert!(judge(&p, &call(US)).allow);
    assert!(!judge(&p, &call(US)).allow);
}

#[test]
fn allowlisted_callers_are_still_rate_limited() {
    let p = policy(
        r#"
        rate_limit = { calls = 1, per = "1h" }
        allowlist = ["+1415*"]
        "#,
    );
    assert!(judge(&p, &call(US)).allow);
    assert_eq!(codes(&judge(&p, &call(US))), ["rate_limited"]);
}

#[test]
fn malformed_callers_share_one_bucket() {
    let (p, host) = policy_and_host(&format!(
        "rate_limit = {{ calls = 1, per = \"1h\" }}\nadmin_tokens = [\"{TOKEN}\"]"
    ));
    assert!(judge(&p, &with_token(call("anonymous"), TOKEN)).allow);
    let v = judge(&p, &with_token(call("not-a-number"), TOKEN));
    assert!(codes(&v).contains(&"rate_limited"), "{:?}", v.reasons);
    assert_eq!(
        host.counter_get("policy:default:rate:malformed", 3_600_000)
            .unwrap(),
        2
    );
}

// Block and allow lists.

#[test]
fn blocklisted_numbers_and_prefixes_are_denied_without_being_counted() {
    let (p, host) = policy_and_host(r#"blocklist = ["+14155550100", "+1900*", "client:mallory"]"#);
    for from in [US, "+19005550100"] {
        let v = judge(&p, &call(from));
        assert!(!v.allow);
        assert_eq!(codes(&v), ["blocklisted"], "{from}");
    }
    assert_eq!(
        codes(&judge(&p, &browser("client:mallory"))),
        ["blocklisted"]
    );
    assert!(judge(&p, &call("+14155550101")).allow);
    assert!(judge(&p, &browser("client:alice")).allow);
    assert_eq!(
        host.counter_get(&format!("policy:default:rate:{US}"), 3_600_000)
            .unwrap(),
        0
    );
    let message = judge(&p, &call("+19005550100")).reasons[0]
        .message
        .to_string();
    assert!(message.contains("+1900*"), "{message}");
}

#[test]
fn a_non_empty_allowlist_denies_everyone_else() {
    let p = policy(r#"allowlist = ["+1415*", "+12125550100", "client:support-*"]"#);
    assert!(judge(&p, &call(US)).allow);
    assert!(judge(&p, &call("+12125550100")).allow);
    assert!(judge(&p, &browser("client:support-7")).allow);
    assert_eq!(
        codes(&judge(&p, &call("+12125550101"))),
        ["not_allowlisted"]
    );
    assert_eq!(
        codes(&judge(&p, &browser("client:alice"))),
        ["not_allowlisted"]
    );
}

#[test]
fn the_blocklist_wins_over_the_allowlist() {
    let p = policy(
        r#"allowlist = ["+1415*"]
blocklist = ["+14155550100"]"#,
    );
    assert_eq!(codes(&judge(&p, &call(US))), ["blocklisted"]);
    assert!(judge(&p, &call("+14155550101")).allow);
}

// Malformed numbers.

#[test]
fn malformed_numbers_are_high_risk_by_default() {
    let p = policy(&format!("admin_tokens = [\"{TOKEN}\"]"));
    for from in [
        "",
        "anonymous",
        "+266696687",
        "4155550100",
        "+1 415 555 0100",
        "sip:bob@pbx",
    ] {
        let v = judge(&p, &call(from));
        assert!(!v.allow, "{from:?}");
        assert_eq!(v.tier, RiskTier::HIGH, "{from:?}");
        assert_eq!(
            codes(&v),
            ["admin_token_required", "malformed_number"],
            "{from:?}"
        );
    }
    let v = judge(&p, &with_token(call("anonymous"), TOKEN));
    assert!(v.allow);
    assert_eq!(codes(&v), ["malformed_number", "admin_token_accepted"]);
}

#[test]
fn malformed_numbers_can_be_denied() {
    let p = policy(&format!(
        "malformed_numbers = \"deny\"\nadmin_tokens = [\"{TOKEN}\"]"
    ));
    let v = judge(&p, &with_token(call("anonymous"), TOKEN));
    assert!(!v.allow);
    assert_eq!(codes(&v), ["malformed_number"]);
    assert!(v.reasons[0].message.contains("withheld"), "{:?}", v.reasons);
    // Browser identities are not numbers and not malformed.
    assert!(judge(&p, &browser("client:alice")).allow);
    assert!(judge(&p, &browser("alice@example.com")).allow);
    assert_eq!(codes(&judge(&p, &browser(""))), ["malformed_number"]);
}

// Tiers.

#[test]
fn an_international_caller_is_high_risk() {
    let p = policy(&format!("admin_tokens = [\"{TOKEN}\"]"));
    let v = judge(&p, &call("+442071838750"));
    assert_eq!(v.tier, RiskTier::HIGH);
    assert_eq!(codes(&v), ["admin_token_required", "international_caller"]);
    assert!(v.reasons[1].message.contains("+44"), "{:?}", v.reasons);
    // NANP numbers outside the US share the code and are domestic.
    assert_eq!(judge(&p, &call("+18765550100")).tier, RiskTier::MEDIUM);

    let uk = policy(&format!(
        "home_country_code = \"+44\"\nadmin_tokens = [\"{TOKEN}\"]"
    ));
    assert_eq!(judge(&uk, &call("+442071838750")).tier, RiskTier::MEDIUM);
    assert_eq!(judge(&uk, &call(US)).tier, RiskTier::HIGH);
}

#[test]
fn a_recording_request_is_high_risk() {
    let p = policy(&format!("admin_tokens = [\"{TOKEN}\"]"));
    let v = judge(&p, &with_param(call(US), "record", "true"));
    assert_eq!(v.tier, RiskTier::HIGH);
    assert_eq!(codes(&v), ["admin_token_required", "recording_requested"]);
    // From a carrier attribute too.
    let mut from_attribute = call(US);
    from_attribute
        .attributes
        .push(KeyValue::new("record", "record-from-answer"));
    assert_eq!(judge(&p, &from_attribute).tier, RiskTier::HIGH);
    // A false value does not count, but a later true one does.
    for off in ["false", "0", "no", "", "Off", "do-not-record"] {
        assert_eq!(
            judge(&p, &with_param(call(US), "record", off)).tier,
            RiskTier::MEDIUM,
            "{off:?}"
        );
    }
    let twice = with_param(with_param(call(US), "record", "false"), "record", "1");
    assert_eq!(judge(&p, &twice).tier, RiskTier::HIGH);

    let renamed = policy(&format!(
        "recording_param = \"rec\"\nadmin_tokens = [\"{TOKEN}\"]"
    ));
    assert_eq!(
        judge(&renamed, &with_param(call(US), "record", "true")).tier,
        RiskTier::MEDIUM
    );
    assert_eq!(
        judge(&renamed, &with_param(call(US), "rec", "yes")).tier,
        RiskTier::HIGH
    );
}

#[test]
fn sensitive_data_is_high_risk() {
    let p = policy(&format!("admin_tokens = [\"{TOKEN}\"]"));
    let v = judge(
        &p,
        &with_token(
            with_param(browser("client:alice"), "sensitive_data", "yes"),
            TOKEN,
        ),
    );
    assert!(v.allow);
    assert_eq!(v.tier, RiskTier::HIGH);
    assert_eq!(codes(&v), ["sensitive_data", "admin_token_accepted"]);

    let renamed = policy(&format!(
        "sensitive_param = \"pii\"\nadmin_tokens = [\"{TOKEN}\"]"
    ));
    assert_eq!(
        judge(&renamed, &with_param(call(US), "pii", "true")).tier,
        RiskTier::HIGH
    );
}

#[test]
fn every_escalation_is_reported() {
    let p = policy(&format!("admin_tokens = [\"{TOKEN}\"]"));
    let c = with_param(
        with_param(call("+442071838750"), "record", "1"),
        "sensitive_data",
        "1",
    );
    let v = judge(&p, &with_token(c, TOKEN));
    assert!(v.allow);
    assert_eq!(
        codes(&v),
        [
            "international_caller",
            "recording_requested",
            "sensitive_data",
            "admin_token_accepted"
        ]
    );
}

#[test]
fn base_tiers_are_configurable() {
    let p = policy(&format!(
        "base_tier = {{ browser = \"high\", pstn = \"low\", other = \"critical\" }}\nadmin_tokens = [\"{TOKEN}\"]"
    ));
    assert_eq!(judge(&p, &call(US)).tier, RiskTier::LOW);
    let v = judge(&p, &browser("client:alice"));
    assert_eq!((v.allow, codes(&v)), (false, vec!["admin_token_required"]));
    let mut other = with_token(call(US), TOKEN);
    other.channel = Channel::OTHER;
    let v = judge(&p, &other);
    // Escalations never lower a tier.
    assert_eq!((v.allow, v.tier), (true, RiskTier::CRITICAL));
    // SIP keeps its default.
    let mut sip = call(US);
    sip.channel = Channel::SIP;
    assert_eq!(judge(&p, &sip).tier, RiskTier::MEDIUM);
}

// Admin tokens.

#[test]
fn high_risk_calls_need_a_valid_admin_token() {
    let p = policy(&format!("admin_tokens = [\"{OTHER_TOKEN}\", \"{TOKEN}\"]"));
    let high = || with_param(call(US), "record", "true");

    assert_eq!(
        codes(&judge(&p, &high())),
        ["admin_token_required", "recording_requested"]
    );

    let wrong = judge(&p, &with_token(high(), "admin-wrongwrongwrongwrongwrong"));
    assert_eq!(
        codes(&wrong),
        ["admin_token_invalid", "recording_requested"]
    );
    assert!(!wrong.reasons[0].message.contains("wrongwrong"));

    for token in [TOKEN, OTHER_TOKEN] {
        let v = judge(&p, &with_token(high(), token));
        assert!(v.allow, "{:?}", v.reasons);
    }
    // Through the custom parameter, with its default and a custom name.
    assert!(judge(&p, &with_param(high(), "admin_token", TOKEN)).allow);
    let renamed = policy(&format!(
        "admin_token_param = \"x-admin\"\nadmin_tokens = [\"{TOKEN}\"]"
    ));
    assert!(judge(&renamed, &with_param(high(), "x-admin", TOKEN)).allow);
    assert_eq!(
        codes(&judge(&renamed, &with_param(high(), "admin_token", TOKEN)))[0],
        "admin_token_required"
    );
    // The parameter twice is refused, even with the right token in it.
    let twice = with_param(
        with_param(high(), "admin_token", "admin-guess-guess-guess-guess"),
        "admin_token",
        TOKEN,
    );
    assert_eq!(codes(&judge(&p, &twice))[0], "admin_token_invalid");
    // Low and medium calls need none.
    assert!(judge(&p, &call(US)).allow);
}

#[test]
fn without_configured_tokens_high_risk_calls_are_denied() {
    let p = policy("");
    let v = judge(
        &p,
        &with_token(with_param(call(US), "record", "true"), TOKEN),
    );
    assert_eq!(codes(&v), ["admin_token_invalid", "recording_requested"]);
}

#[test]
fn denied_callers_get_no_token_check() {
    let p = policy(&format!(
        "rate_limit = {{ calls = 1, per = \"1h\" }}\nblocklist = [\"+1900*\"]\nadmin_tokens = [\"{TOKEN}\"]"
    ));
    let high = |from: &str| with_param(call(from), "record", "true");
    // Blocklisted with a wrong token: only the blocklist shows.
    let v = judge(
        &p,
        &with_token(high("+19005550100"), "admin-wrongwrongwrongwrongwrong"),
    );
    assert_eq!(codes(&v), ["blocklisted", "recording_requested"]);
    // Over the limit with the right token: still denied, no token verdict.
    assert!(judge(&p, &with_token(high(US), TOKEN)).allow);
    let v = judge(&p, &with_token(high(US), TOKEN));
    assert_eq!(codes(&v), ["rate_limited", "recording_requested"]);
}

#[test]
fn token_attempts_count_against_the_rate_limit() {
    let p = policy(&format!(
        "rate_limit = {{ calls = 2, per = \"1h\" }}\nadmin_tokens = [\"{TOKEN}\"]"
    ));
    let guess = || with_token(call("+442071838750"), "admin-guess-guess-guess-guess");
    assert_eq!(codes(&judge(&p, &guess()))[0], "admin_token_invalid");
    assert_eq!(codes(&judge(&p, &guess()))[0], "admin_token_invalid");
    assert_eq!(codes(&judge(&p, &guess()))[0], "rate_limited");
}

#[test]
fn tokens_are_rotated_through_the_file() {
    let dir = TempDir::new();
    let path = dir.write("tokens.txt", &format!("# ops\n{TOKEN}\n"));
    let table = format!("admin_tokens_file = {:?}", path.to_str().unwrap());
    let p = CallPolicy::build(context(&table), Duration::ZERO).unwrap();
    let high = |token: &str| with_token(with_param(call(US), "record", "true"), token);

    assert!(judge(&p, &high(TOKEN)).allow);
    assert!(!judge(&p, &high(OTHER_TOKEN)).allow);

    dir.write("tokens.txt", &format!("# rotated\n{OTHER_TOKEN}\n"));
    assert!(judge(&p, &high(OTHER_TOKEN)).allow);
    assert_eq!(codes(&judge(&p, &high(TOKEN)))[0], "admin_token_invalid");

    // A broken file keeps the tokens in force.
    dir.write("tokens.txt", "admin-short\n");
    assert!(judge(&p, &high(OTHER_TOKEN)).allow);
}

#[test]
fn inline_and_file_tokens_both_count() {
    let dir = TempDir::new();
    let path = dir.write("tokens.txt", &format!("{OTHER_TOKEN}\n"));
    let p = policy(&format!(
        "admin_tokens = [\"{TOKEN}\"]\nadmin_tokens_file = {:?}",
        path.to_str().unwrap()
    ));
    let high = |token: &str| with_token(with_param(call(US), "record", "true"), token);
    assert!(judge(&p, &high(TOKEN)).allow);
    assert!(judge(&p, &high(OTHER_TOKEN)).allow);
}

// Configuration errors.

#[test]
fn a_short_token_is_refused_naming_the_key_but_not_the_token() {
    let err = config_error(&format!(
        "admin_tokens = [\"{TOKEN}\", \"admin-tooShort123\"]"
    ));
    assert_eq!(issue_keys(&err), ["admin_tokens[1]"]);
    let text = err.to_string();
    assert!(text.contains("admin_tokens[1]"), "{text}");
    assert!(text.contains("at least 20"), "{text}");
    assert!(
        !text.contains("tooShort123"),
        "the error echoes the token: {text}"
    );
    assert!(
        !text.contains(TOKEN),
        "the error echoes a good token: {text}"
    );
}

#[test]
fn a_non_string_token_is_refused_without_echoing_it() {
    let err = config_error("admin_tokens = [1234567890123]");
    assert_eq!(issue_keys(&err), ["admin_tokens[0]"]);
    assert!(!err.to_string().contains("1234567890"), "{err}");
}

#[test]
fn every_config_problem_is_reported_at_once() {
    let err = config_error(
        r#"
        rate_limit = { calls = 0, per = "1 hour" }
        blocklist = ["+14155550100", "+1415*", "client:bob", "415-555-0100"]
        allowlist = ["+1*5"]
        rate_limit_exempt = [42]
        malformed_numbers = "allow"
        base_tier = { pstn = "severe" }
        home_country_code = "28"
        recording_param = ""
        admin_tokens = ["admin-short"]
        admin_tokens_file = "/nonexistent/voicegate/tokens"
        rate_limt = 5
        "#,
    );
    let mut keys = issue_keys(&err);
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "admin_tokens[0]",
            "admin_tokens_file",
            "allowlist[0]",
            "base_tier.pstn",
            "blocklist[3]",
            "home_country_code",
            "malformed_numbers",
            "rate_limit.calls",
            "rate_limit.per",
            "rate_limit_exempt[0]",
            "rate_limt",
            "recording_param",
        ],
        "{err}"
    );
    assert!(err.message.contains("12 configuration problems"), "{err}");
    let blocklist = err.issues.iter().find(|i| i.key == "blocklist[3]").unwrap();
    assert!(blocklist.message.contains("415-555-0100"), "{blocklist:?}");
}

#[test]
fn nested_tables_refuse_unknown_keys_and_wrong_types() {
    let err = config_error(r#"rate_limit = { call = 10 }"#);
    assert_eq!(issue_keys(&err), ["rate_limit.call"]);
    assert!(err.to_string().contains("call"), "{err}");
    let err = config_error(r#"rate_limit = { calls = "ten" }"#);
    assert_eq!(issue_keys(&err), ["rate_limit.calls"]);
    let err = config_error(r#"base_tier = { pots = "low" }"#);
    assert_eq!(issue_keys(&err), ["base_tier.pots"]);
    let err = config_error(r#"blocklist = "+14155550100""#);
    assert_eq!(issue_keys(&err), ["blocklist"]);
}

#[test]
fn a_bad_tokens_file_is_a_config_error() {
    let dir = TempDir::new();
    let path = dir.write("tokens.txt", &format!("{TOKEN}\nadmin-oops\n"));
    let err = config_error(&format!("admin_tokens_file = {:?}", path.to_str().unwrap()));
    assert_eq!(issue_keys(&err), ["admin_tokens_file"]);
    assert!(err.issues[0].message.contains("line 2"), "{err}");
    assert!(!err.to_string().contains("admin-oops"), "{err}");
}

#[test]
fn a_full_example_config_loads() {
    let dir = TempDir::new();
    let path = dir.write("tokens.txt", &format!("{OTHER_TOKEN}\n"));
    policy(&format!(
        r#"
        rate_limit = {{ calls = 20, per = "1h30m" }}
        rate_limit_exempt = ["+15005550006"]
        blocklist = ["+1900*", "client:mallory"]
        allowlist = []
        malformed_numbers = "deny"
        base_tier = {{ pstn = "medium", browser = "low", sip = "medium", other = "high" }}
        home_country_code = "1"
        recording_param = "record"
        sensitive_param = "sensitive_data"
        admin_token_param = "admin_token"
        admin_tokens = ["{TOKEN}"]
        admin_tokens_file = {:?}
        "#,
        path.to_str().unwrap()
    ));
}

#[test]
fn docs_policy_md_documents_every_key() {
    let doc = include_str!("../../../docs/policy.md");
    let keys = doc
        .split("## Keys")
        .nth(1)
        .expect("docs/policy.md has a `## Keys` section");
    for key in crate::config::KEYS {
        let row = format!("| `{key}");
        assert!(
            keys.lines()
                .any(|l| l.starts_with(&format!("{row}`")) || l.starts_with(&format!("{row}."))),
            "docs/policy.md's key table lacks `{key}`"
        );
    }
}
