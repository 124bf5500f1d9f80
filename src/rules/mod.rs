//! Rules: the matter categories of the source document's annex and what follows from them.

mod categories;

pub use categories::{load_categories, Category, CategoryFile, Rule};
