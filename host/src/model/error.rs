//! What a plugin call can fail with, as the host reacts to it.

use std::fmt;

/// The class of a plugin failure; the host's reaction depends on it.
///
/// Every generation's error codes map onto these; a code the host does not
/// know is [`FailureKind::Internal`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// The instance's configuration is invalid.
    Config,
    /// The input (a frame, a webhook body, a parameter) is malformed.
    InvalidInput,
    /// A signature or credential check failed.
    Unauthorized,
    /// The thing asked for does not exist.
    NotFound,
    /// The plugin does not support this operation.
    Unsupported,
    /// The plugin is at capacity.
    Busy,
    /// A deadline passed (the plugin's own, or the host's).
    Timeout,
    /// A protocol violation that ends the stream.
    Fatal,
    /// A bug or an unexpected failure inside the plugin.
    Internal,
    /// The plugin panicked; the panic was contained.
    Panicked,
    /// The work was stopped because the host asked.
    Cancelled,
}

impl FailureKind {
    /// A stable, lower-case name for logs, events and metric labels.
    pub fn name(self) -> &'static str {
        match self {
            Self::Config => "config",
            Self::InvalidInput => "invalid_input",
            Self::Unauthorized => "unauthorized",
            Self::NotFound => "not_found",
            Self::Unsupported => "unsupported",
            Self::Busy => "busy",
            Self::Timeout => "timeout",
            Self::Fatal => "fatal",
            Self::Internal => "internal",
            Self::Panicked => "panicked",
            Self::Cancelled => "cancelled",
        }
    }
}

/// One problem in an instance's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    /// Dotted key inside the instance's table; empty for the whole table.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

/// A failed plugin call, or a host-side failure around one (a deadline).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The class.
    pub kind: FailureKind,
    /// One line.
    pub message: String,
    /// For [`FailureKind::Config`]: every problem, each with its key.
    pub issues: Vec<ConfigIssue>,
}

impl Failure {
    /// A failure of the given kind.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            issues: Vec::new(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.kind.name())?;
        for issue in &self.issues {
            if issue.key.is_empty() {
                write!(f, "; {}", issue.message)?;
            } else {
                write!(f, "; `{}`: {}", issue.key, issue.message)?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for Failure {}
