//! DynamoDB table definitions read from `template.yaml`, so test tables have exactly the
//! keys and indexes the deployed table has.
//!
//! The template is CloudFormation: it holds tags (`!Ref`, `!GetAtt`, `!Sub`) that no
//! YAML-to-struct mapping knows. It is parsed into a generic YAML value (tags kept as
//! tagged values), and only the table's `Properties` are mapped to types.

use std::path::PathBuf;

use serde::Deserialize;
use serde_yaml_ng::Value;

/// The resource in `template.yaml` holding calls, jobs, installations and receipts.
pub const CALLS_TABLE_RESOURCE: &str = "CallsTable";

/// `AWS::DynamoDB::Table` properties that shape the table (billing, encryption and
/// recovery settings do not matter to DynamoDB Local and are ignored).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TableProperties {
    pub attribute_definitions: Vec<AttributeDefinition>,
    pub key_schema: Vec<KeySchemaElement>,
    #[serde(default)]
    pub global_secondary_indexes: Vec<SecondaryIndex>,
    #[serde(default)]
    pub local_secondary_indexes: Vec<SecondaryIndex>,
    #[serde(default)]
    pub time_to_live_specification: Option<TimeToLiveSpecification>,
    #[serde(default)]
    pub stream_specification: Option<StreamSpecification>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttributeDefinition {
    pub attribute_name: String,
    pub attribute_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeySchemaElement {
    pub attribute_name: String,
    pub key_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SecondaryIndex {
    pub index_name: String,
    pub key_schema: Vec<KeySchemaElement>,
    pub projection: Projection,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Projection {
    pub projection_type: String,
    #[serde(default)]
    pub non_key_attributes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TimeToLiveSpecification {
    pub attribute_name: String,
    pub enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamSpecification {
    pub stream_view_type: String,
}

/// The repository's `template.yaml`.
pub fn template_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml")
}

/// The properties of the `AWS::DynamoDB::Table` resource named `resource`.
pub fn table_properties(template_yaml: &str, resource: &str) -> Result<TableProperties, String> {
    let template: Value = serde_yaml_ng::from_str(template_yaml)
        .map_err(|error| format!("the template is not YAML: {error}"))?;
    let definition = &template["Resources"][resource];
    if definition.is_null() {
        return Err(format!("the template has no resource {resource}"));
    }
    match definition["Type"].as_str() {
        Some("AWS::DynamoDB::Table") => {}
        other => {
            return Err(format!(
                "resource {resource} is of type {other:?}, not AWS::DynamoDB::Table"
            ))
        }
    }
    serde_yaml_ng::from_value(definition["Properties"].clone())
        .map_err(|error| format!("resource {resource} has unexpected properties: {error}"))
}

/// The calls table as `template.yaml` defines it; panics (in a test) when it cannot.
pub fn calls_table() -> TableProperties {
    let path = template_path();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    table_properties(&text, CALLS_TABLE_RESOURCE)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_calls_table_has_the_store_keys_and_indexes() {
        let table = calls_table();
        let hash_and_range: Vec<(&str, &str)> = table
            .key_schema
            .iter()
            .map(|key| (key.attribute_name.as_str(), key.key_type.as_str()))
            .collect();
        assert_eq!(hash_and_range, [("pk", "HASH"), ("sk", "RANGE")]);
        let indexes: Vec<&str> = table
            .global_secondary_indexes
            .iter()
            .map(|index| index.index_name.as_str())
            .collect();
        assert_eq!(
            indexes,
            [
                "by_slack_call_id",
                "by_join_url",
                "live_calls",
                "needs_sync"
            ]
        );
        assert_eq!(
            table.time_to_live_specification,
            Some(TimeToLiveSpecification {
                attribute_name: "expires_at".into(),
                enabled: true
            })
        );
    }

    #[test]
    fn cloudformation_tags_anywhere_are_tolerated() {
        let template = r#"
Parameters:
  Stage: { Type: String }
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Sub "calls-${Stage}"
      AttributeDefinitions:
        - { AttributeName: pk, AttributeType: S }
      KeySchema:
        - { AttributeName: pk, KeyType: HASH }
      Tags:
        - Key: stack
          Value: !Ref AWS::StackName
  Function:
    Type: AWS::Serverless::Function
    Properties:
      Environment:
        Variables:
          CALLS_TABLE: !Ref Table
          STREAM: !GetAtt Table.StreamArn
Outputs:
  Name: { Value: !Ref Table }
"#;
        let table = table_properties(template, "Table").expect("tags are not in the way");
        assert_eq!(table.key_schema[0].attribute_name, "pk");
        assert!(table.global_secondary_indexes.is_empty());
        let error = table_properties(template, "Function").expect_err("not a table");
        assert!(error.contains("AWS::Serverless::Function"), "{error}");
        let error = table_properties(template, "Missing").expect_err("absent");
        assert!(error.contains("no resource Missing"), "{error}");
    }
}
