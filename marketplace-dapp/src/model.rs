//! What the pages show, as plain data: the routes, products as listed (name, category, price) and the
//! search, licences, sales, the seller's streams, transaction steps as sentences, prices in DATA, licence
//! countdowns, a live view's rows and chart series. Free of Yew, the browser and the chain client, so it
//! is tested natively.

use std::{collections::VecDeque, fmt};

use alloy_primitives::{Address, U256};
use serde_json::Value;

/// Where the app is, from the location's hash (so the back button and links work).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// `#/`: every product, searchable.
    Products,
    /// `#/product/<id>`.
    Product(u64),
    /// `#/licences`: the account's licences.
    Licences,
    /// `#/sell`: the seller's streams, products and sales.
    Sell,
    /// `#/network`: the relay nodes, their assignments and checksums.
    Network,
}

impl Route {
    /// The route of a location hash (unknown ones are the product list).
    pub(crate) fn parse(hash: &str) -> Route {
        let path = hash.trim_start_matches('#').trim_start_matches('/');
        let mut parts = path.split('/');
        match (parts.next(), parts.next()) {
            (Some("product"), Some(id)) => id.parse().map_or(Route::Products, Route::Product),
            (Some("licences"), _) => Route::Licences,
            (Some("sell"), _) => Route::Sell,
            (Some("network"), _) => Route::Network,
            _ => Route::Products,
        }
    }

    /// Its location hash.
    pub(crate) fn hash(&self) -> String {
        match self {
            Route::Products => "#/".into(),
            Route::Product(id) => format!("#/product/{id}"),
            Route::Licences => "#/licences".into(),
            Route::Sell => "#/sell".into(),
            Route::Network => "#/network".into(),
        }
    }
}

/// A product as the pages show it.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Listing {
    /// The product id.
    pub(crate) id: u64,
    /// Its name (or "Product N" when the seller gave none).
    pub(crate) name: String,
    /// What it is.
    pub(crate) description: String,
    /// Its category (may be empty).
    pub(crate) category: String,
    /// The seller, checksummed.
    pub(crate) seller: String,
    /// DATA wei per second.
    pub(crate) price_per_second: U256,
    /// The shortest licence, seconds.
    pub(crate) minimum_seconds: u64,
    /// On sale.
    pub(crate) active: bool,
    /// The streams a licence covers.
    pub(crate) streams: Vec<String>,
    /// Where the terms are (may be empty).
    pub(crate) terms_uri: String,
    /// Each stream's partition count, in the order of `streams` (1 until read from the registry).
    pub(crate) partitions: Vec<u32>,
}

impl Listing {
    /// Product `id` named and described by its `metadata` (JSON: `name`, `description`, `category`);
    /// the other fields are left to the caller.
    pub(crate) fn described(id: u64, metadata: &str) -> Listing {
        let meta: Value = serde_json::from_str(metadata).unwrap_or(Value::Null);
        let text = |k: &str| meta.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        let name = text("name");
        Listing {
            id,
            name: if name.is_empty() {
                format!("Product {id}")
            } else {
                name
            },
            description: text("description"),
            category: text("category"),
            ..Listing::default()
        }
    }

    /// Fills in the partition counts from the registry's records of the streams.
    pub(crate) fn with_partitions(mut self, count: impl Fn(&str) -> Option<u32>) -> Listing {
        self.partitions = self
            .streams
            .iter()
            .map(|s| count(s).unwrap_or(1).max(1))
            .collect();
        self
    }

    /// The streams with their partition counts.
    pub(crate) fn stream_parts(&self) -> impl Iterator<Item = (&String, u32)> {
        self.streams
            .iter()
            .zip(self.partitions.iter().copied().chain(std::iter::repeat(1)))
    }

    /// The price of an hour's licence, DATA wei.
    pub(crate) fn price_per_hour(&self) -> U256 {
        self.price_per_second * U256::from(3600u64)
    }

    /// Whether the search `query` matches its name, description, category or streams (case-insensitive;
    /// every word must match somewhere).
    pub(crate) fn matches(&self, query: &str) -> bool {
        let haystack = format!(
            "{} {} {} {}",
            self.name,
            self.description,
            self.category,
            self.streams.join(" ")
        )
        .to_lowercase();
        query
            .split_whitespace()
            .all(|word| haystack.contains(&word.to_lowercase()))
    }
}

