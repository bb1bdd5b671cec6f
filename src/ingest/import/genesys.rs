//! Placeholder while the mapping is written.

use serde_json::Value;

use super::{ImportOptions, MapError, MappedConversation};

pub const SETS: &[&str] = &[];

pub fn conversations(doc: &Value) -> Result<&[Value], MapError> {
    let _ = doc;
    Err(MapError {
        conversation_id: None,
        field: String::new(),
        message: "this importer is not available yet".into(),
    })
}

pub fn map_conversation(
    conversation: &Value,
    options: &ImportOptions,
) -> Result<MappedConversation, Vec<MapError>> {
    let _ = (conversation, options);
    Err(vec![])
}
