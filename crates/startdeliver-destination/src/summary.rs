//! The tally of a replay: what became of every event, printed at the end and optionally
//! written as JSON.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Serialize;
use startdeliver_sink::Settlement;

/// Counts of a run. Every event read lands in exactly one of `delivered`, `skipped`,
/// `rejected`, `dead_lettered` or `not_delivered`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub events_read: u64,
    pub delivered: u64,
    /// Skipped events by reason, such as `no_user_id`.
    pub skipped: BTreeMap<String, u64>,
    /// Input values that could not become events, by error code.
    pub rejected: BTreeMap<String, u64>,
    /// Events that Startdeliver refused or that outlasted the retry window, by reason.
    pub dead_lettered: BTreeMap<String, u64>,
    /// Events left undelivered because delivery stopped (rejected API key, interrupt).
    pub not_delivered: u64,
    /// HTTP requests to Startdeliver or the sandbox that got a response, whatever its
    /// status.
    pub requests: u64,
    /// HTTP requests that got no response: they failed to connect, timed out or broke
    /// off. Each retry counts again.
    pub requests_without_response: u64,
    pub elapsed_seconds: f64,
    /// Records in the sandbox at the end, with `--sandbox`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sandbox_records: Option<RecordCounts>,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct RecordCounts {
    pub users: usize,
    pub customers: usize,
    pub usage: usize,
}

impl Summary {
    pub fn count_rejected(&mut self, code: &str) {
        self.events_read += 1;
        *self.rejected.entry(code.to_owned()).or_default() += 1;
    }

    pub fn count_settled(&mut self, settlement: &Settlement) {
        self.events_read += 1;
        match settlement {
            Settlement::Delivered => self.delivered += 1,
            Settlement::Skipped(reason) => {
                *self.skipped.entry(reason.as_str().to_owned()).or_default() += 1;
            }
            Settlement::DeadLettered(rejection) => {
                *self
                    .dead_lettered
                    .entry(rejection.code.clone())
                    .or_default() += 1;
            }
            Settlement::NotDelivered { .. } => self.not_delivered += 1,
        }
    }

    /// Adds the counts of settled events, gathered apart from the input rejections.
    pub fn merge_settled(&mut self, settled: Summary) {
        self.events_read += settled.events_read;
        self.delivered += settled.delivered;
        self.not_delivered += settled.not_delivered;
        for (reason, n) in settled.skipped {
            *self.skipped.entry(reason).or_default() += n;
        }
        for (reason, n) in settled.dead_lettered {
            *self.dead_lettered.entry(reason).or_default() += n;
        }
    }

    pub fn set_elapsed(&mut self, elapsed: Duration) {
        self.elapsed_seconds = (elapsed.as_secs_f64() * 1000.0).round() / 1000.0;
    }

    /// Events that did not reach Startdeliver and were not meant to be skipped.
    pub fn failed(&self) -> u64 {
        self.rejected.values().sum::<u64>()
            + self.dead_lettered.values().sum::<u64>()
            + self.not_delivered
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rate = if self.elapsed_seconds > 0.0 {
            self.events_read as f64 / self.elapsed_seconds
        } else {
            0.0
        };
        write!(
            f,
            "{} read in {:.1}s ({rate:.0} events/s), {} answered",
            count_of(self.events_read, "event", "events"),
            self.elapsed_seconds,
            count_of(self.requests, "request", "requests"),
        )?;
        if self.requests_without_response > 0 {
            write!(
                f,
                ", {} without a response (failed to connect, timed out or broke off)",
                self.requests_without_response
            )?;
        }
        writeln!(f)?;
        writeln!(f, "  delivered      {}", self.delivered)?;
        write_breakdown(f, "skipped", &self.skipped)?;
        write_breakdown(f, "rejected", &self.rejected)?;
        write_breakdown(f, "dead-lettered", &self.dead_lettered)?;
        if self.not_delivered > 0 {
            writeln!(f, "  not delivered  {}", self.not_delivered)?;
        }
        if let Some(records) = self.sandbox_records {
            writeln!(
                f,
                "sandbox records: {}, {}, {}",
                count_of(records.users as u64, "user", "users"),
                count_of(records.customers as u64, "customer", "customers"),
                count_of(records.usage as u64, "usage event", "usage events"),
            )?;
        }
        Ok(())
    }
}

/// Formats a count with the singular or plural noun, such as `1 event` or `2 events`.
pub fn count_of(count: u64, singular: &str, plural: &str) -> String {
    let noun = if count == 1 { singular } else { plural };
    format!("{count} {noun}")
}

fn write_breakdown(
    f: &mut fmt::Formatter<'_>,
    label: &str,
    counts: &BTreeMap<String, u64>,
) -> fmt::Result {
    let total: u64 = counts.values().sum();
    if total == 0 {
        return writeln!(f, "  {label:<14} 0");
    }
    let parts: Vec<String> = counts
        .iter()
        .map(|(reason, n)| format!("{reason} {n}"))
        .collect();
    writeln!(f, "  {label:<14} {total} ({})", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_of_picks_singular_for_one() {
        assert_eq!(count_of(0, "event", "events"), "0 events");
        assert_eq!(count_of(1, "event", "events"), "1 event");
        assert_eq!(count_of(2, "event", "events"), "2 events");
    }

    #[test]
    fn summary_line_is_singular_for_one() {
        let summary = Summary {
            events_read: 1,
            requests: 1,
            sandbox_records: Some(RecordCounts {
                users: 1,
                customers: 1,
                usage: 1,
            }),
            ..Summary::default()
        };
        let text = summary.to_string();

        assert!(text.starts_with("1 event read in "), "{text}");
        assert!(text.contains(", 1 request answered\n"), "{text}");
        assert!(
            text.contains("sandbox records: 1 user, 1 customer, 1 usage event\n"),
            "{text}"
        );
    }
}