/// A licence an account holds: the product, its end by the chain's clock, and what was paid in all.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Licence {
    /// The product licensed.
    pub(crate) listing: Listing,
    /// The licence's end, Unix seconds by the chain's clock.
    pub(crate) expiry: u64,
    /// DATA wei paid for it, every purchase and extension together.
    pub(crate) paid: U256,
}

/// One sale of a seller's product, from the marketplace's events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Sale {
    /// The block it is in.
    pub(crate) block: u64,
    /// The product sold.
    pub(crate) product_id: u64,
    /// Who bought.
    pub(crate) buyer: Address,
    /// Seconds bought.
    pub(crate) seconds: u64,
    /// DATA wei paid.
    pub(crate) price: U256,
}

/// A stream the seller created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct OwnStream {
    /// Its id, `<owner>/<path>`.
    pub(crate) id: String,
    /// The name in its metadata (may be empty).
    pub(crate) name: String,
}

/// A step of a signature or transaction as it happens; `what` names what is signed or the contract
/// function called (`permit`, `approve`, `buyWithPermit`, ...). Shown as a sentence (`Display`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// The wallet or key is asked to sign `what`.
    SignatureRequested(String),
    /// It signed `what`.
    Signed(String),
    /// It is asked to send a transaction calling `what`.
    TransactionRequested(String),
    /// The transaction was sent (its hash) and waits to be mined.
    Sent(String, String),
    /// The transaction was mined in `block` and succeeded.
    Confirmed(String, u64),
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::SignatureRequested(what) => {
                write!(
                    f,
                    "Signature requested: sign {} in your wallet…",
                    action(what)
                )
            }
            Step::Signed(what) => write!(f, "Signed {}.", action(what)),
            Step::TransactionRequested(what) => write!(
                f,
                "Transaction requested: confirm {} in your wallet…",
                action(what)
            ),
            Step::Sent(what, hash) => write!(
                f,
                "Transaction sent ({}): {} — waiting for it to be mined…",
                short(hash),
                action(what)
            ),
            Step::Confirmed(what, block) => {
                write!(f, "Confirmed in block {block}: {}.", action(what))
            }
        }
    }
}

/// What a step is about, as the buyer reads it.
fn action(what: &str) -> &str {
    match what {
        "permit" => "the permit that lets the marketplace take the price",
        "approve" => "approving the marketplace to take the price",
        "buy" | "buyWithPermit" => "the purchase",
        "faucet" => "DATA from the faucet",
        "createStream" => "creating the stream",
        "grantPermission" => "the permission",
        "createProduct" => "listing the product",
        "setPrice" => "the new price",
        "pauseProduct" => "pausing sales",
        "resumeProduct" => "resuming sales",
        other => other,
    }
}

/// `wei` as DATA with up to `decimals` decimals, trailing zeros dropped: `1500000000000000000` → "1.5".
pub(crate) fn format_data(wei: U256, decimals: usize) -> String {
    let unit = U256::from(10u64).pow(U256::from(18u64));
    let whole = wei / unit;
    let fraction = format!("{:0>18}", (wei % unit).to_string());
    let fraction = fraction[..decimals.min(18)].trim_end_matches('0');
    if fraction.is_empty() {
        whole.to_string()
    } else {
        format!("{whole}.{fraction}")
    }
}

