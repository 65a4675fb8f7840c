//! The install function as deployed: its binary under the Runtime API, fed the HTTP
//! API's GET events (cookies in the payload's `cookies` array), the state and the
//! installation in DynamoDB Local, the tokens sealed with a KMS key on moto, Slack's
//! authorize page and `oauth.v2.access` played by the stand-in.

use aws_sdk_dynamodb::types::AttributeValue;
use lambda_harness::apigw::{get_event, response_cookies, response_header, response_parts};
use serde_json::json;
use slack_standin::{SlackStandin, DEFAULT_TEAM_ID};

use super::Function;

const HOST: &str = "calls.execute-api.us-east-1.amazonaws.com";

/// `(path, query)` of a URL on the API.
fn path_and_query(url: &str) -> (String, String) {
    let rest = url
        .strip_prefix(&format!("https://{HOST}"))
        .unwrap_or_else(|| panic!("not a URL of the API: {url}"));
    match rest.split_once('?') {
        Some((path, query)) => (path.to_owned(), query.to_owned()),
        None => (rest.to_owned(), String::new()),
    }
}

/// Slack's authorize page, visited by `browser`: where it sends the browser back, as a
/// path and a query.
async fn redirect_back(browser: &reqwest::Client, authorize: &str) -> (String, String) {
    let page = browser.get(authorize).send().await.expect("authorize page");
    let back = page
        .headers()
        .get("location")
        .and_then(|value| value.to_str().ok())
        .expect("redirect back");
    path_and_query(back)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_install_through_the_deployed_binary() {
    let (dynamodb, table) = testkit::dynamodb::fresh_table().await;
    let standin = SlackStandin::start().await;
    let (client_id, client_secret) = standin.oauth_client();
    let secrets = testkit::secretsmanager::client().await;
    let secret_id = testkit::secretsmanager::create_secret(
        &secrets,
        &json!({
            "signing_secret": "install-signing-secret-0123456789",
            "provider_webhook_secret": "install-provider-secret-0123456789",
            "client_id": client_id,
            "client_secret": client_secret,
        })
        .to_string(),
    )
    .await;
    let kms = testkit::kms::client().await;
    let key_id = testkit::kms::create_key(&kms).await;
    let mut env = super::aws_env();
    env.extend([
        ("CALLS_TABLE", table.clone()),
        ("SECRET_ID", secret_id),
        ("SLACK_API_URL", standin.api_url()),
        ("SLACK_AUTHORIZE_URL", standin.authorize_url()),
        ("TOKEN_KMS_KEY_ID", key_id),
        (
            "AWS_ENDPOINT_URL_KMS",
            testkit::aws::emulator_endpoint(testkit::aws::KMS_ENDPOINT_VAR),
        ),
        ("RUST_LOG", "info".into()),
    ]);
    let install = Function::start("install", &env).await;
    let host = [
        ("host", HOST.to_owned()),
        ("x-forwarded-proto", "https".into()),
    ];

    // The install link: to Slack's authorize page, with a cookie for this browser.
    let answer = install
        .invoke(get_event("/slack/install", "", &host, &[]))
        .await;
    let (status, body) = response_parts(&answer);
    assert_eq!(status, 302, "{body}\n{}", install.process.output());
    let authorize = response_header(&answer, "location")
        .expect("location")
        .to_owned();
    assert!(
        authorize.starts_with(&standin.authorize_url()),
        "{authorize}"
    );
    assert!(
        authorize.contains("redirect_uri=https%3A%2F%2Fcalls.execute-api.us-east-1.amazonaws.com%2Fslack%2Foauth_redirect"),
        "{authorize}"
    );
    let set = response_cookies(&answer);
    assert_eq!(set.len(), 1, "{answer}");
    assert!(
        set[0].contains("; Secure; HttpOnly; SameSite=Lax"),
        "{}",
        set[0]
    );
    let cookie = set[0].split(';').next().unwrap_or_default().to_owned();

    // Slack's authorize page sends the browser back with a code.
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let (path, query) = redirect_back(&browser, &authorize).await;
    assert_eq!(path, "/slack/oauth_redirect");

    // Without the cookie: refused, nothing exchanged. (That used the state up: start
    // again for the real one.)
    let refused = install.invoke(get_event(&path, &query, &host, &[])).await;
    assert_eq!(response_parts(&refused).0, 403);
    assert!(standin.requests_for("oauth.v2.access").is_empty());
    let answer = install
        .invoke(get_event("/slack/install", "", &host, &[]))
        .await;
    let authorize = response_header(&answer, "location")
        .expect("location")
        .to_owned();
    let cookie_again = response_cookies(&answer)[0]
        .split(';')
        .next()
        .unwrap_or_default()
        .to_owned();
    assert_ne!(cookie_again, cookie, "a fresh nonce per attempt");
    let (path, query) = redirect_back(&browser, &authorize).await;

    // The redirect with this browser's cookie: exchanged, stored, answered with a page.
    let answer = install
        .invoke(get_event(
            &path,
            &query,
            &host,
            std::slice::from_ref(&cookie_again),
        ))
        .await;
    let (status, body) = response_parts(&answer);
    assert_eq!(status, 200, "{body}\n{}", install.process.output());
    assert!(body.contains("Calls is installed"), "{body}");
    assert_eq!(
        response_header(&answer, "content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(response_cookies(&answer)
        .iter()
        .any(|cookie| cookie.contains("Max-Age=0")));
    let access = standin.requests_for("oauth.v2.access");
    assert_eq!(access.len(), 1);

    // The installation is in the table, its token sealed (a raw read shows no token);
    // the state is gone.
    let item = dynamodb
        .get_item()
        .table_name(&table)
        .key("pk", AttributeValue::S(format!("TEAM#{DEFAULT_TEAM_ID}")))
        .key("sk", AttributeValue::S("INSTALL".into()))
        .consistent_read(true)
        .send()
        .await
        .expect("GetItem")
        .item
        .expect("the installation is stored");
    let issued = standin.issued_tokens();
    assert_eq!(issued.len(), 1);
    assert!(
        !format!("{item:?}").contains(&issued[0].access_token),
        "the bot token is stored sealed"
    );
    let states = dynamodb
        .scan()
        .table_name(&table)
        .filter_expression("begins_with(pk, :state)")
        .expression_attribute_values(":state", AttributeValue::S("STATE#".into()))
        .send()
        .await
        .expect("Scan");
    assert_eq!(states.count(), 0, "both states were used up");

    // The same redirect again: the state is used up.
    let again = install
        .invoke(get_event(
            &path,
            &query,
            &host,
            std::slice::from_ref(&cookie_again),
        ))
        .await;
    assert_eq!(response_parts(&again).0, 400);
    assert_eq!(standin.requests_for("oauth.v2.access").len(), 1);

    let output = install.process.output();
    for secret in [client_secret.as_str(), issued[0].access_token.as_str()] {
        assert!(
            !output.contains(secret),
            "a secret leaked into the logs:\n{output}"
        );
    }
}
