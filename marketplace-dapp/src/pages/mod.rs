//! One page per route: `products` (`#/`, every product, searchable), `product` (`#/product/<id>`),
//! `licences` (`#/licences`), `sell` (`#/sell`) and `network` (`#/network`). Pages hold their page's state, read and write
//! through `services`, and are drawn from `components`.

mod licences;
mod network;
mod product;
mod products;
mod sell;

pub(crate) use licences::LicencesPage;
pub(crate) use network::NetworkPage;
pub(crate) use product::ProductPage;
pub(crate) use products::ProductsPage;
pub(crate) use sell::SellPage;
