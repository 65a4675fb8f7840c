//! `hello-lambda`: the cold-start baseline. What every function pays before its own
//! code runs (process start, the tokio runtime, `lambda_http`'s Runtime API client),
//! and nothing else; the bench reports the functions as ratios to it.

use lambda_http::{run, service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    run(service_fn(|_request: Request| async {
        Ok::<_, Error>("hello")
    }))
    .await
}
