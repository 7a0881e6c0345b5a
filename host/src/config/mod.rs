//! Loading `config.toml`: TOML with Vector-style instance tables, `${ENV}`
//! expansion, `VOICEGATE_…__…` overrides, and errors that name the key and
//! the line.

mod env;
mod model;
mod spans;

use std::{
    fmt,
    path::{Path, PathBuf},
};

pub use env::OVERRIDE_PREFIX;
pub use model::*;
pub use spans::SourceMap;

/// One problem in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted key path; empty for the whole file.
    pub key: String,
    /// Line in the file, when the key is in it.
    pub line: Option<usize>,
    /// Where the value came from, when not from the file.
    pub source: Option<String>,
    /// What is wrong.
    pub message: String,
}

/// Every problem found in one configuration file.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigError {
    /// The file.
    pub file: PathBuf,
    /// The problems, in file order where known.
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        writeln!(
            f,
            "{} has {n} problem{}:",
            self.file.display(),
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            write!(f, "  {}", self.file.display())?;
            if let Some(line) = p.line {
                write!(f, ":{line}")?;
            }
            if !p.key.is_empty() {
                write!(f, ": `{}`", p.key)?;
            }
            if let Some(source) = &p.source {
                write!(f, " (set by {source})")?;
            }
            writeln!(f, ": {}", p.message)?;
        }
        Ok(())
    }
}

/// A loaded configuration and what is needed to explain problems found later
/// (plugin config issues are reported against the same file and lines).
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The configuration.
    pub config: Config,
    /// The file it came from (absolute).
    pub file: PathBuf,
    /// Its directory: relative paths in the config are taken from here.
    pub dir: PathBuf,
    source: std::sync::Arc<SourceMapHandle>,
    overridden: Vec<(String, String)>,
}

struct SourceMapHandle(SourceMap);

impl fmt::Debug for SourceMapHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SourceMap")
    }
}

impl Loaded {
    /// Builds a [`Problem`] for a key, with its line and source.
    pub fn problem(&self, key: &str, message: impl Into<String>) -> Problem {
        let source = self
            .overridden
            .iter()
            .find(|(path, _)| key == path || key.starts_with(&format!("{path}.")))
            .map(|(_, var)| format!("environment variable {var}"));
        Problem {
            key: key.to_owned(),
            line: self.source.0.line_of(key),
            source,
            message: message.into(),
        }
    }

    /// Wraps problems found after loading into a [`ConfigError`].
    pub fn error(&self, problems: Vec<Problem>) -> ConfigError {
        ConfigError {
            file: self.file.clone(),
            problems,
        }
    }

    /// Resolves a path from the config against the config file's directory.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.dir.join(path)
        }
    }
}

/// Reads and validates a configuration file, with overrides from `vars`.
pub fn load(
    file: &Path,
    vars: impl IntoIterator<Item = (String, String)> + Clone,
) -> Result<Loaded, ConfigError> {
    let fail = |message: String| ConfigError {
        file: file.to_path_buf(),
        problems: vec![Problem {
            key: String::new(),
            line: None,
            source: None,
            message,
        }],
    };
    let text =
        std::fs::read_to_string(file).map_err(|e| fail(format!("cannot read the file: {e}")))?;
    let abs = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
    let dir = abs
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    parse(&text, &abs, &dir, vars)
}

/// Parses configuration text; `file` and `dir` are used for messages and
/// relative paths.
pub fn parse(
    text: &str,
    file: &Path,
    dir: &Path,
    vars: impl IntoIterator<Item = (String, String)> + Clone,
) -> Result<Loaded, ConfigError> {
    let source = SourceMap::new(text);
    let problem = |key: &str, message: String, via: Option<String>| Problem {
        key: key.to_owned(),
        line: source.line_of(key),
        source: via,
        message,
    };
    let error = |problems: Vec<Problem>| ConfigError {
        file: file.to_path_buf(),
        problems,
    };

    let mut table: toml::Table = match text.parse() {
        Ok(t) => t,
        Err(e) => {
            let line = e.span().map(|s| {
                text.as_bytes()[..s.start.min(text.len())]
                    .iter()
                    .filter(|b| **b == b'\n')
                    .count()
                    + 1
            });
            return Err(error(vec![Problem {
                key: String::new(),
                line,
                source: None,
                message: format!("not valid TOML: {}", e.message()),
            }]));
        }
    };

    let env: std::collections::HashMap<String, String> = vars.clone().into_iter().collect();
    let mut problems = Vec::new();

    let overrides = env::overrides(vars);
    let mut overridden = Vec::new();
    for ov in &overrides {
        match env::apply(&mut table, ov) {
            Ok(()) => overridden.push((ov.path.join("."), ov.var.clone())),
            Err(message) => {
                problems.push(problem(&ov.path.join("."), message, Some(ov.var.clone())))
            }
        }
    }

    let mut root = toml::Value::Table(table);
    let mut expand_errors = Vec::new();
    env::expand_tree(
        &mut root,
        &mut Vec::new(),
        &|name| env.get(name).cloned(),
        &mut expand_errors,
    );
    for e in expand_errors {
        problems.push(problem(&e.key, e.message, None));
    }
    if !problems.is_empty() {
        return Err(error(problems));
    }

    let config: Config = match serde_path_to_error::deserialize(root) {
        Ok(c) => c,
        Err(e) => {
            let mut key = e.path().to_string();
            if key == "." {
                key.clear();
            }
            let message = e.inner().to_string();
            // serde reports an unknown field at its parent; point at the field.
            if let Some(field) = message
                .strip_prefix("unknown field `")
                .and_then(|rest| rest.split('`').next())
            {
                let already = key == field || key.ends_with(&format!(".{field}"));
                key = if already {
                    key
                } else if key.is_empty() {
                    field.to_owned()
                } else {
                    format!("{key}.{field}")
                };
            }
            let via = overridden
                .iter()
                .find(|(path, _)| &key == path)
                .map(|(_, var)| format!("environment variable {var}"));
            return Err(error(vec![problem(&key, message, via)]));
        }
    };

    let loaded = Loaded {
        config,
        file: file.to_path_buf(),
        dir: dir.to_path_buf(),
        source: std::sync::Arc::new(SourceMapHandle(source)),
        overridden,
    };
    let problems = validate(&loaded);
    if problems.is_empty() {
        Ok(loaded)
    } else {
        Err(loaded.error(problems))
    }
}

