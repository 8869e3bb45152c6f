//! `cargo xtask demo-stream`: generates the committed demo stream of realistic product
//! usage, `fixtures/streams/demo-product-usage.ndjson.gz`.
//!
//! The stream is a pure function of [`SEED`]: 24 customers and 216 users over the 30 days
//! before [`END`], 20,000 events in time order. It opens with a group call per customer
//! and an identify call per user, then mixes track, page and screen calls from users of
//! very different activity, plan and seat changes through later identify calls, anonymous
//! page views and a few alias calls. Every name, email and id is invented; emails use the
//! reserved `example.com` domain.

use std::fs;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Value, json};

/// Seed of the generator; changing it changes the committed stream.
pub const SEED: u64 = 0x5EED_DE30;
/// Number of events in the stream.
pub const EVENTS: usize = 20_000;
/// End of the 30-day window, in seconds since the Unix epoch (2026-11-30T00:00:00Z).
pub const END: i64 = 1_795_996_800;
const WINDOW_SECONDS: i64 = 30 * 24 * 3600;

const CUSTOMERS: usize = 24;
const USERS_PER_CUSTOMER: usize = 9;

/// Path of the committed stream, relative to the workspace root.
pub const STREAM_PATH: &str = "fixtures/streams/demo-product-usage.ndjson.gz";

const COMPANY_WORDS: [&str; 24] = [
    "Northwind",
    "Bluefjord",
    "Copperleaf",
    "Driftwood",
    "Elmstead",
    "Fernhill",
    "Granite",
    "Harbor",
    "Ironbark",
    "Juniper",
    "Kestrel",
    "Lindgren",
    "Meadow",
    "Nordvik",
    "Oakridge",
    "Pinecrest",
    "Quarry",
    "Riverside",
    "Saltmarsh",
    "Tidewater",
    "Upland",
    "Vinterberg",
    "Westbrook",
    "Yarrow",
];
const COMPANY_KINDS: [&str; 6] = [
    "Logistics",
    "Analytics",
    "Health",
    "Retail",
    "Energy",
    "Media",
];
const FIRST_NAMES: [&str; 16] = [
    "Ada", "Björn", "Chiara", "Dana", "Emil", "Farah", "Goran", "Hana", "Ingrid", "Jonas", "Kaisa",
    "Luca", "Maja", "Nils", "Olga", "Priya",
];
const LAST_NAMES: [&str; 12] = [
    "Lindqvist",
    "Fischer",
    "Okafor",
    "Strand",
    "Moreau",
    "Nakamura",
    "Berg",
    "Costa",
    "Holm",
    "Ivanova",
    "Jensen",
    "Kowalski",
];
const PLANS: [&str; 3] = ["starter", "growth", "enterprise"];
const TRACK_EVENTS: [(&str, u32); 8] = [
    ("Dashboard Viewed", 30),
    ("Report Exported", 12),
    ("Dashboard Shared", 6),
    ("Filter Applied", 20),
    ("Seat Added", 2),
    ("Integration Connected", 2),
    ("Invoice Viewed", 4),
    ("Login Succeeded", 24),
];
const PAGES: [(&str, &str); 6] = [
    ("Overview", "/dashboard"),
    ("Reports", "/reports"),
    ("Billing", "/settings/billing"),
    ("Team", "/settings/team"),
    ("Integrations", "/settings/integrations"),
    ("Help", "/help"),
];
const SCREENS: [&str; 4] = ["Home", "Invoices", "Notifications", "Profile"];

