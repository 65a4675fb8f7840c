//! OAuth state items: an install attempt's state, written by the install link and
//! taken once by the redirect.

use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::types::ReturnValue;
use tracing::Instrument as _;

use super::items::{
    from_item, key, oauth_state_item, oauth_state_pk, ConditionalPut, OAUTH_STATE_SK,
};
use super::{unavailable, DynamoStore, WriteOutcome};
use crate::domain::OAuthState;
use crate::store::StoreError;
use crate::telemetry::dynamodb_span;

impl DynamoStore {
    pub(super) async fn insert_oauth_state(&self, state: &OAuthState) -> Result<(), StoreError> {
        let put = ConditionalPut::insert(oauth_state_item(state)?);
        match self.write(vec![put], &[]).await? {
            WriteOutcome::Written => Ok(()),
            WriteOutcome::PrimaryConditionFailed => Err(StoreError::AlreadyExists),
        }
    }

    pub(super) async fn remove_oauth_state(
        &self,
        state: &str,
    ) -> Result<Option<OAuthState>, StoreError> {
        // One conditional delete answering the old item: of two redirects racing with
        // the same state, only one gets it. (A retry of an attempt that had landed finds
        // it gone: the install is refused, never done twice.)
        let pk = oauth_state_pk(state);
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(pk.clone(), OAUTH_STATE_SK)))
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", "pk")
            .return_values(ReturnValue::AllOld)
            .send()
            .instrument(dynamodb_span("DeleteItem", &self.table))
            .await;
        match result {
            Ok(output) => output
                .attributes
                .map(|item| from_item(item, &pk, OAUTH_STATE_SK))
                .transpose(),
            Err(error)
                if matches!(
                    error.as_service_error(),
                    Some(DeleteItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(None)
            }
            Err(error) => Err(unavailable("DeleteItem", error)),
        }
    }
}
