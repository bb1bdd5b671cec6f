//! The HTML pages. Each page is an askama template (in `templates/docs/`, checked at
//! compile time, HTML-escaped by default) filled from small view structs computed
//! here from the model, so the templates only lay things out.

use askama::Template;
use chrono::{Duration, Utc};

use super::{Site, TimeColumn, diagram_svg, time_column};
use crate::edm::{EntitySet, Model, Storage};

/// One entity set as the index and the landing page list it.
pub struct SetRow {
    pub name: String,
    pub description: String,
    pub lookup: bool,
    /// The column to filter on for incremental refresh, if the table has its own.
    pub time_column: Option<String>,
    /// Why there is none, or what else to know about it.
    pub time_note: String,
    /// Rows the caller's tenant has, where counted.
    pub rows: Option<i64>,
    pub columns: usize,
}

/// One column of a table page.
pub struct ColumnRow {
    pub name: String,
    pub ty: String,
    pub nullable: bool,
    pub key: bool,
    pub description: String,
    pub allowed: Vec<(String, String)>,
    /// The UTC/local pairing, when the column is one half of a pair.
    pub pair: Option<String>,
    /// What this column joins to: `(target set, target column, navigation property)`.
    pub joins: Vec<(String, String, String)>,
}

/// One navigation property of a table page.
pub struct NavRow {
    pub name: String,
    pub target: String,
    pub many: bool,
    /// `agentId → Agents.id`, or where the target holds the key.
    pub columns: String,
    pub description: String,
}

/// A column of another table that refers to this one.
pub struct Reference {
    pub set: String,
    pub column: String,
    pub target_column: String,
}

/// A query a reader can run by following the link.
pub struct Example {
    pub label: String,
    pub url: String,
}

/// One search hit: a table, or a column of one.
pub struct Hit {
    pub set: String,
    pub column: Option<String>,
    pub description: String,
}

#[derive(Template)]
#[template(path = "docs/landing.html")]
struct Landing<'a> {
    site: &'a Site<'a>,
    feed_url: String,
    docs: String,
    sets: Vec<SetRow>,
}

#[derive(Template)]
#[template(path = "docs/index.html")]
struct Index<'a> {
    site: &'a Site<'a>,
    docs: String,
    sets: Vec<SetRow>,
    query: String,
    hits: Vec<Hit>,
    diagram: String,
}

#[derive(Template)]
#[template(path = "docs/table.html")]
struct Table<'a> {
    site: &'a Site<'a>,
    docs: String,
    set: SetRow,
    columns: Vec<ColumnRow>,
    navigations: Vec<NavRow>,
    referenced_by: Vec<Reference>,
    examples: Vec<Example>,
}

fn time_column_text(set: &EntitySet) -> (Option<String>, String) {
    match time_column(set) {
        TimeColumn::Own(p) => (Some(p.to_string()), String::new()),
        TimeColumn::Parent(fk, parent, p) => (
            None,
            format!(
                "None of its own: each row belongs to a row of {parent} (by {fk}), which is dated by {p}."
            ),
        ),
        TimeColumn::Lookup => (None, "None: a lookup; load it in full.".to_string()),
        TimeColumn::None => (None, "None.".to_string()),
    }
}

fn set_row(set: &EntitySet, rows: Option<i64>) -> SetRow {
    let (time_column, time_note) = time_column_text(set);
    SetRow {
        name: set.name.clone(),
        description: set.description.clone(),
        lookup: set.is_lookup(),
        time_column,
        time_note,
        rows,
        columns: set.properties.len(),
    }
}

fn set_rows(model: &Model, counts: &[Option<i64>]) -> Vec<SetRow> {
    model
        .entity_sets()
        .iter()
        .enumerate()
        .map(|(i, set)| set_row(set, counts.get(i).copied().flatten()))
        .collect()
}

pub fn landing_page(site: &Site<'_>) -> Result<String, askama::Error> {
    Landing {
        site,
        feed_url: site.feed_url(),
        docs: site.docs_root(),
        sets: set_rows(site.model, &[]),
    }
    .render()
}

/// The data dictionary: every table, the search over tables and columns (when
/// `query` has words), and the relationship diagram.
pub fn index_page(
    site: &Site<'_>,
    counts: &[Option<i64>],
    query: &str,
) -> Result<String, askama::Error> {
    let docs = site.docs_root();
    Index {
        site,
        sets: set_rows(site.model, counts),
        query: query.trim().to_string(),
        hits: search(site.model, query),
        diagram: diagram_svg(site.model, &docs),
        docs,
    }
    .render()
}

