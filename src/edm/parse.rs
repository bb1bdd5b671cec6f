//! CSDL XML → [`Model`]. Reads only the constructs the feed uses (entity types with
//! one key, primitive properties, navigation properties with referential constraints,
//! one entity container, `Core.Description` and `Validation.AllowedValues`) and rejects
//! anything it would otherwise have to ignore silently, such as an unsupported type.

use std::collections::HashMap;

use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;

use super::{
    EdmType, EntitySet, Model, Navigation, Property, PropertyId, SetId, Storage, snake_case,
};

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("metadata XML is malformed at byte {position}: {message}")]
    Xml { position: u64, message: String },
    #[error("metadata: {0}")]
    Invalid(String),
}

fn invalid(msg: impl Into<String>) -> ModelError {
    ModelError::Invalid(msg.into())
}

#[derive(Default)]
struct TypeDraft {
    name: String,
    key: Option<String>,
    description: String,
    properties: Vec<Property>,
    navigations: Vec<Navigation>,
}

#[derive(Default)]
struct SetDraft {
    name: String,
    entity_type: String,
    description: String,
    bindings: HashMap<String, String>,
}

/// What the innermost open element is, so annotations attach to the right thing.
#[derive(Clone, Copy, PartialEq)]
enum Scope {
    Other,
    EntityType,
    Property,
    Navigation,
    EntitySet,
    AllowedValues,
    /// One `Record` of an `AllowedValues` collection.
    AllowedValue,
}

fn attrs(e: &BytesStart<'_>) -> Result<HashMap<String, String>, ModelError> {
    let mut out = HashMap::new();
    for attr in e.attributes() {
        let attr = attr.map_err(|err| invalid(format!("bad attribute: {err}")))?;
        let key = attr.key.as_ref().to_string();
        let value = attr
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|err| invalid(format!("bad attribute value: {err}")))?;
        out.insert(key, value.into_owned());
    }
    Ok(out)
}

fn required<'a>(
    a: &'a HashMap<String, String>,
    key: &str,
    what: &str,
) -> Result<&'a str, ModelError> {
    a.get(key)
        .map(String::as_str)
        .ok_or_else(|| invalid(format!("{what} without {key}")))
}

