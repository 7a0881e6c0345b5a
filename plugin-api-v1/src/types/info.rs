//! Plugin metadata and instance construction.

use abi_stable::{std_types::RString, StableAbi};

/// The provider kinds a plugin library can offer, as a bit set.
#[repr(transparent)]
#[derive(StableAbi, Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct KindSet(pub u32);

/// One provider kind.
#[repr(transparent)]
#[derive(StableAbi, Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct PluginKind(pub u32);

impl PluginKind {
    /// Carrier or client protocol adapters.
    pub const TRANSPORT: Self = Self(1);
    /// Speech to text.
    pub const STT: Self = Self(1 << 1);
    /// Call admission policy.
    pub const POLICY: Self = Self(1 << 2);
    /// Text to speech.
    pub const TTS: Self = Self(1 << 3);
    /// The agent that answers a turn.
    pub const RESPONDER: Self = Self(1 << 4);

    /// Every kind this interface version knows, in display order.
    pub const ALL: [Self; 5] = [
        Self::TRANSPORT,
        Self::STT,
        Self::POLICY,
        Self::TTS,
        Self::RESPONDER,
    ];

    /// The name used in config sections and messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::TRANSPORT => "transport",
            Self::STT => "stt",
            Self::POLICY => "policy",
            Self::TTS => "tts",
            Self::RESPONDER => "responder",
            _ => "unknown",
        }
    }
}

impl KindSet {
    /// No kinds.
    pub const EMPTY: Self = Self(0);

    /// Adds a kind.
    pub const fn with(self, kind: PluginKind) -> Self {
        Self(self.0 | kind.0)
    }

    /// Whether the kind is in the set.
    pub const fn contains(self, kind: PluginKind) -> bool {
        self.0 & kind.0 == kind.0
    }

    /// The known kinds in the set.
    pub fn iter(self) -> impl Iterator<Item = PluginKind> {
        PluginKind::ALL
            .into_iter()
            .filter(move |k| self.contains(*k))
    }
}

/// What a plugin library says about itself, readable right after loading.
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct PluginInfo {
    /// The plugin's name; by convention its crate and library file name.
    pub name: RString,
    /// The plugin's own version.
    pub version: RString,
    /// One line describing it.
    pub description: RString,
    /// The `voicegate-plugin-api` version it was built against.
    pub api_version: RString,
    /// The interface generation it speaks ([`crate::INTERFACE_VERSION`]).
    pub interface_version: u32,
    /// Kinds it provides.
    pub kinds: KindSet,
    /// Whether it was built with `panic = "unwind"`; the host refuses
    /// libraries built with `abort`, whose panics cannot be contained.
    pub panic_unwind: bool,
    /// JSON object with anything else.
    pub extensions_json: RString,
}

/// Everything an instance receives when it is created.
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct InstanceConfig {
    /// The operator's name for this instance (the config table key).
    pub instance: RString,
    /// The instance's config table (minus `plugin`) as a JSON object, after
    /// `${ENV}` expansion.
    pub config_json: RString,
    /// The operator's public base URL.
    pub public_url: RString,
    /// JSON object with anything else.
    pub extensions_json: RString,
}
