//! Calls as policies see them, the host's decision, and policy verdicts.

use abi_stable::{
    std_types::{ROption, RString, RVec},
    StableAbi,
};

use super::KeyValue;

/// Where a call comes from; drives default risk tiers.
#[repr(transparent)]
#[derive(StableAbi, Clone, Copy, PartialEq, Eq, Debug)]
pub struct Channel(pub u8);

impl Channel {
    /// Unknown origin.
    pub const OTHER: Self = Self(0);
    /// The public telephone network, through a carrier.
    pub const PSTN: Self = Self(1);
    /// A browser or app client.
    pub const BROWSER: Self = Self(2);
    /// A SIP endpoint.
    pub const SIP: Self = Self(3);

    /// A lower-case name for logs and the audit trail.
    pub fn name(self) -> &'static str {
        match self {
            Self::PSTN => "pstn",
            Self::BROWSER => "browser",
            Self::SIP => "sip",
            _ => "other",
        }
    }
}

/// A call that wants to start; the input of every policy.
///
/// Its `Debug` output hides the admin token.
#[repr(C)]
#[derive(StableAbi, Clone, Default)]
pub struct CallRequest {
    /// The transport instance name; filled in by the host.
    pub transport: RString,
    /// The carrier's call id (Twilio `CallSid`, Vonage `uuid`, …).
    pub call_id: RString,
    /// The carrier account, where there is one.
    pub account_id: RString,
    /// Caller identity: E.164 number, `client:…`, SIP URI or a browser user.
    pub from: RString,
    /// Called identity.
    pub to: RString,
    /// `inbound`, `outbound-api`, …
    pub direction: RString,
    /// Origin of the call.
    pub channel: Channel,
    /// Parameters the operator attached to the call (TwiML `<Parameter>`, …).
    pub custom_params: RVec<KeyValue>,
    /// Other facts the carrier gave (`FromCountry`, `StirVerstat`, …).
    pub attributes: RVec<KeyValue>,
    /// An admin token presented with the call, if any.
    pub admin_token: ROption<RString>,
    /// The peer address of the request that started the call.
    pub remote_addr: RString,
    /// JSON object with anything else; `{}` or empty when unused.
    pub extensions_json: RString,
}

impl std::fmt::Debug for CallRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallRequest")
            .field("transport", &self.transport.as_str())
            .field("call_id", &self.call_id.as_str())
            .field("account_id", &self.account_id.as_str())
            .field("from", &self.from.as_str())
            .field("to", &self.to.as_str())
            .field("direction", &self.direction.as_str())
            .field("channel", &self.channel)
            .field("custom_params", &self.custom_params.len())
            .field("attributes", &self.attributes.len())
            .field(
                "admin_token",
                &self
                    .admin_token
                    .as_ref()
                    .map(|_| "<redacted>")
                    .into_option(),
            )
            .field("remote_addr", &self.remote_addr.as_str())
            .finish()
    }
}

impl Default for Channel {
    fn default() -> Self {
        Self::OTHER
    }
}

/// A risk tier assigned by policy.
#[repr(transparent)]
#[derive(StableAbi, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Default)]
pub struct RiskTier(pub u8);

impl RiskTier {
    /// Low risk.
    pub const LOW: Self = Self(0);
    /// Medium risk (PSTN calls by default).
    pub const MEDIUM: Self = Self(1);
    /// High risk: operations need an admin token.
    pub const HIGH: Self = Self(2);
    /// Critical.
    pub const CRITICAL: Self = Self(3);

    /// A lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Self::LOW => "low",
            Self::MEDIUM => "medium",
            Self::HIGH => "high",
            _ => "critical",
        }
    }
}

/// One reason behind a verdict.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq)]
pub struct Reason {
    /// A stable, machine-readable code (`rate_limited`, `blocklisted`).
    pub code: RString,
    /// A sentence for people.
    pub message: RString,
}

impl Reason {
    /// Builds a reason.
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: RString::from(message.into()),
        }
    }
}

/// A policy's answer.
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct Verdict {
    /// Whether the call may go on.
    pub allow: bool,
    /// The tier this policy assigns.
    pub tier: RiskTier,
    /// Why; a deny must carry at least one reason.
    pub reasons: RVec<Reason>,
    /// JSON object with anything else.
    pub extensions_json: RString,
}

impl Verdict {
    /// An allow verdict.
    pub fn allow(tier: RiskTier) -> Self {
        Self {
            allow: true,
            tier,
            reasons: RVec::new(),
            extensions_json: RString::new(),
        }
    }

    /// A deny verdict with one reason.
    pub fn deny(tier: RiskTier, reason: Reason) -> Self {
        Self {
            allow: false,
            tier,
            reasons: RVec::from(vec![reason]),
            extensions_json: RString::new(),
        }
    }
}

/// Why a call is turned away.
#[repr(transparent)]
#[derive(StableAbi, Clone, Copy, PartialEq, Eq, Debug)]
pub struct RejectCause(pub u8);

impl RejectCause {
    /// A policy denied it.
    pub const POLICY: Self = Self(0);
    /// The host is at its concurrent-call limit.
    pub const BUSY: Self = Self(1);
    /// Something failed inside the host; apologise and hang up.
    pub const ERROR: Self = Self(2);
}

/// The host's decision on a [`CallRequest`], given back to the transport.
#[repr(u8)]
#[derive(StableAbi, Clone, Debug)]
pub enum CallDecision {
    /// Connect the call's media to the host.
    Accept(Accepted),
    /// Turn the call away.
    Reject(Rejected),
}

/// Details of an accepted call.
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct Accepted {
    /// The host's session id (also in the stream URL).
    pub session_id: RString,
    /// Absolute `ws://`/`wss://` URL of the transport's media stream for this
    /// session, built from its `{session_id}` WebSocket route.
    pub stream_url: RString,
    /// Parameters the transport should hand back when the stream starts
    /// (TwiML `<Parameter>`s, Vonage headers).
    pub params: RVec<KeyValue>,
    /// The tier the policy chain assigned.
    pub tier: RiskTier,
}

/// Details of a rejected call.
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct Rejected {
    /// Why.
    pub cause: RejectCause,
    /// The reasons collected from policies.
    pub reasons: RVec<Reason>,
    /// A sentence the caller may hear.
    pub message: RString,
}
