//! `$metadata` against the official OASIS CSDL schemas and vocabularies in
//! `../shared/oasis/` (skipped with a note where that folder or xmllint is absent).

use std::path::PathBuf;
use std::process::Command;

use ccfeed::edm::METADATA_XML;

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
    std::fs::write(file.path(), METADATA_XML).expect("write");
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

/// Names of the terms a vocabulary file defines, e.g. `Description`.
fn terms(vocabulary: &str) -> Vec<String> {
    vocabulary
        .split("<Term Name=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next().map(str::to_string))
        .collect()
}

#[test]
fn every_annotation_uses_an_existing_vocabulary_term() {
    let Some(dir) = oasis_dir() else { return };
    let vocabularies = [
        ("Core", "Org.OData.Core.V1.xml"),
        ("Validation", "Org.OData.Validation.V1.xml"),
        ("Aggregation", "Org.OData.Aggregation.V1.xml"),
    ];
    let mut known = Vec::new();
    for (alias, file) in vocabularies {
        let text = std::fs::read_to_string(dir.join(file)).expect("vocabulary");
        known.extend(terms(&text).into_iter().map(|t| format!("{alias}.{t}")));
    }
    let used: Vec<&str> = METADATA_XML
        .split("Term=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .collect();
    assert!(
        used.len() > 500,
        "expected descriptions everywhere, found {} annotations",
        used.len()
    );
    for term in used {
        assert!(
            known.iter().any(|k| k == term),
            "unknown vocabulary term {term}"
        );
    }
    // AllowedValues records may only set the AllowedValue type's `Value` property;
    // the one ApplySupported record is checked in its own test.
    let (before, rest) = METADATA_XML
        .split_once("<Annotation Term=\"Aggregation.ApplySupported\">")
        .expect("ApplySupported is declared");
    let after = rest.split_once("</Annotation>").map_or("", |(_, a)| a);
    for prop in [before, after]
        .iter()
        .flat_map(|part| part.split("<PropertyValue Property=\"").skip(1))
    {
        assert!(
            prop.starts_with("Value\""),
            "unexpected record property in {}",
            &prop[..prop.len().min(40)]
        );
    }
}

#[test]
fn metadata_avoids_the_power_query_pitfalls() {
    // No complex types (so no navigation inside one) and only OData 4.0.
    assert!(!METADATA_XML.contains("<ComplexType"));
    assert!(METADATA_XML.contains("<edmx:Edmx Version=\"4.0\""));
    // Every timestamp is a DateTimeOffset; no DateTime-without-offset types.
    assert!(!METADATA_XML.contains("Edm.DateTime\""));
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
    assert_eq!(properties, ["Transformations", "Rollup"]);
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
    let calls = model
        .entity_sets()
        .iter()
        .position(|s| s.name == "Calls")
        .expect("Calls");
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
