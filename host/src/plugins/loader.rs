//! Opens plugin libraries and picks the interface generation they speak.
//!
//! Uses `lib_header_from_path` and the generation's root module type rather
//! than abi_stable's `load_from_*` helpers, which cache one module per root
//! type and would hand back the first plugin for every path (abi_stable
//! issue #92). The root module's name (`voicegate_plugin_v1`,
//! `voicegate_plugin_v2`) and the plugin-api version are read from the
//! header before any layout check, so a library of an unknown generation or
//! major version is one line of error, not a layout dump.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use voicegate_plugin_api::abi_stable::library::{
    lib_header_from_path, LibraryError, RootModuleError,
};

use super::{
    api::{PolicyApi, ResponderApi, SttApi, TransportApi, TtsApi},
    host_services::{Counters, Owner},
    instances::Kind,
    v1, v2,
};
use crate::model::Failure;

/// What a library says about itself.
#[derive(Debug, Clone)]
pub struct LibraryInfo {
    /// Its plugin name.
    pub name: String,
    /// Its own version.
    pub version: String,
    /// One line.
    pub description: String,
    /// The plugin-api version it was built against.
    pub api_version: String,
    /// The interface generation.
    pub interface_version: u32,
    /// Kinds it provides.
    pub kinds: Vec<Kind>,
    /// Built with `panic = "unwind"`.
    pub panic_unwind: bool,
}

#[derive(Clone, Copy)]
enum Generation {
    V1(v1::Root),
    V2(v2::Root),
}

/// A library that passed every check.
#[derive(Clone)]
pub struct Library {
    /// The file.
    pub path: PathBuf,
    /// What the plugin says about itself.
    pub info: LibraryInfo,
    generation: Generation,
}

impl std::fmt::Debug for Library {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Library")
            .field("path", &self.path)
            .field("name", &self.info.name)
            .field("interface", &self.info.interface_version)
            .finish()
    }
}

/// What an instance is created from.
#[derive(Debug, Clone)]
pub struct InstanceSpec {
    /// The operator's instance name.
    pub instance: String,
    /// Its table as JSON.
    pub config_json: String,
    /// `server.public_url`.
    pub public_url: String,
    /// JSON object with host facts (`config_dir`).
    pub extensions_json: String,
    /// Whose services the instance gets.
    pub owner: Owner,
    /// The counters behind them.
    pub counters: Arc<Counters>,
}

/// A new instance, of whichever kind was asked for.
pub enum Created {
    /// A transport.
    Transport(Box<dyn TransportApi>),
    /// An STT engine.
    Stt(Box<dyn SttApi>),
    /// A policy.
    Policy(Box<dyn PolicyApi>),
    /// A TTS engine.
    Tts(Box<dyn TtsApi>),
    /// A responder.
    Responder(Box<dyn ResponderApi>),
}

impl Library {
    /// Creates one instance of `kind` (a plugin constructor; may be slow).
    pub fn instantiate(&self, kind: Kind, spec: &InstanceSpec) -> Result<Created, Failure> {
        match &self.generation {
            Generation::V1(root) => root.instantiate(kind, spec),
            Generation::V2(root) => root.instantiate(kind, spec),
        }
    }
}

/// The generations this host loads, newest first, for messages.
fn known() -> String {
    format!(
        "`{}` (voicegate-plugin-api {}) or `{}` (voicegate-plugin-api {})",
        v2::ROOT_MODULE_NAME,
        v2::API_VERSION,
        v1::ROOT_MODULE_NAME,
        v1::API_VERSION
    )
}

