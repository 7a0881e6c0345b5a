//! Who is calling: E.164 numbers, client identities, and list patterns.

use voicegate_plugin_api::Channel;

use crate::country;

/// Fewest digits accepted in a caller number (country code included). The
/// shortest numbers in service (Niue, Tokelau) have seven.
const MIN_DIGITS: usize = 7;
/// Most digits E.164 allows.
const MAX_DIGITS: usize = 15;

/// Words carriers put in `From` when the caller withheld their number.
const WITHHELD_WORDS: &[&str] = &[
    "anonymous",
    "private",
    "restricted",
    "unknown",
    "unavailable",
    "blocked",
    "withheld",
];

/// Numbers carriers (Twilio) put in `From` for a withheld number: they spell
/// ANONYMOUS, RESTRICTED, BLOCKED, UNKNOWN and UNAVAILABLE on a keypad and
/// would otherwise pass as numbers from Lesotho, Russia, Uganda or China.
const WITHHELD_SENTINELS: &[&str] = &[
    "+266696687",
    "+7378742833",
    "+2562533",
    "+8656696",
    "+86282452253",
];

/// A caller, as the policy sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Caller<'a> {
    /// A valid E.164 number (`+14155550100`) and its country code (`1`).
    Number {
        e164: &'a str,
        country_code: &'a str,
    },
    /// An application identity: `client:<id>` on any channel, or any other
    /// non-number identity a browser client presented. `id` has no prefix.
    Client { id: &'a str },
    /// Not a usable identity: empty, withheld, or not a valid number.
    Malformed { why: String },
}

impl Caller<'_> {
    /// The part of the counter key that names this caller. Malformed
    /// callers share one bucket, so varying a garbage `From` cannot dodge
    /// the limit.
    pub(crate) fn counter_id(&self) -> String {
        match self {
            Self::Number { e164, .. } => (*e164).to_owned(),
            Self::Client { id } => format!("client:{id}"),
            Self::Malformed { .. } => "malformed".to_owned(),
        }
    }

    /// How the caller appears in reason messages.
    pub(crate) fn display(&self) -> String {
        match self {
            Self::Number { e164, .. } => (*e164).to_owned(),
            Self::Client { id } => format!("client:{}", shown(id)),
            Self::Malformed { .. } => "with a malformed caller ID".to_owned(),
        }
    }
}

/// Classifies the `from` of a call.
pub(crate) fn classify(from: &str, channel: Channel) -> Caller<'_> {
    if from.trim().is_empty() {
        return Caller::Malformed {
            why: "the caller ID is empty".to_owned(),
        };
    }
    if WITHHELD_WORDS.iter().any(|w| from.eq_ignore_ascii_case(w))
        || WITHHELD_SENTINELS.contains(&from)
    {
        return Caller::Malformed {
            why: format!("the caller withheld their number (`{}`)", shown(from)),
        };
    }
    let number_error = match parse_e164(from) {
        Ok(country_code) => {
            return Caller::Number {
                e164: from,
                country_code,
            }
        }
        Err(why) => why,
    };
    if let Some(user) = uri_user(from) {
        return match parse_e164(user) {
            Ok(country_code) => Caller::Number {
                e164: user,
                country_code,
            },
            Err(why) => Caller::Malformed {
                why: format!("`{}` does not carry an E.164 number: {why}", shown(from)),
            },
        };
    }
    if let Some(id) = from.strip_prefix("client:") {
        return if is_identity(id) {
            Caller::Client { id }
        } else {
            Caller::Malformed {
                why: format!("`{}` is not a valid client identity", shown(from)),
            }
        };
    }
    if channel == Channel::BROWSER && is_identity(from) && !from.starts_with('+') {
        return Caller::Client { id: from };
    }
    Caller::Malformed {
        why: format!("`{}` is not an E.164 number: {number_error}", shown(from)),
    }
}

