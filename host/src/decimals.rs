//! Decimal text, bounded before arrow parses it.
//!
//! Why this exists: arrow-cast's `parse_decimal` (what arrow-json and arrow-csv
//! use for a `decimal(p, s)` column) counts digits in a `u8` and an exponent in an
//! `i16` without checking either. A value of 300 digits, or `1e65546`, wraps
//! them: in a release build the value lands as another number (the exponent of
//! `1e65546` wraps to 10, so it lands as 10,000,000,000), in a debug build it
//! panics (found by `just fuzz`, `json_intake`). A decimal column's text from a
//! source is checked here first: no more digits than any decimal can hold after
//! its leading zeros, and an exponent of at most four digits. What passes cannot
//! overflow those counters, and is parsed by arrow as before.

use arrow::compute::kernels::cast_utils::parse_decimal;
use arrow::datatypes::Decimal128Type;

/// Significant digits a `decimal128` text may have before its point (38 fit, the
/// rest refused as out of range either way); with the fraction's, fewer than 255.
const MAX_WHOLE_DIGITS: usize = 76;
/// Text longer than this is no decimal anyone wrote (its counters are 16-bit).
const MAX_TEXT: usize = 1000;
/// Digits of an exponent: `e9999` is past any decimal already.
const MAX_EXPONENT_DIGITS: usize = 4;

/// `text` as a `decimal128(precision, scale)`, exactly as arrow parses it, or why not.
pub fn parse128(text: &str, precision: u8, scale: i8) -> Result<i128, String> {
    check(text)?;
    parse_decimal::<Decimal128Type>(text, precision, scale).map_err(|e| e.to_string())
}

/// Whether `text` is within the bounds arrow's parser counts in.
fn check(text: &str) -> Result<(), String> {
    if text.len() > MAX_TEXT {
        return Err(format!("a number of {} characters is too long for a decimal", text.len()));
    }
    let unsigned = text.trim_start_matches(['-', '+']);
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (&unsigned[..at], Some(&unsigned[at + 1..])),
        None => (unsigned, None),
    };
    let whole = mantissa.split('.').next().unwrap_or_default().trim_start_matches('0');
    if whole.len() > MAX_WHOLE_DIGITS {
        return Err(format!("a number of {} digits is too large for a decimal", whole.len()));
    }
    if let Some(exponent) = exponent
        && exponent.trim_start_matches(['-', '+']).trim_start_matches('0').len() > MAX_EXPONENT_DIGITS
    {
        return Err(format!(
            "the exponent of {} is out of range for a decimal",
            crate::untrusted_text::excerpt(text, 40)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Text that wraps arrow's counters is refused before it parses (in this
    /// debug build arrow would panic on each; in a release build land another
    /// number); ordinary text parses as arrow parses it.
    #[test]
    fn text_that_would_wrap_arrows_counters_is_refused() {
        assert_eq!(parse128("12.34", 10, 2), Ok(1234));
        assert_eq!(parse128("-0.5", 10, 2), Ok(-50));
        assert_eq!(parse128("1e2", 10, 2), Ok(10000));
        assert_eq!(
            parse128("0000000000000000000000000000000000000000000000000000000000000000000000000000000001.5", 10, 2),
            Ok(150)
        );
        for hostile in [
            format!("1{}", "0".repeat(300)),
            "1e65546".to_string(),
            "E32222222232223".to_string(),
            format!("0.{}1e2", "0".repeat(40_000)),
            "1.5e-00000000000000000000000000009".to_string(),
        ] {
            let shown: String = hostile.chars().take(30).collect();
            let refused = parse128(&hostile, 18, 2);
            if hostile.ends_with("9") {
                // Leading zeros of an exponent are not digits: this one is e-9.
                assert_eq!(refused, Ok(0), "{shown}");
            } else {
                assert!(refused.is_err(), "{shown}: {refused:?}");
            }
        }
    }
}
