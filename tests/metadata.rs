//! `$metadata` against the official OASIS CSDL schemas and vocabularies in
//! `../shared/oasis/` (skipped with a note where that folder or xmllint is absent):
//! the document as served (the model file with the capabilities placed in it), in
//! both of its representations.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;

use ccfeed::edm::METADATA_XML;
use ccfeed::edm::capabilities::Capabilities;
use quick_xml::events::Event;
use quick_xml::reader::Reader;

/// `$metadata` as a server with the default settings serves it.
fn served_xml() -> String {
    Capabilities {
        max_expand_depth: ccfeed::plan::Limits::default().max_expand_depth,
    }
    .metadata_xml()
}

fn oasis_dir() -> Option<PathBuf> {
    let dir = std::env::var("CCFEED_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"))
        .join("oasis");
    if dir.join("edmx.xsd").exists() {
        Some(dir)
    } else {
        eprintln!(
            "note: skipping: {} has no edmx.xsd (set CCFEED_SHARED to the shared folder)",
            dir.display()
        );
        None
    }
}

#[test]
fn metadata_validates_against_the_oasis_csdl_schema() {
    let Some(dir) = oasis_dir() else { return };
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), served_xml()).expect("write");
    let output = match Command::new("xmllint")
        .args(["--noout", "--nonet", "--schema"])
        .arg(dir.join("edmx.xsd"))
        .arg(file.path())
        .output()
    {
        Ok(o) => o,
        Err(e) => {
            eprintln!(
                "note: skipping: xmllint is not installed ({e}); `apt-get install libxml2-utils`"
            );
            return;
        }
    };
    assert!(
        output.status.success(),
        "xmllint rejected $metadata:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// What a vocabulary file defines: terms with their types, complex types with their
/// base type and property names. Names are qualified with the vocabulary's alias.
#[derive(Default)]
struct Vocabularies {
    terms: HashMap<String, String>,
    types: HashMap<String, (Option<String>, Vec<String>)>,
}

impl Vocabularies {
    fn load(dir: &std::path::Path) -> Vocabularies {
        let mut v = Vocabularies::default();
        for (alias, file) in [
            ("Core", "Org.OData.Core.V1.xml"),
            ("Validation", "Org.OData.Validation.V1.xml"),
            ("Capabilities", "Org.OData.Capabilities.V1.xml"),
            ("Aggregation", "Org.OData.Aggregation.V1.xml"),
        ] {
            let text = std::fs::read_to_string(dir.join(file)).expect("vocabulary");
            let mut reader = Reader::from_str(&text);
            let mut current: Option<String> = None;
            loop {
                let (e, empty) = match reader.read_event().expect("vocabulary XML") {
                    Event::Start(e) => (e, false),
                    Event::Empty(e) => (e, true),
                    Event::End(e) if e.local_name().as_ref() == "ComplexType" => {
                        current = None;
                        continue;
                    }
                    Event::Eof => break,
                    _ => continue,
                };
                let attr = |name: &str| {
                    e.try_get_attribute(name)
                        .ok()
                        .flatten()
                        .map(|a| a.value.to_string())
                };
                match e.local_name().as_ref() {
                    "Term" => {
                        let name = format!("{alias}.{}", attr("Name").expect("term name"));
                        v.terms.insert(name, attr("Type").expect("term type"));
                    }
                    "ComplexType" => {
                        let name = format!("{alias}.{}", attr("Name").expect("type name"));
                        v.types.insert(name.clone(), (attr("BaseType"), Vec::new()));
                        current = (!empty).then_some(name);
                    }
                    "Property" => {
                        if let Some(t) = current.as_ref().and_then(|c| v.types.get_mut(c)) {
                            t.1.push(attr("Name").expect("property name"));
                        }
                    }
                    _ => {}
                }
            }
        }
        v
    }

    /// Whether `ty` is `ancestor` or derives from it.
    fn derives(&self, ty: &str, ancestor: &str) -> bool {
        let mut t = Some(ty.to_string());
        while let Some(name) = t {
            if name == ancestor {
                return true;
            }
            t = self.types.get(&name).and_then(|(base, _)| base.clone());
        }
        false
    }

    fn has_property(&self, ty: &str, property: &str) -> bool {
        let mut t = Some(ty.to_string());
        while let Some(name) = t {
            let Some((base, properties)) = self.types.get(&name) else {
                return false;
            };
            if properties.iter().any(|p| p == property) {
                return true;
            }
            t = base.clone();
        }
        false
    }
}

#[test]
fn every_annotation_uses_an_existing_vocabulary_term() {
    let Some(dir) = oasis_dir() else { return };
    let vocabularies = Vocabularies::load(&dir);
    let xml = served_xml();
    let mut reader = Reader::from_str(&xml);
    // The innermost annotation term and record type, to check what is inside them.
    let mut terms: Vec<String> = Vec::new();
    let mut records: Vec<String> = Vec::new();
    let (mut annotations, mut checked_records) = (0, 0);
    loop {
        let (e, empty) = match reader.read_event().expect("metadata XML") {
            Event::Start(e) => (e, false),
            Event::Empty(e) => (e, true),
            Event::End(e) => {
                match e.local_name().as_ref() {
                    "Annotation" => {
                        terms.pop();
                    }
                    "Record" => {
                        records.pop();
                    }
                    _ => {}
                }
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        let attr = |name: &str| {
            e.try_get_attribute(name)
                .ok()
                .flatten()
                .map(|a| a.value.to_string())
        };
        match e.local_name().as_ref() {
            "Annotation" => {
                annotations += 1;
                let term = attr("Term").expect("Term");
                assert!(
                    vocabularies.terms.contains_key(&term),
                    "unknown vocabulary term {term}"
                );
                if !empty {
                    terms.push(term);
                }
            }
            "Record" => {
                // Every record names its type, and the type fits the term.
                let ty = attr("Type")
                    .unwrap_or_else(|| panic!("a record in {:?} has no Type", terms.last()));
                let term = terms.last().expect("record outside an annotation");
                let term_type = vocabularies.terms[term]
                    .trim_start_matches("Collection(")
                    .trim_end_matches(')')
                    .to_string();
                assert!(
                    vocabularies.derives(&ty, &term_type),
                    "record type {ty} does not fit {term} ({term_type})"
                );
                checked_records += 1;
                if !empty {
                    records.push(ty);
                }
            }
            "PropertyValue" => {
                let property = attr("Property").expect("Property");
                let ty = records.last().expect("property value outside a record");
                assert!(
                    vocabularies.has_property(ty, &property),
                    "{ty} has no property {property}"
                );
            }
            _ => {}
        }
    }
    assert!(
        annotations > 500,
        "expected descriptions everywhere, found {annotations} annotations"
    );
    assert!(checked_records > 100, "{checked_records} records checked");
}

#[test]
fn capabilities_say_what_the_server_does() {
    let xml = Capabilities {
        max_expand_depth: 2,
    }
    .metadata_xml();
    for expected in [
        r#"<Annotation Term="Capabilities.TopSupported" Bool="true"/>"#,
        r#"<Annotation Term="Capabilities.SkipSupported" Bool="true"/>"#,
        r#"<PropertyValue Property="Countable" Bool="true"/>"#,
        r#"<PropertyValue Property="Sortable" Bool="true"/>"#,
        r#"<PropertyValue Property="MaxLevels" Int="2"/>"#,
        r#"<Annotation Term="Capabilities.BatchSupported" Bool="true"/>"#,
        "<String>startswith</String>",
    ] {
        assert!(xml.contains(expected), "missing {expected}");
    }
    // No enum member paths (an invalid one broke Power BI for another server).
    assert!(!xml.contains("EnumMember"));
}

/// A validator for the OASIS CSDL JSON schema, or `None` (with a note) without it.
fn csdl_json_validator() -> Option<jsonschema::Validator> {
    let dir = oasis_dir()?;
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("csdl.schema.json")).expect("csdl.schema.json"),
    )
    .expect("schema JSON");
    // The identifier patterns repeat large Unicode classes up to 127 times, twice
    // nested for qualified names: compiled, that is more than the regex engine's
    // default size limit, so the limit is raised.
    let patterns = jsonschema::PatternOptions::regex().size_limit(1 << 30);
    Some(
        jsonschema::options()
            .with_pattern_options(patterns)
            .build(&schema)
            .expect("the CSDL JSON schema compiles"),
    )
}

#[test]
fn csdl_json_validates_against_the_oasis_schema() {
    let Some(validator) = csdl_json_validator() else {
        return;
    };
    // The validator works: the published sample passes, a broken document fails.
    let dir = oasis_dir().expect("checked above");
    let sample: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("sample-csdl.json")).expect("sample"),
    )
    .expect("sample JSON");
    assert!(validator.is_valid(&sample));
    let json = ccfeed::edm::csdl_json::to_json(&served_xml()).expect("converts");
    let errors: Vec<String> = validator
        .iter_errors(&json)
        .take(10)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "CSDL JSON is invalid:\n{}",
        errors.join("\n")
    );
    let mut broken = json.clone();
    broken["ccfeed"]["Call"]["$Key"] = serde_json::json!("id");
    assert!(!validator.is_valid(&broken));
}

