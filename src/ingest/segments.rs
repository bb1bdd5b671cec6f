//! Placeholder while the agent-segment metrics are written.

use crate::edm::Model;
use crate::store::tenants::Tenant;
use crate::store::{Conn, StoreError};

/// Recomputes the message-derived columns of AgentSegments and Messages for these
/// conversations of `tenant` (inside the caller's transaction).
pub fn refresh(
    conn: &mut Conn,
    model: &Model,
    tenant: &Tenant,
    conversation_ids: &[String],
) -> Result<(), StoreError> {
    let _ = (conn, model, tenant, conversation_ids);
    Ok(())
}
