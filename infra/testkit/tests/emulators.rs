//! The test support itself: tables as the template defines them, and loud failures
//! when the emulators are missing.

use aws_sdk_dynamodb::types::{IndexStatus, ProjectionType, TimeToLiveStatus};

#[tokio::test]
async fn fresh_tables_have_the_templates_keys_indexes_stream_and_ttl() {
    let (client, table) = testkit::dynamodb::fresh_table().await;
    let description = client
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .expect("DescribeTable")
        .table
        .expect("a table");
    let keys: Vec<(&str, &str)> = description
        .key_schema()
        .iter()
        .map(|key| (key.attribute_name(), key.key_type().as_str()))
        .collect();
    assert_eq!(keys, [("pk", "HASH"), ("sk", "RANGE")]);

    let mut indexes: Vec<(String, Vec<String>)> = description
        .global_secondary_indexes()
        .iter()
        .map(|index| {
            // The reconciliation index is keys only (it is written with every call).
            let projection = if index.index_name() == Some("needs_sync") {
                ProjectionType::KeysOnly
            } else {
                ProjectionType::All
            };
            assert_eq!(
                index.projection().and_then(|p| p.projection_type()),
                Some(&projection),
                "{:?}",
                index.index_name()
            );
            assert_eq!(index.index_status(), Some(&IndexStatus::Active));
            (
                index.index_name().unwrap_or_default().to_owned(),
                index
                    .key_schema()
                    .iter()
                    .map(|key| key.attribute_name().to_owned())
                    .collect(),
            )
        })
        .collect();
    indexes.sort();
    assert_eq!(
        indexes,
        [
            ("by_join_url".to_owned(), vec!["join_url".to_owned()]),
            (
                "by_slack_call_id".to_owned(),
                vec!["slack_call_id".to_owned()]
            ),
            (
                "live_calls".to_owned(),
                vec!["live".to_owned(), "created_at".to_owned()]
            ),
            (
                "needs_sync".to_owned(),
                vec!["needs_sync".to_owned(), "sync_due_at".to_owned()]
            ),
        ]
    );
    let stream = description.stream_specification().expect("stream enabled");
    assert_eq!(
        stream.stream_view_type().map(|v| v.as_str()),
        Some("NEW_IMAGE")
    );

    let ttl = client
        .describe_time_to_live()
        .table_name(&table)
        .send()
        .await
        .expect("DescribeTimeToLive")
        .time_to_live_description
        .expect("a TTL description");
    assert_eq!(ttl.attribute_name(), Some("expires_at"));
    assert_eq!(ttl.time_to_live_status(), Some(&TimeToLiveStatus::Enabled));
}

#[tokio::test]
async fn tables_are_distinct_per_call() {
    let (_, first) = testkit::dynamodb::fresh_table().await;
    let (_, second) = testkit::dynamodb::fresh_table().await;
    assert_ne!(first, second);
}

#[test]
#[should_panic(expected = "./infra/emulators.sh start")]
fn an_unset_endpoint_fails_with_the_way_to_start_the_emulators() {
    testkit::aws::emulator_endpoint("TESTKIT_ENDPOINT_THAT_IS_NEVER_SET");
}

#[tokio::test]
#[should_panic(expected = "./infra/test.sh")]
async fn an_emulator_that_does_not_answer_fails_with_the_way_to_start_it() {
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::for_tests())
        .endpoint_url(format!("http://127.0.0.1:{port}"))
        .build();
    let client = aws_sdk_dynamodb::Client::from_conf(config);
    testkit::dynamodb::create_table(&client, "unreachable", &testkit::template::calls_table())
        .await;
}