#[test]
fn csdl_json_describes_the_same_model_as_the_xml() {
    let json = ccfeed::edm::csdl_json::to_json(&served_xml()).expect("converts");
    let model = ccfeed::edm::Model::load().expect("model");
    let schema = &json[&model.namespace];
    assert_eq!(
        json["$EntityContainer"],
        format!("{}.{}", model.namespace, model.container)
    );
    let container = &schema[&model.container];
    assert_eq!(container["@Capabilities.TopSupported"], true);
    for set in model.entity_sets() {
        let json_set = &container[&set.name];
        assert_eq!(
            json_set["$Type"],
            format!("{}.{}", model.namespace, set.type_name)
        );
        let ty = &schema[&set.type_name];
        assert_eq!(ty["$Key"], serde_json::json!(["id"]), "{}", set.name);
        assert!(
            [&json_set["@Core.Description"], &ty["@Core.Description"]]
                .contains(&&serde_json::json!(set.description)),
            "{}",
            set.name
        );
        for p in &set.properties {
            let jp = &ty[&p.name];
            assert_eq!(
                jp["$Type"].as_str().unwrap_or("Edm.String"),
                p.ty.to_string()
            );
            assert_eq!(
                jp["$Nullable"].as_bool().unwrap_or(false),
                p.nullable,
                "{}",
                p.name
            );
            assert_eq!(jp["@Core.Description"], p.description);
            let allowed: Vec<&str> = jp["@Validation.AllowedValues"]
                .as_array()
                .map(|a| a.iter().filter_map(|r| r["Value"].as_str()).collect())
                .unwrap_or_default();
            assert_eq!(allowed, p.allowed_values, "{}.{}", set.name, p.name);
        }
        for n in &set.navigations {
            let jn = &ty[&n.name];
            assert_eq!(jn["$Kind"], "NavigationProperty");
            assert_eq!(jn["$Collection"].as_bool().unwrap_or(false), n.collection);
            assert_eq!(
                json_set["$NavigationPropertyBinding"][&n.name], n.target_set,
                "{}.{}",
                set.name, n.name
            );
        }
    }
}

