//! The feed explained to people: HTML pages (a landing page with connection help, a
//! data dictionary of every table and column, a relationship diagram), a Power BI data
//! source file and an OpenAPI description, all built from the [`Model`] that is loaded
//! from `metadata/ccfeed.xml`. Nothing here restates a description: every text about a
//! table or column comes from that document, so the pages cannot drift from `$metadata`.
//!
//! This module only turns the model (plus a few facts about the caller, such as row
//! counts) into documents; [`crate::http`] decides when a request gets them.

mod diagram;
mod openapi;
mod pages;

use chrono::NaiveTime;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

use crate::edm::{EntitySet, Model};
use crate::jobs::purge::{self, Rule};

pub use diagram::diagram_svg;
pub use openapi::openapi;
pub use pages::{index_page, landing_page, table_page};

/// What a page knows about the server and the caller besides the model.
pub struct Site<'a> {
    pub model: &'a Model,
    /// The service root as clients must use it, e.g. `https://host/odata` (no slash).
    pub service_root: String,
    /// The path the feed is served under on this server (`/odata`), which a reverse
    /// proxy may prefix.
    pub service_path: &'static str,
    /// The caller's tenant, by name.
    pub tenant: String,
    /// Demo mode: the demo tenant is served without credentials.
    pub demo: bool,
    /// When the daily lookup refresh runs (UTC), and whether this server runs it.
    pub refresh_at: NaiveTime,
    /// The caller's last lookup refresh, e.g. `2026-03-01T00:00:02.113Z (ok)`.
    pub last_refresh: Option<String>,
}

impl Site<'_> {
    /// The URL to paste into Power BI: the service root with its trailing slash.
    pub fn feed_url(&self) -> String {
        format!("{}/", self.service_root)
    }

    /// Where the pages live: the service root's origin (and any path prefix a reverse
    /// proxy adds in front of `/odata`).
    pub fn docs_root(&self) -> String {
        let base = self
            .service_root
            .strip_suffix(self.service_path)
            .unwrap_or("");
        format!("{base}/docs")
    }

    /// A feed URL for `path` (`Calls`, `Calls/$count`) with query options, encoded
    /// so that it can be followed as a link.
    pub fn query_url(&self, path: &str, options: &[(&str, &str)]) -> String {
        let mut url = format!("{}/{path}", self.service_root);
        for (i, (name, value)) in options.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(name);
            url.push('=');
            url.extend(utf8_percent_encode(value, QUERY_VALUE));
        }
        url
    }
}

/// Query values in example links: spaces, quotes and separators are escaped; `$`,
/// `:` and `,` stay readable.
const QUERY_VALUE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'&')
    .add(b'+')
    .add(b'<')
    .add(b'>')
    .add(b'\'')
    .add(b'=');

/// How a table can be refreshed incrementally in Power BI: the UTC column its rows
/// are dated by, the same one the retention purge judges age by.
pub enum TimeColumn {
    Own(&'static str),
    /// The rows have no time of their own; they belong to a parent row: (foreign key,
    /// parent set, parent's time column).
    Parent(&'static str, &'static str, &'static str),
    /// A lookup: small, loaded in full.
    Lookup,
    None,
}

pub fn time_column(set: &EntitySet) -> TimeColumn {
    match purge::rule(set) {
        Some(Rule::Time(p)) => TimeColumn::Own(p),
        Some(Rule::Parent(fk, parent, p)) => TimeColumn::Parent(fk, parent, p),
        Some(Rule::Lookup) => TimeColumn::Lookup,
        None => TimeColumn::None,
    }
}

/// The Power BI data source file (`.pbids`): one OData connection to the feed, in
/// Import mode (the only mode Power BI's OData connector has). It carries no
/// credentials; Power BI Desktop asks for them when it opens the file.
pub fn pbids(feed_url: &str) -> String {
    serde_json::json!({
        "version": "0.1",
        "connections": [{
            "details": { "protocol": "odata", "address": { "url": feed_url } },
            "mode": "Import"
        }]
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_and_files_use_the_service_root() {
        let model = Model::load().unwrap();
        let site = Site {
            model: &model,
            service_root: "https://example.com/feed/odata".into(),
            service_path: "/odata",
            tenant: "Acme".into(),
            demo: false,
            refresh_at: NaiveTime::MIN,
            last_refresh: None,
        };
        assert_eq!(site.feed_url(), "https://example.com/feed/odata/");
        assert_eq!(site.docs_root(), "https://example.com/feed/docs");
        assert_eq!(
            site.query_url(
                "Calls/$count",
                &[("$filter", "direction eq 'inbound' and x ge 1")]
            ),
            "https://example.com/feed/odata/Calls/$count?$filter=direction%20eq%20%27inbound%27%20and%20x%20ge%201"
        );
        let file: serde_json::Value = serde_json::from_str(&pbids(&site.feed_url())).unwrap();
        assert_eq!(file["version"], "0.1");
        assert_eq!(file["connections"][0]["details"]["protocol"], "odata");
        assert_eq!(
            file["connections"][0]["details"]["address"]["url"],
            "https://example.com/feed/odata/"
        );
        assert_eq!(file["connections"][0]["mode"], "Import");
    }
}
