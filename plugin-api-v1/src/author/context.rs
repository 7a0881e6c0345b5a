//! What an instance receives when it is created.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use super::host::Host;
use crate::types::{ConfigIssue, PluginError};

/// Construction context of one instance.
#[derive(Debug, Clone)]
pub struct Context {
    instance: String,
    public_url: String,
    config_json: String,
    config_dir: Option<PathBuf>,
    host: Host,
}

impl Context {
    pub(crate) fn new(
        instance: String,
        public_url: String,
        config_json: String,
        extensions_json: &str,
        host: Host,
    ) -> Self {
        let config_dir = serde_json::from_str::<serde_json::Value>(extensions_json)
            .ok()
            .and_then(|v| v.get("config_dir")?.as_str().map(PathBuf::from));
        Self {
            instance,
            public_url,
            config_json,
            config_dir,
            host,
        }
    }

    /// The directory of the operator's config file, when the host knows it.
    pub fn config_dir(&self) -> Option<&Path> {
        self.config_dir.as_deref()
    }

    /// Resolves a path from the config: absolute paths stay as they are,
    /// relative ones are taken from the config file's directory (so a
    /// config works whatever directory the host was started from).
    pub fn resolve_path(&self, path: impl AsRef<Path>) -> PathBuf {
        let path = path.as_ref();
        match &self.config_dir {
            Some(dir) if path.is_relative() => dir.join(path),
            _ => path.to_path_buf(),
        }
    }

    /// The operator's name for this instance (its config table key).
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// The operator's public base URL, without a trailing slash.
    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// The host's services.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// The raw instance table as JSON.
    pub fn config_json(&self) -> &str {
        &self.config_json
    }

    /// Deserializes the instance table. Errors name the key at fault, so the
    /// host can point the operator at the line in `config.toml`. Use
    /// `#[serde(deny_unknown_fields)]` so typos are caught.
    pub fn config<T: DeserializeOwned>(&self) -> Result<T, PluginError> {
        let source = if self.config_json.trim().is_empty() {
            "{}"
        } else {
            self.config_json.as_str()
        };
        let mut de = serde_json::Deserializer::from_str(source);
        serde_path_to_error::deserialize(&mut de).map_err(|err| {
            let path = err.path().to_string();
            let key = if path == "." { String::new() } else { path };
            PluginError::config(vec![ConfigIssue {
                key: key.into(),
                message: without_position(&err.into_inner()).into(),
            }])
        })
    }
}

/// serde_json's message without its "at line 1 column N" suffix: the
/// position is in the JSON the host made from the operator's TOML, which
/// the operator never sees; the host points at the TOML line instead.
fn without_position(err: &serde_json::Error) -> String {
    let text = err.to_string();
    let suffix = format!(" at line {} column {}", err.line(), err.column());
    match text.strip_suffix(&suffix) {
        Some(message) => message.to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use crate::testkit;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Table {
        workers: u32,
    }

    fn issue(config_json: &str) -> (String, String) {
        let err = testkit::context("stt", "http://x", config_json)
            .config::<Table>()
            .expect_err("invalid table");
        let issue = &err.issues[0];
        (issue.key.to_string(), issue.message.to_string())
    }

    #[test]
    fn config_errors_name_the_key_without_a_json_position() {
        let (key, message) = issue(r#"{"workers":"two"}"#);
        assert_eq!(key, "workers");
        assert_eq!(message, r#"invalid type: string "two", expected u32"#);
        let (key, message) = issue(r#"{"wrokers":2}"#);
        assert_eq!(key, "wrokers");
        assert!(
            message.starts_with("unknown field `wrokers`, expected `workers`"),
            "{message}"
        );
        assert!(!message.contains("line 1"), "{message}");
    }
}