#[test]
fn metadata_avoids_the_power_query_pitfalls() {
    // No complex types (so no navigation inside one) and only OData 4.0, in the file
    // and as served.
    for xml in [METADATA_XML.to_string(), served_xml()] {
        assert!(!xml.contains("<ComplexType"));
        assert!(xml.contains("<edmx:Edmx Version=\"4.0\""));
        // Every timestamp is a DateTimeOffset; no DateTime-without-offset types.
        assert!(!xml.contains("Edm.DateTime\""));
    }
    // Each entity set and property has a description (checked property by property in
    // the edm unit tests); lookups say when they refresh.
    let model = ccfeed::edm::Model::load().expect("model");
    for set in model.entity_sets().iter().filter(|s| s.is_lookup()) {
        assert!(
            set.description.contains("00:00 UTC"),
            "{} does not say when it refreshes",
            set.name
        );
    }
}

#[test]
fn the_readme_lists_every_entity_set() {
    let readme = include_str!("../README.md");
    let model = ccfeed::edm::Model::load().expect("model");
    for set in model.entity_sets() {
        assert!(
            readme.contains(&format!("| {} |", set.name)),
            "README's table list lacks {}",
            set.name
        );
    }
}

/// `Aggregation.ApplySupported` names only transformations the vocabulary allows and
/// this server runs: each one answers 200 in a request below, and one the
/// vocabulary allows but the server does not support is absent.
#[test]
fn apply_supported_lists_what_the_server_runs() {
    let (_, rest) = METADATA_XML
        .split_once("<Annotation Term=\"Aggregation.ApplySupported\">")
        .expect("ApplySupported is declared");
    let block = rest.split_once("</Annotation>").expect("closed").0;
    let declared: Vec<&str> = block
        .split("<String>")
        .skip(1)
        .filter_map(|s| s.split('<').next())
        .collect();
    let properties: Vec<&str> = block
        .split("<PropertyValue Property=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .collect();
    // Rollup is left at its default, None: an enum member path is one more thing a
    // metadata parser can trip on (see the research notes on Power BI).
    assert_eq!(properties, ["Transformations"]);
    assert!(!declared.contains(&"concat") && !declared.contains(&"search"));
    if let Some(dir) = oasis_dir() {
        let vocabulary =
            std::fs::read_to_string(dir.join("Org.OData.Aggregation.V1.xml")).expect("vocabulary");
        let allowed = vocabulary
            .split_once("<TypeDefinition Name=\"Transformation\"")
            .and_then(|(_, r)| r.split_once("</TypeDefinition>"))
            .expect("Transformation type")
            .0;
        for t in &declared {
            assert!(
                allowed.contains(&format!("String=\"{t}\"")),
                "{t} is not a transformation of the vocabulary"
            );
        }
    }
    // Each declared transformation parses and plans (the HTTP tests run them).
    let model = ccfeed::edm::Model::load().expect("model");
    let calls = model.set_id("Calls").expect("Calls");
    let examples = [
        ("aggregate", "aggregate($count as n)"),
        ("groupby", "groupby((channelId))"),
        ("filter", "filter(holdCount gt 0)/aggregate($count as n)"),
        ("compute", "compute(holdCount add 1 as h)/groupby((h))"),
        ("identity", "identity/groupby((channelId))"),
        ("orderby", "groupby((channelId))/orderby(channelId desc)"),
        ("top", "groupby((channelId))/top(1)"),
        ("skip", "groupby((channelId))/skip(1)"),
        (
            "topcount",
            "groupby((channelId),aggregate($count as n))/topcount(1,n)",
        ),
        (
            "bottomcount",
            "groupby((channelId),aggregate($count as n))/bottomcount(1,n)",
        ),
    ];
    assert_eq!(
        declared,
        examples.iter().map(|(t, _)| *t).collect::<Vec<_>>()
    );
    let limits = ccfeed::plan::Limits::default();
    for (t, apply) in examples {
        let options = ccfeed::uri::QueryOptions::parse([("$apply", apply)]).expect("parses");
        ccfeed::plan::Planner::new(&model, &limits)
            .apply(calls, "t", &options, 100)
            .unwrap_or_else(|e| panic!("{t}: {e}"));
    }
}
