//! Every way an action of the dapp can fail, as one enum, [`DappError`]. Its `Display` is the plain
//! sentence the pages show (what happened, and whether anything was signed, sent or paid). Services turn
//! what the chain client, the wallet and the network client report into it (`services::chain` decodes
//! reverts to their names); free of the browser, so the sentences are tested natively.

use alloy_primitives::U256;

use crate::{input::Invalid, model::format_data};

/// Why an action failed; shown as a sentence.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum DappError {
    /// The person rejected the request in their wallet (EIP-1193 error 4001).
    #[error("You rejected the request in your wallet: nothing was signed, sent or paid.")]
    Rejected,
    /// The wallet has not authorised the page (EIP-1193 error 4100).
    #[error("The wallet has not authorised this page: connect the wallet again.")]
    Unauthorised,
    /// The wallet (or endpoint) is on another chain than the deployment.
    #[error(
        "Your wallet is on chain {actual}, but this marketplace is on chain {expected}: switch chains."
    )]
    WrongChain {
        /// The deployment's chain.
        expected: u64,
        /// The wallet's.
        actual: u64,
    },
    /// A contract refused: its custom error's `name`, and the whole decoded `reason`
    /// (`"ProductIsPaused: product 3 is paused"`).
    #[error("{}", revert_sentence(name, reason))]
    Reverted {
        /// The custom error's name.
        name: String,
        /// The decoded revert, name first.
        reason: String,
    },
    /// The account's DATA is less than the price: found before anything was signed.
    #[error(
        "Your balance of {} DATA is less than the price of {} DATA: nothing was signed or sent.",
        format_data(*balance, 6),
        format_data(*price, 6)
    )]
    InsufficientBalance {
        /// DATA wei held.
        balance: U256,
        /// DATA wei asked.
        price: U256,
    },
    /// The chain's endpoint could not be reached (what failed).
    #[error("The chain cannot be reached ({0}).")]
    Unreachable(String),
    /// The endpoint or wallet answered with another JSON-RPC error.
    #[error("JSON-RPC error {code}: {message}.")]
    Rpc {
        /// The JSON-RPC or EIP-1193 code.
        code: i64,
        /// What it said.
        message: String,
    },
    /// An answer from the chain or the wallet could not be understood.
    #[error("unexpected answer: {0}.")]
    Answer(String),
    /// The wallet shared no account.
    #[error("The wallet shared no account.")]
    NoAccount,
    /// The configuration or the deployment is wrong or could not be read (what).
    #[error("{0}.")]
    Config(String),
    /// The network client failed (what it reported).
    #[error("{0}")]
    Network(String),
    /// What was typed cannot be used.
    #[error(transparent)]
    Invalid(#[from] Invalid),
}

/// A contract's named error as a sentence a buyer or seller can act on.
fn revert_sentence(name: &str, reason: &str) -> String {
    match name {
        "ERC20InsufficientBalance" => {
            "Your DATA balance is too small for this price: nothing was paid.".into()
        }
        "ERC20InsufficientAllowance" => {
            "The marketplace was not allowed to take that much DATA: approve the price first.".into()
        }
        "ProductIsPaused" => {
            "The seller has paused sales of this product: nothing was paid.".into()
        }
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

impl DappError {
    /// A contract's decoded revert (`"Name: details"`), its name split off.
    pub(crate) fn reverted(reason: String) -> DappError {
        let name = reason.split(':').next().unwrap_or("").to_owned();
        DappError::Reverted { name, reason }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_read_as_sentences() {
        assert!(DappError::Rejected.to_string().contains("rejected"));
        let poor =
            DappError::reverted("ERC20InsufficientBalance: 0xab has 1 DATA wei, needs 2".into());
        assert!(poor.to_string().contains("balance is too small"));
        let paused = DappError::reverted("ProductIsPaused: product 3 is paused".into());
        assert_eq!(
            paused,
            DappError::Reverted {
                name: "ProductIsPaused".into(),
                reason: "ProductIsPaused: product 3 is paused".into()
            }
        );
        assert!(paused.to_string().contains("paused sales"));
        let other = DappError::reverted("Odd: something".into());
        assert_eq!(
            other.to_string(),
            "The contract refused the transaction: Odd: something."
        );
        let wrong = DappError::WrongChain {
            expected: 31337,
            actual: 1,
        };
        assert!(wrong.to_string().contains("switch chains"));
        let data = U256::from(10u64).pow(U256::from(18u64));
        let short = DappError::InsufficientBalance {
            balance: U256::ZERO,
            price: data / U256::from(1000u64) * U256::from(6u64),
        };
        assert_eq!(
            short.to_string(),
            "Your balance of 0 DATA is less than the price of 0.006 DATA: nothing was signed or sent."
        );
        let typed = DappError::from(Invalid::NoName);
        assert_eq!(typed.to_string(), "Give the product a name.");
    }
}
