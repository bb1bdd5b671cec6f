//! CSDL XML → CSDL JSON (OData CSDL JSON Representation 4.01), for clients that ask
//! for `$metadata` as JSON.
//!
//! The JSON is converted from the served XML document, element by element, so the
//! two can never describe different models. Only the constructs the document uses
//! are converted (references, one schema, entity types with keys, properties and
//! navigation properties, one entity container, and annotations whose values are
//! constants, collections and records); anything else is an error, caught by the
//! test suite, rather than silently left out.

use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;
use serde_json::{Map, Value, json};

use super::ModelError;

/// One XML element: local name, attributes and child elements (the document uses
/// no text content outside `<String>` collection items).
#[derive(Debug, Default)]
struct Element {
    name: String,
    attrs: Vec<(String, String)>,
    text: String,
    children: Vec<Element>,
}

impl Element {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn required(&self, name: &str) -> Result<&str, ModelError> {
        self.attr(name)
            .ok_or_else(|| unsupported(format!("{} without {name}", self.name)))
    }
}

fn unsupported(message: impl Into<String>) -> ModelError {
    ModelError::Invalid(format!("CSDL JSON: {}", message.into()))
}

fn element(e: &BytesStart<'_>) -> Result<Element, ModelError> {
    let name = e.local_name().as_ref().to_string();
    let mut attrs = Vec::new();
    for attr in e.attributes() {
        let attr = attr.map_err(|err| unsupported(format!("bad attribute: {err}")))?;
        let key = attr.key.as_ref().to_string();
        if key == "xmlns" || key.starts_with("xmlns:") {
            continue;
        }
        let value = attr
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|err| unsupported(format!("bad attribute value: {err}")))?;
        attrs.push((key, value.into_owned()));
    }
    Ok(Element {
        name,
        attrs,
        ..Element::default()
    })
}