/// Tables and columns whose name or description contains every word of `query`
/// (ignoring case). Allowed values and their descriptions count as the column's text.
pub fn search(model: &Model, query: &str) -> Vec<Hit> {
    let words: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
    if words.is_empty() {
        return Vec::new();
    }
    let matches = |text: &str| {
        let text = text.to_lowercase();
        words.iter().all(|w| text.contains(w.as_str()))
    };
    let mut hits = Vec::new();
    for set in model.entity_sets() {
        if matches(&format!("{} {}", set.name, set.description)) {
            hits.push(Hit {
                set: set.name.clone(),
                column: None,
                description: set.description.clone(),
            });
        }
        for p in &set.properties {
            let mut text = format!("{} {}", p.name, p.description);
            for (value, description) in p.allowed_values_described() {
                text.push(' ');
                text.push_str(value);
                text.push(' ');
                text.push_str(description);
            }
            if matches(&text) {
                hits.push(Hit {
                    set: set.name.clone(),
                    column: Some(p.name.clone()),
                    description: p.description.clone(),
                });
            }
        }
    }
    hits
}

fn columns(set: &EntitySet) -> Vec<ColumnRow> {
    set.properties_by_id()
        .map(|(i, p)| {
            let pair = match p.storage {
                Storage::LocalText => {
                    p.utc_twin
                        .and_then(|twin| set.property_at(twin))
                        .map(|twin| {
                            format!(
                                "Local time of the tenant; the same instant in UTC is {}",
                                twin.name
                            )
                        })
                }
                Storage::UtcInstant => set
                    .properties
                    .iter()
                    .find(|local| local.utc_twin == Some(i))
                    .map(|local| {
                        format!(
                            "UTC; the same instant in the tenant's local time is {}",
                            local.name
                        )
                    })
                    .or_else(|| Some("UTC".to_string())),
                Storage::Plain => None,
            };
            let joins = set
                .navigations
                .iter()
                .flat_map(|nav| {
                    nav.constraints
                        .iter()
                        .filter(|(dependent, _)| *dependent == p.name)
                        .map(|(_, principal)| {
                            (nav.target_set.clone(), principal.clone(), nav.name.clone())
                        })
                })
                .collect();
            ColumnRow {
                name: p.name.clone(),
                ty: p.ty.to_string(),
                nullable: p.nullable,
                key: i == set.key,
                description: p.description.clone(),
                allowed: p
                    .allowed_values_described()
                    .map(|(v, d)| (v.to_string(), d.to_string()))
                    .collect(),
                pair,
                joins,
            }
        })
        .collect()
}

