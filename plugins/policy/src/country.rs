//! ITU-T E.164 country calling codes: which leading digits of an
//! international number name its country (or its global service).
//!
//! The assigned codes form a prefix-free set (no code is the start of
//! another), so the code of a number is the one assigned code among its
//! first one, two or three digits. Spare and withdrawn codes (`28x`, `422`,
//! `671`, `969` …) are left out: a number that starts with one is not a
//! valid E.164 number. Source: ITU-T E.164 Annex to ITU Operational
//! Bulletin "List of ITU-T Recommendation E.164 assigned country codes".

/// Every assigned code, by zone, including shared ones (`1` for the North
/// American Numbering Plan, `7` for Russia and Kazakhstan) and the
/// non-geographic codes of global services (`800`, `870`, `881` …).
const ASSIGNED: &[u16] = &[
    // Zone 1: North American Numbering Plan.
    1, //
    // Zone 7: Russia, Kazakhstan.
    7, //
    // Zone 2: Africa and some North Atlantic islands.
    20, 27, //
    211, 212, 213, 216, 218, //
    220, 221, 222, 223, 224, 225, 226, 227, 228, 229, //
    230, 231, 232, 233, 234, 235, 236, 237, 238, 239, //
    240, 241, 242, 243, 244, 245, 246, 247, 248, 249, //
    250, 251, 252, 253, 254, 255, 256, 257, 258, //
    260, 261, 262, 263, 264, 265, 266, 267, 268, 269, //
    290, 291, 297, 298, 299, //
    // Zones 3 and 4: Europe.
    30, 31, 32, 33, 34, 36, 39, //
    350, 351, 352, 353, 354, 355, 356, 357, 358, 359, //
    370, 371, 372, 373, 374, 375, 376, 377, 378, 379, //
    380, 381, 382, 383, 385, 386, 387, 389, //
    40, 41, 43, 44, 45, 46, 47, 48, 49, //
    420, 421, 423, //
    // Zone 5: Mexico, Central and South America.
    51, 52, 53, 54, 55, 56, 57, 58, //
    500, 501, 502, 503, 504, 505, 506, 507, 508, 509, //
    590, 591, 592, 593, 594, 595, 596, 597, 598, 599, //
    // Zone 6: Southeast Asia and Oceania.
    60, 61, 62, 63, 64, 65, 66, //
    670, 672, 673, 674, 675, 676, 677, 678, 679, //
    680, 681, 682, 683, 685, 686, 687, 688, 689, //
    690, 691, 692, //
    // Zone 8: East Asia and global services.
    81, 82, 84, 86, //
    800, 808, //
    850, 852, 853, 855, 856, //
    870, 878, //
    880, 881, 882, 883, 886, 888, //
    // Zone 9: West, Central and South Asia, Middle East.
    90, 91, 92, 93, 94, 95, 98, //
    960, 961, 962, 963, 964, 965, 966, 967, 968, //
    970, 971, 972, 973, 974, 975, 976, 977, 979, //
    992, 993, 994, 995, 996, 998,
];

/// The country code at the start of `digits` (the number without its `+`),
/// as a sub-slice of it; `None` when no assigned code starts it.
pub(crate) fn country_code(digits: &str) -> Option<&str> {
    (1..=3).find_map(|len| {
        let head = digits.get(..len)?;
        is_assigned(head).then_some(head)
    })
}

/// Whether `code` (digits only, no `+`) is an assigned country code.
pub(crate) fn is_assigned(code: &str) -> bool {
    // A leading zero would make `01` read as `1`.
    if code.is_empty() || code.len() > 3 || code.starts_with('0') {
        return false;
    }
    if !code.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    code.parse::<u16>().is_ok_and(|n| ASSIGNED.contains(&n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_no_duplicates_and_is_prefix_free() {
        let mut unique = ASSIGNED.to_vec();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), ASSIGNED.len(), "a code is listed twice");
        let codes: Vec<String> = ASSIGNED.iter().map(u16::to_string).collect();
        for a in &codes {
            for b in &codes {
                assert!(
                    a == b || !b.starts_with(a.as_str()),
                    "{a} is a prefix of {b}"
                );
            }
        }
    }

    #[test]
    fn finds_one_two_and_three_digit_codes() {
        let cases = [
            ("14155550100", "1"),
            ("18765550100", "1"), // Jamaica shares the NANP code
            ("74951234567", "7"),
            ("77012345678", "7"), // Kazakhstan shares Russia's
            ("442071838750", "44"),
            ("4930123456", "49"),
            ("8613800138000", "86"),
            ("353212345678", "353"),
            ("85291234567", "852"),
            ("2348031234567", "234"),
            ("97142345678", "971"),
            ("380441234567", "380"),
            ("88163123456", "881"),
            ("80012345678", "800"),
            ("29012345", "290"),
        ];
        for (number, code) in cases {
            assert_eq!(country_code(number), Some(code), "{number}");
        }
    }

    #[test]
    fn spare_codes_are_not_assigned() {
        for number in [
            "2812345678", // 28x is spare
            "4221234567", // 422 is spare
            "6711234567", // Guam moved to +1 671
            "6841234567", // American Samoa moved to +1 684
            "8011234567", // 801 is spare
            "9691234567", // withdrawn
            "9991234567", // spare
            "0441234567", // no code starts with 0
            "",
        ] {
            assert_eq!(country_code(number), None, "{number}");
        }
        assert!(is_assigned("1"));
        assert!(is_assigned("353"));
        assert!(!is_assigned("01"));
        assert!(!is_assigned("3530"));
        assert!(!is_assigned("4a"));
    }
}
