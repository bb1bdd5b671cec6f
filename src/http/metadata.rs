//! `$metadata`: CSDL XML by default, CSDL JSON for clients that ask for JSON only.
//! Both documents are built once when the server starts, from the model file and
//! the settings-dependent capabilities, so every request is a copy of a ready body.

use actix_web::{HttpRequest, HttpResponse, web};

use super::error::ApiError;
use super::handlers::check_version;
use super::negotiate::{self, MetadataFormat};
use crate::edm::capabilities::Capabilities;
use crate::edm::csdl_json;

/// The two representations of the served `$metadata`.
pub struct MetadataDocuments {
    xml: String,
    json: String,
}

impl MetadataDocuments {
    pub fn new(capabilities: Capabilities) -> Result<MetadataDocuments, crate::edm::ModelError> {
        let xml = capabilities.metadata_xml();
        let json = csdl_json::to_json(&xml)?.to_string();
        Ok(MetadataDocuments { xml, json })
    }
}

pub async fn metadata(
    req: HttpRequest,
    documents: web::Data<MetadataDocuments>,
) -> Result<HttpResponse, ApiError> {
    check_version(&req)?;
    let pairs = crate::uri::decode_query_string(req.query_string())?;
    let format = pairs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("$format"))
        .map(|(_, v)| v.as_str());
    let accept = req.headers().get("Accept").and_then(|v| v.to_str().ok());
    Ok(match negotiate::metadata_format(accept, format)? {
        MetadataFormat::Xml => HttpResponse::Ok()
            .content_type("application/xml;charset=utf-8")
            .body(documents.xml.clone()),
        MetadataFormat::Json => HttpResponse::Ok()
            .content_type("application/json;charset=utf-8")
            .body(documents.json.clone()),
    })
}