/// A small, fully specified generator (SplitMix64), so the stream does not depend on a
/// random-number crate's version.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..bound`; the modulo bias is negligible for the small bounds used here.
    fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    fn weighted<'a>(&mut self, items: &'a [(&'a str, u32)]) -> &'a str {
        let total: u32 = items.iter().map(|(_, w)| w).sum();
        let mut roll = self.below(u64::from(total)) as u32;
        for (item, weight) in items {
            if roll < *weight {
                return item;
            }
            roll -= weight;
        }
        items[items.len() - 1].0
    }
}

struct Customer {
    id: u64,
    name: String,
    plan: &'static str,
    employees: u64,
}

struct User {
    id: String,
    name: String,
    email: String,
    customer: usize,
    seats: u64,
    /// Relative activity: a few users produce most of the events, as in real products.
    activity: u64,
}

/// Generates the stream as NDJSON text.
pub fn generate() -> String {
    let mut rng = SplitMix64(SEED);
    let customers = make_customers(&mut rng);
    let users = make_users(&mut rng, &customers);
    let start = END - WINDOW_SECONDS;

    let mut events: Vec<(i64, Value)> = Vec::with_capacity(EVENTS);
    for (index, customer) in customers.iter().enumerate() {
        let owner = &users[index * USERS_PER_CUSTOMER];
        events.push((start + index as i64 * 60, group_call(owner, customer)));
    }
    for (index, user) in users.iter().enumerate() {
        let time = start + 3600 + index as i64 * 30;
        events.push((time, identify_call(user, &customers[user.customer])));
    }

    let total_activity: u64 = users.iter().map(|u| u.activity).sum();
    while events.len() < EVENTS {
        let time = start + 7200 + rng.below((WINDOW_SECONDS - 7200) as u64) as i64;
        let roll = rng.below(1000);
        let event = if roll < 15 {
            anonymous_page(&mut rng)
        } else if roll < 18 {
            alias_call(&mut rng, &users)
        } else {
            let user = pick_active(&mut rng, &users, total_activity);
            if roll < 28 {
                identify_update(&mut rng, user, &customers[user.customer])
            } else {
                usage_call(&mut rng, user)
            }
        };
        events.push((time, event));
    }

    events.sort_by_key(|(time, _)| *time);
    let mut text = String::with_capacity(EVENTS * 400);
    for (number, (time, mut event)) in events.into_iter().enumerate() {
        event["messageId"] = json!(format!("demo-{:05}", number + 1));
        event["timestamp"] = json!(format_time(time));
        event["context"] = json!({"library": {"name": "analytics-node", "version": "3.1.0"}});
        text.push_str(&event.to_string());
        text.push('\n');
    }
    text
}

/// Writes the gzip-compressed stream under `root`.
pub fn write(root: &Path) -> Result<()> {
    let path = root.join(STREAM_PATH);
    let text = generate();

    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    encoder.write_all(text.as_bytes())?;
    let compressed = encoder.finish()?;
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).with_context(|| format!("failed to create {}", dir.display()))?;
    }
    fs::write(&path, &compressed).with_context(|| format!("failed to write {}", path.display()))?;

    println!(
        "wrote {} events to {} ({} bytes compressed, {} uncompressed)",
        EVENTS,
        path.display(),
        compressed.len(),
        text.len()
    );
    Ok(())
}

fn make_customers(rng: &mut SplitMix64) -> Vec<Customer> {
    (0..CUSTOMERS)
        .map(|index| Customer {
            id: 1001 + index as u64,
            name: format!("{} {} AB", COMPANY_WORDS[index], rng.pick(&COMPANY_KINDS)),
            plan: rng.pick(&PLANS),
            employees: 10 + rng.below(2000),
        })
        .collect()
}

fn make_users(rng: &mut SplitMix64, customers: &[Customer]) -> Vec<User> {
    let mut users = Vec::with_capacity(CUSTOMERS * USERS_PER_CUSTOMER);
    for (customer_index, customer) in customers.iter().enumerate() {
        let domain = COMPANY_WORDS[customer_index].to_lowercase();
        for seat in 0..USERS_PER_CUSTOMER {
            let first = rng.pick(&FIRST_NAMES);
            let last = rng.pick(&LAST_NAMES);
            let ascii_first: String = first.chars().filter(char::is_ascii_alphabetic).collect();
            users.push(User {
                id: format!("usr_{}_{:02}", customer.id, seat + 1),
                name: format!("{first} {last}"),
                email: format!(
                    "{}.{}{}@{domain}.example.com",
                    ascii_first.to_lowercase(),
                    last.to_lowercase(),
                    seat + 1
                ),
                customer: customer_index,
                seats: 1 + rng.below(50),
                // Squaring a uniform value gives a long tail of quiet users.
                activity: 1 + rng.below(30).pow(2),
            });
        }
    }
    users
}

fn pick_active<'a>(rng: &mut SplitMix64, users: &'a [User], total_activity: u64) -> &'a User {
    let mut roll = rng.below(total_activity);
    for user in users {
        if roll < user.activity {
            return user;
        }
        roll -= user.activity;
    }
    &users[users.len() - 1]
}

fn group_call(owner: &User, customer: &Customer) -> Value {
    json!({
        "type": "group",
        "userId": owner.id,
        "groupId": customer.id.to_string(),
        "traits": {
            "customerId": customer.id,
            "customerName": customer.name,
            "name": customer.name,
            "plan": customer.plan,
            "employees": customer.employees,
        },
    })
}

