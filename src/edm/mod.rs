//! The entity model: entity sets, properties, keys and navigation, read from the CSDL
//! document in `metadata/ccfeed.xml`.
//!
//! That document is the single source of truth. It is embedded in the binary, served
//! byte for byte as `$metadata`, and parsed here at start-up into the lookup tables the
//! rest of the server uses: the query layer resolves names against [`Model`], the store
//! derives table and column names from it (snake_case of the OData names), and the JSON
//! writer takes property names and types from it. Nothing else lists the tables.

pub mod capabilities;
pub mod csdl_json;
mod parse;

use std::collections::HashMap;
use std::fmt;

pub use parse::ModelError;

/// The CSDL document shipped with the binary.
pub const METADATA_XML: &str = include_str!("../../metadata/ccfeed.xml");

/// An entity set of a [`Model`]: its place in the document's order. Only the model
/// makes one (as it loads, or by name with [`Model::set_id`]), and [`Model::set`] answers
/// `None` for a position it does not have, so a stale or foreign id is an error where
/// it is looked up, never another set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SetId(usize);

impl SetId {
    /// The position in [`Model::entity_sets`], for lists kept in the model's order.
    pub fn index(self) -> usize {
        self.0
    }
}

impl fmt::Display for SetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A property of one entity set's type. It carries the set it belongs to, and only
/// that set makes one ([`EntitySet::property_id`], [`EntitySet::property_ids`]);
/// [`EntitySet::property_at`] answers `None` for an id of another set or past the
/// end, so a wrong id is an error where it is looked up, never another property.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PropertyId {
    set: SetId,
    index: usize,
}

impl PropertyId {
    /// The set whose property this is.
    pub fn set(self) -> SetId {
        self.set
    }

    /// The position in [`EntitySet::properties`], for rows laid out in that order
    /// (the writers' records).
    pub fn index(self) -> usize {
        self.index
    }
}

/// The position alone: plan fingerprints (in skiptokens) and test output show it.
impl fmt::Display for PropertyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.index)
    }
}

/// The EDM primitive types the feed uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EdmType {
    String,
    Int32,
    Int64,
    Double,
    Boolean,
    DateTimeOffset,
}

impl EdmType {
    pub fn from_qualified(name: &str) -> Option<EdmType> {
        Some(match name {
            "Edm.String" => EdmType::String,
            "Edm.Int32" => EdmType::Int32,
            "Edm.Int64" => EdmType::Int64,
            "Edm.Double" => EdmType::Double,
            "Edm.Boolean" => EdmType::Boolean,
            "Edm.DateTimeOffset" => EdmType::DateTimeOffset,
            _ => return None,
        })
    }

    /// The name without the `Edm.` prefix, as used in `@odata.type` annotations.
    pub fn short_name(self) -> &'static str {
        match self {
            EdmType::String => "String",
            EdmType::Int32 => "Int32",
            EdmType::Int64 => "Int64",
            EdmType::Double => "Double",
            EdmType::Boolean => "Boolean",
            EdmType::DateTimeOffset => "DateTimeOffset",
        }
    }
}

impl fmt::Display for EdmType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Edm.{}", self.short_name())
    }
}

/// How a value is kept in the database. Timestamps come in two kinds: UTC instants,
/// stored as a native timestamp (PostgreSQL) or fixed-width ISO text (SQLite), and
/// tenant-local renderings of the same instant, stored as ISO text with an offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    Plain,
    UtcInstant,
    LocalText,
}

/// How a column is read and bound: the EDM type plus how timestamps are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    Text,
    Int32,
    Int64,
    Double,
    Boolean,
    /// A UTC instant: TIMESTAMPTZ in PostgreSQL, fixed-width ISO text in SQLite.
    Instant,
    /// A tenant-local rendering of an instant, ISO text with offset on both backends.
    LocalText,
}

impl ColumnKind {
    pub fn of(p: &Property) -> ColumnKind {
        p.kind()
    }
}

#[derive(Debug, Clone)]
pub struct Property {
    pub name: String,
    pub column: String,
    pub ty: EdmType,
    pub nullable: bool,
    pub storage: Storage,
    /// For a tenant-local timestamp: its UTC twin in the same entity set.
    pub utc_twin: Option<PropertyId>,
    pub description: String,
    pub allowed_values: Vec<String>,
    /// The `Core.Description` of each allowed value, in the same order (empty where the
    /// document gives none).
    pub allowed_value_descriptions: Vec<String>,
}

