//! DynamoDB Local clients and fresh tables.

use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    LocalSecondaryIndex, Projection, ProjectionType, ScalarAttributeType, StreamSpecification,
    StreamViewType, TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;

use crate::aws::{emulator_endpoint, sdk_config, DYNAMODB_ENDPOINT_VAR};
use crate::template::{self, TableProperties};
use crate::HOW_TO_START;

/// A client on DynamoDB Local with the SDK's default settings.
pub async fn client() -> Client {
    Client::new(&sdk_config(DYNAMODB_ENDPOINT_VAR).await)
}

/// A new, empty table named uniquely, made from the `CallsTable` definition in
/// `template.yaml` (keys, indexes, stream, TTL), and a client on it.
pub async fn fresh_table() -> (Client, String) {
    let client = client().await;
    let name = crate::unique_name("calls");
    create_table(&client, &name, &template::calls_table()).await;
    (client, name)
}

/// Creates `name` as `table` describes it, then enables its TTL; panics with the way to
/// start DynamoDB Local when it does not answer.
pub async fn create_table(client: &Client, name: &str, table: &TableProperties) {
    let fail = |step: &str, error: String| -> ! {
        panic!(
            "{step} {name} on DynamoDB Local at {} failed: {error}\n{HOW_TO_START}",
            emulator_endpoint(DYNAMODB_ENDPOINT_VAR)
        )
    };
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_attribute_definitions(Some(
            table
                .attribute_definitions
                .iter()
                .map(|attribute| {
                    AttributeDefinition::builder()
                        .attribute_name(&attribute.attribute_name)
                        .attribute_type(ScalarAttributeType::from(
                            attribute.attribute_type.as_str(),
                        ))
                        .build()
                })
                .collect::<Result<_, _>>()
                .unwrap_or_else(|error| fail("defining attributes of", error.to_string())),
        ))
        .set_key_schema(Some(key_schema(&table.key_schema)));
    for index in &table.global_secondary_indexes {
        let index = GlobalSecondaryIndex::builder()
            .index_name(&index.index_name)
            .set_key_schema(Some(key_schema(&index.key_schema)))
            .projection(projection(&index.projection))
            .build()
            .unwrap_or_else(|error| fail("defining an index of", error.to_string()));
        request = request.global_secondary_indexes(index);
    }
    for index in &table.local_secondary_indexes {
        let index = LocalSecondaryIndex::builder()
            .index_name(&index.index_name)
            .set_key_schema(Some(key_schema(&index.key_schema)))
            .projection(projection(&index.projection))
            .build()
            .unwrap_or_else(|error| fail("defining an index of", error.to_string()));
        request = request.local_secondary_indexes(index);
    }
    if let Some(stream) = &table.stream_specification {
        request = request.stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::from(stream.stream_view_type.as_str()))
                .build()
                .unwrap_or_else(|error| fail("defining the stream of", error.to_string())),
        );
    }
    if let Err(error) = request.send().await {
        fail("creating table", DisplayErrorContext(error).to_string());
    }

    if let Some(ttl) = table
        .time_to_live_specification
        .as_ref()
        .filter(|ttl| ttl.enabled)
    {
        let specification = TimeToLiveSpecification::builder()
            .attribute_name(&ttl.attribute_name)
            .enabled(true)
            .build()
            .unwrap_or_else(|error| fail("defining the TTL of", error.to_string()));
        if let Err(error) = client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(specification)
            .send()
            .await
        {
            fail("enabling TTL on", DisplayErrorContext(error).to_string());
        }
    }
}

fn key_schema(keys: &[template::KeySchemaElement]) -> Vec<KeySchemaElement> {
    keys.iter()
        .map(|key| {
            KeySchemaElement::builder()
                .attribute_name(&key.attribute_name)
                .key_type(KeyType::from(key.key_type.as_str()))
                .build()
                .unwrap_or_else(|error| panic!("key {key:?} in template.yaml: {error}"))
        })
        .collect()
}

fn projection(projection: &template::Projection) -> Projection {
    Projection::builder()
        .projection_type(ProjectionType::from(projection.projection_type.as_str()))
        .set_non_key_attributes(
            (!projection.non_key_attributes.is_empty())
                .then(|| projection.non_key_attributes.clone()),
        )
        .build()
}
