//! How a host checks that a library speaks this generation, in both
//! directions of a 2.x minor.
//!
//! abi_stable's own check (`init_root_module`) accepts a library whose
//! prefix types and trait vtables have *more* fields than the host's, never
//! fewer: a host that gained a method in a minor would refuse every plugin
//! built before it. This check accepts either side being the longer one,
//! which is safe because everything a 2.x minor may add is read through
//! accessors that test, at run time, whether the other side has it
//! (appended root fields return `None`, appended trait methods fall back to
//! their default body). Types above the prefix line must still match
//! exactly, field by field.

use abi_stable::{
    abi_stability::abi_checking::check_layout_compatibility,
    library::{IsLayoutChecked, LibHeader, LibraryError},
    StableAbi,
};

use super::{PluginRoot_Ref, ROOT_MODULE_NAME};

/// Why a library cannot be used as a generation-2 plugin.
#[derive(Debug)]
pub enum CheckError {
    /// The root module is another generation's.
    OtherGeneration {
        /// The root module name found.
        found: String,
    },
    /// Built against another major version of this crate.
    OtherMajor {
        /// The `voicegate-plugin-api` version it was built against.
        found: String,
    },
    /// The library was built without layout information.
    Unchecked,
    /// The types differ beyond what a minor may add.
    Layout {
        /// abi_stable's full report.
        report: String,
    },
    /// abi_stable refused the library for another reason (version strings,
    /// the root module's constructor).
    Library(LibraryError),
}

impl std::fmt::Display for CheckError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::OtherGeneration { found } => {
                write!(f, "speaks `{found}`, not `{ROOT_MODULE_NAME}`")
            }
            Self::OtherMajor { found } => write!(
                f,
                "built against voicegate-plugin-api {found}, not a {} release",
                env!("CARGO_PKG_VERSION_MAJOR")
            ),
            Self::Unchecked => f.write_str("carries no layout information"),
            Self::Layout { report } => write!(f, "layout mismatch: {report}"),
            Self::Library(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for CheckError {}

/// Checks a library header and returns its root module.
///
/// The generation and major version are read from the header before any
/// layout is compared, so a library of another generation is one line of
/// error, not a layout dump.
pub fn check(header: &'static LibHeader) -> Result<PluginRoot_Ref, CheckError> {
    let consts = header.root_mod_consts();
    let name = consts.name().as_str();
    if name != ROOT_MODULE_NAME {
        return Err(CheckError::OtherGeneration {
            found: name.to_owned(),
        });
    }
    let found = header.version_strings().version.as_str();
    if found.split('.').next() != Some(env!("CARGO_PKG_VERSION_MAJOR")) {
        return Err(CheckError::OtherMajor {
            found: found.to_owned(),
        });
    }
    let IsLayoutChecked::Yes(theirs) = consts.layout() else {
        return Err(CheckError::Unchecked);
    };
    let ours = <PluginRoot_Ref as StableAbi>::LAYOUT;
    // Ours no longer than theirs (a plugin from this or a later minor), or
    // theirs no longer than ours (a plugin from an earlier minor).
    if let Err(forward) = check_layout_compatibility(ours, theirs) {
        if check_layout_compatibility(theirs, ours).is_err() {
            return Err(CheckError::Layout {
                report: forward.to_string(),
            });
        }
    }
    // SAFETY: the layout of the library's root module was checked just
    // above against this type, in the direction its minor needs.
    unsafe { header.init_root_module_with_unchecked_layout::<PluginRoot_Ref>() }
        .map_err(CheckError::Library)
}
