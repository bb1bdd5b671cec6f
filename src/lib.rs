//! ccfeed publishes a contact center's reporting data as an OData v4 feed that Power
//! BI, Excel (Power Query) and any OData client can read.
//!
//! A request flows through the modules in order: [`http`] (routing, negotiation,
//! errors) → [`uri`] (query options to syntax trees) → [`plan`] (names resolved
//! against the [`edm`] model) → [`store`] (SQL with binds, rows streamed back) →
//! [`http`] again (rows written as OData JSON, page by page).

pub mod config;
pub mod demo;
pub mod docs;
pub mod edm;
pub mod http;
pub mod ingest;
pub mod jobs;
pub mod plan;
pub mod store;
pub mod uri;
pub mod value;
