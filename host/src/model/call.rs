//! Calls as policies judge them and as the host decides on them.

use super::Pair;

/// Where a call comes from; drives default risk tiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Channel {
    /// Unknown origin (or a code this host does not know).
    #[default]
    Other,
    /// The public telephone network, through a carrier.
    Pstn,
    /// A browser or app client.
    Browser,
    /// A SIP endpoint.
    Sip,
}

impl Channel {
    /// A lower-case name for logs and the audit trail.
    pub fn name(self) -> &'static str {
        match self {
            Self::Pstn => "pstn",
            Self::Browser => "browser",
            Self::Sip => "sip",
            Self::Other => "other",
        }
    }
}

/// A risk tier assigned by policy; ordered, higher is riskier. Kept as the
/// number plugins send, so a tier a later plugin invents still orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct RiskTier(pub u8);

impl RiskTier {
    /// Low risk.
    pub const LOW: Self = Self(0);
    /// Medium risk (PSTN calls by default).
    pub const MEDIUM: Self = Self(1);
    /// High risk.
    pub const HIGH: Self = Self(2);
    /// Critical.
    pub const CRITICAL: Self = Self(3);

    /// A lower-case name.
    pub fn name(self) -> &'static str {
        match self.0 {
            0 => "low",
            1 => "medium",
            2 => "high",
            _ => "critical",
        }
    }
}

/// A call that wants to start: what the transport reported, and what every
/// policy judges.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct CallInfo {
    /// The transport instance name (set by the host).
    pub transport: String,
    /// The carrier's call id.
    pub call_id: String,
    /// The carrier account, where there is one.
    pub account_id: String,
    /// Caller identity.
    pub from: String,
    /// Called identity.
    pub to: String,
    /// `inbound`, `outbound-api`, …
    pub direction: String,
    /// Origin of the call.
    pub channel: Channel,
    /// Parameters the operator attached to the call.
    pub custom_params: Vec<Pair>,
    /// Other facts the carrier gave.
    pub attributes: Vec<Pair>,
    /// An admin token presented with the call, if any.
    pub admin_token: Option<String>,
    /// The peer address of the request that started the call.
    pub remote_addr: String,
    /// JSON object with anything else; empty when unused.
    pub extensions_json: String,
}

// Hand-written so the admin token never reaches a log line.
impl std::fmt::Debug for CallInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallInfo")
            .field("transport", &self.transport)
            .field("call_id", &self.call_id)
            .field("from", &self.from)
            .field("to", &self.to)
            .field("direction", &self.direction)
            .field("channel", &self.channel)
            .field(
                "admin_token",
                &self.admin_token.as_ref().map(|_| "<redacted>"),
            )
            .field("remote_addr", &self.remote_addr)
            .finish_non_exhaustive()
    }
}

/// One reason behind a verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    /// A stable code (`rate_limited`, `blocklisted`).
    pub code: String,
    /// A sentence for people.
    pub message: String,
}

impl Reason {
    /// Builds a reason.
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

/// A policy's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Whether the call may go on.
    pub allow: bool,
    /// The tier this policy assigns.
    pub tier: RiskTier,
    /// Why (deny reasons first, then notes).
    pub reasons: Vec<Reason>,
}

/// Why a call is turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectCause {
    /// A policy denied it.
    Policy,
    /// The host is at its limit or shutting down.
    Busy,
    /// Something failed inside the host.
    Error,
}

/// The host's decision on a call, handed back to its transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Connect the call's media.
    Accept(Accepted),
    /// Turn the call away.
    Reject(Rejected),
}

/// An accepted call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The session id.
    pub session_id: String,
    /// Absolute URL of the transport's media stream for this session.
    pub stream_url: String,
    /// Parameters the transport should hand back when the stream starts.
    pub params: Vec<Pair>,
    /// The tier the policy chain assigned.
    pub tier: RiskTier,
}

/// A rejected call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// Why.
    pub cause: RejectCause,
    /// Reasons collected from policies (or the host).
    pub reasons: Vec<Reason>,
    /// A short word the transport may use (`busy`, `denied`, `error`).
    pub message: String,
}
