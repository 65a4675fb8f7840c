//! Embedded, file-backed adapter of [`super::CallStore`] for local runs (issue #2).
