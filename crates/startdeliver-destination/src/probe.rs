//! The text form of a wire-probe report, as `check --probe` prints it.

use std::fmt::Write as _;

use startdeliver_sink::probe::{Assumption, ProbeReport, Verdict};

/// Width of the verdict column, the length of "contradicted" plus one space.
const VERDICT_WIDTH: usize = 13;

/// Renders the report as lines of text: the requests sent, one block per guess, the
/// rate-limit headers, the custom-field definitions, a count per verdict and the
/// settings file that fixes what the responses show.
pub fn render(report: &ProbeReport) -> String {
    let mut text = String::new();
    let requests: Vec<String> = report
        .requests
        .iter()
        .map(|request| format!("{} {} {}", request.method, request.path, request.status))
        .collect();
    line(&mut text, "probe", &requests.join(", "));

    for assumption in &report.assumptions {
        render_assumption(&mut text, assumption);
    }

    if report.rate_limit_headers.is_empty() {
        line(
            &mut text,
            "info",
            "rate limit: no Retry-After or X-RateLimit-* header on any response, so the \
             limit and the Retry-After of a 429 stay unverified",
        );
    }
    for header in &report.rate_limit_headers {
        let message = format!(
            "rate limit: GET {} sent {}: {}",
            header.path, header.name, header.value
        );
        line(&mut text, "info", &message);
    }
    let definitions = format!(
        "custom-field definitions: {}",
        report.custom_field_definitions
    );
    line(&mut text, "info", &definitions);

    let summary = format!(
        "{} held, {} contradicted, {} unknown",
        report.count(Verdict::Held),
        report.count(Verdict::Contradicted),
        report.count(Verdict::Unknown)
    );
    line(&mut text, "summary", &summary);
    if let Some(profile) = &report.suggested_profile {
        line(
            &mut text,
            "fix",
            &format!(
                "save this as a file and pass it with --wire-profile FILE or \
                 STARTDELIVER_WIRE_PROFILE, merged with any overrides you already have: \
                 {profile}"
            ),
        );
    }
    text
}

fn render_assumption(text: &mut String, assumption: &Assumption) {
    let heading = format!("{}: {}", assumption.id, assumption.description);
    line(text, &assumption.verdict.to_string(), &heading);
    line(text, "", &assumption.evidence);
    if assumption.verdict != Verdict::Contradicted {
        return;
    }

    if let Some(remedy) = &assumption.remedy {
        line(text, "", &format!("fix: {remedy}"));
    }
}

fn line(text: &mut String, label: &str, message: &str) {
    // Writing to a String cannot fail.
    let _ = writeln!(text, "{label:<VERDICT_WIDTH$} {message}");
}
