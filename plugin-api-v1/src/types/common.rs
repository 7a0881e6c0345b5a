//! Small values shared by every plugin kind: errors, key/value pairs, log levels.

use std::fmt;

use abi_stable::{
    std_types::{RString, RVec},
    StableAbi,
};

/// A name/value pair (HTTP headers, custom call parameters, carrier attributes).
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq, Default)]
pub struct KeyValue {
    /// The name, as the carrier or client sent it.
    pub key: RString,
    /// The value.
    pub value: RString,
}

impl KeyValue {
    /// Builds a pair from anything string-like.
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            key: RString::from(key.into()),
            value: RString::from(value.into()),
        }
    }
}

/// Looks a key up in a list of pairs (first match, exact case).
pub fn lookup<'a>(pairs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.as_str())
}

/// What went wrong in a plugin call, as a small open set of codes.
///
/// A newtype over `u8` rather than an enum so that later minor versions can
/// add codes without changing the ABI layout; unknown codes are treated as
/// [`ErrorKind::INTERNAL`] by the host.
#[repr(transparent)]
#[derive(StableAbi, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorKind(pub u8);

impl ErrorKind {
    /// The instance's configuration is invalid (see [`PluginError::issues`]).
    pub const CONFIG: Self = Self(1);
    /// The input (a frame, a webhook body, a parameter) is malformed.
    /// For media frames the host counts it and keeps the call going.
    pub const INVALID_INPUT: Self = Self(2);
    /// A signature or credential check failed; the host answers 403.
    pub const UNAUTHORIZED: Self = Self(3);
    /// The thing asked for does not exist (route, session, voice).
    pub const NOT_FOUND: Self = Self(4);
    /// The plugin does not support this operation.
    pub const UNSUPPORTED: Self = Self(5);
    /// The plugin is at capacity; retrying later may succeed.
    pub const BUSY: Self = Self(6);
    /// A deadline passed.
    pub const TIMEOUT: Self = Self(7);
    /// A protocol violation that ends the stream (the host closes it).
    pub const FATAL: Self = Self(8);
    /// A bug or an unexpected failure inside the plugin.
    pub const INTERNAL: Self = Self(9);
    /// The plugin panicked; the panic was caught at the boundary.
    pub const PANICKED: Self = Self(10);

    /// A stable, lower-case name for logs and metrics labels.
    pub fn name(self) -> &'static str {
        match self {
            Self::CONFIG => "config",
            Self::INVALID_INPUT => "invalid_input",
            Self::UNAUTHORIZED => "unauthorized",
            Self::NOT_FOUND => "not_found",
            Self::UNSUPPORTED => "unsupported",
            Self::BUSY => "busy",
            Self::TIMEOUT => "timeout",
            Self::FATAL => "fatal",
            Self::PANICKED => "panicked",
            _ => "internal",
        }
    }
}

impl fmt::Debug for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One problem in an instance's configuration, with the key it concerns.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq)]
pub struct ConfigIssue {
    /// Dotted path of the key inside the instance's table (`auth_token`,
    /// `rate_limit.calls`); empty when the problem concerns the whole table.
    pub key: RString,
    /// What is wrong and, where possible, what would be right.
    pub message: RString,
}

/// The error every plugin call can return.
#[repr(C)]
#[derive(StableAbi, Clone, PartialEq, Eq)]
pub struct PluginError {
    /// The class of failure; the host's reaction depends on it.
    pub kind: ErrorKind,
    /// A one-line, human-readable description.
    pub message: RString,
    /// For [`ErrorKind::CONFIG`]: every problem found, each with its key.
    pub issues: RVec<ConfigIssue>,
}

impl PluginError {
    /// An error of the given kind.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: RString::from(message.into()),
            issues: RVec::new(),
        }
    }

    /// Malformed input.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::INVALID_INPUT, message)
    }

    /// A failed signature or credential check.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::UNAUTHORIZED, message)
    }

    /// Something that should not happen.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::INTERNAL, message)
    }

    /// An operation the plugin does not implement.
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::UNSUPPORTED, message)
    }

    /// A protocol violation that should end the stream.
    pub fn fatal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::FATAL, message)
    }

    /// A configuration error made of one or more issues.
    pub fn config(issues: Vec<ConfigIssue>) -> Self {
        let message = match issues.as_slice() {
            [one] if one.key.is_empty() => one.message.to_string(),
            [one] => format!("`{}`: {}", one.key, one.message),
            many => format!("{} configuration problems", many.len()),
        };
        Self {
            kind: ErrorKind::CONFIG,
            message: RString::from(message),
            issues: RVec::from(issues),
        }
    }

    /// A configuration error about one key.
    pub fn config_key(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self::config(vec![ConfigIssue {
            key: RString::from(key.into()),
            message: RString::from(message.into()),
        }])
    }

    /// Prefixes the message with context ("decoding media: …").
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.message = RString::from(format!("{context}: {}", self.message));
        self
    }
}

impl fmt::Debug for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginError")
            .field("kind", &self.kind)
            .field("message", &self.message.as_str())
            .field("issues", &self.issues.as_slice())
            .finish()
    }
}

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.kind.name())?;
        for issue in self.issues.iter() {
            if issue.key.is_empty() {
                write!(f, "; {}", issue.message)?;
            } else {
                write!(f, "; `{}`: {}", issue.key, issue.message)?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for PluginError {}

/// Severity of a log record sent to the host.
#[repr(transparent)]
#[derive(StableAbi, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub struct LogLevel(pub u8);

impl LogLevel {
    /// Errors.
    pub const ERROR: Self = Self(1);
    /// Warnings.
    pub const WARN: Self = Self(2);
    /// Information.
    pub const INFO: Self = Self(3);
    /// Debugging detail.
    pub const DEBUG: Self = Self(4);
    /// Very verbose tracing.
    pub const TRACE: Self = Self(5);
}

/// A generic, typed extension value (`kind` names it, `json` carries it).
///
/// Used by `Other` variants and escape hatches so that new features can be
/// added without changing the ABI layout.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq, Default)]
pub struct Extension {
    /// A namespaced name, e.g. `twilio.stream_status`.
    pub kind: RString,
    /// The payload, as JSON.
    pub json: RString,
}
