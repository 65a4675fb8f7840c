//! A small control surface for the standalone server (the local demo): issue response
//! URLs, announce messages and composer links, shape the workspaces, choose who
//! approves installs, move the clock, and look at what was recorded.

use std::time::Duration;

use http::{Method, Request, StatusCode};
use hyper::body::Incoming;
use serde_json::{json, Map, Value};

use crate::model::ChannelAccess;
use crate::oauth::{Grant, STANDIN_INSTALLER};
use crate::server::{decode, json_response, plain, HttpResponse};
use crate::workspace::manual_bot_token;
use crate::{Shared, DEFAULT_TEAM_ID};

pub(crate) async fn admin_request(
    shared: &Shared,
    action: &str,
    request: Request<Incoming>,
) -> HttpResponse {
    let is_post = request.method() == Method::POST;
    let args = if is_post {
        decode(request).await.into_args().unwrap_or_default()
    } else {
        Map::new()
    };
    let arg = |name: &str| args.get(name).and_then(Value::as_str).map(str::to_owned);
    let done = || json_response(StatusCode::OK, &json!({"ok": true}));
    let mut state = shared.state();
    match (is_post, action) {
        (true, "response_urls") => {
            let Some(channel) = arg("channel") else {
                return plain(StatusCode::BAD_REQUEST, "channel is required");
            };
            let team = arg("team_id").unwrap_or_else(|| DEFAULT_TEAM_ID.to_owned());
            let id = state.new_response_url(&channel, &team);
            json_response(
                StatusCode::OK,
                &json!({"url": format!("http://{}/response/{id}", shared.addr)}),
            )
        }
        (true, "messages") => match (arg("channel"), arg("ts")) {
            (Some(channel), Some(ts)) => {
                state.add_message(&channel, &ts);
                done()
            }
            _ => plain(StatusCode::BAD_REQUEST, "channel and ts are required"),
        },
        (true, "link_shared") => match (arg("channel"), arg("ts")) {
            (Some(channel), Some(ts)) => {
                let links: Vec<String> = args
                    .get("links")
                    .and_then(Value::as_array)
                    .map(|links| {
                        links
                            .iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default();
                let links: Vec<&str> = links.iter().map(String::as_str).collect();
                let shared_link = state.link_shared(&channel, &ts, &links);
                json_response(StatusCode::OK, &json!(shared_link))
            }
            _ => plain(StatusCode::BAD_REQUEST, "channel and ts are required"),
        },
        (true, "composer_unfurls") => match (arg("channel"), arg("user")) {
            (Some(channel), Some(user)) => {
                let draft = state.new_composer_unfurl(&channel, &user);
                json_response(StatusCode::OK, &json!(draft))
            }
            _ => plain(StatusCode::BAD_REQUEST, "channel and user are required"),
        },
        (true, "channels") => {
            let access = match arg("access").as_deref() {
                Some("member") => ChannelAccess::Member,
                Some("not_member") => ChannelAccess::NotMember,
                Some("archived") => ChannelAccess::Archived,
                Some("invisible") => ChannelAccess::Invisible,
                _ => {
                    return plain(
                        StatusCode::BAD_REQUEST,
                        "access is member, not_member, archived or invisible",
                    )
                }
            };
            let Some(channel) = arg("channel") else {
                return plain(StatusCode::BAD_REQUEST, "channel is required");
            };
            state.channel_access.insert(channel, access);
            done()
        }
        (true, "unknown_users") => match arg("user") {
            Some(user) => {
                state.unknown_users.insert(user);
                done()
            }
            None => plain(StatusCode::BAD_REQUEST, "user is required"),
        },
        (true, "clock") => match args.get("advance_secs").and_then(Value::as_u64) {
            Some(secs) => {
                state.clock_offset += Duration::from_secs(secs);
                done()
            }
            None => plain(StatusCode::BAD_REQUEST, "advance_secs is required"),
        },
        (true, "tokens") => match (arg("token"), arg("team_id")) {
            (Some(token), Some(team)) => {
                state.add_token(&token, &team);
                done()
            }
            _ => plain(StatusCode::BAD_REQUEST, "token and team_id are required"),
        },
        (true, "workspaces") => match arg("team_id") {
            Some(team) => {
                let enterprise = arg("enterprise_id");
                let token = manual_bot_token(&team);
                state.add_workspace(&team, enterprise.as_deref());
                state.add_token(&token, &team);
                json_response(
                    StatusCode::OK,
                    &json!({"team_id": team, "enterprise_id": enterprise, "bot_token": token}),
                )
            }
            None => plain(StatusCode::BAD_REQUEST, "team_id is required"),
        },
        (true, "authorize") => {
            if args.get("deny").and_then(Value::as_bool) == Some(true) {
                state.oauth.deny_next = true;
                return done();
            }
            let org_wide = args.get("org_wide").and_then(Value::as_bool) == Some(true);
            let (team, enterprise) = (arg("team_id"), arg("enterprise_id"));
            let enterprise =
                enterprise.or_else(|| team.as_deref().and_then(|t| state.enterprise_of(t)));
            if org_wide == team.is_some() || (org_wide && enterprise.is_none()) {
                return plain(
                    StatusCode::BAD_REQUEST,
                    "team_id, or org_wide with enterprise_id, is required",
                );
            }
            state.oauth.approver = Some(Grant {
                team_id: team,
                enterprise_id: enterprise,
                org_wide,
                installer: arg("user").unwrap_or_else(|| STANDIN_INSTALLER.to_owned()),
                scope: String::new(),
            });
            done()
        }
        (true, "rotation") => match args.get("on").and_then(Value::as_bool) {
            Some(on) => {
                state.oauth.rotation = on;
                done()
            }
            None => plain(StatusCode::BAD_REQUEST, "on (true or false) is required"),
        },
        (false, "issued_tokens") => json_response(StatusCode::OK, &json!(state.oauth.issued)),
        (false, "calls") => json_response(
            StatusCode::OK,
            &json!(state.calls.values().collect::<Vec<_>>()),
        ),
        (false, "requests") => json_response(StatusCode::OK, &json!(state.requests)),
        (false, "response_posts") => json_response(StatusCode::OK, &json!(state.response_posts)),
        (false, "messages") => json_response(StatusCode::OK, &json!(state.messages)),
        (false, "composer_unfurls") => {
            json_response(StatusCode::OK, &json!(state.composer_unfurls))
        }
        _ => plain(StatusCode::NOT_FOUND, "unknown stand-in action"),
    }
}
