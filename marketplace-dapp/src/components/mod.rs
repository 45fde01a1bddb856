//! Props-only components: each gets its data and callbacks through props and does input and output only
//! through `services`. `AccountBar` (connect a wallet or the development account, switch chains,
//! balance, faucet), `ProductCard`, `BuyPanel` (period, price, permit or approve-then-buy, each step
//! shown), `LiveView` (a stream's verified events and charts), `LicenceCard`, `StepLog` (a transaction's
//! steps and outcome), `time` (dates in the page's time zone) and `sell` (the seller's forms and tables).

mod account_bar;
mod buy_panel;
mod licence_card;
mod live_view;
mod product_card;
pub(crate) mod sell;
mod step_log;
pub(crate) mod time;

pub(crate) use account_bar::AccountBar;
pub(crate) use buy_panel::BuyPanel;
pub(crate) use licence_card::LicenceCard;
pub(crate) use live_view::LiveView;
pub(crate) use product_card::ProductCard;
pub(crate) use step_log::StepLog;
