//! The one macro a plugin library calls.

/// Exports a plugin library: its root module, metadata and panic guards.
///
/// Name each provider kind the library offers and the type implementing it:
///
/// ```ignore
/// voicegate_plugin_api::export_plugin!(transport = MyCarrier);
/// voicegate_plugin_api::export_plugin!(stt = MyEngine, policy = MyRules);
/// ```
///
/// Kinds: `transport` ([`crate::Transport`]), `stt` ([`crate::Stt`], a
/// whole-utterance engine) or `streaming_stt` ([`crate::StreamingStt`]),
/// `policy` ([`crate::Policy`]), `tts` ([`crate::Tts`]), `responder`
/// ([`crate::Responder`]). The plugin's name is its library's crate name
/// (`[lib] name` in Cargo.toml), which is also the file name the host looks
/// for (`lib<name>.so`) and the `plugin = "<name>"` operators write.
///
/// Call it once per library, at the crate root. Build the library with
/// `crate-type = ["cdylib", "rlib"]` and `panic = "unwind"` (the default).
#[macro_export]
macro_rules! export_plugin {
    ($($kind:ident = $ty:ty),+ $(,)?) => {
        #[doc(hidden)]
        struct __VoicegatePluginMeta;

        impl $crate::adapters::PluginMeta for __VoicegatePluginMeta {
            const NAME: &'static str = env!("CARGO_CRATE_NAME");
            const VERSION: &'static str = env!("CARGO_PKG_VERSION");
            const DESCRIPTION: &'static str = env!("CARGO_PKG_DESCRIPTION");
            const PANIC_UNWIND: bool = cfg!(panic = "unwind");
            const KINDS: $crate::KindSet =
                $crate::KindSet::EMPTY $( .with($crate::__voicegate_kind!($kind)) )+;
        }

        #[doc(hidden)]
        fn __voicegate_root_module() -> $crate::abi::PluginRoot_Ref {
            $crate::adapters::RootBuilder::<__VoicegatePluginMeta>::new()
                $( .$kind::<$ty>() )+
                .build()
        }

        // What `#[abi_stable::export_root_module]` expands to, written out so
        // that plugin crates need no direct dependency on abi_stable.
        #[doc(hidden)]
        #[no_mangle]
        #[allow(unsafe_code, non_upper_case_globals)]
        pub static _1as_0lib_1header_0root_bmodule_bloader: $crate::abi_stable::library::LibHeader = {
            extern "C" fn __erased_root_module() -> $crate::abi_stable::library::RootModuleResult {
                $crate::abi_stable::library::__call_root_module_loader(__voicegate_root_module)
            }
            // SAFETY: the constructor returns the module type named here,
            // and the layout check stays on.
            unsafe {
                $crate::abi_stable::library::LibHeader::from_constructor::<$crate::abi::PluginRoot_Ref>(
                    __erased_root_module,
                    $crate::abi_stable::library::CheckTypeLayout::Yes,
                )
            }
        };
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __voicegate_kind {
    (transport) => {
        $crate::PluginKind::TRANSPORT
    };
    (stt) => {
        $crate::PluginKind::STT
    };
    (streaming_stt) => {
        $crate::PluginKind::STT
    };
    (policy) => {
        $crate::PluginKind::POLICY
    };
    (tts) => {
        $crate::PluginKind::TTS
    };
    (responder) => {
        $crate::PluginKind::RESPONDER
    };
    ($other:ident) => {
        compile_error!(concat!(
            "unknown voicegate plugin kind `",
            stringify!($other),
            "`; expected transport, stt, streaming_stt, policy, tts or responder"
        ))
    };
}