/// A duration in seconds as the largest whole unit: "90 s", "2 min", "3 h", "1 day".
pub(crate) fn format_period(seconds: u64) -> String {
    match seconds {
        s if s % 86_400 == 0 && s >= 86_400 => plural(s / 86_400, "day"),
        s if s % 3_600 == 0 && s >= 3_600 => format!("{} h", s / 3_600),
        s if s % 60 == 0 && s >= 60 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

fn plural(n: u64, unit: &str) -> String {
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

/// What a licence has left, or how long ago it ended: "4 min 12 s left", "ended 12 s ago".
pub(crate) fn format_remaining(expiry: u64, now: u64) -> String {
    let span = |s: u64| match s {
        s if s >= 86_400 => format!("{} d {} h", s / 86_400, s % 86_400 / 3_600),
        s if s >= 3_600 => format!("{} h {} min", s / 3_600, s % 3_600 / 60),
        s if s >= 60 => format!("{} min {} s", s / 60, s % 60),
        s => format!("{s} s"),
    };
    if expiry > now {
        format!("{} left", span(expiry - now))
    } else {
        format!("ended {} ago", span(now - expiry))
    }
}

/// Licence periods a buyer can choose, seconds and words.
pub(crate) const PERIODS: [(u64, &str); 4] = [
    (60, "1 minute"),
    (3600, "1 hour"),
    (86_400, "1 day"),
    (604_800, "1 week"),
];

/// The periods offered for a product whose shortest licence is `minimum` seconds.
pub(crate) fn periods_from(minimum: u64) -> Vec<(u64, &'static str)> {
    PERIODS
        .iter()
        .copied()
        .filter(|(s, _)| *s >= minimum)
        .collect()
}

/// A clock read at one moment and carried forward: `at` (seconds by it) when the page's clock read
/// `page_ms`. Licences end by the chain's clock, which a development chain can move.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct ClockReading {
    /// Seconds by the clock read.
    pub(crate) at: u64,
    /// The page's clock then, milliseconds.
    pub(crate) page_ms: f64,
}

/// Now by `reading` carried forward to the page's `page_ms`; the page's own clock when unread.
pub(crate) fn carried_forward(reading: Option<ClockReading>, page_ms: f64) -> u64 {
    match reading {
        Some(r) => r.at + ((page_ms - r.page_ms) / 1000.0) as u64,
        None => page_ms as u64 / 1000,
    }
}

/// How far an event shown in a live view was checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Verification {
    /// Its signature was verified in the page.
    Verified,
    /// It could not be decrypted (why).
    Undecryptable(String),
    /// Events are missing here: no node stores them.
    Missing,
}

impl fmt::Display for Verification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verification::Verified => write!(f, "✓ signature verified"),
            Verification::Undecryptable(reason) => write!(f, "✗ cannot decrypt: {reason}"),
            Verification::Missing => write!(f, "✗ events missing here (no node stores them)"),
        }
    }
}

/// One row of a live view.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Row {
    /// When, as the page shows it.
    pub(crate) time: String,
    /// The publisher, checksummed.
    pub(crate) publisher: String,
    /// Whether it was verified.
    pub(crate) verification: Verification,
    /// The content as text (empty for notices).
    pub(crate) content: String,
    /// The event's timestamp (Unix ms) when the row is one event (with the publisher, it names it).
    pub(crate) at: Option<u64>,
}

/// Rows a live view keeps.
const ROWS: usize = 20;
/// Points each chart keeps.
const POINTS: usize = 60;
/// Charts drawn (the first numeric fields).
const CHARTS: usize = 3;

/// A live view's recent rows (newest first) and a series per numeric field (the first few).
#[derive(Clone, Debug, Default)]
pub(crate) struct Feed {
    /// The last rows, newest first.
    pub(crate) rows: VecDeque<Row>,
    /// Each charted field's name and last values, oldest first.
    pub(crate) series: Vec<(String, VecDeque<f64>)>,
    /// Events received in all.
    pub(crate) received: u64,
}

impl Feed {
    /// Adds a row and its numeric fields.
    pub(crate) fn push(&mut self, row: Row, numbers: Vec<(String, f64)>) {
        self.received += 1;
        self.rows.push_front(row);
        self.rows.truncate(ROWS);
        self.chart(numbers);
    }

    /// An event that was shown undecryptable, decrypted now that its key came: its row takes the
    /// undecryptable one's place (a new row if that one is gone).
    pub(crate) fn decrypted_late(&mut self, row: Row, numbers: Vec<(String, f64)>) {
        let shown = self.rows.iter_mut().find(|r| {
            matches!(r.verification, Verification::Undecryptable(_))
                && r.publisher == row.publisher
                && r.at.is_some()
                && r.at == row.at
        });
        match shown {
            Some(shown) => {
                *shown = row;
                self.chart(numbers);
            }
            None => self.push(row, numbers),
        }
    }

