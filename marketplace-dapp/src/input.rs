//! What a person typed, checked: DATA amounts, and the seller's forms (a new stream, a device's publish
//! permission, a product to list, a new price) turned into typed requests, or an [`Invalid`] that says
//! in one sentence what to correct. Free of Yew, the browser and the chain client; tested natively.

use alloy_primitives::{Address, U256};
use rivulet_protocol::StreamId;

/// Why what was typed cannot be used, as a sentence (`Display`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Invalid {
    /// Not a decimal amount.
    #[error("{0:?} is not an amount of DATA (e.g. 1.5)")]
    NotAnAmount(String),
    /// More decimals than DATA has.
    #[error("DATA has at most 18 decimals")]
    TooManyDecimals,
    /// More than 256 bits of wei.
    #[error("{0:?} is too large")]
    TooLarge(String),
    /// A price per hour that is zero wei per second.
    #[error("The price per hour must be more than zero (at least 0.0000000000000036 DATA).")]
    ZeroPrice,
    /// A product that licenses no stream.
    #[error("Tick at least one stream the licence covers.")]
    NoStreams,
    /// A product without a name.
    #[error("Give the product a name.")]
    NoName,
    /// The beneficiary is not an address (why).
    #[error("The beneficiary is not an address ({0}).")]
    Beneficiary(String),
    /// No stream, or not a stream id (why).
    #[error("Choose a stream ({0}).")]
    Stream(String),
    /// The device is not an address (why).
    #[error("The device address is not an Ethereum address ({0}).")]
    Device(String),
    /// Days of history that are not a whole number in range.
    #[error("Keep history for a whole number of days from 0 (for good) to 3650, not {0:?}.")]
    Retention(String),
}

/// A decimal DATA amount typed by a person ("1.5", "0.002") in wei; at most 18 decimals, not negative.
pub(crate) fn parse_data(text: &str) -> Result<U256, Invalid> {
    let text = text.trim();
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !(digits(whole) || whole.is_empty() && digits(fraction))
        || !(fraction.is_empty() || digits(fraction))
    {
        return Err(Invalid::NotAnAmount(text.to_owned()));
    }
    if fraction.len() > 18 {
        return Err(Invalid::TooManyDecimals);
    }
    let wei = format!("{whole}{fraction:0<18}");
    U256::from_str_radix(wei.trim_start_matches('0').max("0"), 10)
        .map_err(|_| Invalid::TooLarge(text.to_owned()))
}

/// A price typed per hour, as the contract's wei per second (more than zero).
pub(crate) fn price_per_second(per_hour: &str) -> Result<U256, Invalid> {
    let per_second = parse_data(per_hour)? / U256::from(3600u64);
    if per_second.is_zero() {
        return Err(Invalid::ZeroPrice);
    }
    Ok(per_second)
}

/// A stream to create: `<account>/<path>` with a name, a description and 1 to 100 partitions, and
/// whether the network is asked to store its history (for how many days).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NewStream {
    /// The path after the account's address.
    pub(crate) path: String,
    /// Its name.
    pub(crate) name: String,
    /// What it carries.
    pub(crate) description: String,
    /// Its partition count.
    pub(crate) partitions: u32,
    /// Days of history the network's storage nodes keep (`Some(0)`: for good); `None`: not stored.
    pub(crate) retention_days: Option<u32>,
}

/// Most days of history the form asks the network to keep (ten years).
pub(crate) const MAX_RETENTION_DAYS: u32 = 3_650;

/// The create-a-stream form as typed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct StreamForm {
    /// The path after the account's address.
    pub(crate) path: String,
    /// Its name.
    pub(crate) name: String,
    /// What it carries.
    pub(crate) description: String,
    /// The partition count as typed.
    pub(crate) partitions: String,
    /// Whether the network should store its history.
    pub(crate) store: bool,
    /// For how many days, as typed.
    pub(crate) retention_days: String,
}