pub(super) fn parse(xml: &str) -> Result<Model, ModelError> {
    let mut reader = Reader::from_str(xml);
    reader.config_mut().trim_text(true);

    let mut namespace = String::new();
    let mut container = String::new();
    let mut types: Vec<TypeDraft> = Vec::new();
    let mut sets: Vec<SetDraft> = Vec::new();
    let mut stack: Vec<Scope> = Vec::new();
    let mut in_container = false;

    loop {
        let event = reader.read_event().map_err(|err| ModelError::Xml {
            position: reader.buffer_position(),
            message: err.to_string(),
        })?;
        let (element, is_empty) = match &event {
            Event::Start(e) => (e.clone(), false),
            Event::Empty(e) => (e.clone(), true),
            Event::End(e) => {
                if e.local_name().as_ref() == "EntityContainer" {
                    in_container = false;
                }
                stack.pop();
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        let a = attrs(&element)?;
        let parent = stack.last().copied().unwrap_or(Scope::Other);
        let scope = match element.local_name().as_ref() {
            "Schema" => {
                namespace = required(&a, "Namespace", "Schema")?.to_string();
                Scope::Other
            }
            "EntityType" => {
                types.push(TypeDraft {
                    name: required(&a, "Name", "EntityType")?.to_string(),
                    ..TypeDraft::default()
                });
                Scope::EntityType
            }
            "PropertyRef" => {
                let t = types
                    .last_mut()
                    .ok_or_else(|| invalid("PropertyRef outside EntityType"))?;
                if t.key.is_some() {
                    return Err(invalid(format!(
                        "{}: composite keys are not supported",
                        t.name
                    )));
                }
                t.key = Some(required(&a, "Name", "PropertyRef")?.to_string());
                Scope::Other
            }
            "Property" if parent == Scope::EntityType => {
                let t = types
                    .last_mut()
                    .ok_or_else(|| invalid("Property outside EntityType"))?;
                let name = required(&a, "Name", "Property")?.to_string();
                let type_name = required(&a, "Type", "Property")?;
                let ty = EdmType::from_qualified(type_name).ok_or_else(|| {
                    invalid(format!("{}.{name}: unsupported type {type_name}", t.name))
                })?;
                t.properties.push(Property {
                    column: snake_case(&name),
                    name,
                    ty,
                    nullable: a.get("Nullable").map(String::as_str) != Some("false"),
                    storage: Storage::Plain,
                    utc_twin: None,
                    description: String::new(),
                    allowed_values: Vec::new(),
                    allowed_value_descriptions: Vec::new(),
                });
                Scope::Property
            }
            "NavigationProperty" => {
                let t = types
                    .last_mut()
                    .ok_or_else(|| invalid("NavigationProperty outside EntityType"))?;
                let name = required(&a, "Name", "NavigationProperty")?.to_string();
                let type_name = required(&a, "Type", "NavigationProperty")?;
                let (collection, target) = match type_name
                    .strip_prefix("Collection(")
                    .and_then(|s| s.strip_suffix(')'))
                {
                    Some(inner) => (true, inner),
                    None => (false, type_name),
                };
                let target_type = target.rsplit('.').next().unwrap_or(target).to_string();
                t.navigations.push(Navigation {
                    name,
                    target_set: String::new(),
                    target_type,
                    collection,
                    partner: a.get("Partner").cloned(),
                    constraints: Vec::new(),
                    description: String::new(),
                });
                Scope::Navigation
            }
            "ReferentialConstraint" => {
                let nav = types
                    .last_mut()
                    .and_then(|t| t.navigations.last_mut())
                    .ok_or_else(|| invalid("ReferentialConstraint outside NavigationProperty"))?;
                nav.constraints.push((
                    required(&a, "Property", "ReferentialConstraint")?.to_string(),
                    required(&a, "ReferencedProperty", "ReferentialConstraint")?.to_string(),
                ));
                Scope::Other
            }
            "EntityContainer" => {
                container = required(&a, "Name", "EntityContainer")?.to_string();
                in_container = true;
                Scope::Other
            }
            "EntitySet" if in_container => {
                let qualified = required(&a, "EntityType", "EntitySet")?;
                sets.push(SetDraft {
                    name: required(&a, "Name", "EntitySet")?.to_string(),
                    entity_type: qualified
                        .rsplit('.')
                        .next()
                        .unwrap_or(qualified)
                        .to_string(),
                    ..SetDraft::default()
                });
                Scope::EntitySet
            }
            "NavigationPropertyBinding" => {
                let set = sets
                    .last_mut()
                    .ok_or_else(|| invalid("binding outside EntitySet"))?;
                set.bindings.insert(
                    required(&a, "Path", "NavigationPropertyBinding")?.to_string(),
                    required(&a, "Target", "NavigationPropertyBinding")?.to_string(),
                );
                Scope::Other
            }
            "Annotation" => {
                let term = a.get("Term").map(String::as_str).unwrap_or_default();
                if term == "Core.Description" {
                    let text = a.get("String").cloned().unwrap_or_default();
                    attach_description(parent, &mut types, &mut sets, text);
                    Scope::Other
                } else if term == "Validation.AllowedValues" && parent == Scope::Property {
                    Scope::AllowedValues
                } else {
                    Scope::Other
                }
            }
            // Each record is one allowed value: its slot opens here, and the value and
            // its description fill it in whichever order they come.
            "Record" if parent == Scope::AllowedValues => {
                if let Some(p) = types.last_mut().and_then(|t| t.properties.last_mut()) {
                    p.allowed_values.push(String::new());
                    p.allowed_value_descriptions.push(String::new());
                }
                Scope::AllowedValue
            }
            "PropertyValue" if parent == Scope::AllowedValue => {
                if a.get("Property").map(String::as_str) == Some("Value")
                    && let Some(value) = a.get("String")
                    && let Some(slot) = types
                        .last_mut()
                        .and_then(|t| t.properties.last_mut())
                        .and_then(|p| p.allowed_values.last_mut())
                {
                    *slot = value.clone();
                }
                Scope::Other
            }
            _ if parent == Scope::AllowedValues => Scope::AllowedValues,
            _ => Scope::Other,
        };
        if !is_empty {
            stack.push(scope);
        }
    }
    assemble(namespace, container, types, sets)
}

fn attach_description(parent: Scope, types: &mut [TypeDraft], sets: &mut [SetDraft], text: String) {
    match parent {
        Scope::EntityType => {
            if let Some(t) = types.last_mut() {
                t.description = text;
            }
        }
        Scope::Property => {
            if let Some(p) = types.last_mut().and_then(|t| t.properties.last_mut()) {
                p.description = text;
            }
        }
        Scope::Navigation => {
            if let Some(n) = types.last_mut().and_then(|t| t.navigations.last_mut()) {
                n.description = text;
            }
        }
        Scope::EntitySet => {
            if let Some(s) = sets.last_mut() {
                s.description = text;
            }
        }
        Scope::AllowedValue => {
            if let Some(slot) = types
                .last_mut()
                .and_then(|t| t.properties.last_mut())
                .and_then(|p| p.allowed_value_descriptions.last_mut())
            {
                *slot = text;
            }
        }
        Scope::Other | Scope::AllowedValues => {}
    }
}

fn assemble(
    namespace: String,
    container: String,
    types: Vec<TypeDraft>,
    sets: Vec<SetDraft>,
) -> Result<Model, ModelError> {
    if namespace.is_empty() || container.is_empty() {
        return Err(invalid("no Schema namespace or EntityContainer"));
    }
    let mut types: HashMap<String, TypeDraft> =
        types.into_iter().map(|t| (t.name.clone(), t)).collect();
    // Which set holds each type, so navigation targets resolve without bindings too.
    let set_of_type: HashMap<String, String> = sets
        .iter()
        .map(|s| (s.entity_type.clone(), s.name.clone()))
        .collect();

    let mut entity_sets = Vec::with_capacity(sets.len());
    for (set_index, draft) in sets.into_iter().enumerate() {
        let id = super::SetId(set_index);
        let t = types.remove(&draft.entity_type).ok_or_else(|| {
            invalid(format!(
                "{}: unknown or shared entity type {}",
                draft.name, draft.entity_type
            ))
        })?;
        let key_name = t
            .key
            .ok_or_else(|| invalid(format!("{}: no key", t.name)))?;
        let mut properties = t.properties;
        let by_name: HashMap<String, usize> = properties
            .iter()
            .enumerate()
            .map(|(i, p)| (p.name.clone(), i))
            .collect();
        if by_name.len() != properties.len() {
            return Err(invalid(format!("{}: duplicate property names", t.name)));
        }
        let key = by_name
            .get(&key_name)
            .map(|&index| PropertyId { set: id, index })
            .ok_or_else(|| invalid(format!("{}: key {key_name} is not a property", t.name)))?;
        if let Some(p) = properties
            .iter()
            .find(|p| p.allowed_values.iter().any(String::is_empty))
        {
            return Err(invalid(format!(
                "{}.{}: an allowed value has no Value",
                t.name, p.name
            )));
        }
        classify_timestamps(&mut properties, &by_name, id);

        let mut navigations = t.navigations;
        for nav in &mut navigations {
            nav.target_set = match draft.bindings.get(&nav.name) {
                Some(target) => target.clone(),
                None => set_of_type.get(&nav.target_type).cloned().ok_or_else(|| {
                    invalid(format!(
                        "{}.{}: no entity set holds {}",
                        t.name, nav.name, nav.target_type
                    ))
                })?,
            };
        }
        entity_sets.push(EntitySet {
            table: snake_case(&draft.name),
            name: draft.name,
            type_name: t.name,
            description: if draft.description.is_empty() {
                t.description
            } else {
                draft.description
            },
            properties,
            key,
            navigations,
            id,
            by_name,
        });
    }
    let by_name = entity_sets
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.clone(), i))
        .collect();
    Ok(Model {
        namespace,
        container,
        entity_sets,
        by_name,
    })
}

