//! API Gateway HTTP API events (payload format 2.0), as the functions receive them.

use base64::Engine;
use serde_json::{json, Value};

/// A `POST` to `path` with `headers` (names are lowercased, as API Gateway does) and
/// `body`. Form bodies arrive base64-encoded (`isBase64Encoded: true`) in HTTP APIs;
/// pass `base64 = true` for them.
pub fn post_event(path: &str, headers: &[(&str, String)], body: &[u8], base64: bool) -> Value {
    let headers: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), Value::String(value.clone())))
        .collect();
    let body = if base64 {
        base64::engine::general_purpose::STANDARD.encode(body)
    } else {
        String::from_utf8_lossy(body).into_owned()
    };
    json!({
        "version": "2.0",
        "routeKey": format!("POST {path}"),
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "local.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "local",
            "http": {
                "method": "POST",
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "192.0.2.10",
                "userAgent": "Slackbot 1.0 (+https://api.slack.com/robots)"
            },
            "requestId": "local-request",
            "routeKey": format!("POST {path}"),
            "stage": "$default",
            "time": "22/Nov/2026:04:00:00 +0000",
            "timeEpoch": 1_795_320_000_000u64
        },
        "body": body,
        "isBase64Encoded": base64
    })
}

/// A `GET` of `path?query` from a browser: `headers` as in [`post_event`], and its
/// cookies (`name=value`) in the payload's `cookies` array, where API Gateway puts them.
pub fn get_event(path: &str, query: &str, headers: &[(&str, String)], cookies: &[String]) -> Value {
    let mut event = post_event(path, headers, b"", false);
    event["routeKey"] = json!(format!("GET {path}"));
    event["requestContext"]["routeKey"] = json!(format!("GET {path}"));
    event["requestContext"]["http"]["method"] = json!("GET");
    event["requestContext"]["http"]["userAgent"] = json!("Mozilla/5.0 (harness)");
    event["rawQueryString"] = json!(query);
    let parameters: serde_json::Map<String, Value> = url_pairs(query)
        .into_iter()
        .map(|(name, value)| (name, Value::String(value)))
        .collect();
    if !parameters.is_empty() {
        event["queryStringParameters"] = Value::Object(parameters);
    }
    if !cookies.is_empty() {
        event["cookies"] = json!(cookies);
    }
    if let Some(object) = event.as_object_mut() {
        object.remove("body");
    }
    event
}

/// `name=value` pairs of a query string, decoded.
fn url_pairs(query: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str(query).unwrap_or_default()
}

/// The cookies a function's HTTP API response sets (`Set-Cookie` headers become the
/// response's `cookies` array).
pub fn response_cookies(response: &Value) -> Vec<String> {
    let mut cookies: Vec<String> = response["cookies"]
        .as_array()
        .map(|all| {
            all.iter()
                .filter_map(|cookie| cookie.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if let Some(header) = response_header(response, "set-cookie") {
        cookies.push(header.to_owned());
    }
    cookies
}

/// The status and the body (decoded when base64) of a function's HTTP API response.
pub fn response_parts(response: &Value) -> (u16, String) {
    let status = response["statusCode"].as_u64().unwrap_or(0) as u16;
    let body = response["body"].as_str().unwrap_or_default();
    let body = if response["isBase64Encoded"].as_bool() == Some(true) {
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    } else {
        body.to_owned()
    };
    (status, body)
}

/// A response header, by lowercase name.
pub fn response_header<'a>(response: &'a Value, name: &str) -> Option<&'a str> {
    response["headers"]
        .as_object()?
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .and_then(|(_, value)| value.as_str())
}
