//! The `$metadata` document as served: the model of `metadata/ccfeed.xml` plus the
//! Capabilities annotations that tell generic clients what this server can do.
//!
//! The model file describes the data and stays the single source of truth for it.
//! What the server supports depends partly on its settings (the `$expand` depth), so
//! the capabilities are written here, from the settings, and placed into the model
//! document once at start-up: the vocabulary reference next to the others, the
//! annotations on the entity container. Only terms and properties that exist in
//! `Org.OData.Capabilities.V1` are used, and only ones Power Query's parser accepts
//! (plain constants and records, no enum member paths); a test checks both against
//! the vocabulary file.

use std::fmt::Write;

use super::METADATA_XML;

/// The reference that makes the `Capabilities` alias known.
const CAPABILITIES_REFERENCE: &str = r#"  <edmx:Reference Uri="https://oasis-tcs.github.io/odata-vocabularies/vocabularies/Org.OData.Capabilities.V1.xml">
    <edmx:Include Namespace="Org.OData.Capabilities.V1" Alias="Capabilities"/>
  </edmx:Reference>
"#;

/// Functions and operators `$filter` accepts (Capabilities.FilterFunctions lists
/// both). Every entry is exercised by a test, so the list cannot promise more than
/// the binder does.
pub const FILTER_FUNCTIONS: &[&str] = &[
    "eq",
    "ne",
    "gt",
    "ge",
    "lt",
    "le",
    "and",
    "or",
    "not",
    "in",
    "add",
    "sub",
    "mul",
    "div",
    "mod",
    "any",
    "all",
    "contains",
    "startswith",
    "endswith",
    "length",
    "indexof",
    "substring",
    "tolower",
    "toupper",
    "trim",
    "concat",
    "year",
    "month",
    "day",
    "hour",
    "minute",
    "second",
    "fractionalseconds",
    "date",
    "time",
    "totaloffsetminutes",
    "now",
    "mindatetime",
    "maxdatetime",
    "round",
    "floor",
    "ceiling",
    "case",
];

/// What the capabilities depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// `max_expand_depth`: the deepest `$expand` nesting accepted.
    pub max_expand_depth: usize,
}

impl Capabilities {
    /// The annotations on the entity container, one per line, indented for it.
    fn container_annotations(&self) -> String {
        let mut out = String::new();
        let mut line = |text: &str| {
            out.push_str("        ");
            out.push_str(text);
            out.push('\n');
        };
        line(
            r#"<Annotation Term="Capabilities.CountRestrictions"><Record Type="Capabilities.CountRestrictionsType"><PropertyValue Property="Countable" Bool="true"/></Record></Annotation>"#,
        );
        line(r#"<Annotation Term="Capabilities.TopSupported" Bool="true"/>"#);
        line(r#"<Annotation Term="Capabilities.SkipSupported" Bool="true"/>"#);
        line(
            r#"<Annotation Term="Capabilities.SelectSupport"><Record Type="Capabilities.SelectSupportType"><PropertyValue Property="Supported" Bool="true"/></Record></Annotation>"#,
        );
        line(
            r#"<Annotation Term="Capabilities.SortRestrictions"><Record Type="Capabilities.SortRestrictionsType"><PropertyValue Property="Sortable" Bool="true"/></Record></Annotation>"#,
        );
        line(
            r#"<Annotation Term="Capabilities.FilterRestrictions"><Record Type="Capabilities.FilterRestrictionsType"><PropertyValue Property="Filterable" Bool="true"/></Record></Annotation>"#,
        );
        let mut functions = String::new();
        for f in FILTER_FUNCTIONS {
            let _ = write!(functions, "<String>{f}</String>");
        }
        line(&format!(
            r#"<Annotation Term="Capabilities.FilterFunctions"><Collection>{functions}</Collection></Annotation>"#
        ));
        line(&format!(
            r#"<Annotation Term="Capabilities.ExpandRestrictions"><Record Type="Capabilities.ExpandRestrictionsType"><PropertyValue Property="Expandable" Bool="true"/><PropertyValue Property="MaxLevels" Int="{}"/></Record></Annotation>"#,
            self.max_expand_depth.min(i32::MAX as usize)
        ));
        // `POST /odata/$batch` answers read requests (multipart/mixed and JSON).
        line(r#"<Annotation Term="Capabilities.BatchSupported" Bool="true"/>"#);
        // `Aggregation.ApplySupported` is in `metadata/ccfeed.xml` with the container:
        // it depends on what the engine implements, not on configured limits.
        out
    }

    /// The `$metadata` document: the model with the capabilities placed in it.
    pub fn metadata_xml(&self) -> String {
        let mut xml = String::with_capacity(METADATA_XML.len() + 4096);
        let references_end = METADATA_XML
            .find("  <edmx:DataServices>")
            .unwrap_or(METADATA_XML.len());
        let container_end = METADATA_XML
            .find("      </EntityContainer>")
            .unwrap_or(METADATA_XML.len());
        xml.push_str(&METADATA_XML[..references_end]);
        xml.push_str(CAPABILITIES_REFERENCE);
        xml.push_str(&METADATA_XML[references_end..container_end]);
        xml.push_str(&self.container_annotations());
        xml.push_str(&METADATA_XML[container_end..]);
        xml
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_sit_in_the_container_and_the_model_is_unchanged() {
        let xml = Capabilities {
            max_expand_depth: 3,
        }
        .metadata_xml();
        let reference = xml.find("Org.OData.Capabilities.V1").unwrap();
        let services = xml.find("<edmx:DataServices>").unwrap();
        assert!(reference < services);
        let container = xml.find("<EntityContainer").unwrap();
        let expand = xml.find("Capabilities.ExpandRestrictions").unwrap();
        let container_end = xml.find("</EntityContainer>").unwrap();
        assert!(container < expand && expand < container_end);
        assert!(xml.contains(r#"<PropertyValue Property="MaxLevels" Int="3"/>"#));
        // Everything else is the model file, byte for byte.
        let without: String = xml.replace(CAPABILITIES_REFERENCE, "").replace(
            &Capabilities {
                max_expand_depth: 3,
            }
            .container_annotations(),
            "",
        );
        assert_eq!(without, METADATA_XML);
        // The served document still describes the same model.
        let model = super::super::Model::from_xml(&xml).expect("served metadata loads");
        assert_eq!(model.entity_sets().len(), 28);
    }
}