/// A timestamp `X` with a sibling `XUtc` is the tenant-local rendering of that instant;
/// every other timestamp is a UTC instant.
fn classify_timestamps(properties: &mut [Property], by_name: &HashMap<String, usize>, set: SetId) {
    for p in properties
        .iter_mut()
        .filter(|p| p.ty == EdmType::DateTimeOffset)
    {
        match by_name.get(&format!("{}Utc", p.name)) {
            Some(&index) => {
                p.storage = Storage::LocalText;
                p.utc_twin = Some(PropertyId { set, index });
            }
            None => p.storage = Storage::UtcInstant,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">
  <edmx:DataServices>
    <Schema Namespace="t" xmlns="http://docs.oasis-open.org/odata/ns/edm">
      <EntityType Name="Call">
        <Key><PropertyRef Name="id"/></Key>
        <Property Name="id" Type="Edm.String" Nullable="false">
          <Annotation Term="Core.Description" String="The key &amp; more"/>
        </Property>
        <Property Name="startedAt" Type="Edm.DateTimeOffset"/>
        <Property Name="startedAtUtc" Type="Edm.DateTimeOffset" Nullable="false"/>
        <Property Name="result" Type="Edm.String">
          <Annotation Term="Validation.AllowedValues">
            <Collection>
              <Record><PropertyValue Property="Value" String="Ok"/>
                <Annotation Term="Core.Description" String="not the property's"/></Record>
              <Record><PropertyValue Property="Value" String="Failed"/></Record>
            </Collection>
          </Annotation>
          <Annotation Term="Core.Description" String="Outcome"/>
        </Property>
        <Property Name="queueId" Type="Edm.String"/>
        <NavigationProperty Name="Queue" Type="t.Queue">
          <ReferentialConstraint Property="queueId" ReferencedProperty="id"/>
        </NavigationProperty>
      </EntityType>
      <EntityType Name="Queue">
        <Key><PropertyRef Name="id"/></Key>
        <Property Name="id" Type="Edm.String" Nullable="false"/>
        <Property Name="deletedAt" Type="Edm.DateTimeOffset"/>
      </EntityType>
      <EntityContainer Name="Feed">
        <EntitySet Name="Calls" EntityType="t.Call">
          <NavigationPropertyBinding Path="Queue" Target="Queues"/>
          <Annotation Term="Core.Description" String="All calls"/>
        </EntitySet>
        <EntitySet Name="Queues" EntityType="t.Queue"/>
      </EntityContainer>
    </Schema>
  </edmx:DataServices>
</edmx:Edmx>"#;

    #[test]
    fn reads_types_descriptions_and_allowed_values() {
        let m = parse(SMALL).unwrap();
        let calls = m.entity_set("Calls").unwrap();
        assert_eq!(calls.table, "calls");
        assert_eq!(calls.description, "All calls");
        assert_eq!(calls.property("id").unwrap().description, "The key & more");
        assert!(!calls.property("id").unwrap().nullable);
        let result = calls.property("result").unwrap();
        assert_eq!(result.allowed_values, vec!["Ok", "Failed"]);
        assert_eq!(
            result.allowed_values_described().collect::<Vec<_>>(),
            vec![("Ok", "not the property's"), ("Failed", "")]
        );
        assert_eq!(result.description, "Outcome");
        assert_eq!(
            calls.property("startedAt").unwrap().storage,
            Storage::LocalText
        );
        assert_eq!(
            calls.property("startedAtUtc").unwrap().storage,
            Storage::UtcInstant
        );
        assert_eq!(
            calls.property("startedAt").unwrap().utc_twin,
            calls.property_id("startedAtUtc")
        );
        let nav = calls.navigation("Queue").unwrap();
        assert_eq!(nav.target_set, "Queues");
        assert_eq!(
            nav.constraints,
            vec![("queueId".to_string(), "id".to_string())]
        );
        assert!(m.entity_set("Queues").unwrap().is_lookup());
        assert!(!calls.is_lookup());
    }

    #[test]
    fn rejects_unsupported_types_and_missing_keys() {
        let bad_type = SMALL.replace(
            "Name=\"queueId\" Type=\"Edm.String\"",
            "Name=\"queueId\" Type=\"Edm.Stream\"",
        );
        assert!(
            parse(&bad_type)
                .unwrap_err()
                .to_string()
                .contains("unsupported type")
        );
        let no_key = SMALL.replacen("<Key><PropertyRef Name=\"id\"/></Key>", "", 1);
        assert!(parse(&no_key).unwrap_err().to_string().contains("no key"));
        assert!(parse("<not xml").is_err());
    }
}
