//! The root module every plugin library exports.

#![allow(non_camel_case_types)]

use abi_stable::{
    declare_root_module_statics,
    library::RootModule,
    package_version_strings,
    sabi_types::VersionStrings,
    std_types::{RResult, RStr, RString},
    StableAbi,
};

use super::traits::{HostServicesBox, PolicyBox, ResponderBox, SttBox, TransportBox, TtsBox};
use crate::types::{InstanceConfig, PluginError, PluginInfo};

/// Constructor of one provider kind.
pub type Factory<T> = extern "C" fn(InstanceConfig, HostServicesBox) -> RResult<T, PluginError>;

/// The table of entry points of a plugin library (interface v2).
///
/// Fields up to `call_ext` are the 2.0 prefix and never change. A 2.x
/// minor may append fields after it (a new provider kind's constructor, for
/// example); their accessors return `None` for libraries built before them,
/// and a library built against a newer minor carries fields this host does
/// not know, which it never calls (docs/plugin-api-versioning.md).
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginRoot_Ref)))]
#[sabi(missing_field(option))]
pub struct PluginRoot {
    /// Metadata; cheap, never fails.
    pub info: extern "C" fn() -> PluginInfo,
    /// Called once per library before any instance is created, with
    /// services whose log records carry the plugin's name but no instance
    /// (for the plugin's own threads, outside any call).
    pub init: extern "C" fn(HostServicesBox) -> RResult<(), PluginError>,
    /// Creates a transport instance.
    pub new_transport:
        extern "C" fn(InstanceConfig, HostServicesBox) -> RResult<TransportBox, PluginError>,
    /// Creates an STT instance.
    pub new_stt: extern "C" fn(InstanceConfig, HostServicesBox) -> RResult<SttBox, PluginError>,
    /// Creates a policy instance.
    pub new_policy:
        extern "C" fn(InstanceConfig, HostServicesBox) -> RResult<PolicyBox, PluginError>,
    /// Creates a TTS instance.
    pub new_tts: extern "C" fn(InstanceConfig, HostServicesBox) -> RResult<TtsBox, PluginError>,
    /// Creates a responder instance.
    pub new_responder:
        extern "C" fn(InstanceConfig, HostServicesBox) -> RResult<ResponderBox, PluginError>,
    /// Library-level escape hatch (`op`, JSON payload).
    #[sabi(last_prefix_field)]
    pub call_ext: extern "C" fn(RStr<'_>, RStr<'_>) -> RResult<RString, PluginError>,
    /// Appended by the growth rehearsal: what a 2.1 root field looks like.
    #[cfg(feature = "rehearse-next-minor")]
    pub rehearsal_probe: extern "C" fn() -> u32,
}

impl RootModule for PluginRoot_Ref {
    declare_root_module_statics! {PluginRoot_Ref}
    const BASE_NAME: &'static str = "voicegate_plugin";
    const NAME: &'static str = ROOT_MODULE_NAME;
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}

/// The root module's name; names the interface generation.
pub const ROOT_MODULE_NAME: &str = "voicegate_plugin_v2";