fn navigations(model: &Model, set: &EntitySet) -> Vec<NavRow> {
    set.navigations
        .iter()
        .map(|nav| {
            let columns = if nav.constraints.is_empty() {
                // The other side declares the join (a collection of children).
                model
                    .entity_set(&nav.target_set)
                    .and_then(|target| {
                        target
                            .navigations
                            .iter()
                            .filter(|back| back.target_set == set.name)
                            .find(|back| nav.partner.as_deref() == Some(back.name.as_str()))
                            .or_else(|| {
                                target
                                    .navigations
                                    .iter()
                                    .find(|back| back.target_set == set.name)
                            })
                    })
                    .map(|back| {
                        back.constraints
                            .iter()
                            .map(|(dep, princ)| {
                                format!("{}.{dep} → {}.{princ}", nav.target_set, set.name)
                            })
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default()
            } else {
                nav.constraints
                    .iter()
                    .map(|(dep, princ)| format!("{dep} → {}.{princ}", nav.target_set))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            NavRow {
                name: nav.name.clone(),
                target: nav.target_set.clone(),
                many: nav.collection,
                columns,
                description: nav.description.clone(),
            }
        })
        .collect()
}

fn referenced_by(model: &Model, set: &EntitySet) -> Vec<Reference> {
    let mut out = Vec::new();
    for other in model.entity_sets() {
        for nav in other
            .navigations
            .iter()
            .filter(|n| n.target_set == set.name && !n.collection)
        {
            for (dependent, principal) in &nav.constraints {
                out.push(Reference {
                    set: other.name.clone(),
                    column: dependent.clone(),
                    target_column: principal.clone(),
                });
            }
        }
    }
    out
}

fn examples(site: &Site<'_>, set: &EntitySet) -> Vec<Example> {
    let name = set.name.as_str();
    let mut out = vec![
        Example {
            label: "First 10 rows".into(),
            url: site.query_url(name, &[("$top", "10")]),
        },
        Example {
            label: "Number of rows".into(),
            url: site.query_url(&format!("{name}/$count"), &[]),
        },
    ];
    let since = (Utc::now() - Duration::days(7)).format("%Y-%m-%dT00:00:00Z");
    let filter = match time_column(set) {
        TimeColumn::Own(p) => Some((
            format!("Rows of the last 7 days, counted (by {p})"),
            format!("{p} ge {since}"),
        )),
        TimeColumn::Lookup => Some((
            "Rows not deleted in the source, counted".to_string(),
            "deletedAt eq null".to_string(),
        )),
        TimeColumn::Parent(..) | TimeColumn::None => None,
    }
    .or_else(|| {
        set.properties
            .iter()
            .find_map(|p| p.allowed_values.first().map(|v| (p, v)))
            .map(|(p, v)| {
                (
                    format!("Rows where {} is {v}, counted", p.name),
                    format!("{} eq '{}'", p.name, v.replace('\'', "''")),
                )
            })
    });
    if let Some((label, filter)) = filter {
        out.push(Example {
            label,
            url: site.query_url(&format!("{name}/$count"), &[("$filter", &filter)]),
        });
    }
    if let Some(nav) = set.navigations.iter().find(|n| !n.collection) {
        out.push(Example {
            label: format!("5 rows with their {} ({})", nav.name, nav.target_set),
            url: site.query_url(name, &[("$top", "5"), ("$expand", &nav.name)]),
        });
    }
    // An aggregate computed by the server, by a column with a short list of values.
    if let Some(p) = set.properties.iter().find(|p| !p.allowed_values.is_empty()) {
        out.push(Example {
            label: format!("Rows per {}, counted by the server ($apply)", p.name),
            url: site.query_url(
                name,
                &[(
                    "$apply",
                    &format!("groupby(({}),aggregate($count as rows))", p.name),
                )],
            ),
        });
    }
    out
}

pub fn table_page(
    site: &Site<'_>,
    set: &EntitySet,
    rows: Option<i64>,
) -> Result<String, askama::Error> {
    Table {
        site,
        docs: site.docs_root(),
        set: set_row(set, rows),
        columns: columns(set),
        navigations: navigations(site.model, set),
        referenced_by: referenced_by(site.model, set),
        examples: examples(site, set),
    }
    .render()
}

#[cfg(test)]
mod tests {
    use chrono::NaiveTime;

    use super::*;

    fn site(model: &Model) -> Site<'_> {
        Site {
            model,
            service_root: "http://h/odata".into(),
            service_path: "/odata",
            tenant: "T <1>".into(),
            demo: true,
            refresh_at: NaiveTime::MIN,
            last_refresh: None,
        }
    }

    #[test]
    fn every_table_and_column_is_documented_on_its_pages() {
        let model = Model::load().unwrap();
        let site = site(&model);
        let counts: Vec<Option<i64>> = (0..model.entity_sets().len() as i64).map(Some).collect();
        let index = index_page(&site, &counts, "").unwrap();
        for set in model.entity_sets() {
            assert!(index.contains(&format!("href=\"http://h/docs/tables/{}\"", set.name)));
            let page = table_page(&site, set, Some(3)).unwrap();
            for p in &set.properties {
                assert!(page.contains(&format!("id=\"{}\"", p.name)), "{}", p.name);
                let escaped = askama::filters::escape(&p.description, askama::filters::Html)
                    .unwrap()
                    .to_string();
                assert!(page.contains(&escaped), "{}.{}", set.name, p.name);
            }
        }
        // Data never reaches the page unescaped.
        assert!(index.contains("T &#60;1&#62;") || index.contains("T &lt;1&gt;"));
        assert!(!index.contains("T <1>"));
    }

    #[test]
    fn text_from_the_document_is_escaped() {
        let xml = crate::edm::METADATA_XML.replacen(
            "Agent's display name as shown in the portal.",
            "Agent's &lt;script&gt;alert(1)&lt;/script&gt; name",
            1,
        );
        let model = Model::from_xml(&xml).unwrap();
        let page = table_page(&site(&model), model.entity_set("Agents").unwrap(), None).unwrap();
        assert!(!page.contains("<script>alert(1)"));
        assert!(page.contains("alert(1)"));
    }

    #[test]
    fn search_finds_columns_by_a_word_of_their_description() {
        let model = Model::load().unwrap();
        let hits = search(&model, "  PAYROLL  ");
        assert!(
            hits.iter()
                .any(|h| h.set == "Agents" && h.column.as_deref() == Some("customId"))
        );
        assert!(search(&model, "payroll zzzz-nothing").is_empty());
        assert!(search(&model, " ").is_empty());
        let tables = search(&model, "QueueSegments");
        assert!(
            tables
                .iter()
                .any(|h| h.set == "QueueSegments" && h.column.is_none())
        );
    }
}
