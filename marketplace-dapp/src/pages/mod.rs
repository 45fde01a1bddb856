//! One page per route: `products` (`#/`, every product, searchable), `product` (`#/product/<id>`),
//! `licences` (`#/licences`) and `sell` (`#/sell`). Pages hold their page's state, read and write
//! through `services`, and are drawn from `components`.

mod licences;
mod product;
mod products;
mod sell;

pub(crate) use licences::LicencesPage;
pub(crate) use product::ProductPage;
pub(crate) use products::ProductsPage;
pub(crate) use sell::SellPage;
