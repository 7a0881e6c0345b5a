//! The panic guard around every plugin-side entry point, and around
//! dropping every plugin object the host owns.
//!
//! abi_stable turns a panic that reaches the FFI boundary into
//! `process::exit(1)`, even when the host catches unwinds, and that
//! includes the drop glue it runs when the host drops a boxed plugin
//! object. So the guard sits inside the plugin: it catches the panic and
//! returns an error (or, for a drop, logs it) instead.

use std::{
    any::Any,
    mem::ManuallyDrop,
    ops::{Deref, DerefMut},
    panic::{catch_unwind, AssertUnwindSafe},
};

use abi_stable::std_types::RResult;

use crate::types::{ErrorKind, PluginError};

/// The text of a panic payload.
pub(crate) fn panic_text(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string panic payload".to_owned())
}

/// Runs `f`, turning a panic into [`ErrorKind::PANICKED`].
///
/// `what` names the entry point for the error message.
pub fn guard<T>(what: &str, f: impl FnOnce() -> Result<T, PluginError>) -> RResult<T, PluginError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result.into(),
        Err(payload) => RResult::RErr(PluginError::new(
            ErrorKind::PANICKED,
            format!("{what} panicked: {}", panic_text(&*payload)),
        )),
    }
}

/// Runs `f` for a method that cannot return an error; a panic gives
/// `fallback` (and reaches the host's log through the panic hook).
pub fn guard_or<T>(fallback: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(fallback)
}

/// A value whose drop runs inside the guard: a panicking `Drop` in a plugin
/// type is logged by the panic hook and otherwise ignored, instead of
/// ending the host's process.
pub struct GuardedDrop<T>(ManuallyDrop<T>);

impl<T> GuardedDrop<T> {
    /// Wraps `value`.
    pub fn new(value: T) -> Self {
        Self(ManuallyDrop::new(value))
    }
}

impl<T> Deref for GuardedDrop<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> DerefMut for GuardedDrop<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<T> Drop for GuardedDrop<T> {
    fn drop(&mut self) {
        let slot = &mut self.0;
        let _ = catch_unwind(AssertUnwindSafe(|| {
            #[allow(unsafe_code)]
            // SAFETY: the value is dropped exactly once, here, and the slot
            // is never used again (it dies with `self`).
            unsafe {
                ManuallyDrop::drop(slot)
            }
        }));
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
        assert_eq!(guard_or(7, || panic!("sink")), 7);
        assert_eq!(guard_or(7, || 3), 3);
    }

    #[test]
    fn a_panicking_drop_is_contained() {
        struct Bomb<'a>(&'a std::cell::Cell<bool>);
        impl Drop for Bomb<'_> {
            fn drop(&mut self) {
                self.0.set(true);
                panic!("drop bomb");
            }
        }
        let dropped = std::cell::Cell::new(false);
        drop(GuardedDrop::new(Bomb(&dropped)));
        assert!(dropped.get(), "the inner value was dropped");
    }
}
