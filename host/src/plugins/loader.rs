//! Opens plugin libraries and checks that they speak our interface.
//!
//! Uses `lib_header_from_path` + `init_root_module` rather than abi_stable's
//! `load_from_*` helpers, which cache one module per root type and would hand
//! back the first plugin for every path (abi_stable issue #92). The
//! interface version is read from the header before abi_stable's layout
//! check, so a version mismatch is one line instead of a layout dump.

#![allow(unsafe_code)]

use std::path::{Path, PathBuf};

use abi_stable::library::{lib_header_from_path, LibraryError, RootModuleError};
use voicegate_plugin_api::{
    abi::{PluginRoot_Ref, ROOT_MODULE_NAME},
    PluginInfo, API_VERSION, INTERFACE_VERSION,
};

/// A library that passed every check.
#[derive(Clone)]
pub struct Library {
    /// The file.
    pub path: PathBuf,
    /// What the plugin says about itself.
    pub info: PluginInfo,
    /// Its entry points.
    pub root: PluginRoot_Ref,
}

impl std::fmt::Debug for Library {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Library")
            .field("path", &self.path)
            .field("name", &self.info.name.as_str())
            .finish()
    }
}

/// Why a library could not be used. Every variant says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// No file at the path.
    #[error("{path} does not exist; build it (`cargo build --release -p <crate>` or `scripts/build.sh`) or fix `server.plugin_dir`")]
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
    #[error("{path} was built with an incompatible abi_stable version; rebuild it against voicegate-plugin-api {API_VERSION}")]
    AbiStableMismatch {
        /// The file.
        path: PathBuf,
    },
    /// Speaks another root module (interface generation).
    #[error("{path} speaks plugin interface `{found}`, this host speaks `{ROOT_MODULE_NAME}`; rebuild it against voicegate-plugin-api {API_VERSION}")]
    WrongInterface {
        /// The file.
        path: PathBuf,
        /// The root module name found.
        found: String,
    },
    /// The interface version differs.
    #[error("{path} was built against voicegate-plugin-api {found} (interface v{found_major}), this host expects interface v{INTERFACE_VERSION} (voicegate-plugin-api {API_VERSION}); rebuild the plugin against a {INTERFACE_VERSION}.x plugin-api")]
    VersionMismatch {
        /// The file.
        path: PathBuf,
        /// Its plugin-api version.
        found: String,
        /// Its major.
        found_major: String,
    },
    /// abi_stable's layout check failed.
    #[error("{path}: the plugin's types do not match this host's ({summary}); it was built against a different voicegate-plugin-api {API_VERSION} source; rebuild it")]
    LayoutMismatch {
        /// The file.
        path: PathBuf,
        /// The `Error:` lines of abi_stable's report.
        summary: String,
    },
    /// The root-module constructor failed or panicked.
    #[error("{path}: the plugin's root module constructor {what}")]
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

/// Loads and checks the library for plugin `name` at `path`.
///
/// Libraries are never unloaded (abi_stable leaks them on purpose), so call
/// this once per library and share the result between instances.
pub fn load(name: &str, path: &Path) -> Result<Library, LoadError> {
    let path_buf = path.to_path_buf();
    if !path.is_file() {
        return Err(LoadError::Missing { path: path_buf });
    }
    // A bare file name would make dlopen search the system paths.
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());

    let header = lib_header_from_path(&path).map_err(|e| map_error(&path, e))?;

    let consts = header.root_mod_consts();
    let module_name = consts.name().as_str();
    if module_name != ROOT_MODULE_NAME {
        return Err(LoadError::WrongInterface {
            path,
            found: module_name.to_owned(),
        });
    }
    let found = header.version_strings().version.as_str().to_owned();
    let found_major = found.split('.').next().unwrap_or_default().to_owned();
    if found_major != INTERFACE_VERSION.to_string() {
        return Err(LoadError::VersionMismatch {
            path,
            found,
            found_major,
        });
    }

    let root = header
        .init_root_module::<PluginRoot_Ref>()
        .map_err(|e| map_error(&path, e))?;
    let info = (root.info())();
    if !info.panic_unwind {
        return Err(LoadError::PanicAbort { path });
    }
    if info.name.as_str() != name {
        return Err(LoadError::NameMismatch {
            path,
            expected: name.to_owned(),
            found: info.name.to_string(),
        });
    }
    if info.interface_version != INTERFACE_VERSION {
        return Err(LoadError::VersionMismatch {
            path,
            found: info.api_version.to_string(),
            found_major: info.interface_version.to_string(),
        });
    }
    Ok(Library { path, info, root })
}

fn map_error(path: &Path, err: LibraryError) -> LoadError {
    let path = path.to_path_buf();
    match err {
        LibraryError::OpenError { err, .. } => LoadError::NotLoadable {
            path,
            reason: err.to_string(),
        },
        LibraryError::GetSymbolError { .. } => LoadError::NotAPlugin { path },
        LibraryError::InvalidAbiHeader(_) => LoadError::AbiStableMismatch { path },
        LibraryError::IncompatibleVersionNumber { actual_version, .. } => {
            let found = actual_version.to_string();
            let found_major = actual_version.major.to_string();
            LoadError::VersionMismatch {
                path,
                found,
                found_major,
            }
        }
        LibraryError::AbiInstability(report) => {
            let full = report.to_string();
            tracing::debug!(path = %path.display(), report = %full, "Full layout mismatch report.");
            LoadError::LayoutMismatch {
                path,
                summary: summarize_layout_report(&full),
            }
        }
        LibraryError::RootModule { err, .. } => LoadError::Constructor {
            path,
            what: match err {
                RootModuleError::Unwound => "panicked".to_owned(),
                RootModuleError::Returned(e) => format!("returned an error: {e}"),
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
        let err = load("nope", Path::new("/nonexistent/libnope.so")).unwrap_err();
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
