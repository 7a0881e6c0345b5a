//! Twilio resource identifiers: two upper-case letters and 32 hex digits.

/// Call SIDs: `^CA[0-9a-fA-F]{32}$`.
pub const CALL: &str = "CA";
/// Account SIDs: `^AC[0-9a-fA-F]{32}$`.
pub const ACCOUNT: &str = "AC";
/// Media stream SIDs: `^MZ[0-9a-fA-F]{32}$`.
pub const STREAM: &str = "MZ";

/// Whether `value` is `prefix` followed by exactly 32 hex digits.
pub fn is_valid(prefix: &str, value: &str) -> bool {
    value.len() == prefix.len() + 32
        && value.starts_with(prefix)
        && value.as_bytes()[prefix.len()..]
            .iter()
            .all(u8::is_ascii_hexdigit)
}

/// `value` shortened for an error message (it came from the network).
pub fn shown(value: &str) -> String {
    const MAX: usize = 48;
    if value.chars().count() <= MAX {
        format!("`{value}`")
    } else {
        let head: String = value.chars().take(MAX).collect();
        format!("`{head}…`")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sids() {
        assert!(is_valid(CALL, "CA0123456789abcdef0123456789ABCDEF"));
        assert!(is_valid(ACCOUNT, "AC0123456789abcdef0123456789ABCDEF"));
        assert!(is_valid(STREAM, "MZ0123456789abcdef0123456789ABCDEF"));
        assert!(!is_valid(CALL, "AC0123456789abcdef0123456789ABCDEF"));
        assert!(!is_valid(CALL, "ca0123456789abcdef0123456789ABCDEF"));
        assert!(!is_valid(CALL, "CA0123456789abcdef0123456789ABCDE"));
        assert!(!is_valid(CALL, "CA0123456789abcdef0123456789ABCDEF0"));
        assert!(!is_valid(CALL, "CA0123456789abcdef0123456789ABCDEG"));
        assert!(!is_valid(CALL, "CA0123456789abcdef0123456789ABCDÉ"));
        assert!(!is_valid(CALL, ""));
    }

    #[test]
    fn shown_truncates() {
        assert_eq!(shown("abc"), "`abc`");
        assert_eq!(shown(&"x".repeat(100)).chars().count(), 48 + 3);
    }
}
