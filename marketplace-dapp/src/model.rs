//! What the pages show, as plain data: products as listed (name, category, price), the search, prices in
//! DATA. Free of Yew and the browser, so it is tested natively.

use alloy_primitives::U256;
use rivulet_chain_lite::market::Product;
use serde_json::Value;

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
        }
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
        let unnamed = Listing::of(&product("not json"));
        assert_eq!(unnamed.name, "Product 7");
        assert_eq!(unnamed.description, "");
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
