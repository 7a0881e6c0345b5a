//! The panic guard around every plugin-side entry point.
//!
//! abi_stable turns a panic that reaches the FFI boundary into
//! `process::exit(1)`, even when the host catches unwinds. So the guard sits
//! inside the plugin: it catches the panic and returns an error instead.

use std::panic::{catch_unwind, AssertUnwindSafe};

use abi_stable::std_types::RResult;

use crate::types::{ErrorKind, PluginError};

/// Runs `f`, turning a panic into [`ErrorKind::PANICKED`].
///
/// `what` names the entry point for the error message.
pub fn guard<T>(what: &str, f: impl FnOnce() -> Result<T, PluginError>) -> RResult<T, PluginError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result.into(),
        Err(payload) => {
            let detail = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a non-string panic payload".to_owned());
            RResult::RErr(PluginError::new(
                ErrorKind::PANICKED,
                format!("{what} panicked: {detail}"),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_values_and_errors_through() {
        assert_eq!(guard("ok", || Ok(3)).into_result(), Ok(3));
        let err = guard::<()>("err", || Err(PluginError::invalid_input("bad")))
            .into_result()
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::INVALID_INPUT);
    }

    #[test]
    fn turns_a_panic_into_an_error() {
        let err = guard::<()>("on_frame", || panic!("boom {}", 7))
            .into_result()
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::PANICKED);
        assert_eq!(err.message.as_str(), "on_frame panicked: boom 7");
        let err = guard::<()>("x", || std::panic::panic_any(5_u8))
            .into_result()
            .unwrap_err();
        assert!(err.message.contains("non-string"));
    }
}
