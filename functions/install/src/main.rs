//! `install` Lambda: API Gateway HTTP API (payload 2.0) -> `slack_calls::entry::install::handle_install`
//! (`GET /slack/install`, `GET /slack/oauth_redirect`).

use lambda_http::{run, service_fn, Error, Request};
use slack_calls::entry::install::handle_install as handle;
use slack_calls::slack::RetryPolicy;

#[tokio::main]
async fn main() -> Result<(), Error> {
    slack_calls::telemetry::init();
    // Built once per container; secrets are fetched on first use. It seals the new
    // installation's tokens, so it links the token key. A person waits in a browser for
    // the code's exchange: the interactive budget.
    let services =
        slack_calls::wiring::services_with_tokens_from_env(RetryPolicy::interactive()).await?;
    let services = &services;
    run(service_fn(move |request: Request| async move {
        let (parts, _body) = request.into_parts();
        Ok::<_, Error>(handle(services, &parts).await)
    }))
    .await
}