    fn chart(&mut self, numbers: Vec<(String, f64)>) {
        for (name, value) in numbers {
            let index = match self.series.iter().position(|(n, _)| *n == name) {
                Some(i) => i,
                None if self.series.len() < CHARTS => {
                    self.series.push((name, VecDeque::new()));
                    self.series.len() - 1
                }
                None => continue,
            };
            let points = &mut self.series[index].1;
            points.push_back(value);
            if points.len() > POINTS {
                points.pop_front();
            }
        }
    }
}

/// The numeric fields of a JSON event (top level), in order: what the chart draws.
pub(crate) fn numeric_fields(content: &str) -> Vec<(String, f64)> {
    match serde_json::from_str::<Value>(content) {
        Ok(Value::Object(map)) => map
            .into_iter()
            .filter_map(|(k, v)| v.as_f64().map(|n| (k, n)))
            .collect(),
        _ => Vec::new(),
    }
}

/// SVG polyline points for `values` (oldest first) in a `width` × `height` box, scaled to their range.
pub(crate) fn polyline(values: &[f64], width: f64, height: f64) -> String {
    if values.is_empty() {
        return String::new();
    }
    let (lo, hi) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(*v), hi.max(*v))
        });
    let range = if hi > lo { hi - lo } else { 1.0 };
    let step = if values.len() > 1 {
        width / (values.len() - 1) as f64
    } else {
        0.0
    };
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let y = height - (v - lo) / range * height;
            format!("{:.1},{:.1}", i as f64 * step, y)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A short address: `0x1234…abcd`.
