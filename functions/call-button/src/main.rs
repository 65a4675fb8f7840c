//! `call-button` Lambda function. The flow arrives with its issue; until then the binary
//! only proves the workspace builds.

fn main() {
    let _ = slack_calls::config::Config::from_env();
}
