//! Which instance, and which call, the current thread is inside.
//!
//! A plugin's log records and panic messages come back through host
//! callbacks on the thread that called into the plugin. The host marks
//! every call it makes with the instance and the session, so those records
//! are attributed to the right instance and call whatever the plugin
//! itself could tell: a library with two instances (two carrier accounts)
//! and a generation-1 plugin, whose records carry neither, are logged
//! correctly too.

use std::{cell::RefCell, sync::Arc};

use super::instances::InstanceId;

/// An instance, and the call it is working for (empty when none).
#[derive(Debug)]
pub struct CallScope {
    /// The instance.
    pub instance: Arc<InstanceId>,
    /// The session id, or empty.
    pub session_id: String,
}

impl CallScope {
    /// A scope for `instance` working for `session_id`.
    pub fn new(instance: &Arc<InstanceId>, session_id: &str) -> Arc<Self> {
        Arc::new(Self {
            instance: instance.clone(),
            session_id: session_id.to_owned(),
        })
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<CallScope>>> = const { RefCell::new(None) };
}

/// Restores the previous scope when dropped.
pub struct Entered(Option<Arc<CallScope>>);

impl Drop for Entered {
    fn drop(&mut self) {
        let previous = self.0.take();
        let _ = CURRENT.try_with(|c| *c.borrow_mut() = previous);
    }
}

/// Marks the current thread as working in `scope` until the guard drops.
pub fn enter(scope: &Arc<CallScope>) -> Entered {
    let previous = CURRENT
        .try_with(|c| c.borrow_mut().replace(scope.clone()))
        .ok()
        .flatten();
    Entered(previous)
}

/// Runs `f` in `scope`.
pub fn within<R>(scope: &Arc<CallScope>, f: impl FnOnce() -> R) -> R {
    let _entered = enter(scope);
    f()
}

/// The scope the current thread is in, if any.
pub fn current() -> Option<Arc<CallScope>> {
    CURRENT.try_with(|c| c.borrow().clone()).ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::instances::Kind;

    fn id(name: &str) -> Arc<InstanceId> {
        Arc::new(InstanceId {
            kind: Kind::Transport,
            instance: name.to_owned(),
            plugin: "p".to_owned(),
        })
    }

    #[test]
    fn scopes_nest_and_restore() {
        assert!(current().is_none());
        let outer = CallScope::new(&id("a"), "s1");
        let inner = CallScope::new(&id("b"), "s2");
        within(&outer, || {
            assert_eq!(
                current().map(|s| s.session_id.clone()).as_deref(),
                Some("s1")
            );
            within(&inner, || {
                assert_eq!(
                    current().map(|s| s.instance.instance.clone()).as_deref(),
                    Some("b")
                );
            });
            assert_eq!(
                current().map(|s| s.session_id.clone()).as_deref(),
                Some("s1")
            );
        });
        assert!(current().is_none());
    }
}
