//! What the pages show, as plain data: products as listed (name, category, price), the search, prices in
//! DATA, the routes, transaction steps and errors as sentences, licence countdowns, chart series. Free of
//! Yew and the browser, so it is tested natively.

use alloy_primitives::U256;
use rivulet_chain_lite::{LiteError, TxStep, market::Product};
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
        }
    }
}

/// A product as the pages show it.
#[derive(Clone, Debug, PartialEq)]
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
    /// The listing of a product.
    pub(crate) fn of(p: &Product) -> Listing {
        let meta: Value = serde_json::from_str(&p.metadata).unwrap_or(Value::Null);
        let text = |k: &str| meta.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        let name = text("name");
        Listing {
            id: p.id,
            name: if name.is_empty() {
                format!("Product {}", p.id)
            } else {
                name
            },
            description: text("description"),
            category: text("category"),
            seller: p.owner.to_checksum(None),
            price_per_second: p.price_per_second,
            minimum_seconds: p.minimum_seconds,
            active: p.active,
            streams: p.streams.clone(),
            terms_uri: p.terms_uri.clone(),
            partitions: vec![1; p.streams.len()],
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

/// A decimal DATA amount typed by a person ("1.5", "0.002") in wei; at most 18 decimals, not negative.
pub(crate) fn parse_data(text: &str) -> Result<U256, String> {
    let text = text.trim();
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !(digits(whole) || whole.is_empty() && digits(fraction))
        || !(fraction.is_empty() || digits(fraction))
    {
        return Err(format!("{text:?} is not an amount of DATA (e.g. 1.5)"));
    }
    if fraction.len() > 18 {
        return Err("DATA has at most 18 decimals".into());
    }
    let wei = format!("{whole}{fraction:0<18}");
    U256::from_str_radix(wei.trim_start_matches('0').max("0"), 10)
        .map_err(|_| format!("{text:?} is too large"))
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

/// A transaction step as the buyer reads it.
pub(crate) fn describe_step(step: &TxStep) -> String {
    let action = |what: &str| match what {
        "permit" => "the permit that lets the marketplace take the price".to_owned(),
        "approve" => "approving the marketplace to take the price".into(),
        "buy" | "buyWithPermit" => "the purchase".into(),
        "faucet" => "DATA from the faucet".into(),
        "createStream" => "creating the stream".into(),
        "grantPermission" => "the permission".into(),
        "createProduct" => "listing the product".into(),
        "setPrice" => "the new price".into(),
        "pauseProduct" => "pausing sales".into(),
        "resumeProduct" => "resuming sales".into(),
        other => other.into(),
    };
    match step {
        TxStep::SignatureRequested { what } => {
            format!("Signature requested: sign {} in your wallet…", action(what))
        }
        TxStep::Signed { what } => format!("Signed {}.", action(what)),
        TxStep::TransactionRequested { what } => {
            format!(
                "Transaction requested: confirm {} in your wallet…",
                action(what)
            )
        }
        TxStep::Sent { what, hash } => {
            format!(
                "Transaction sent ({}): {} — waiting for it to be mined…",
                short(hash),
                action(what)
            )
        }
        TxStep::Confirmed { what, block, .. } => {
            format!("Confirmed in block {block}: {}.", action(what))
        }
    }
}

/// A failed chain call as one plain sentence.
pub(crate) fn plain_error(e: &LiteError) -> String {
    match e {
        LiteError::Rpc { code: 4001, .. } => {
            "You rejected the request in your wallet: nothing was signed, sent or paid.".into()
        }
        LiteError::Rpc { code: 4100, .. } => {
            "The wallet has not authorised this page: connect the wallet again.".into()
        }
        LiteError::Reverted(reason) => {
            let name = reason.split(':').next().unwrap_or("");
            match name {
                "ERC20InsufficientBalance" => {
                    "Your DATA balance is too small for this price: nothing was paid.".into()
                }
                "ERC20InsufficientAllowance" => {
                    "The marketplace was not allowed to take that much DATA: approve the price first.".into()
                }
                "ProductIsPaused" => "The seller has paused sales of this product: nothing was paid.".into(),
                "PriceAboveMaximum" => "The price went up before the purchase was mined: nothing was paid. Check the new price and buy again.".into(),
                "PeriodTooShort" => format!("That period is shorter than the product's minimum ({reason})."),
                "ERC2612ExpiredSignature" => "The permit expired before it was used: buy again.".into(),
                "ERC2612InvalidSigner" => "The permit was not signed by the buying account: buy again from the connected account.".into(),
                "NotProductOwner" => "Only the product's seller can change it.".into(),
                "StreamExists" => "You have a stream at that path already: choose another path.".into(),
                "InvalidPath" => "A stream path is letters, digits and . _ - / only.".into(),
                "SellerCannotGrant" | "MarketplaceCannotGrant" | "NoPermission" => {
                    format!("Permission missing: {reason}.")
                }
                _ => format!("The contract refused the transaction: {reason}."),
            }
        }
        LiteError::WrongChain { expected, actual } => format!(
            "Your wallet is on chain {actual}, but this marketplace is on chain {expected}: switch chains."
        ),
        LiteError::Unreachable(what) => format!("The chain cannot be reached ({what})."),
        other => format!("{other}."),
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

    use alloy_primitives::Address;

    use super::*;

    fn product(metadata: &str) -> Product {
        Product {
            id: 7,
            owner: Address::repeat_byte(0xab),
            beneficiary: Address::repeat_byte(0xab),
            price_per_second: U256::from(5_000_000_000_000u64),
            minimum_seconds: 60,
            active: true,
            metadata: metadata.into(),
            terms_uri: String::new(),
            streams: vec!["0xab/demo/traffic".into()],
        }
    }

    #[test]
    fn listings_read_metadata_and_search_every_word() {
        let l = Listing::of(&product(
            r#"{"name":"City traffic","description":"Vehicle counts","category":"mobility"}"#,
        ));
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
        let unnamed = Listing::of(&product("not json"));
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
    fn typed_amounts() {
        let data = U256::from(10u64).pow(U256::from(18u64));
        assert_eq!(
            parse_data("1.5").unwrap(),
            data * U256::from(3u64) / U256::from(2u64)
        );
        assert_eq!(parse_data(" 2 ").unwrap(), data * U256::from(2u64));
        assert_eq!(parse_data(".5").unwrap(), data / U256::from(2u64));
        assert_eq!(parse_data("0").unwrap(), U256::ZERO);
        assert_eq!(
            parse_data("0.000000000000000001").unwrap(),
            U256::from(1u64)
        );
        for bad in [
            "",
            "-1",
            "1.2.3",
            "abc",
            "1e3",
            "0.0000000000000000001",
            ".",
        ] {
            assert!(parse_data(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn countdowns_steps_and_errors_read_as_sentences() {
        assert_eq!(format_remaining(1_000 + 252, 1_000), "4 min 12 s left");
        assert_eq!(format_remaining(1_000, 1_012), "ended 12 s ago");
        assert_eq!(format_remaining(10_000, 2_800), "2 h 0 min left");
        assert!(
            describe_step(&TxStep::SignatureRequested {
                what: "permit".into()
            })
            .contains("wallet")
        );
        assert!(
            describe_step(&TxStep::Confirmed {
                what: "buyWithPermit".into(),
                hash: "0x00".into(),
                block: 7
            })
            .contains("block 7")
        );
        let rejected = LiteError::Rpc {
            code: 4001,
            message: "User rejected".into(),
            data: None,
        };
        assert!(plain_error(&rejected).contains("rejected"));
        let poor =
            LiteError::Reverted("ERC20InsufficientBalance: 0xab has 1 DATA wei, needs 2".into());
        assert!(plain_error(&poor).contains("balance is too small"));
        let paused = LiteError::Reverted("ProductIsPaused: product 3 is paused".into());
        assert!(plain_error(&paused).contains("paused"));
        let wrong = LiteError::WrongChain {
            expected: 31337,
            actual: 1,
        };
        assert!(plain_error(&wrong).contains("switch chains"));
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