impl StreamForm {
    /// The stream to create (a partition count that is not a number is 1, one out of range the
    /// nearest allowed), or why not.
    pub(crate) fn check(&self) -> Result<NewStream, Invalid> {
        let retention_days = if self.store {
            let typed = self.retention_days.trim();
            match typed.parse::<u32>() {
                Ok(days) if days <= MAX_RETENTION_DAYS => Some(days),
                _ => return Err(Invalid::Retention(typed.to_owned())),
            }
        } else {
            None
        };
        Ok(NewStream {
            path: self.path.trim().to_owned(),
            name: self.name.clone(),
            description: self.description.clone(),
            partitions: self
                .partitions
                .trim()
                .parse::<u32>()
                .unwrap_or(1)
                .clamp(1, 100),
            retention_days,
        })
    }
}

impl NewStream {
    /// Its metadata as the registry stores it (JSON).
    pub(crate) fn metadata(&self) -> String {
        serde_json::json!({
            "name": self.name,
            "description": self.description,
            "partitions": self.partitions,
        })
        .to_string()
    }
}

/// The device form as typed: a stream and a device's address.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct DeviceForm {
    /// The stream chosen.
    pub(crate) stream: String,
    /// The device's address.
    pub(crate) device: String,
}

/// A device key allowed to publish to one of the seller's streams.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DeviceGrant {
    /// The stream.
    pub(crate) stream: StreamId,
    /// The device's address.
    pub(crate) device: rivulet_protocol::Address,
}

impl DeviceForm {
    /// The grant it asks for, or what to correct.
    pub(crate) fn check(&self) -> Result<DeviceGrant, Invalid> {
        Ok(DeviceGrant {
            stream: self
                .stream
                .parse()
                .map_err(|e| Invalid::Stream(format!("{e}")))?,
            device: self
                .device
                .trim()
                .parse()
                .map_err(|e| Invalid::Device(format!("{e}")))?,
        })
    }
}

/// The product form as typed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ProductForm {
    /// The streams ticked.
    pub(crate) streams: Vec<String>,
    /// Its name.
    pub(crate) name: String,
    /// Its description.
    pub(crate) description: String,
    /// Its category.
    pub(crate) category: String,
    /// The price per hour, DATA.
    pub(crate) price: String,
    /// The shortest licence, seconds.
    pub(crate) minimum: String,
    /// Who is paid (empty: the seller).
    pub(crate) beneficiary: String,
    /// Where the terms are (may be empty).
    pub(crate) terms: String,
}

/// A product to list, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NewProduct {
    /// The streams a licence covers.
    pub(crate) streams: Vec<StreamId>,
    /// Name, description and category (JSON).
    pub(crate) metadata: String,
    /// DATA wei per second.
    pub(crate) price_per_second: U256,
    /// The shortest licence, seconds.
    pub(crate) minimum_seconds: u64,
    /// Who is paid (`None`: the seller).
    pub(crate) beneficiary: Option<Address>,
    /// Where the terms are (may be empty).
    pub(crate) terms_uri: String,
}