/// An identify call whose traits fit the documented example mapping (`trait1` a number,
/// `trait2` the name, `customerId` and `customerName` the account) plus common traits.
fn identify_call(user: &User, customer: &Customer) -> Value {
    json!({
        "type": "identify",
        "userId": user.id,
        "traits": {
            "email": user.email,
            "name": user.name,
            "trait1": user.seats,
            "trait2": user.name,
            "customerId": customer.id,
            "customerName": customer.name,
            "plan": customer.plan,
        },
    })
}

/// A later identify that changes one trait, or repeats the same traits, so that the sink
/// shows both a minimal update and no request at all.
fn identify_update(rng: &mut SplitMix64, user: &User, customer: &Customer) -> Value {
    let mut event = identify_call(user, customer);
    if rng.below(2) == 0 {
        event["traits"]["trait1"] = json!(user.seats + 1 + rng.below(5));
    }
    event
}

fn usage_call(rng: &mut SplitMix64, user: &User) -> Value {
    match rng.below(10) {
        0..=5 => {
            let name = rng.weighted(&TRACK_EVENTS);
            json!({
                "type": "track",
                "userId": user.id,
                "event": name,
                "properties": track_properties(rng, name),
            })
        }
        6..=8 => {
            let (name, path) = rng.pick(&PAGES);
            json!({
                "type": "page",
                "userId": user.id,
                "name": name,
                "properties": {"path": path, "url": format!("https://app.example.com{path}")},
            })
        }
        _ => json!({
            "type": "screen",
            "userId": user.id,
            "name": rng.pick(&SCREENS),
            "properties": {"build": 4800 + rng.below(40)},
        }),
    }
}

fn track_properties(rng: &mut SplitMix64, name: &str) -> Value {
    match name {
        "Report Exported" => json!({
            "format": rng.pick(&["csv", "xlsx", "pdf"]),
            "rows": rng.below(5000),
            "durationMs": rng.below(20_000) as f64 / 8.0,
        }),
        "Dashboard Shared" => json!({"recipients": 1 + rng.below(6), "public": rng.below(4) == 0}),
        "Filter Applied" => json!({"filter": rng.pick(&["region", "plan", "owner", "date"])}),
        "Invoice Viewed" => json!({
            "invoiceId": format!("inv_2026_{:04}", rng.below(10_000)),
            "amount": {"value": 100 + rng.below(5000), "currency": "SEK"},
        }),
        _ => json!({}),
    }
}

fn anonymous_page(rng: &mut SplitMix64) -> Value {
    let (name, path) = rng.pick(&PAGES);
    json!({
        "type": "page",
        "anonymousId": format!("anon-{:08x}", rng.next_u64() as u32),
        "name": name,
        "properties": {"path": path},
    })
}

fn alias_call(rng: &mut SplitMix64, users: &[User]) -> Value {
    let user = &users[rng.below(users.len() as u64) as usize];
    json!({
        "type": "alias",
        "userId": user.id,
        "previousId": format!("anon-{:08x}", rng.next_u64() as u32),
    })
}

/// Formats seconds since the epoch as RFC 3339 UTC with milliseconds.
fn format_time(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let second_of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.000Z",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60
    )
}

/// Converts days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// `civil_from_days` algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn end_of_window_formats_as_expected() {
        assert_eq!(format_time(END), "2026-11-30T00:00:00.000Z");
        assert_eq!(format_time(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_time(951_782_400), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn stream_has_the_promised_shape() {
        let text = generate();
        let events: Vec<Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).expect("generated JSON"))
            .collect();
        let users: std::collections::BTreeSet<&str> =
            events.iter().filter_map(|e| e["userId"].as_str()).collect();
        let groups: std::collections::BTreeSet<&str> = events
            .iter()
            .filter_map(|e| e["groupId"].as_str())
            .collect();

        assert_eq!(events.len(), EVENTS);
        assert!(users.len() >= 200, "{} users", users.len());
        assert!(groups.len() >= 20, "{} customers", groups.len());
        assert!(
            events
                .windows(2)
                .all(|w| w[0]["timestamp"].as_str() <= w[1]["timestamp"].as_str())
        );
    }

    #[test]
    fn committed_stream_matches_the_generator() {
        let path = crate::project_root().join(STREAM_PATH);
        let file = fs::File::open(&path).expect("the demo stream is committed");
        let mut committed = String::new();
        flate2::read::GzDecoder::new(file)
            .read_to_string(&mut committed)
            .expect("valid gzip");

        assert!(
            committed == generate(),
            "{STREAM_PATH} is stale: run `cargo xtask demo-stream` and commit the result"
        );
    }
}
