//! The result table of `cargo xtask bench`: one row per figure, with its baseline, its
//! target and whether the target was met.

/// Whether a figure met its target.
#[derive(Debug, Clone)]
pub enum Verdict {
    Met(String),
    Missed(String),
}

impl Verdict {
    /// Met when `ratio` is at least `target`.
    pub fn from_ratio(ratio: f64, target: f64, detail: String) -> Self {
        Self::from_bool(ratio >= target, detail)
    }

    pub fn from_bool(met: bool, detail: String) -> Self {
        if met {
            Self::Met(detail)
        } else {
            Self::Missed(detail)
        }
    }

    fn text(&self) -> String {
        match self {
            Self::Met(detail) => format!("met ({detail})"),
            Self::Missed(detail) => format!("MISSED ({detail})"),
        }
    }
}

/// One measured figure.
#[derive(Debug, Clone)]
pub struct Row {
    pub measure: String,
    pub figure: String,
    pub baseline: String,
    pub target: String,
    pub verdict: Verdict,
}

/// Renders the rows as a Markdown table, which reads in a terminal and pastes into
/// `docs/BENCHMARKS.md` unchanged.
pub fn render(rows: &[Row]) -> String {
    let mut text = String::from("| measure | figure | baseline | target | result |\n");
    text.push_str("| --- | --- | --- | --- | --- |\n");
    for row in rows {
        text.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            row.measure,
            row.figure,
            row.baseline,
            row.target,
            row.verdict.text()
        ));
    }
    text
}

/// Formats a non-negative number rounded to an integer with commas between thousands.
pub fn thousands(value: f64) -> String {
    if !value.is_finite() {
        return "n/a".to_owned();
    }
    let digits = format!("{:.0}", value.max(0.0));
    let mut text = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            text.push(',');
        }
        text.push(digit);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(1_000.0), "1,000");
        assert_eq!(thousands(1_234_567.8), "1,234,568");
        assert_eq!(thousands(f64::NAN), "n/a");
    }

    #[test]
    fn render_writes_one_line_per_row() {
        let row = Row {
            measure: "m".to_owned(),
            figure: "f".to_owned(),
            baseline: "b".to_owned(),
            target: "t".to_owned(),
            verdict: Verdict::from_ratio(0.4, 0.5, "40 %".to_owned()),
        };
        let text = render(&[row]);

        assert_eq!(text.lines().count(), 3);
        assert!(text.ends_with("| m | f | b | t | MISSED (40 %) |\n"));
    }
}
