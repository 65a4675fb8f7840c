//! The flow suite, one test binary: every entry point over real HTTP, the worker fed the
//! store's stream of job inserts, Slack played by the stand-in, time by the world's clock
//! (`flow_tests::world`). On the embedded store by default, so plain `cargo test` runs it
//! with nothing but Rust; `FLOW_TESTS_STORE=dynamodb` runs it on DynamoDB Local and the
//! table's real stream (`./infra/test.sh` runs both).

mod support;

mod call_life;
mod install;
mod isolation;
mod one_slack_call;
mod outage;
mod participants;
mod provider_lifecycle;
mod real_slack;
mod rotation;
mod slack_events;
mod start_call;
mod start_call_failures;
mod sweep;
