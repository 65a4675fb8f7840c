//! The stand-in refuses what Slack refuses, and answers in Slack's shapes, over real
//! HTTP. Each behaviour pinned here is listed, with its source, in the README.

mod admin;
mod bodies;
mod calls;
mod chat;
mod faults;
mod oauth;
mod response_urls;
mod support;
mod workspaces;