/// Checks an E.164 number (`+` and 7 to 15 digits, starting with an
/// assigned country code) and returns its country code.
pub(crate) fn parse_e164(text: &str) -> Result<&str, String> {
    let Some(digits) = text.strip_prefix('+') else {
        return Err("it does not start with `+`".to_owned());
    };
    if let Some(bad) = digits.chars().find(|c| !c.is_ascii_digit()) {
        return Err(format!(
            "it contains `{}`; only digits may follow the `+`",
            bad.escape_debug()
        ));
    }
    if digits.len() < MIN_DIGITS || digits.len() > MAX_DIGITS {
        return Err(format!(
            "it has {} digits; E.164 numbers have {MIN_DIGITS} to {MAX_DIGITS}",
            digits.len()
        ));
    }
    country::country_code(digits)
        .ok_or_else(|| "it does not start with an assigned country code".to_owned())
}

/// The user part of a `sip:`, `sips:` or `tel:` URI
/// (`sip:+14155550100@carrier.example;user=phone` → `+14155550100`).
fn uri_user(text: &str) -> Option<&str> {
    let (scheme, rest) = text.split_once(':')?;
    if !["sip", "sips", "tel"]
        .iter()
        .any(|s| scheme.eq_ignore_ascii_case(s))
    {
        return None;
    }
    let user = rest.split(['@', ';']).next().unwrap_or_default();
    Some(user)
}

/// A non-empty identity without whitespace or control characters.
fn is_identity(id: &str) -> bool {
    !id.is_empty() && !id.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// A caller-controlled string made safe and short for messages and logs.
pub(crate) fn shown(text: &str) -> String {
    const MAX: usize = 40;
    let mut out: String = text
        .chars()
        .take(MAX)
        .flat_map(char::escape_debug)
        .collect();
    if text.chars().count() > MAX {
        out.push('…');
    }
    out
}

/// An entry of `blocklist`, `allowlist` or `rate_limit_exempt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    /// The entry as written, for reason messages.
    text: String,
    kind: PatternKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PatternKind {
    /// `+14155550100`: that number.
    Number(String),
    /// `+1415*`: numbers starting with `+1415`.
    NumberPrefix(String),
    /// `client:alice`: that client identity.
    Client(String),
    /// `client:support-*`: client identities starting with `support-`.
    ClientPrefix(String),
}

/// The entry syntax, for error messages.
pub(crate) const PATTERN_SYNTAX: &str = "expected an E.164 number (`+14155550100`), a number prefix ending in `*` (`+1415*`), or a client identity (`client:alice`, `client:support-*`)";

impl Pattern {
    /// Parses an entry; the error says what is wrong with it.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let (body, prefix) = match text.strip_suffix('*') {
            Some(body) => (body, true),
            None => (text, false),
        };
        if body.contains('*') {
            return Err(format!("`{}`: `*` may only end an entry", shown(text)));
        }
        let kind = if let Some(id) = body.strip_prefix("client:") {
            if !id.is_empty() && !is_identity(id) {
                return Err(format!(
                    "`{}`: a client identity may not contain spaces or control characters",
                    shown(text)
                ));
            }
            match (prefix, id.is_empty()) {
                (true, _) => PatternKind::ClientPrefix(id.to_owned()),
                (false, false) => PatternKind::Client(id.to_owned()),
                (false, true) => {
                    return Err(format!("`{}`: the client identity is empty", shown(text)))
                }
            }
        } else if let Some(digits) = body.strip_prefix('+') {
            if prefix {
                if digits.is_empty()
                    || digits.len() > MAX_DIGITS
                    || digits.starts_with('0')
                    || !digits.bytes().all(|b| b.is_ascii_digit())
                {
                    return Err(format!(
                        "`{}`: a prefix is `+`, 1 to {MAX_DIGITS} digits (the first not 0), then `*`",
                        shown(text)
                    ));
                }
                PatternKind::NumberPrefix(body.to_owned())
            } else {
                parse_e164(body).map_err(|why| format!("`{}`: {why}", shown(text)))?;
                PatternKind::Number(body.to_owned())
            }
        } else {
            return Err(format!("`{}` is not a valid entry", shown(text)));
        };
        Ok(Self {
            text: text.to_owned(),
            kind,
        })
    }

    /// The entry as written.
    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    /// Whether the caller matches. Malformed callers match nothing.
    pub(crate) fn matches(&self, caller: &Caller<'_>) -> bool {
        match (&self.kind, caller) {
            (PatternKind::Number(n), Caller::Number { e164, .. }) => n == e164,
            (PatternKind::NumberPrefix(p), Caller::Number { e164, .. }) => e164.starts_with(p),
            (PatternKind::Client(c), Caller::Client { id }) => c == id,
            (PatternKind::ClientPrefix(p), Caller::Client { id }) => id.starts_with(p.as_str()),
            _ => false,
        }
    }
}

