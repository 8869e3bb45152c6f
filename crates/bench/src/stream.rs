//! A deterministic generator of realistic product usage as NDJSON, sized by event count
//! or by bytes, written straight to a file so that a gigabyte never sits in memory.
//!
//! The shape follows the demo stream of `cargo xtask demo-stream`, scaled up to many
//! customers of ten users each. A group call per customer and an identify call per user
//! come first. Then come track, page and screen calls from users of very different
//! activity, later identify calls that change one trait or repeat the same traits,
//! anonymous page views and a few alias calls. Every event carries an analytics.js-like `context`, because
//! real events do and it is most of their bytes. Names and ids are invented.

use std::io::{self, Write};

use serde_json::{Value, json};

/// Seed of the generator; the same seed and size give the same bytes.
pub const SEED: u64 = 0xBE4C_5EED;
/// Customers in a generated stream.
pub const CUSTOMERS: u64 = 200;
/// Users of each customer.
pub const USERS_PER_CUSTOMER: u64 = 10;
/// Time of the first event, in milliseconds since the Unix epoch (2026-11-01T00:00:00Z).
const START_MS: i64 = 1_793_491_200_000;

const TRACK_EVENTS: [(&str, u64); 8] = [
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
const PLANS: [&str; 3] = ["starter", "growth", "enterprise"];
const USER_AGENT: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 \
                          (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

/// When to stop generating.
#[derive(Debug, Clone, Copy)]
pub enum Size {
    /// Exactly this many events.
    Events(u64),
    /// Events until the output contains at least this many bytes.
    Bytes(u64),
}

/// Optional additions to the generated events.
#[derive(Debug, Clone, Copy, Default)]
pub struct Shape {
    /// Line items added to the properties of every track, page and screen call, about
    /// 90 bytes each, for larger events such as an order with its products.
    pub items: u64,
}

/// Counts of the written output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub events: u64,
    pub bytes: u64,
}

/// SplitMix64, fully specified so that the stream does not depend on a random-number
/// crate's version.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Returns a value in `0..bound`. The modulo bias is negligible for the small bounds
    /// used here.
    fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    fn weighted(&mut self, items: &[(&'static str, u64)]) -> &'static str {
        let total: u64 = items.iter().map(|(_, weight)| weight).sum();
        let mut roll = self.below(total);
        for (item, weight) in items {
            if roll < *weight {
                return item;
            }
            roll -= weight;
        }
        items[items.len() - 1].0
    }
}

struct User {
    id: String,
    customer: u64,
    seats: u64,
    /// Relative activity: a few users produce most events, as in real products.
    activity: u64,
}

/// Writes a stream of `size` to `out` and returns how much was written.
///
/// # Errors
///
/// Returns the first write error of `out`.
pub fn generate(size: Size, shape: Shape, out: &mut impl Write) -> io::Result<Written> {
    let mut rng = Rng(SEED);
    let users = make_users(&mut rng);
    let total_activity: u64 = users.iter().map(|user| user.activity).sum();
    let mut writer = Counter {
        out,
        written: Written {
            events: 0,
            bytes: 0,
        },
    };
    let mut time_ms = START_MS;

    for customer in 0..CUSTOMERS {
        let owner = &users[(customer * USERS_PER_CUSTOMER) as usize];
        writer.event(group_call(owner, &mut rng), &mut rng, &mut time_ms)?;
    }
    for user in &users {
        writer.event(identify_call(user, 0), &mut rng, &mut time_ms)?;
    }

    while !writer.is_done(size) {
        let roll = rng.below(1000);
        let event = if roll < 15 {
            anonymous_page(&mut rng)
        } else if roll < 18 {
            let user = &users[rng.below(users.len() as u64) as usize];
            alias_call(user, &mut rng)
        } else {
            let user = pick_active(&mut rng, &users, total_activity);
            if roll < 28 {
                // Half of later identify calls repeat the traits, which needs no request.
                let extra_seats = if rng.below(2) == 0 {
                    1 + rng.below(5)
                } else {
                    0
                };
                identify_call(user, extra_seats)
            } else {
                let mut event = usage_call(user, &mut rng);
                add_items(&mut event, shape.items, &mut rng);
                event
            }
        };
        writer.event(event, &mut rng, &mut time_ms)?;
    }
    Ok(writer.written)
}

/// Writes events as lines, numbering them and counting bytes.
struct Counter<'a, W: Write> {
    out: &'a mut W,
    written: Written,
}

impl<W: Write> Counter<'_, W> {
    fn is_done(&self, size: Size) -> bool {
        match size {
            Size::Events(events) => self.written.events >= events,
            Size::Bytes(bytes) => self.written.bytes >= bytes,
        }
    }

    fn event(&mut self, mut event: Value, rng: &mut Rng, time_ms: &mut i64) -> io::Result<()> {
        *time_ms += 200 + rng.below(2_000) as i64;
        let timestamp = jiff::Timestamp::from_millisecond(*time_ms)
            .map_err(|err| io::Error::new(io::ErrorKind::InvalidData, err))?;
        event["messageId"] = json!(format!("bench-{:09}", self.written.events + 1));
        event["timestamp"] = json!(format!("{timestamp:.3}"));
        event["context"] = context(&event, rng);

        let line = serde_json::to_vec(&event)?;
        self.out.write_all(&line)?;
        self.out.write_all(b"\n")?;
        self.written.events += 1;
        self.written.bytes += line.len() as u64 + 1;
        Ok(())
    }
}

fn make_users(rng: &mut Rng) -> Vec<User> {
    let mut users = Vec::new();
    for customer in 0..CUSTOMERS {
        for seat in 0..USERS_PER_CUSTOMER {
            users.push(User {
                id: format!("usr_{}_{:02}", 1001 + customer, seat + 1),
                customer,
                seats: 1 + rng.below(50),
                // Squaring a uniform value gives a long tail of quiet users.
                activity: 1 + rng.below(30).pow(2),
            });
        }
    }
    users
}

fn pick_active<'a>(rng: &mut Rng, users: &'a [User], total_activity: u64) -> &'a User {
    let mut roll = rng.below(total_activity);
    for user in users {
        if roll < user.activity {
            return user;
        }
        roll -= user.activity;
    }
    &users[users.len() - 1]
}

