//! The sparse `needs_sync` index: calls Slack still lacks something for, by when their
//! repair is due (reconciliation). Keys only: the sweep reads each due call by its key
//! before it writes it anyway, and the index then costs little on every call write.

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

use super::items::{item_pk, CALL_PK_PREFIX, NEEDS_SYNC};
use super::query_all;
use crate::domain::{ExternalId, UnixSeconds};
use crate::store::StoreError;

pub const NEEDS_SYNC_INDEX: &str = "needs_sync";

/// The calls whose repair is due at `now`, the most overdue first (the index's order).
pub(super) async fn calls_due(
    client: &Client,
    table: &str,
    now: UnixSeconds,
) -> Result<Vec<ExternalId>, StoreError> {
    let query = client
        .query()
        .table_name(table)
        .index_name(NEEDS_SYNC_INDEX)
        .key_condition_expression("needs_sync = :sync AND sync_due_at <= :now")
        .expression_attribute_values(":sync", AttributeValue::S(NEEDS_SYNC.to_owned()))
        .expression_attribute_values(":now", AttributeValue::N(now.to_string()));
    let items = query_all(query, table).await?;
    items
        .iter()
        .map(|item| {
            let pk = item_pk(item);
            pk.strip_prefix(CALL_PK_PREFIX)
                .and_then(|id| ExternalId::parse(id).ok())
                .ok_or_else(|| StoreError::Malformed(format!("needs_sync index: {pk}")))
        })
        .collect()
}
