//! Window lengths such as `30s`, `15m`, `1h`, `1d` or `1h30m`.

/// The syntax, for error messages.
pub(crate) const PERIOD_SYNTAX: &str =
    "a whole number followed by `s`, `m`, `h` or `d` (`30s`, `15m`, `1h`, `1d`; groups may be combined: `1h30m`)";

/// Parses a period into milliseconds. The error says what is wrong, without
/// repeating the syntax (callers add [`PERIOD_SYNTAX`]).
pub(crate) fn parse_period(text: &str) -> Result<u64, String> {
    if text.is_empty() {
        return Err("is empty".to_owned());
    }
    let mut total: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!("`{text}` has a unit without a number before it"));
        }
        let (number, tail) = rest.split_at(digits);
        let unit_ms: u64 = match tail.chars().next() {
            Some('s') => 1_000,
            Some('m') => 60_000,
            Some('h') => 3_600_000,
            Some('d') => 86_400_000,
            Some(other) => return Err(format!("`{text}` has the unknown unit `{other}`")),
            None => return Err(format!("`{text}` has a number without a unit")),
        };
        let group = number
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(unit_ms))
            .and_then(|ms| total.checked_add(ms));
        total = group.ok_or_else(|| format!("`{text}` is too long"))?;
        rest = &tail[1..];
    }
    if total == 0 {
        return Err("must be longer than zero".to_owned());
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_single_and_combined_units() {
        assert_eq!(parse_period("30s"), Ok(30_000));
        assert_eq!(parse_period("15m"), Ok(900_000));
        assert_eq!(parse_period("1h"), Ok(3_600_000));
        assert_eq!(parse_period("1d"), Ok(86_400_000));
        assert_eq!(parse_period("1h30m"), Ok(5_400_000));
        assert_eq!(parse_period("1s"), Ok(1_000));
    }

    #[test]
    fn refuses_malformed_and_zero_periods() {
        for bad in [
            "", "h", "10", "1x", "1 h", "1h ", "-1h", "0s", "0h0m", "1.5h",
        ] {
            assert!(parse_period(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(parse_period("99999999999999999999d").is_err());
        assert!(parse_period("9999999999999999d").is_err());
    }
}
