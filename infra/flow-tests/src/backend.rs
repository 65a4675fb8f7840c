//! The store a world runs on, and the stream that feeds its worker: the embedded store
//! and its stand-in stream (the default: nothing but Rust), or a fresh DynamoDB Local
//! table and its real stream.

use std::sync::Arc;

use async_trait::async_trait;
use lambda_harness::stream::StreamPump;
use serde_json::Value;
use slack_calls::domain::OAuthState;
use slack_calls::domain::{
    Call, EventReceipt, ExternalId, Installation, InstallationKey, Job, Lease, Participant,
    SlackCallId, UnixSeconds,
};
use slack_calls::store::dynamodb::DynamoStore;
use slack_calls::store::embedded::EmbeddedStore;
use slack_calls::store::{CallStore, JobClaim, ReceiptOutcome, StoreError};

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
                    Arc::new(UnreachableStore)
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

/// The embedded store's outage: every request fails as an unreachable DynamoDB does.
struct UnreachableStore;

impl UnreachableStore {
    fn refuse<T>(&self) -> Result<T, StoreError> {
        Err(StoreError::Unavailable(
            "connection refused (the world's store is unreachable)".into(),
        ))
    }
}

#[async_trait]
impl CallStore for UnreachableStore {
    async fn create_call(&self, _: &Call, _: &[Job]) -> Result<(), StoreError> {
        self.refuse()
    }
    async fn get_call(&self, _: &ExternalId) -> Result<Option<Call>, StoreError> {
        self.refuse()
    }
    async fn find_call_by_slack_id(&self, _: &SlackCallId) -> Result<Option<Call>, StoreError> {
        self.refuse()
    }
    async fn calls_by_join_url(&self, _: &str) -> Result<Vec<Call>, StoreError> {
        self.refuse()
    }
    async fn update_call(&self, _: &mut Call, _: &[Job]) -> Result<(), StoreError> {
        self.refuse()
    }
    async fn list_live_calls(&self) -> Result<Vec<Call>, StoreError> {
        self.refuse()
    }
    async fn calls_due_for_sync(&self, _: UnixSeconds) -> Result<Vec<ExternalId>, StoreError> {
        self.refuse()
    }
    async fn record_event(
        &self,
        _: &EventReceipt,
        _: &[Job],
    ) -> Result<ReceiptOutcome, StoreError> {
        self.refuse()
    }
    async fn enqueue_jobs(&self, _: &[Job]) -> Result<(), StoreError> {
        self.refuse()
    }
    async fn get_job(&self, _: &str) -> Result<Option<Job>, StoreError> {
        self.refuse()
    }
    async fn update_job(&self, _: &mut Job) -> Result<(), StoreError> {
        self.refuse()
    }
    async fn get_installation(
        &self,
        _: &InstallationKey,
    ) -> Result<Option<Installation>, StoreError> {
        self.refuse()
    }
    async fn delete_installation(&self, _: &InstallationKey) -> Result<(), StoreError> {
        self.refuse()
    }
    async fn put_installation(&self, _: &mut Installation) -> Result<(), StoreError> {
        self.refuse()
    }
    async fn put_oauth_state(&self, _: &OAuthState) -> Result<(), StoreError> {
        self.refuse()
    }
    async fn take_oauth_state(&self, _: &str) -> Result<Option<OAuthState>, StoreError> {
        self.refuse()
    }
    async fn claim_job(&self, _: &Job, _: &Lease, _: UnixSeconds) -> Result<JobClaim, StoreError> {
        self.refuse()
    }
    async fn update_call_and_job(
        &self,
        _: &mut Call,
        _: &mut Job,
        _: &[Job],
    ) -> Result<(), StoreError> {
        self.refuse()
    }
    async fn get_participants(
        &self,
        _: &ExternalId,
        _: &[String],
    ) -> Result<Vec<Participant>, StoreError> {
        self.refuse()
    }
    async fn list_participants(&self, _: &ExternalId) -> Result<Vec<Participant>, StoreError> {
        self.refuse()
    }
    async fn update_call_and_participants(
        &self,
        _: &mut Call,
        _: &mut [Participant],
        _: &[Job],
    ) -> Result<(), StoreError> {
        self.refuse()
    }
    async fn update_participants(
        &self,
        _: &ExternalId,
        _: &mut [Participant],
    ) -> Result<(), StoreError> {
        self.refuse()
    }
}