fn read_tree(xml: &str) -> Result<Element, ModelError> {
    let mut reader = Reader::from_str(xml);
    reader.config_mut().trim_text(true);
    let mut stack: Vec<Element> = vec![Element::default()];
    loop {
        let event = reader.read_event().map_err(|err| ModelError::Xml {
            position: reader.buffer_position(),
            message: err.to_string(),
        })?;
        match event {
            Event::Start(e) => stack.push(element(&e)?),
            Event::Empty(e) => {
                let done = element(&e)?;
                if let Some(parent) = stack.last_mut() {
                    parent.children.push(done);
                }
            }
            Event::Text(t) => {
                if let Some(current) = stack.last_mut() {
                    current.text.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                // Entity references inside `<String>` text (`&amp;` and friends).
                if let Some(current) = stack.last_mut() {
                    if let Ok(Some(ch)) = r.resolve_char_ref() {
                        current.text.push(ch);
                        continue;
                    }
                    let name = r.xml10_content();
                    let ch = match name.as_ref() {
                        "amp" => '&',
                        "lt" => '<',
                        "gt" => '>',
                        "quot" => '"',
                        "apos" => '\'',
                        other => return Err(unsupported(format!("entity &{other};"))),
                    };
                    current.text.push(ch);
                }
            }
            Event::End(_) => {
                let done = stack
                    .pop()
                    .ok_or_else(|| unsupported("unbalanced document"))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => return Err(unsupported("unbalanced document")),
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let mut document = stack
        .pop()
        .filter(|_| stack.is_empty())
        .ok_or_else(|| unsupported("unbalanced document"))?;
    document
        .children
        .pop()
        .filter(|root| root.name == "Edmx")
        .ok_or_else(|| unsupported("the document is not an edmx:Edmx"))
}

/// Converts a CSDL XML document into its CSDL JSON representation.
pub fn to_json(xml: &str) -> Result<Value, ModelError> {
    let root = read_tree(xml)?;
    let mut doc = Map::new();
    doc.insert("$Version".into(), json!(root.required("Version")?));
    let mut references = Map::new();
    // Alias or namespace → the reference URI that defines it (for record `@type`s).
    let mut vocabularies: Vec<(String, String, String)> = Vec::new();
    let mut schemas: Vec<(String, Value)> = Vec::new();
    let mut container: Option<String> = None;
    for child in &root.children {
        match child.name.as_str() {
            "Reference" => {
                let uri = child.required("Uri")?;
                let mut includes = Vec::new();
                for include in &child.children {
                    if include.name != "Include" {
                        return Err(unsupported(format!("{} in a reference", include.name)));
                    }
                    let namespace = include.required("Namespace")?;
                    let mut item = Map::new();
                    item.insert("$Namespace".into(), json!(namespace));
                    if let Some(alias) = include.attr("Alias") {
                        item.insert("$Alias".into(), json!(alias));
                        vocabularies.push((alias.into(), namespace.into(), uri.into()));
                    }
                    vocabularies.push((namespace.into(), namespace.into(), uri.into()));
                    includes.push(Value::Object(item));
                }
                references.insert(uri.into(), json!({ "$Include": includes }));
            }
            "DataServices" => {
                for schema in &child.children {
                    if schema.name != "Schema" {
                        return Err(unsupported(format!("{} in DataServices", schema.name)));
                    }
                    let namespace = schema.required("Namespace")?;
                    let ctx = Context {
                        vocabularies: &vocabularies,
                    };
                    let (value, found) = ctx.schema(schema)?;
                    if let Some(name) = found {
                        container = Some(format!("{namespace}.{name}"));
                    }
                    schemas.push((namespace.into(), value));
                }
            }
            other => return Err(unsupported(format!("{other} in edmx:Edmx"))),
        }
    }
    if !references.is_empty() {
        doc.insert("$Reference".into(), Value::Object(references));
    }
    if let Some(container) = container {
        doc.insert("$EntityContainer".into(), json!(container));
    }
    for (namespace, schema) in schemas {
        doc.insert(namespace, schema);
    }
    Ok(Value::Object(doc))
}

struct Context<'a> {
    /// (alias or namespace, namespace, reference URI)
    vocabularies: &'a [(String, String, String)],
}

impl Context<'_> {
    /// A schema object, and the name of its entity container if it has one.
    fn schema(&self, schema: &Element) -> Result<(Value, Option<String>), ModelError> {
        let mut out = Map::new();
        if let Some(alias) = schema.attr("Alias") {
            out.insert("$Alias".into(), json!(alias));
        }
        let mut container = None;
        for child in &schema.children {
            match child.name.as_str() {
                "EntityType" => {
                    out.insert(child.required("Name")?.into(), self.entity_type(child)?);
                }
                "EntityContainer" => {
                    let name = child.required("Name")?;
                    out.insert(name.into(), self.container(child)?);
                    container = Some(name.to_string());
                }
                "Annotation" => self.annotate(&mut out, child)?,
                other => return Err(unsupported(format!("{other} in a schema"))),
            }
        }
        Ok((Value::Object(out), container))
    }

    fn entity_type(&self, t: &Element) -> Result<Value, ModelError> {
        let mut out = Map::new();
        out.insert("$Kind".into(), json!("EntityType"));
        for (attr, member) in [
            ("BaseType", "$BaseType"),
            ("Abstract", "$Abstract"),
            ("OpenType", "$OpenType"),
            ("HasStream", "$HasStream"),
        ] {
            if let Some(v) = t.attr(attr) {
                let value = match member {
                    "$BaseType" => json!(v),
                    _ => json!(v == "true"),
                };
                out.insert(member.into(), value);
            }
        }
        for child in &t.children {
            match child.name.as_str() {
                "Key" => {
                    let names: Vec<Value> = child
                        .children
                        .iter()
                        .map(|r| r.required("Name").map(|n| json!(n)))
                        .collect::<Result<_, _>>()?;
                    out.insert("$Key".into(), Value::Array(names));
                }
                "Property" => {
                    out.insert(child.required("Name")?.into(), self.property(child)?);
                }
                "NavigationProperty" => {
                    out.insert(child.required("Name")?.into(), self.navigation(child)?);
                }
                "Annotation" => self.annotate(&mut out, child)?,
                other => return Err(unsupported(format!("{other} in an entity type"))),
            }
        }
        Ok(Value::Object(out))
    }

    fn property(&self, p: &Element) -> Result<Value, ModelError> {
        let mut out = Map::new();
        let (collection, ty) = type_of(p.required("Type")?);
        if collection {
            out.insert("$Collection".into(), json!(true));
        }
        if ty != "Edm.String" {
            out.insert("$Type".into(), json!(ty));
        }
        // XML properties are nullable unless they say otherwise; JSON the reverse.
        if p.attr("Nullable") != Some("false") {
            out.insert("$Nullable".into(), json!(true));
        }
        for (attr, member) in [
            ("MaxLength", "$MaxLength"),
            ("Precision", "$Precision"),
            ("Scale", "$Scale"),
            ("SRID", "$SRID"),
        ] {
            if let Some(v) = p.attr(attr) {
                let value = v.parse::<u64>().map_or_else(|_| json!(v), |n| json!(n));
                out.insert(member.into(), value);
            }
        }
        if let Some(v) = p.attr("Unicode") {
            out.insert("$Unicode".into(), json!(v == "true"));
        }
        if let Some(v) = p.attr("DefaultValue") {
            out.insert("$DefaultValue".into(), typed_default(ty, v));
        }
        for child in &p.children {
            match child.name.as_str() {
                "Annotation" => self.annotate(&mut out, child)?,
                other => return Err(unsupported(format!("{other} in a property"))),
            }
        }
        Ok(Value::Object(out))
    }

    fn navigation(&self, n: &Element) -> Result<Value, ModelError> {
        let mut out = Map::new();
        out.insert("$Kind".into(), json!("NavigationProperty"));
        let (collection, ty) = type_of(n.required("Type")?);
        if collection {
            out.insert("$Collection".into(), json!(true));
        } else if n.attr("Nullable") != Some("false") {
            out.insert("$Nullable".into(), json!(true));
        }
        out.insert("$Type".into(), json!(ty));
        if let Some(partner) = n.attr("Partner") {
            out.insert("$Partner".into(), json!(partner));
        }
        if n.attr("ContainsTarget") == Some("true") {
            out.insert("$ContainsTarget".into(), json!(true));
        }
        let mut constraints = Map::new();
        for child in &n.children {
            match child.name.as_str() {
                "ReferentialConstraint" => {
                    constraints.insert(
                        child.required("Property")?.into(),
                        json!(child.required("ReferencedProperty")?),
                    );
                }
                "Annotation" => self.annotate(&mut out, child)?,
                other => {
                    return Err(unsupported(format!("{other} in a navigation property")));
                }
            }
        }
        if !constraints.is_empty() {
            out.insert("$ReferentialConstraint".into(), Value::Object(constraints));
        }
        Ok(Value::Object(out))
    }

    fn container(&self, c: &Element) -> Result<Value, ModelError> {
        let mut out = Map::new();
        out.insert("$Kind".into(), json!("EntityContainer"));
        for child in &c.children {
            match child.name.as_str() {
                "EntitySet" => {
                    let mut set = Map::new();
                    set.insert("$Collection".into(), json!(true));
                    set.insert("$Type".into(), json!(child.required("EntityType")?));
                    if child.attr("IncludeInServiceDocument") == Some("false") {
                        set.insert("$IncludeInServiceDocument".into(), json!(false));
                    }
                    let mut bindings = Map::new();
                    for item in &child.children {
                        match item.name.as_str() {
                            "NavigationPropertyBinding" => {
                                bindings.insert(
                                    item.required("Path")?.into(),
                                    json!(item.required("Target")?),
                                );
                            }
                            "Annotation" => self.annotate(&mut set, item)?,
                            other => {
                                return Err(unsupported(format!("{other} in an entity set")));
                            }
                        }
                    }
                    if !bindings.is_empty() {
                        set.insert("$NavigationPropertyBinding".into(), Value::Object(bindings));
                    }
                    out.insert(child.required("Name")?.into(), Value::Object(set));
                }
                "Annotation" => self.annotate(&mut out, child)?,
                other => return Err(unsupported(format!("{other} in the entity container"))),
            }
        }
        Ok(Value::Object(out))
    }

    /// Adds `@Term` (or `@Term#Qualifier`) with the annotation's value to `target`.
    fn annotate(&self, target: &mut Map<String, Value>, a: &Element) -> Result<(), ModelError> {
        let mut key = format!("@{}", a.required("Term")?);
        if let Some(q) = a.attr("Qualifier") {
            key.push('#');
            key.push_str(q);
        }
        let value = self.expression(a, &["Term", "Qualifier"])?;
        target.insert(key, value);
        Ok(())
    }

    /// The value of an annotation or property value: a constant attribute, or its one
    /// child expression; neither means the default `true` of a tag term.
    fn expression(&self, e: &Element, skip: &[&str]) -> Result<Value, ModelError> {
        let constants: Vec<&(String, String)> = e
            .attrs
            .iter()
            .filter(|(k, _)| !skip.contains(&k.as_str()))
            .collect();
        let expressions: Vec<&Element> = e
            .children
            .iter()
            .filter(|c| c.name != "Annotation")
            .collect();
        if e.children.iter().any(|c| c.name == "Annotation") {
            return Err(unsupported(format!("annotations inside {}", e.name)));
        }
        match (constants.as_slice(), expressions.as_slice()) {
            ([], []) => Ok(json!(true)),
            ([(kind, text)], []) => constant(kind, text),
            ([], [child]) => self.dynamic(child),
            _ => Err(unsupported(format!("{} with more than one value", e.name))),
        }
    }

    fn dynamic(&self, e: &Element) -> Result<Value, ModelError> {
        match e.name.as_str() {
            "Collection" => e
                .children
                .iter()
                .map(|item| self.dynamic(item))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            "Record" => {
                let mut out = Map::new();
                if let Some(ty) = e.attr("Type") {
                    out.insert("@type".into(), json!(self.type_uri(ty)?));
                }
                for child in &e.children {
                    match child.name.as_str() {
                        "PropertyValue" => {
                            let value = self.expression(child, &["Property"])?;
                            out.insert(child.required("Property")?.into(), value);
                        }
                        "Annotation" => self.annotate(&mut out, child)?,
                        other => return Err(unsupported(format!("{other} in a record"))),
                    }
                }
                Ok(Value::Object(out))
            }
            kind => constant(kind, &e.text),
        }
    }

    /// `Validation.AllowedValue` → the vocabulary's URI with the qualified type name
    /// as its fragment, as CSDL JSON writes a record's type.
    fn type_uri(&self, qualified: &str) -> Result<String, ModelError> {
        let (prefix, name) = qualified
            .rsplit_once('.')
            .ok_or_else(|| unsupported(format!("record type {qualified}")))?;
        self.vocabularies
            .iter()
            .find(|(alias, _, _)| alias == prefix)
            .map(|(_, namespace, uri)| format!("{uri}#{namespace}.{name}"))
            .ok_or_else(|| unsupported(format!("record type {qualified} of no reference")))
    }
}

/// `Collection(ns.T)` → (true, `ns.T`).
fn type_of(ty: &str) -> (bool, &str) {
    match ty
        .strip_prefix("Collection(")
        .and_then(|t| t.strip_suffix(')'))
    {
        Some(inner) => (true, inner),
        None => (false, ty),
    }
}

fn typed_default(ty: &str, v: &str) -> Value {
    match ty {
        "Edm.Boolean" => json!(v == "true"),
        "Edm.Int16" | "Edm.Int32" | "Edm.Int64" | "Edm.Byte" | "Edm.SByte" => {
            v.parse::<i64>().map_or_else(|_| json!(v), |n| json!(n))
        }
        _ => json!(v),
    }
}

fn constant(kind: &str, text: &str) -> Result<Value, ModelError> {
    Ok(match kind {
        "String" | "EnumMember" | "Date" | "DateTimeOffset" | "Duration" | "Guid" | "TimeOfDay" => {
            json!(text)
        }
        "Bool" => json!(text == "true"),
        "Int" => text
            .parse::<i64>()
            .map(|n| json!(n))
            .map_err(|_| unsupported(format!("Int value {text}")))?,
        "Path" => json!({ "$Path": text }),
        "PropertyPath" => json!({ "$PropertyPath": text }),
        "NavigationPropertyPath" => json!({ "$NavigationPropertyPath": text }),
        other => return Err(unsupported(format!("{other} expression"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_the_constructs_of_the_model() {
        let xml = r#"<?xml version="1.0" encoding="utf-8"?>
<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">
  <edmx:Reference Uri="https://example.org/Org.OData.Validation.V1.xml">
    <edmx:Include Namespace="Org.OData.Validation.V1" Alias="Validation"/>
  </edmx:Reference>
  <edmx:DataServices>
    <Schema xmlns="http://docs.oasis-open.org/odata/ns/edm" Namespace="ns">
      <EntityType Name="Call">
        <Key><PropertyRef Name="id"/></Key>
        <Property Name="id" Type="Edm.String" Nullable="false">
          <Annotation Term="Core.Description" String="The key &amp; more"/>
        </Property>
        <Property Name="at" Type="Edm.DateTimeOffset" Precision="3"/>
        <Property Name="result" Type="Edm.String">
          <Annotation Term="Validation.AllowedValues">
            <Collection>
              <Record Type="Validation.AllowedValue"><PropertyValue Property="Value" String="Ok"/>
                <Annotation Term="Core.Description" String="fine"/></Record>
            </Collection>
          </Annotation>
        </Property>
        <NavigationProperty Name="Queue" Type="ns.Queue">
          <ReferentialConstraint Property="queueId" ReferencedProperty="id"/>
        </NavigationProperty>
        <NavigationProperty Name="Parts" Type="Collection(ns.Part)"/>
      </EntityType>
      <EntityContainer Name="Feed">
        <EntitySet Name="Calls" EntityType="ns.Call">
          <NavigationPropertyBinding Path="Queue" Target="Queues"/>
        </EntitySet>
        <Annotation Term="Capabilities.TopSupported" Bool="true"/>
        <Annotation Term="Capabilities.FilterFunctions"><Collection><String>eq</String></Collection></Annotation>
      </EntityContainer>
    </Schema>
  </edmx:DataServices>
</edmx:Edmx>"#;
        let doc = to_json(xml).unwrap();
        assert_eq!(doc["$Version"], "4.0");
        assert_eq!(doc["$EntityContainer"], "ns.Feed");
        assert_eq!(
            doc["$Reference"]["https://example.org/Org.OData.Validation.V1.xml"]["$Include"][0]["$Alias"],
            "Validation"
        );
        let call = &doc["ns"]["Call"];
        assert_eq!(call["$Kind"], "EntityType");
        assert_eq!(call["$Key"], json!(["id"]));
        assert_eq!(call["id"], json!({"@Core.Description": "The key & more"}));
        assert_eq!(
            call["at"],
            json!({"$Type": "Edm.DateTimeOffset", "$Nullable": true, "$Precision": 3})
        );
        assert_eq!(
            call["result"]["@Validation.AllowedValues"][0],
            json!({
                "@type": "https://example.org/Org.OData.Validation.V1.xml#Org.OData.Validation.V1.AllowedValue",
                "Value": "Ok",
                "@Core.Description": "fine"
            })
        );
        assert_eq!(
            call["Queue"],
            json!({"$Kind": "NavigationProperty", "$Nullable": true, "$Type": "ns.Queue",
                   "$ReferentialConstraint": {"queueId": "id"}})
        );
        assert_eq!(
            call["Parts"],
            json!({"$Kind": "NavigationProperty", "$Collection": true, "$Type": "ns.Part"})
        );
        let feed = &doc["ns"]["Feed"];
        assert_eq!(
            feed["Calls"],
            json!({"$Collection": true, "$Type": "ns.Call",
                   "$NavigationPropertyBinding": {"Queue": "Queues"}})
        );
        assert_eq!(feed["@Capabilities.TopSupported"], true);
        assert_eq!(feed["@Capabilities.FilterFunctions"], json!(["eq"]));
    }

    #[test]
    fn unknown_constructs_are_errors() {
        let xml = r#"<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx"><edmx:DataServices><Schema Namespace="ns"><ComplexType Name="X"/></Schema></edmx:DataServices></edmx:Edmx>"#;
        assert!(to_json(xml).is_err());
    }
}