impl ProductForm {
    /// The product it describes, or what to correct first.
    pub(crate) fn check(&self) -> Result<NewProduct, Invalid> {
        if self.streams.is_empty() {
            return Err(Invalid::NoStreams);
        }
        if self.name.trim().is_empty() {
            return Err(Invalid::NoName);
        }
        let price_per_second = price_per_second(&self.price)?;
        let beneficiary = match self.beneficiary.trim() {
            "" => None,
            b => Some(
                b.parse::<Address>()
                    .map_err(|e| Invalid::Beneficiary(e.to_string()))?,
            ),
        };
        let streams = self
            .streams
            .iter()
            .map(|s| s.parse().map_err(|e| Invalid::Stream(format!("{s}: {e}"))))
            .collect::<Result<_, _>>()?;
        Ok(NewProduct {
            streams,
            metadata: serde_json::json!({
                "name": self.name,
                "description": self.description,
                "category": self.category,
            })
            .to_string(),
            price_per_second,
            minimum_seconds: self.minimum.parse().unwrap_or(60),
            beneficiary,
            terms_uri: self.terms.trim().to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const SELLER: &str = "0x15d34aaf54267db7d7c367839aaf71a00a2c6a65";

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
        assert_eq!(
            parse_data("abc").unwrap_err().to_string(),
            "\"abc\" is not an amount of DATA (e.g. 1.5)"
        );
        assert_eq!(price_per_second("0"), Err(Invalid::ZeroPrice));
        assert_eq!(
            price_per_second("0.36").unwrap(),
            U256::from(100_000_000_000_000u64)
        );
    }

    #[test]
    fn a_new_stream_keeps_partitions_in_range() {
        let form = |partitions: &str| StreamForm {
            path: " sensors/air ".into(),
            name: "Air".into(),
            description: "PM2.5".into(),
            partitions: partitions.into(),
            store: true,
            retention_days: "30".into(),
        };
        let s = form("2").check().unwrap();
        assert_eq!(s.path, "sensors/air");
        assert_eq!(s.retention_days, Some(30));
        // Compared as JSON: the key order depends on serde_json's `preserve_order`, which the
        // workspace's tests turn on (rivulet-protocol's dev-dependencies).
        let json = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap();
        assert_eq!(
            json(&s.metadata()),
            json(r#"{"description":"PM2.5","name":"Air","partitions":2}"#)
        );
        assert_eq!(form("x").check().unwrap().partitions, 1);
        assert_eq!(form("500").check().unwrap().partitions, 100);
        assert_eq!(form("0").check().unwrap().partitions, 1);
    }

    #[test]
    fn history_is_kept_for_whole_days_in_range_or_not_at_all() {
        let form = |store: bool, days: &str| StreamForm {
            path: "a".into(),
            store,
            retention_days: days.into(),
            ..StreamForm::default()
        };
        assert_eq!(form(true, " 0 ").check().unwrap().retention_days, Some(0));
        assert_eq!(
            form(true, "3650").check().unwrap().retention_days,
            Some(3650)
        );
        assert_eq!(
            form(false, "nonsense").check().unwrap().retention_days,
            None
        );
        for bad in ["3651", "-1", "1.5", ""] {
            assert_eq!(
                form(true, bad).check(),
                Err(Invalid::Retention(bad.into())),
                "{bad}"
            );
        }
        assert_eq!(
            Invalid::Retention("x".into()).to_string(),
            "Keep history for a whole number of days from 0 (for good) to 3650, not \"x\"."
        );
    }

    #[test]
    fn a_device_grant_needs_a_stream_and_an_address() {
        let form = |stream: &str, device: &str| DeviceForm {
            stream: stream.into(),
            device: device.into(),
        };
        let stream = format!("{SELLER}/air");
        let grant = form(&stream, " 0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc ")
            .check()
            .unwrap();
        assert_eq!(grant.stream.to_string(), stream);
        assert!(matches!(form("", SELLER).check(), Err(Invalid::Stream(_))));
        let bad = form(&stream, "nobody").check().unwrap_err();
        assert!(
            bad.to_string()
                .starts_with("The device address is not an Ethereum address")
        );
    }

    #[test]
    fn a_product_form_says_what_to_correct_first() {
        let form = ProductForm {
            streams: vec![format!("{SELLER}/air")],
            name: "Air quality".into(),
            category: "environment".into(),
            price: "0.36".into(),
            minimum: "3600".into(),
            terms: " https://example.org/terms ".into(),
            ..ProductForm::default()
        };
        let product = form.check().unwrap();
        assert_eq!(product.streams[0].to_string(), format!("{SELLER}/air"));
        assert_eq!(product.minimum_seconds, 3600);
        assert_eq!(product.beneficiary, None);
        assert_eq!(product.terms_uri, "https://example.org/terms");
        let json = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap();
        assert_eq!(
            json(&product.metadata),
            json(r#"{"category":"environment","description":"","name":"Air quality"}"#)
        );
        let wrong = |change: fn(&mut ProductForm)| {
            let mut f = form.clone();
            change(&mut f);
            f.check().unwrap_err()
        };
        assert_eq!(wrong(|f| f.streams.clear()), Invalid::NoStreams);
        assert_eq!(wrong(|f| f.name = "  ".into()), Invalid::NoName);
        assert_eq!(
            wrong(|f| f.price = "0.000000000000000001".into()),
            Invalid::ZeroPrice
        );
        assert!(matches!(
            wrong(|f| f.beneficiary = "me".into()),
            Invalid::Beneficiary(_)
        ));
        let mut paid_elsewhere = form.clone();
        paid_elsewhere.beneficiary = "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc".into();
        paid_elsewhere.minimum = "soon".into();
        let product = paid_elsewhere.check().unwrap();
        assert!(product.beneficiary.is_some());
        assert_eq!(product.minimum_seconds, 60);
    }
}