/// Why a library could not be used. Every variant says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// No file at the path.
    #[error("{path} does not exist; build it (`cargo build --release -p <crate>`, or `scripts/setup.sh` for the shipped plugins) or fix `server.plugin_dir`")]
    Missing {
        /// The expected file.
        path: PathBuf,
    },
    /// The dynamic loader refused the file.
    #[error("{path} cannot be opened as a shared library: {reason}")]
    NotLoadable {
        /// The file.
        path: PathBuf,
        /// The loader's words.
        reason: String,
    },
    /// A shared library without voicegate's entry point.
    #[error("{path} is not a voicegate plugin (it exports no abi_stable root module; did the crate call `voicegate_plugin_api::export_plugin!`?)")]
    NotAPlugin {
        /// The file.
        path: PathBuf,
    },
    /// Built with another abi_stable generation.
    #[error("{path} was built with an incompatible abi_stable version; rebuild it against voicegate-plugin-api {}", v2::API_VERSION)]
    AbiStableMismatch {
        /// The file.
        path: PathBuf,
    },
    /// Speaks a root module (interface generation) this host does not know.
    #[error("{path} speaks plugin interface `{found}`; this host loads {}. Rebuild the plugin against one of them", known())]
    WrongInterface {
        /// The file.
        path: PathBuf,
        /// The root module name found.
        found: String,
    },
    /// A known generation, but a plugin-api major this host does not carry.
    #[error("{path} was built against voicegate-plugin-api {found}, which this host does not load (it loads {}); rebuild the plugin against one of them", known())]
    VersionMismatch {
        /// The file.
        path: PathBuf,
        /// Its plugin-api version.
        found: String,
    },
    /// The layout check failed.
    #[error("{path}: the plugin's types do not match this host's interface v{generation} ({summary}); it was built against a modified voicegate-plugin-api; rebuild it against a released one")]
    LayoutMismatch {
        /// The file.
        path: PathBuf,
        /// The generation it claims.
        generation: u32,
        /// The `Error:` lines of abi_stable's report.
        summary: String,
    },
    /// The root-module constructor, or the library's `init`, failed.
    #[error("{path}: the plugin's root module {what}")]
    Constructor {
        /// The file.
        path: PathBuf,
        /// "returned an error: …" or "panicked".
        what: String,
    },
    /// Built with `panic = "abort"`.
    #[error("{path} was built with panic = \"abort\"; a panic in it would kill the host. Build it with panic = \"unwind\" (the default profile setting)")]
    PanicAbort {
        /// The file.
        path: PathBuf,
    },
    /// The file's plugin name is not the one configured.
    #[error("{path} reports plugin name `{found}`, but the config asks for `{expected}`; a plugin's name, crate lib name and file name must agree")]
    NameMismatch {
        /// The file.
        path: PathBuf,
        /// The configured name.
        expected: String,
        /// The name it reports.
        found: String,
    },
    /// Any other abi_stable error.
    #[error("{path}: {reason}")]
    Other {
        /// The file.
        path: PathBuf,
        /// abi_stable's words.
        reason: String,
    },
}

/// The file name a plugin must have in `plugin_dir` (`lib<name>.so` on Linux).
pub fn library_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!(
        "{}{name}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ))
}

/// Loads and checks the library for plugin `name` at `path`, and hands a
/// generation-2 library its library-wide services.
///
/// Libraries are never unloaded (abi_stable leaks them on purpose), so call
/// this once per library and share the result between instances.
pub fn load(name: &str, path: &Path, counters: &Arc<Counters>) -> Result<Library, LoadError> {
    if !path.is_file() {
        return Err(LoadError::Missing {
            path: path.to_path_buf(),
        });
    }
    // A bare file name would make dlopen search the system paths.
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let header = lib_header_from_path(&path).map_err(|e| map_error(&path, 0, e))?;
    let module = header.root_mod_consts().name().as_str().to_owned();
    let version = header.version_strings().version.as_str().to_owned();
    let major_is = |want: &str| version.split('.').next() == want.split('.').next();

    let (generation, info) = if module == v2::ROOT_MODULE_NAME {
        if !major_is(v2::API_VERSION) {
            return Err(LoadError::VersionMismatch {
                path,
                found: version,
            });
        }
        let (root, info) = v2::open(header).map_err(|e| match e {
            voicegate_plugin_api::abi::compat::CheckError::Layout { report } => {
                tracing::debug!(path = %path.display(), %report, "Full layout mismatch report.");
                LoadError::LayoutMismatch {
                    path: path.clone(),
                    generation: 2,
                    summary: summarize_layout_report(&report),
                }
            }
            voicegate_plugin_api::abi::compat::CheckError::Library(e) => map_error(&path, 2, e),
            other => LoadError::Other {
                path: path.clone(),
                reason: other.to_string(),
            },
        })?;
        (Generation::V2(root), info)
    } else if module == v1::ROOT_MODULE_NAME {
        if !major_is(v1::API_VERSION) {
            return Err(LoadError::VersionMismatch {
                path,
                found: version,
            });
        }
        let (root, info) = v1::open(header).map_err(|e| map_error(&path, 1, e))?;
        (Generation::V1(root), info)
    } else {
        return Err(LoadError::WrongInterface {
            path,
            found: module,
        });
    };

    if !info.panic_unwind {
        return Err(LoadError::PanicAbort { path });
    }
    if info.name != name {
        return Err(LoadError::NameMismatch {
            path,
            expected: name.to_owned(),
            found: info.name,
        });
    }
    if let Generation::V2(root) = &generation {
        root.init(name, counters.clone())
            .map_err(|e| LoadError::Constructor {
                path: path.clone(),
                what: format!("init returned an error: {e}"),
            })?;
    }
    Ok(Library {
        path,
        info,
        generation,
    })
}

