//! `slack-calls-local`: the whole product on this machine.
//!
//! Without Slack credentials: a sandbox demo of one call from click to end and of a
//! second workspace installing the app and starting a call, then exit (`--serve` keeps
//! the sandbox running). With `SLACK_SIGNING_SECRET` and `SLACK_BOT_TOKEN` (one
//! workspace), or `SLACK_CLIENT_ID` and `SLACK_CLIENT_SECRET` (workspaces install it
//! through the install link): serves real Slack until Ctrl-C. Reads `.env` if present.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use local_server::{demo, launch, launch_sandbox, Running, StoreChoice, DEFAULT_SWEEP_INTERVAL};
use slack_calls::config::Config;
use slack_calls::secrets::StaticSecrets;

const DEFAULT_PORT: u16 = 3000;

fn lookup(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

#[tokio::main]
async fn main() -> ExitCode {
    // A missing .env is the normal case.
    let _ = dotenvy::dotenv();
    let serve = std::env::args().any(|a| a == "--serve");
    let oauth_client =
        lookup("SLACK_CLIENT_ID").is_some() && lookup("SLACK_CLIENT_SECRET").is_some();
    let sandbox = lookup("SLACK_SIGNING_SECRET").is_none()
        || (lookup("SLACK_BOT_TOKEN").is_none() && !oauth_client);
    if lookup("RUST_LOG").is_none() {
        // The demo's own lines say what happens; logs only when something goes wrong.
        std::env::set_var("RUST_LOG", if sandbox && !serve { "warn" } else { "info" });
    }
    slack_calls::telemetry::init();

    let port = match lookup("PORT").map(|p| p.parse::<u16>()) {
        None => DEFAULT_PORT,
        Some(Ok(port)) => port,
        Some(Err(_)) => {
            eprintln!("PORT must be a port number");
            return ExitCode::FAILURE;
        }
    };
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let sweep_interval = lookup("SWEEP_INTERVAL_SECONDS")
        .and_then(|s| s.parse().ok())
        .map_or(DEFAULT_SWEEP_INTERVAL, Duration::from_secs);

    if sandbox {
        run_sandbox(addr, serve, sweep_interval).await
    } else {
        run_with_slack(addr, sweep_interval).await
    }
}

async fn run_sandbox(addr: SocketAddr, serve: bool, sweep_interval: Duration) -> ExitCode {
    let store = if serve {
        StoreChoice::from_lookup(&lookup)
    } else {
        // A demo leaves nothing behind.
        StoreChoice::Embedded(None)
    };
    let mut sandbox = launch_sandbox(addr, lookup, &store, sweep_interval).await;
    if let Err(local_server::LaunchError::Bind { .. }) = &sandbox {
        eprintln!(
            "port {} is taken; the sandbox uses a free one instead",
            addr.port()
        );
        sandbox = launch_sandbox(
            SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            lookup,
            &store,
            sweep_interval,
        )
        .await;
    }
    let sandbox = match sandbox {
        Ok(sandbox) => sandbox,
        Err(error) => {
            eprintln!("could not start the sandbox: {error}");
            return ExitCode::FAILURE;
        }
    };
    let url = sandbox.running.server.url();
    println!(
        "Slack Calls sandbox: no Slack credentials set, so Slack is played by a local stand-in."
    );
    println!("  server:      {url}  (store: {})", store.describe());
    println!("  Slack API:   {}", sandbox.standin.api_url());
    println!();
    let outcome = demo::run(&sandbox, &mut |step| {
        println!(
            "{:>2}. {}  [{} ms]",
            step.number,
            step.line,
            step.took.as_millis()
        );
    })
    .await;
    let code = match outcome {
        Ok(steps) => {
            let total: Duration = steps.iter().map(|s| s.took).sum();
            println!();
            println!(
                "Done: {} steps in {} ms; Slack received {} Web API requests.",
                steps.len(),
                total.as_millis(),
                sandbox.standin.requests().len()
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("demo failed: {error}");
            ExitCode::FAILURE
        }
    };
    if serve {
        println!("Serving the sandbox at {url} until Ctrl-C.");
        wait_for_ctrl_c().await;
    }
    sandbox.running.server.shutdown().await;
    code
}

async fn run_with_slack(addr: SocketAddr, sweep_interval: Duration) -> ExitCode {
    let config = match Config::from_lookup(lookup) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("configuration error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let secrets = match StaticSecrets::from_lookup(lookup) {
        Ok(secrets) => secrets,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::FAILURE;
        }
    };
    let store = StoreChoice::from_lookup(&lookup);
    let Running { server, .. } = match launch(
        addr,
        config.clone(),
        Arc::new(secrets),
        &store,
        sweep_interval,
    )
    .await
    {
        Ok(running) => running,
        Err(error) => {
            eprintln!("could not start: {error}");
            return ExitCode::FAILURE;
        }
    };
    let url = server.url();
    println!(
        "Slack Calls, local, talking to real Slack at {}",
        config.slack_api_url
    );
    println!("  listening on {url}; expose it through a tunnel and paste into your Slack app:");
    println!("    Slash command / call button request URL: https://<your-tunnel>/slack/commands");
    println!("    Event subscriptions request URL:        https://<your-tunnel>/slack/events");
    println!("  Provider webhook (your meeting backend):  https://<your-tunnel>/provider/events");
    println!("  Install link (many workspaces):           https://<your-tunnel>/slack/install");
    println!(
        "    with OAuth & Permissions > Redirect URL: https://<your-tunnel>/slack/oauth_redirect"
    );
    println!("  store: {}", store.describe());
    println!(
        "  join URLs: {}  (unfurled domains: {})",
        config.join_url_template,
        config.unfurl_domains.join(", ")
    );
    println!("  secrets: signing secret, provider webhook secret, bot token and/or OAuth client loaded (not shown)");
    println!("Ctrl-C stops it; state is kept.");
    wait_for_ctrl_c().await;
    println!("Stopping: finishing requests in flight and queued jobs...");
    server.shutdown().await;
    ExitCode::SUCCESS
}

async fn wait_for_ctrl_c() {
    if let Err(error) = tokio::signal::ctrl_c().await {
        eprintln!("could not listen for Ctrl-C ({error}); stopping");
    }
}
