//! DynamoDB adapter of [`super::CallStore`] (issue #2).