fn customer_name(customer: u64) -> String {
    format!("Customer {:03} AB", customer + 1)
}

fn group_call(owner: &User, rng: &mut Rng) -> Value {
    let id = 1001 + owner.customer;
    json!({
        "type": "group",
        "userId": owner.id,
        "groupId": id.to_string(),
        "traits": {
            "customerId": id.to_string(),
            "customerName": customer_name(owner.customer),
            "name": customer_name(owner.customer),
            "plan": rng.pick(&PLANS),
            "employees": 10 + rng.below(2000),
        },
    })
}

/// Builds an identify call whose traits fit `fixtures/mappings/demo.json5`. An
/// `extra_seats` above zero changes the mapped `trait1`.
fn identify_call(user: &User, extra_seats: u64) -> Value {
    let name = format!("User {}", user.id);
    json!({
        "type": "identify",
        "userId": user.id,
        "email": format!("{}@customer{}.example.com", user.id, user.customer + 1),
        "traits": {
            "name": name,
            "trait1": user.seats + extra_seats,
            "trait2": name,
            "customerId": (1001 + user.customer).to_string(),
            "customerName": customer_name(user.customer),
        },
    })
}

fn usage_call(user: &User, rng: &mut Rng) -> Value {
    match rng.below(10) {
        0..=5 => {
            let name = rng.weighted(&TRACK_EVENTS);
            json!({
                "type": "track",
                "userId": user.id,
                "event": name,
                "properties": track_properties(name, rng),
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

fn track_properties(name: &str, rng: &mut Rng) -> Value {
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

fn add_items(event: &mut Value, count: u64, rng: &mut Rng) {
    if count == 0 {
        return;
    }
    let items: Vec<Value> = (0..count)
        .map(|index| {
            json!({
                "sku": format!("SKU-{:06}", rng.below(1_000_000)),
                "name": format!("Item {index}"),
                "price": rng.below(100_000) as f64 / 100.0,
                "quantity": 1 + rng.below(9),
            })
        })
        .collect();
    event["properties"]["items"] = Value::Array(items);
}

fn anonymous_page(rng: &mut Rng) -> Value {
    let (name, path) = rng.pick(&PAGES);
    json!({
        "type": "page",
        "anonymousId": format!("anon-{:08x}", rng.next_u64() as u32),
        "name": name,
        "properties": {"path": path},
    })
}

fn alias_call(user: &User, rng: &mut Rng) -> Value {
    json!({
        "type": "alias",
        "userId": user.id,
        "previousId": format!("anon-{:08x}", rng.next_u64() as u32),
    })
}

/// Builds the `context` of a browser SDK: library, address, locale, user agent and page.
fn context(event: &Value, rng: &mut Rng) -> Value {
    let path = event["properties"]["path"].as_str().unwrap_or("/dashboard");
    json!({
        "library": {"name": "analytics.js", "version": "next-1.72.0"},
        "ip": format!("198.51.100.{}", rng.below(256)),
        "locale": "sv-SE",
        "timezone": "Europe/Stockholm",
        "userAgent": USER_AGENT,
        "page": {
            "path": path,
            "url": format!("https://app.example.com{path}"),
            "referrer": "https://app.example.com/",
            "title": "Example App",
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generated(size: Size) -> (Vec<u8>, Written) {
        let mut out = Vec::new();
        let written =
            generate(size, Shape::default(), &mut out).expect("writing to a Vec cannot fail");
        (out, written)
    }

    #[test]
    fn event_count_is_exact() {
        let (out, written) = generated(Size::Events(3_000));
        let lines = out.split(|&b| b == b'\n').filter(|l| !l.is_empty()).count();

        assert_eq!(written.events, 3_000);
        assert_eq!(lines, 3_000);
        assert_eq!(written.bytes, out.len() as u64);
    }

    #[test]
    fn byte_size_is_reached_by_whole_events() {
        // Above the opening group and identify calls, which are about 1.3 MB.
        let (out, written) = generated(Size::Bytes(3_000_000));

        assert!(written.bytes >= 3_000_000);
        assert!(written.bytes < 3_000_000 + 2_000);
        assert_eq!(out.last(), Some(&b'\n'));
    }

    #[test]
    fn items_make_usage_events_larger() {
        let mut plain = Vec::new();
        let mut large = Vec::new();
        generate(Size::Events(10_000), Shape::default(), &mut plain).expect("Vec write");
        generate(Size::Events(10_000), Shape { items: 10 }, &mut large).expect("Vec write");

        // Most of the 7,800 events after the opening calls are usage calls.
        assert!(large.len() > plain.len() + 6_000 * 500);
    }

    #[test]
    fn stream_is_deterministic_and_valid() {
        let (first, _) = generated(Size::Events(3_000));
        let (second, _) = generated(Size::Events(3_000));
        assert!(first == second);

        let reader = segment_spec::EventReader::new(
            std::io::Cursor::new(first),
            segment_spec::ReadOptions::default(),
        );
        let errors = reader.filter(Result::is_err).count();
        assert_eq!(errors, 0);
    }
}