impl Property {
    /// Each allowed value with its description.
    pub fn allowed_values_described(&self) -> impl Iterator<Item = (&str, &str)> {
        self.allowed_values.iter().enumerate().map(|(i, v)| {
            let description = self
                .allowed_value_descriptions
                .get(i)
                .map_or("", String::as_str);
            (v.as_str(), description)
        })
    }
}

impl Property {
    /// How the column is read and bound.
    pub fn kind(&self) -> ColumnKind {
        match (self.ty, self.storage) {
            (EdmType::String, _) => ColumnKind::Text,
            (EdmType::Int32, _) => ColumnKind::Int32,
            (EdmType::Int64, _) => ColumnKind::Int64,
            (EdmType::Double, _) => ColumnKind::Double,
            (EdmType::Boolean, _) => ColumnKind::Boolean,
            (EdmType::DateTimeOffset, Storage::LocalText) => ColumnKind::LocalText,
            (EdmType::DateTimeOffset, _) => ColumnKind::Instant,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Navigation {
    pub name: String,
    pub target_set: String,
    pub target_type: String,
    pub collection: bool,
    pub partner: Option<String>,
    /// (dependent property, principal property) pairs, on the side that declares them.
    pub constraints: Vec<(String, String)>,
    pub description: String,
}

#[derive(Debug, Clone)]
pub struct EntitySet {
    pub name: String,
    /// The unqualified entity type name, e.g. `Call`.
    pub type_name: String,
    pub table: String,
    pub description: String,
    pub properties: Vec<Property>,
    /// The key property (every entity type has the single key `id`).
    pub key: PropertyId,
    pub navigations: Vec<Navigation>,
    id: SetId,
    by_name: HashMap<String, usize>,
}

impl EntitySet {
    /// This set's place in the model.
    pub fn id(&self) -> SetId {
        self.id
    }

    pub fn property(&self, name: &str) -> Option<&Property> {
        self.by_name.get(name).and_then(|&i| self.properties.get(i))
    }

    pub fn property_id(&self, name: &str) -> Option<PropertyId> {
        self.by_name.get(name).map(|&index| self.id_at(index))
    }

    /// The property `id` names, if it is one of this set's.
    pub fn property_at(&self, id: PropertyId) -> Option<&Property> {
        if id.set != self.id {
            return None;
        }
        self.properties.get(id.index)
    }

    /// Every property's id, in the document's order.
    pub fn property_ids(&self) -> impl Iterator<Item = PropertyId> + '_ {
        (0..self.properties.len()).map(|index| self.id_at(index))
    }

    /// Every property with its id, in the document's order.
    pub fn properties_by_id(&self) -> impl Iterator<Item = (PropertyId, &Property)> {
        self.property_ids().zip(&self.properties)
    }

    fn id_at(&self, index: usize) -> PropertyId {
        PropertyId {
            set: self.id,
            index,
        }
    }

    pub fn key_property(&self) -> &Property {
        // The parser made `key` from this set's own list, so it is in range.
        &self.properties[self.key.index]
    }

    pub fn navigation(&self, name: &str) -> Option<&Navigation> {
        self.navigations.iter().find(|n| n.name == name)
    }

    /// Property names, for "did you mean" style errors.
    pub fn property_names(&self) -> impl Iterator<Item = &str> {
        self.properties.iter().map(|p| p.name.as_str())
    }

    /// Lookup sets are refreshed from a directory source and carry `deletedAt`.
    pub fn is_lookup(&self) -> bool {
        self.by_name.contains_key("deletedAt")
    }
}

/// The loaded model. Entity sets keep the document's order.
#[derive(Debug)]
pub struct Model {
    pub namespace: String,
    pub container: String,
    entity_sets: Vec<EntitySet>,
    by_name: HashMap<String, usize>,
}

impl Model {
    /// Parses the embedded document. A failure here is a bug in `metadata/`, caught by
    /// the test suite, so callers may treat it as fatal at start-up.
    pub fn load() -> Result<Model, ModelError> {
        Model::from_xml(METADATA_XML)
    }

    pub fn from_xml(xml: &str) -> Result<Model, ModelError> {
        parse::parse(xml)
    }

    pub fn entity_sets(&self) -> &[EntitySet] {
        &self.entity_sets
    }

    pub fn entity_set(&self, name: &str) -> Option<&EntitySet> {
        self.by_name
            .get(name)
            .and_then(|&i| self.entity_sets.get(i))
    }

    /// The id of the set called `name`.
    pub fn set_id(&self, name: &str) -> Option<SetId> {
        self.by_name.get(name).map(|&i| SetId(i))
    }

    /// The set `id` names, if this model has it.
    pub fn set(&self, id: SetId) -> Option<&EntitySet> {
        self.entity_sets.get(id.0)
    }

    /// The qualified type name written in `@odata.type`, e.g. `#ccfeed.Call`.
    pub fn qualified_type(&self, set: &EntitySet) -> String {
        format!("{}.{}", self.namespace, set.type_name)
    }
}

/// `channelId` -> `channel_id`, `startedAtUtc` -> `started_at_utc`, `QueueSegments` ->
/// `queue_segments`. The naming rule keeps `Id` and `Utc` as ordinary words, so a plain
/// split before each upper-case letter is exact.
pub fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, ch) in name.chars().enumerate() {
        if ch.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(ch.to_ascii_lowercase());
        } else {
            out.push(ch);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_case_follows_the_naming_rule() {
        assert_eq!(snake_case("channelId"), "channel_id");
        assert_eq!(snake_case("startedAtUtc"), "started_at_utc");
        assert_eq!(snake_case("QueueSegments"), "queue_segments");
        assert_eq!(snake_case("id"), "id");
    }

    #[test]
    fn an_id_of_another_set_or_past_the_end_names_nothing() {
        let model = Model::load().unwrap();
        let calls = model.entity_set("Calls").unwrap();
        let queues = model.entity_set("Queues").unwrap();
        // Calls has a property at the position of Queues' key, but that id is not its.
        assert!(queues.key.index() < calls.properties.len());
        assert!(calls.property_at(queues.key).is_none());
        assert_eq!(queues.property_at(queues.key).unwrap().name, "id");
        let past = PropertyId {
            set: calls.id(),
            index: calls.properties.len(),
        };
        assert!(calls.property_at(past).is_none());
        assert!(model.set(SetId(model.entity_sets().len())).is_none());
        assert_eq!(model.set(calls.id()).unwrap().name, "Calls");
        let started = calls.property_id("startedAt").unwrap();
        let twin = calls.property_at(started).unwrap().utc_twin.unwrap();
        assert_eq!(calls.property_at(twin).unwrap().name, "startedAtUtc");
        assert!(queues.property_at(twin).is_none());
    }

    #[test]
    fn the_shipped_model_loads_and_is_consistent() {
        let model = Model::load().expect("metadata/ccfeed.xml must load");
        assert_eq!(model.entity_sets().len(), 28);
        for set in model.entity_sets() {
            assert_eq!(set.key_property().name, "id", "{}", set.name);
            assert!(
                !set.description.is_empty(),
                "{} has no description",
                set.name
            );
            for p in &set.properties {
                assert!(
                    !p.description.is_empty(),
                    "{}.{} has no description",
                    set.name,
                    p.name
                );
                for (value, description) in p.allowed_values_described() {
                    assert!(
                        !description.is_empty(),
                        "{}.{} = {value} has no description",
                        set.name,
                        p.name
                    );
                }
            }
            for nav in &set.navigations {
                assert!(
                    model.entity_set(&nav.target_set).is_some(),
                    "{}.{}",
                    set.name,
                    nav.name
                );
                for (dep, princ) in &nav.constraints {
                    assert!(
                        set.property(dep).is_some(),
                        "{}.{} -> {dep}",
                        set.name,
                        nav.name
                    );
                    let target = model.entity_set(&nav.target_set).unwrap();
                    assert!(
                        target.property(princ).is_some(),
                        "{}.{} -> {princ}",
                        set.name,
                        nav.name
                    );
                }
            }
        }
    }
}
