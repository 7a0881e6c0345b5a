//! `${VAR}` expansion in string values and `VOICEGATE_…__…` overrides.

use std::collections::BTreeMap;

use toml::Value;

/// Prefix of environment variables that override config keys.
pub const OVERRIDE_PREFIX: &str = "VOICEGATE_";

/// One failed expansion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpandError {
    /// Dotted path of the value.
    pub key: String,
    /// What went wrong.
    pub message: String,
}

/// Expands `${VAR}` and `${VAR:-default}` in every string of `value`.
/// `$${` stays a literal `${`. Missing variables without a default are errors.
pub fn expand_tree(
    value: &mut Value,
    path: &mut Vec<String>,
    lookup: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<ExpandError>,
) {
    match value {
        Value::String(s) => match expand_str(s, lookup) {
            Ok(Some(expanded)) => *s = expanded,
            Ok(None) => {}
            Err(message) => errors.push(ExpandError {
                key: path_string(path),
                message,
            }),
        },
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                if let Some(last) = path.last_mut() {
                    let base = last.clone();
                    *last = format!("{base}[{i}]");
                    expand_tree(item, path, lookup, errors);
                    if let Some(last) = path.last_mut() {
                        *last = base;
                    }
                }
            }
        }
        Value::Table(table) => {
            for (k, v) in table.iter_mut() {
                path.push(k.clone());
                expand_tree(v, path, lookup, errors);
                path.pop();
            }
        }
        _ => {}
    }
}

fn path_string(path: &[String]) -> String {
    path.join(".")
}

/// Expands one string; `Ok(None)` when it has nothing to expand.
pub fn expand_str(
    s: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<String>, String> {
    if !s.contains("${") {
        return Ok(None);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find("${") {
        if rest[..pos].ends_with('$') {
            // `$${` is an escaped literal `${`.
            out.push_str(&rest[..pos - 1]);
            out.push_str("${");
            rest = &rest[pos + 2..];
            continue;
        }
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unterminated `${{` in {s:?}"))?;
        let expr = &after[..end];
        let (name, default) = match expr.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (expr, None),
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("`${{{expr}}}` is not a valid variable reference"));
        }
        match (lookup(name), default) {
            (Some(value), _) => out.push_str(&value),
            (None, Some(default)) => out.push_str(default),
            (None, None) => {
                return Err(format!(
                    "environment variable `{name}` is not set (write `${{{name}:-default}}` for a default)"
                ))
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(Some(out))
}

/// An override taken from the environment.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    /// The variable's name.
    pub var: String,
    /// The key path it sets.
    pub path: Vec<String>,
    /// The value, parsed as TOML where it parses, else a string.
    pub value: Value,
}

/// Collects `VOICEGATE_SECTION__KEY[__SUBKEY…]=value` variables. A variable
/// without `__` is not an override (so `VOICEGATE_ADMIN_TOKEN` can be used
/// in `${…}` expansion without clashing).
pub fn overrides(vars: impl IntoIterator<Item = (String, String)>) -> Vec<Override> {
    let mut found: BTreeMap<String, Override> = BTreeMap::new();
    for (var, raw) in vars {
        let Some(rest) = var.strip_prefix(OVERRIDE_PREFIX) else {
            continue;
        };
        if !rest.contains("__") {
            continue;
        }
        let path: Vec<String> = rest.split("__").map(|s| s.to_ascii_lowercase()).collect();
        if path.iter().any(|p| p.is_empty()) {
            continue;
        }
        let value = parse_value(&raw);
        found.insert(var.clone(), Override { var, path, value });
    }
    found.into_values().collect()
}

fn parse_value(raw: &str) -> Value {
    let doc = format!("v = {raw}");
    match doc.parse::<toml::Table>() {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| Value::String(raw.to_owned())),
        Err(_) => Value::String(raw.to_owned()),
    }
}

/// Applies an override, creating tables on the way. Returns an error text
/// when a path element is not a table.
pub fn apply(root: &mut toml::Table, ov: &Override) -> Result<(), String> {
    let Some((last, parents)) = ov.path.split_last() else {
        return Ok(());
    };
    let mut table = root;
    for (i, key) in parents.iter().enumerate() {
        let entry = table
            .entry(key.clone())
            .or_insert_with(|| Value::Table(toml::Table::new()));
        table = match entry {
            Value::Table(t) => t,
            _ => {
                return Err(format!(
                    "`{}` is not a table, so {} cannot set a key below it",
                    ov.path[..=i].join("."),
                    ov.var
                ))
            }
        };
    }
    table.insert(last.clone(), ov.value.clone());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "TOKEN" => Some("secret".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands_variables_and_defaults() {
        assert_eq!(expand_str("plain", &env), Ok(None));
        assert_eq!(expand_str("${TOKEN}", &env), Ok(Some("secret".into())));
        assert_eq!(
            expand_str("a-${TOKEN}-b", &env),
            Ok(Some("a-secret-b".into()))
        );
        assert_eq!(expand_str("${NOPE:-x}", &env), Ok(Some("x".into())));
        assert_eq!(expand_str("${NOPE:-}", &env), Ok(Some(String::new())));
        assert_eq!(expand_str("$${TOKEN}", &env), Ok(Some("${TOKEN}".into())));
        assert!(expand_str("${NOPE}", &env)
            .unwrap_err()
            .contains("`NOPE` is not set"));
        assert!(expand_str("${TOKEN", &env).is_err());
        assert!(expand_str("${A B}", &env).is_err());
    }

    #[test]
    fn reports_the_key_of_a_failed_expansion() {
        let mut v: Value = toml::from_str::<toml::Table>("[a]\nb = [\"${NOPE}\"]\n")
            .map(Value::Table)
            .unwrap();
        let mut errors = Vec::new();
        expand_tree(&mut v, &mut Vec::new(), &env, &mut errors);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].key, "a.b[0]");
    }

    #[test]
    fn parses_overrides() {
        let ovs = overrides(vec![
            (
                "VOICEGATE_SERVER__PUBLIC_URL".into(),
                "https://x.example".into(),
            ),
            (
                "VOICEGATE_TRANSPORTS__TWILIO__VALIDATE_SIGNATURES".into(),
                "false".into(),
            ),
            ("VOICEGATE_ADMIN_TOKEN".into(), "ignored".into()),
            ("OTHER__X".into(), "1".into()),
        ]);
        assert_eq!(ovs.len(), 2);
        let mut root = toml::Table::new();
        for ov in &ovs {
            apply(&mut root, ov).unwrap();
        }
        assert_eq!(
            root["server"]["public_url"].as_str(),
            Some("https://x.example")
        );
        assert_eq!(
            root["transports"]["twilio"]["validate_signatures"].as_bool(),
            Some(false)
        );
    }
}
