//! Numbers: exact integers, shortest round-trip floats, and strict decimal text.

use serde_json::{Number, Value};

/// The largest magnitude up to which `f64` represents every integer (2^53). Integral
/// floats up to it become JSON integers, so `12.0` and `"12"` give the same number.
const MAX_EXACT_FLOAT_INTEGER: f64 = 9_007_199_254_740_992.0;

const EXPECTED_DECIMAL: &str = "expected a decimal number such as 42, -3.5 or 1e3";

/// Prints a number as text: integers exactly, floats in their shortest round-trip form
/// without a trailing `.0`.
pub(super) fn to_text(n: &Number) -> String {
    let text = n.to_string();
    if !n.is_f64() {
        return text;
    }

    // serde_json prints floats through ryu, whose shortest form ends in `.0` only for
    // integral values below 1e16 and never uses `.0` before an exponent.
    match text.strip_suffix(".0") {
        Some(integral) => integral.to_owned(),
        None => text,
    }
}

pub(super) fn to_number(value: &Value) -> Result<Value, String> {
    match value {
        Value::Number(n) => Ok(match n.as_f64() {
            Some(f) if n.is_f64() => from_float(f),
            _ => Value::Number(n.clone()),
        }),
        Value::String(s) => parse_decimal(s.trim()),
        Value::Bool(_) => {
            Err("expected a number; booleans are not converted to numbers".to_owned())
        }
        Value::Null | Value::Array(_) | Value::Object(_) => Err("expected a number".to_owned()),
    }
}

fn from_float(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() <= MAX_EXACT_FLOAT_INTEGER {
        // Exact: the value is integral and within the range where f64 represents every integer.
        #[allow(clippy::cast_possible_truncation)]
        return Value::from(f as i64);
    }

    // serde_json refuses only NaN and infinities, which no caller passes here.
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}

/// Parses trimmed decimal text: an optional sign, digits, an optional fraction and an
/// optional exponent. Integers stay exact; others go through the correctly rounded
/// `f64` parser of the standard library.
fn parse_decimal(text: &str) -> Result<Value, String> {
    let Some(shape) = decimal_shape(text) else {
        return Err(explain_non_decimal(text));
    };

    if shape.is_integer {
        let digits = text.strip_prefix('+').unwrap_or(text);
        if let Ok(i) = digits.parse::<i64>() {
            return Ok(Value::from(i));
        }
        if let Ok(u) = digits.parse::<u64>() {
            return Ok(Value::from(u));
        }
        return Err(format!(
            "the integer is outside {}..={}, so it cannot be stored exactly; map it to a text field",
            i64::MIN,
            u64::MAX
        ));
    }

    match text.parse::<f64>() {
        Ok(f) if f.is_finite() => Ok(from_float(f)),
        _ => Err("the number is too large for a 64-bit float".to_owned()),
    }
}

struct DecimalShape {
    is_integer: bool,
}

fn decimal_shape(text: &str) -> Option<DecimalShape> {
    let bytes = text.as_bytes();
    let mut at = 0;
    if matches!(bytes.first(), Some(b'+' | b'-')) {
        at += 1;
    }

    let digits = |at: &mut usize| {
        let start = *at;
        while bytes.get(*at).is_some_and(u8::is_ascii_digit) {
            *at += 1;
        }
        *at > start
    };

    if !digits(&mut at) {
        return None;
    }
    let mut is_integer = true;
    if bytes.get(at) == Some(&b'.') {
        at += 1;
        is_integer = false;
        if !digits(&mut at) {
            return None;
        }
    }
    if matches!(bytes.get(at), Some(b'e' | b'E')) {
        at += 1;
        is_integer = false;
        if matches!(bytes.get(at), Some(b'+' | b'-')) {
            at += 1;
        }
        if !digits(&mut at) {
            return None;
        }
    }

    (at == bytes.len()).then_some(DecimalShape { is_integer })
}

fn explain_non_decimal(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let hint = if text.is_empty() {
        "the string is empty"
    } else if lower.starts_with("0x") || lower.starts_with("-0x") {
        "hexadecimal is not accepted"
    } else if text.contains(',') {
        "thousands separators and decimal commas are not accepted; write 1234 or 3.5"
    } else if [
        "nan",
        "inf",
        "infinity",
        "+inf",
        "-inf",
        "+infinity",
        "-infinity",
    ]
    .contains(&lower.as_str())
    {
        "NaN and infinity are not numbers that Startdeliver stores"
    } else {
        return EXPECTED_DECIMAL.to_owned();
    };
    format!("{EXPECTED_DECIMAL}; {hint}")
}
