//! Durations as Vault's API takes them: whole seconds (`3600`), or numbers with units `s`, `m`,
//! `h` and `d`, summed (`90s`, `15m`, `1h30m`, `2d`). One reader for every engine and the CLI, so
//! a TTL means the same wherever it is given.

/// Seconds in `text`, or `None` when it is empty, negative, has an unknown unit, a number
/// without a unit after a unit, or overflows.
pub fn seconds(text: &str) -> Option<i64> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    if t.bytes().all(|b| b.is_ascii_digit()) {
        return t.parse().ok();
    }
    let mut total: i64 = 0;
    let mut digits = String::new();
    for c in t.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return None,
        };
        let n: i64 = digits.parse().ok()?;
        digits.clear();
        total = total.checked_add(n.checked_mul(unit)?)?;
    }
    digits.is_empty().then_some(total)
}

#[cfg(test)]
mod tests {
    use super::seconds;

    #[test]
    fn units_sum_and_bad_input_is_none() {
        assert_eq!(seconds("90"), Some(90));
        assert_eq!(seconds(" 15m "), Some(900));
        assert_eq!(seconds("1h30m"), Some(5400));
        assert_eq!(seconds("2d"), Some(172_800));
        for bad in [
            "",
            "-1",
            "5x",
            "m",
            "1h30",
            "1.5h",
            "99999999999999999999d",
            "h1",
        ] {
            assert_eq!(seconds(bad), None, "{bad:?}");
        }
    }
}
