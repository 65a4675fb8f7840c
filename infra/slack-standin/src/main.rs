//! `cargo run -p slack-standin -- --port 8111`: serves the Slack stand-in until Ctrl-C,
//! for the local demo. Prints the API URL, token, OAuth client and authorize URL to
//! configure the app with.

use std::net::SocketAddr;

use slack_standin::SlackStandin;

const USAGE: &str = "usage: slack-standin [--port PORT] [--rotation] \
[--workspace TEAM_ID[,ENTERPRISE_ID]]... [--token TOKEN --team TEAM_ID]...";

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut port: u16 = 8111;
    let mut extra_tokens = Vec::new();
    let mut workspaces = Vec::new();
    let mut rotation = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--rotation" {
            rotation = true;
            continue;
        }
        match (arg.as_str(), args.next()) {
            ("--workspace", Some(value)) => match value.split_once(',') {
                Some((team, enterprise)) => {
                    workspaces.push((team.to_owned(), Some(enterprise.to_owned())))
                }
                None => workspaces.push((value, None)),
            },
            ("--port", Some(value)) => match value.parse() {
                Ok(value) => port = value,
                Err(_) => exit_with_usage(&format!("not a port: {value}")),
            },
            ("--token", Some(token)) => match (args.next().as_deref(), args.next()) {
                (Some("--team"), Some(team)) => extra_tokens.push((token, team)),
                _ => exit_with_usage("--token needs --team TEAM_ID after it"),
            },
            _ => exit_with_usage(&format!("unexpected argument: {arg}")),
        }
    }

    let standin = match SlackStandin::bind(SocketAddr::from(([127, 0, 0, 1], port))).await {
        Ok(standin) => standin,
        Err(error) => {
            eprintln!("slack-standin: cannot listen on 127.0.0.1:{port}: {error}");
            std::process::exit(1);
        }
    };
    standin.set_rotation(rotation);
    for (team, enterprise) in &workspaces {
        let workspace = standin.add_workspace(team, enterprise.as_deref());
        println!("workspace {team}: bot token {}", workspace.bot_token());
    }
    for (token, team) in &extra_tokens {
        standin.add_token(token, team);
    }
    println!("Slack stand-in listening on {}", standin.base_url());
    println!("SLACK_API_URL={}", standin.api_url());
    println!("SLACK_BOT_TOKEN={}", standin.bot_token());
    println!("team: {}", standin.team_id());
    let (client_id, client_secret) = standin.oauth_client();
    println!("client_id={client_id} client_secret={client_secret}");
    println!("SLACK_AUTHORIZE_URL={}", standin.authorize_url());
    println!(
        "control: POST {0}_standin/response_urls | messages | link_shared | composer_unfurls | channels | unknown_users | clock | tokens | workspaces | authorize | rotation, GET {0}_standin/calls | requests | response_posts | messages | composer_unfurls | issued_tokens (see the crate README)",
        standin.base_url()
    );
    if tokio::signal::ctrl_c().await.is_err() {
        eprintln!("slack-standin: cannot wait for Ctrl-C; stopping");
    }
}

fn exit_with_usage(problem: &str) -> ! {
    eprintln!("slack-standin: {problem}\n{USAGE}");
    std::process::exit(2);
}