pub(crate) fn short(address: &str) -> String {
    if address.len() < 12 {
        return address.to_owned();
    }
    format!("{}…{}", &address[..6], &address[address.len() - 4..])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn listings_read_metadata_and_search_every_word() {
        let l = Listing {
            streams: vec!["0xab/demo/traffic".into()],
            ..Listing::described(
                7,
                r#"{"name":"City traffic","description":"Vehicle counts","category":"mobility"}"#,
            )
        };
        assert_eq!(
            (l.name.as_str(), l.category.as_str()),
            ("City traffic", "mobility")
        );
        assert!(l.matches("traffic"));
        assert!(l.matches("MOBILITY vehicle"));
        assert!(l.matches("demo/traffic"));
        assert!(!l.matches("weather"));
        assert!(l.matches(""));
        let parts = l
            .clone()
            .with_partitions(|s| (s == "0xab/demo/traffic").then_some(3));
        assert_eq!(
            parts.stream_parts().collect::<Vec<_>>(),
            [(&"0xab/demo/traffic".to_owned(), 3)]
        );
        assert_eq!(l.stream_parts().map(|(_, n)| n).collect::<Vec<_>>(), [1]);
        let unnamed = Listing::described(7, "not json");
        assert_eq!(unnamed.name, "Product 7");
        assert_eq!(unnamed.description, "");
    }

    #[test]
    fn routes_round_trip() {
        for route in [
            Route::Products,
            Route::Product(3),
            Route::Licences,
            Route::Sell,
        ] {
            assert_eq!(Route::parse(&route.hash()), route);
        }
        assert_eq!(Route::parse(""), Route::Products);
        assert_eq!(Route::parse("#/product/x"), Route::Products);
        assert_eq!(Route::parse("#/nowhere"), Route::Products);
    }

    #[test]
    fn countdowns_periods_and_steps_read_as_sentences() {
        assert_eq!(format_remaining(1_000 + 252, 1_000), "4 min 12 s left");
        assert_eq!(format_remaining(1_000, 1_012), "ended 12 s ago");
        assert_eq!(format_remaining(10_000, 2_800), "2 h 0 min left");
        let reading = ClockReading {
            at: 1_000,
            page_ms: 5_000.0,
        };
        assert_eq!(carried_forward(Some(reading), 7_500.0), 1_002);
        assert_eq!(carried_forward(None, 7_500.0), 7);
        assert_eq!(
            periods_from(3600).iter().map(|p| p.0).collect::<Vec<_>>(),
            [3600, 86_400, 604_800]
        );
        assert!(
            Step::SignatureRequested("permit".into())
                .to_string()
                .contains(
                    "sign the permit that lets the marketplace take the price in your wallet"
                )
        );
        assert_eq!(
            Step::Confirmed("buyWithPermit".into(), 7).to_string(),
            "Confirmed in block 7: the purchase."
        );
        assert_eq!(
            Step::Sent("approve".into(), "0x1234567890abcdef".into()).to_string(),
            "Transaction sent (0x1234…cdef): approving the marketplace to take the price — waiting for it to be mined…"
        );
    }

    #[test]
    fn a_feed_keeps_recent_rows_and_the_first_charts() {
        let mut feed = Feed::default();
        for i in 0..70 {
            let row = Row {
                time: i.to_string(),
                publisher: "0xab".into(),
                verification: Verification::Verified,
                content: String::new(),
                at: u64::try_from(i).ok(),
            };
            let numbers = ["a", "b", "c", "d"]
                .iter()
                .map(|n| (n.to_string(), f64::from(i)))
                .collect();
            feed.push(row, numbers);
        }
        assert_eq!(feed.received, 70);
        assert_eq!(feed.rows.len(), 20);
        assert_eq!(feed.rows[0].time, "69");
        assert_eq!(
            feed.series.iter().map(|s| s.0.as_str()).collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
        assert_eq!(feed.series[0].1.len(), 60);
        assert_eq!(feed.series[0].1[0], 10.0);
        assert_eq!(
            Verification::Missing.to_string(),
            "✗ events missing here (no node stores them)"
        );
    }

    #[test]
    fn a_late_event_takes_the_place_of_its_undecryptable_row() {
        let row = |at: u64, verification: Verification, content: &str| Row {
            time: at.to_string(),
            publisher: "0xab".into(),
            verification,
            content: content.into(),
            at: Some(at),
        };
        let mut feed = Feed::default();
        let no_key = || Verification::Undecryptable("no key arrived within 10 s".into());
        feed.push(row(1, no_key(), ""), Vec::new());
        feed.push(row(2, no_key(), ""), Vec::new());
        feed.push(row(3, Verification::Verified, "{}"), Vec::new());
        feed.decrypted_late(
            row(1, Verification::Verified, r#"{"n":1}"#),
            vec![("n".into(), 1.0)],
        );
        assert_eq!(feed.rows.len(), 3, "replaced, not added");
        assert_eq!(feed.rows[2].content, r#"{"n":1}"#);
        assert_eq!(feed.rows[2].verification, Verification::Verified);
        assert_eq!(feed.rows[1].verification, no_key());
        assert_eq!(feed.series[0].1, [1.0]);
        // One whose row has scrolled away is a new row.
        feed.decrypted_late(row(9, Verification::Verified, "{}"), Vec::new());
        assert_eq!(feed.rows.len(), 4);
        assert_eq!(feed.rows[0].at, Some(9));
    }

    #[test]
    fn charts_draw_numeric_fields() {
        assert_eq!(
            numeric_fields(r#"{"temperature":21.5,"station":"north","wind":3}"#),
            [("temperature".to_owned(), 21.5), ("wind".to_owned(), 3.0)]
        );
        assert!(numeric_fields("not json").is_empty());
        assert_eq!(
            polyline(&[0.0, 5.0, 10.0], 100.0, 10.0),
            "0.0,10.0 50.0,5.0 100.0,0.0"
        );
        assert_eq!(polyline(&[4.0], 100.0, 10.0), "0.0,10.0");
        assert_eq!(polyline(&[], 100.0, 10.0), "");
    }

    #[test]
    fn amounts_and_periods() {
        assert_eq!(
            format_data(U256::from(1_500_000_000_000_000_000u128), 4),
            "1.5"
        );
        assert_eq!(format_data(U256::from(5_000_000_000_000u64), 6), "0.000005");
        assert_eq!(
            format_data(U256::from(5_000_000_000_000u64 * 3600), 4),
            "0.018"
        );
        assert_eq!(format_data(U256::ZERO, 4), "0");
        assert_eq!(format_period(60), "1 min");
        assert_eq!(format_period(90), "90 s");
        assert_eq!(format_period(7200), "2 h");
        assert_eq!(format_period(86_400), "1 day");
        assert_eq!(format_period(172_800), "2 days");
        assert_eq!(
            short("0x976EA74026E726554dB657fA54763abd0C3a0aa9"),
            "0x976E…0aa9"
        );
    }
}
