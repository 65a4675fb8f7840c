//! The store a world runs on, and the stream that feeds its worker: the embedded store
//! and its stand-in stream (the default: nothing but Rust), or a fresh DynamoDB Local
//! table and its real stream.

use std::sync::Arc;

use lambda_harness::stream::StreamPump;
use serde_json::Value;
use slack_calls::store::dynamodb::DynamoStore;
use slack_calls::store::embedded::EmbeddedStore;
use slack_calls::store::layer::StoreLayer;
use slack_calls::store::{CallStore, StoreError};

use crate::embedded_stream::EmbeddedStream;

/// The variable that picks the store: `embedded` (or unset) or `dynamodb`.
pub const STORE_VAR: &str = "FLOW_TESTS_STORE";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// `slack_calls::store::embedded`, in memory; its job inserts make the stream.
    Embedded,
    /// A fresh table on DynamoDB Local (`AWS_ENDPOINT_URL_DYNAMODB`, which
    /// `./infra/test.sh` sets), read back through its stream.
    DynamoDb,
}

impl StoreKind {
    /// The store `FLOW_TESTS_STORE` names; panics on anything else, so a typo never
    /// quietly runs the suite on the default store.
    pub fn from_env() -> StoreKind {
        match std::env::var(STORE_VAR) {
            Err(std::env::VarError::NotPresent) => StoreKind::Embedded,
            Ok(value) if value.is_empty() || value == "embedded" => StoreKind::Embedded,
            Ok(value) if value == "dynamodb" => StoreKind::DynamoDb,
            other => {
                panic!("{STORE_VAR}={other:?}: expected `embedded` (the default) or `dynamodb`")
            }
        }
    }
}

/// The backing store, seen from outside the services (the test's view of "the table").
pub enum Backend {
    Embedded {
        store: Arc<EmbeddedStore>,
        stream: EmbeddedStream,
    },
    DynamoDb {
        client: aws_sdk_dynamodb::Client,
        table: String,
        pump: StreamPump,
    },
}

impl Backend {
    /// A fresh, empty store of `kind`, and the store the services get: that one, or one
    /// whose every request fails when `unreachable`.
    pub async fn start(kind: StoreKind, unreachable: bool) -> (Backend, Arc<dyn CallStore>) {
        match kind {
            StoreKind::Embedded => {
                let store = Arc::new(EmbeddedStore::in_memory());
                let stream = EmbeddedStream::follow(&store);
                let services_store: Arc<dyn CallStore> = if unreachable {
                    Arc::new(UnreachableStore(store.clone()))
                } else {
                    store.clone()
                };
                (Backend::Embedded { store, stream }, services_store)
            }
            StoreKind::DynamoDb => {
                let (client, table) = testkit::dynamodb::fresh_table().await;
                let pump = StreamPump::new(&client, &table).await;
                let sdk = testkit::aws::sdk_config(testkit::aws::DYNAMODB_ENDPOINT_VAR).await;
                let mut config = slack_calls::store::dynamodb::client_config(&sdk);
                if unreachable {
                    // A port nobody listens on: connection refused, quickly.
                    let mut builder = config.to_builder();
                    builder.set_endpoint_url(Some("http://127.0.0.1:9".into()));
                    config = builder.build();
                }
                let store = DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(config), &table);
                (
                    Backend::DynamoDb {
                        client,
                        table,
                        pump,
                    },
                    Arc::new(store),
                )
            }
        }
    }

    /// Stream records written since the last call (filtered as the worker's event source
    /// filters them).
    pub async fn next_records(&mut self) -> Vec<Value> {
        match self {
            Backend::Embedded { stream, .. } => stream.next_records(),
            Backend::DynamoDb { pump, .. } => pump.next_records().await,
        }
    }

    /// Every stream record from the stream's start, filtered likewise.
    pub async fn records_from_start(&mut self) -> Vec<Value> {
        match self {
            Backend::Embedded { stream, .. } => stream.from_start(),
            Backend::DynamoDb { client, table, .. } => {
                StreamPump::new(client, table).await.next_records().await
            }
        }
    }

    /// How many items the store holds, read past the services' store.
    pub async fn items(&self) -> usize {
        match self {
            Backend::Embedded { store, .. } => store.item_count(),
            Backend::DynamoDb { client, table, .. } => client
                .scan()
                .table_name(table)
                .send()
                .await
                .unwrap_or_else(|error| panic!("scan: {error:?}"))
                .items()
                .len(),
        }
    }
}

/// The embedded store's outage: every request fails as an unreachable DynamoDB does,
/// and none reaches the store it stands in front of.
struct UnreachableStore(Arc<EmbeddedStore>);

impl StoreLayer for UnreachableStore {
    fn inner(&self) -> &dyn CallStore {
        self.0.as_ref()
    }

    fn before(&self, _method: &'static str) -> Result<(), StoreError> {
        Err(StoreError::Unavailable(
            "connection refused (the world's store is unreachable)".into(),
        ))
    }
}
