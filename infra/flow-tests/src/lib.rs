//! Test support for the flow suite (`tests/flows`): a [`world::World`] runs every entry
//! point over real HTTP on loopback, the worker fed the store's stream of job inserts,
//! Slack played by the stand-in, and a clock that moves only when told to.
//!
//! The world's store is picked by `FLOW_TESTS_STORE` ([`backend::StoreKind`]): the
//! embedded store with an in-process stand-in for the table's stream by default, so plain
//! `cargo test` needs nothing but Rust; or DynamoDB Local and its real stream
//! (`FLOW_TESTS_STORE=dynamodb`, which `./infra/test.sh` runs too).

pub mod backend;
pub mod counting_store;
pub mod embedded_stream;
pub mod world;