/// Checks that need the whole config: instance names, pipeline references.
fn validate(loaded: &Loaded) -> Vec<Problem> {
    let c = &loaded.config;
    let mut problems = Vec::new();
    for (section, instances) in [
        ("transports", &c.transports),
        ("stt", &c.stt),
        ("policies", &c.policies),
        ("tts", &c.tts),
        ("responders", &c.responders),
    ] {
        for name in instances.keys() {
            let ok = !name.is_empty()
                && name
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-');
            if !ok {
                problems.push(loaded.problem(
                    &format!("{section}.{name}"),
                    "instance names may only use letters, digits, `_` and `-` (they appear in URLs)",
                ));
            }
        }
    }
    for (key, chosen, instances) in [
        ("pipeline.stt", &c.pipeline.stt, &c.stt),
        ("pipeline.responder", &c.pipeline.responder, &c.responders),
        ("pipeline.tts", &c.pipeline.tts, &c.tts),
    ] {
        match chosen {
            Some(name) if !instances.contains_key(name) => problems.push(loaded.problem(
                key,
                format!(
                    "no instance named `{name}` (configured: {})",
                    if instances.is_empty() {
                        "none".to_owned()
                    } else {
                        instances.keys().cloned().collect::<Vec<_>>().join(", ")
                    }
                ),
            )),
            None if instances.len() > 1 => problems.push(loaded.problem(
                key,
                format!(
                    "several instances are configured ({}); name the one the pipeline uses",
                    instances.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            )),
            _ => {}
        }
    }
    for issue in c.pipeline.vad.issues() {
        problems.push(loaded.problem("pipeline.vad", issue.to_string()));
    }
    for (key, issue) in c.pipeline.playout.issues() {
        problems.push(loaded.problem(&format!("pipeline.playout.{key}"), issue));
    }
    for issue in c.pipeline.turn.issues() {
        problems.push(loaded.problem("pipeline.turn", issue.to_string()));
    }
    if !(1..=10_000_000).contains(&c.audit.queue) {
        problems.push(loaded.problem(
            "audit.queue",
            format!("must be from 1 to 10000000 records (got {})", c.audit.queue),
        ));
    }
    if c.audit.enabled() && c.audit.path.to_string_lossy().ends_with('/') {
        problems.push(loaded.problem(
            "audit.path",
            "must name a database file, not a directory (or be empty to turn auditing off)",
        ));
    }
    problems
}

impl Loaded {
    /// The audit database file (resolved against the config file's
    /// directory), or `None` when `audit.path` is empty.
    pub fn audit_path(&self) -> Option<PathBuf> {
        let path = &self.config.audit.path;
        self.config.audit.enabled().then(|| self.resolve(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str, vars: &[(&str, &str)]) -> Result<Loaded, ConfigError> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        parse(text, Path::new("config.toml"), Path::new("/etc/vg"), vars)
    }

    #[test]
    fn minimal_config_gets_defaults() {
        let loaded = parse_str("", &[]).unwrap();
        assert_eq!(loaded.config.server.listen.port(), 8080);
        assert_eq!(loaded.config.limits.max_calls, 1000);
        assert!(loaded.config.transports.is_empty());
    }

    #[test]
    fn instance_tables_keep_their_own_keys_in_order() {
        let loaded = parse_str(
            "[policies.b]\nplugin = \"policy\"\nx = 1\n[policies.a]\nplugin = \"policy\"\n",
            &[],
        )
        .unwrap();
        let names: Vec<_> = loaded.config.policies.keys().cloned().collect();
        assert_eq!(names, ["b", "a"]);
        assert_eq!(loaded.config.policies["b"].plugin, "policy");
        assert_eq!(
            loaded.config.policies["b"].settings["x"].as_integer(),
            Some(1)
        );
        assert!(!loaded.config.policies["b"].settings.contains_key("plugin"));
    }

    #[test]
    fn unknown_keys_name_the_key_and_line() {
        let err = parse_str(
            "[server]\nlisten = \"127.0.0.1:1\"\npublik_url = \"x\"\n",
            &[],
        )
        .unwrap_err();
        assert_eq!(err.problems[0].key, "server.publik_url");
        assert_eq!(err.problems[0].line, Some(3));
        let text = err.to_string();
        assert!(
            text.contains("config.toml:3: `server.publik_url`"),
            "{text}"
        );
    }

    #[test]
    fn bad_values_name_the_key_and_line() {
        let err = parse_str("\n[server]\npublic_url = \"ftp://x\"\n", &[]).unwrap_err();
        assert_eq!(err.problems[0].key, "server.public_url");
        assert_eq!(err.problems[0].line, Some(3));
        assert!(err.problems[0].message.contains("http://"));
    }

    #[test]
    fn a_missing_plugin_key_is_reported_at_the_instance() {
        let err = parse_str("[transports.twilio]\nauth_token = \"x\"\n", &[]).unwrap_err();
        assert_eq!(err.problems[0].key, "transports.twilio");
        assert_eq!(err.problems[0].line, Some(1));
        assert!(err.problems[0].message.contains("plugin"));
    }

    #[test]
    fn short_admin_tokens_are_refused_without_echoing_them() {
        let err = parse_str("[admin]\ntoken = \"admin-short\"\n", &[]).unwrap_err();
        assert_eq!(err.problems[0].key, "admin.token");
        assert!(err.problems[0].message.contains("at least 20"));
        assert!(!err.to_string().contains("admin-short"));
    }

    #[test]
    fn env_expansion_and_overrides() {
        let loaded = parse_str(
            "[admin]\ntoken = \"${TOKEN}\"\n[server]\npublic_url = \"http://a\"\n",
            &[
                ("TOKEN", "admin-0123456789abcdefghij"),
                ("VOICEGATE_SERVER__PUBLIC_URL", "https://b.example/"),
                ("VOICEGATE_LIMITS__MAX_CALLS", "5"),
            ],
        )
        .unwrap();
        assert_eq!(
            loaded.config.admin.token.as_deref(),
            Some("admin-0123456789abcdefghij")
        );
        assert_eq!(loaded.config.server.public_url, "https://b.example");
        assert_eq!(loaded.config.limits.max_calls, 5);
    }

    #[test]
    fn a_missing_variable_names_the_key() {
        let err = parse_str(
            "[transports.t]\nplugin = \"twilio\"\nauth_token = \"${NOPE}\"\n",
            &[],
        )
        .unwrap_err();
        assert_eq!(err.problems[0].key, "transports.t.auth_token");
        assert_eq!(err.problems[0].line, Some(3));
    }

    #[test]
    fn a_bad_override_names_the_variable() {
        let err = parse_str("", &[("VOICEGATE_SERVER__LISTEN", "nonsense")]).unwrap_err();
        assert_eq!(err.problems[0].key, "server.listen");
        assert!(
            err.to_string().contains("VOICEGATE_SERVER__LISTEN"),
            "{err}"
        );
    }

    #[test]
    fn pipeline_references_must_exist() {
        let err = parse_str(
            "[pipeline]\nstt = \"fast\"\n[stt.slow]\nplugin = \"whisper\"\n",
            &[],
        )
        .unwrap_err();
        assert_eq!(err.problems[0].key, "pipeline.stt");
        assert!(err.problems[0].message.contains("slow"));
    }

    #[test]
    fn audit_defaults_resolve_next_to_the_config_and_empty_turns_it_off() {
        let loaded = parse_str("", &[]).unwrap();
        assert_eq!(loaded.config.audit.queue, 10_000);
        assert_eq!(
            loaded.audit_path(),
            Some(PathBuf::from("/etc/vg/voicegate.db"))
        );
        let loaded = parse_str("[audit]\npath = \"/var/lib/vg/a.db\"\nqueue = 5\n", &[]).unwrap();
        assert_eq!(loaded.audit_path(), Some(PathBuf::from("/var/lib/vg/a.db")));
        assert_eq!(loaded.config.audit.queue, 5);
        let loaded = parse_str("[audit]\npath = \"\"\n", &[]).unwrap();
        assert_eq!(loaded.audit_path(), None);
        let err = parse_str("[audit]\nqueue = 0\n", &[]).unwrap_err();
        assert_eq!(err.problems[0].key, "audit.queue");
        assert_eq!(err.problems[0].line, Some(2));
        let err = parse_str("[audit]\npaht = \"x\"\n", &[]).unwrap_err();
        assert_eq!(err.problems[0].key, "audit.paht");
    }

    #[test]
    fn invalid_toml_has_a_line() {
        let err = parse_str("[server]\nlisten = \n", &[]).unwrap_err();
        assert_eq!(err.problems[0].line, Some(2));
    }
}