fn map_error(path: &Path, generation: u32, err: LibraryError) -> LoadError {
    let path = path.to_path_buf();
    match err {
        LibraryError::OpenError { err, .. } => LoadError::NotLoadable {
            path,
            reason: err.to_string(),
        },
        LibraryError::GetSymbolError { .. } => LoadError::NotAPlugin { path },
        LibraryError::InvalidAbiHeader(_) => LoadError::AbiStableMismatch { path },
        LibraryError::IncompatibleVersionNumber { actual_version, .. } => {
            LoadError::VersionMismatch {
                path,
                found: actual_version.to_string(),
            }
        }
        LibraryError::AbiInstability(report) => {
            let full = report.to_string();
            tracing::debug!(path = %path.display(), report = %full, "Full layout mismatch report.");
            LoadError::LayoutMismatch {
                path,
                generation,
                summary: summarize_layout_report(&full),
            }
        }
        LibraryError::RootModule { err, .. } => LoadError::Constructor {
            path,
            what: match err {
                RootModuleError::Unwound => "constructor panicked".to_owned(),
                RootModuleError::Returned(e) => format!("constructor returned an error: {e}"),
            },
        },
        other => LoadError::Other {
            path,
            reason: other.to_string(),
        },
    }
}

/// Keeps the `Error:` lines of abi_stable's report (it can run to hundreds
/// of lines), deduplicated, at most five.
fn summarize_layout_report(full: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    let mut iter = full.lines().peekable();
    while let Some(line) = iter.next() {
        let trimmed = line.trim();
        if let Some(rest) = trimmed.strip_prefix("Error:") {
            let mut text = rest.trim().to_owned();
            // "Expected:"/"Found:" follow on the next lines.
            for _ in 0..4 {
                match iter.peek() {
                    Some(next)
                        if next.trim_start().starts_with("Expected:")
                            || next.trim_start().starts_with("Found:") =>
                    {
                        text.push_str(", ");
                        text.push_str(next.trim());
                        iter.next();
                    }
                    _ => break,
                }
            }
            if !lines.contains(&text) {
                lines.push(text);
            }
        }
    }
    if lines.is_empty() {
        return "layout differs".to_owned();
    }
    lines.truncate(5);
    lines.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_file_names_follow_the_platform() {
        assert_eq!(
            library_path(Path::new("/p"), "twilio"),
            PathBuf::from("/p/libtwilio.so")
        );
    }

    #[test]
    fn a_missing_file_says_how_to_fix_it() {
        let err = load(
            "nope",
            Path::new("/nonexistent/libnope.so"),
            &Arc::default(),
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("/nonexistent/libnope.so does not exist"),
            "{text}"
        );
        assert!(text.contains("plugin_dir"), "{text}");
    }

    #[test]
    fn layout_reports_are_summarized() {
        let report = "lots of layout\n  Error:too many fields\n   Expected: 6\n   Found: 5\nmore\nError:too many fields\nExpected: 6\nFound: 5\n";
        assert_eq!(
            summarize_layout_report(report),
            "too many fields, Expected: 6, Found: 5"
        );
        assert_eq!(summarize_layout_report("nothing"), "layout differs");
    }
}