/// The first entry of `list` the caller matches.
pub(crate) fn find_match<'p>(list: &'p [Pattern], caller: &Caller<'_>) -> Option<&'p Pattern> {
    list.iter().find(|p| p.matches(caller))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(e164: &str) -> Caller<'_> {
        classify(e164, Channel::PSTN)
    }

    #[test]
    fn classifies_numbers_with_their_country_code() {
        assert_eq!(
            number("+14155550100"),
            Caller::Number {
                e164: "+14155550100",
                country_code: "1"
            }
        );
        assert_eq!(
            number("+442071838750"),
            Caller::Number {
                e164: "+442071838750",
                country_code: "44"
            }
        );
        assert_eq!(
            classify("sip:+353212345678@trunk.example;user=phone", Channel::SIP),
            Caller::Number {
                e164: "+353212345678",
                country_code: "353"
            }
        );
        assert_eq!(
            classify("tel:+14155550100;ext=12", Channel::SIP),
            Caller::Number {
                e164: "+14155550100",
                country_code: "1"
            }
        );
    }

    #[test]
    fn classifies_malformed_and_withheld_callers() {
        for from in [
            "",
            "  ",
            "anonymous",
            "Anonymous",
            "RESTRICTED",
            "+266696687",
            "+7378742833",
            "4155550100",
            "+1 415 555 0100",
            "+1415",
            "+1234567890123456",
            "+0441234567",
            "+2812345678",
            "sip:alice@pbx.example",
            "client:",
            "client:a b",
            "alice",
        ] {
            assert!(
                matches!(classify(from, Channel::PSTN), Caller::Malformed { .. }),
                "{from:?} on PSTN"
            );
        }
    }

    #[test]
    fn client_identities_are_not_malformed() {
        assert_eq!(
            classify("client:alice", Channel::BROWSER),
            Caller::Client { id: "alice" }
        );
        // Twilio's Voice SDK calls arrive through the carrier transport.
        assert_eq!(
            classify("client:alice", Channel::PSTN),
            Caller::Client { id: "alice" }
        );
        // A browser user without the prefix.
        assert_eq!(
            classify("alice@example.com", Channel::BROWSER),
            Caller::Client {
                id: "alice@example.com"
            }
        );
        for from in ["", "anonymous", "+1415", "a b"] {
            assert!(
                matches!(classify(from, Channel::BROWSER), Caller::Malformed { .. }),
                "{from:?} on BROWSER"
            );
        }
    }

    #[test]
    fn patterns_match_numbers_prefixes_and_clients() {
        let exact = Pattern::parse("+14155550100").unwrap();
        let prefix = Pattern::parse("+1415*").unwrap();
        let client = Pattern::parse("client:alice").unwrap();
        let clients = Pattern::parse("client:support-*").unwrap();
        let all_clients = Pattern::parse("client:*").unwrap();
        let a = number("+14155550100");
        let b = number("+14155550199");
        let c = number("+12125550100");
        assert!(exact.matches(&a) && !exact.matches(&b));
        assert!(prefix.matches(&a) && prefix.matches(&b) && !prefix.matches(&c));
        let alice = Caller::Client { id: "alice" };
        let support = Caller::Client { id: "support-7" };
        assert!(client.matches(&alice) && !client.matches(&support));
        assert!(clients.matches(&support) && !clients.matches(&alice));
        assert!(all_clients.matches(&alice) && !all_clients.matches(&a));
        let malformed = classify("anonymous", Channel::PSTN);
        assert!(![&exact, &prefix, &client, &all_clients]
            .iter()
            .any(|p| p.matches(&malformed)));
    }

    #[test]
    fn bad_patterns_are_refused_with_a_reason() {
        for bad in [
            "14155550100",
            "+1 415",
            "+1415",
            "+*",
            "+0*",
            "+1*5",
            "*",
            "client:",
            "client:a b",
            "+1234567890123456*",
            "",
        ] {
            assert!(Pattern::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn shown_escapes_and_truncates() {
        assert_eq!(shown("a\nb"), "a\\nb");
        assert_eq!(shown(&"x".repeat(50)).chars().count(), 41);
    }
}
