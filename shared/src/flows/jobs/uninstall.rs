//! `disable_installation`: the app was uninstalled (the installation and its tokens
//! are deleted) or its tokens revoked (the tokens are).

use crate::domain::Workspace;
use crate::flows::installation;
use crate::flows::Services;

use super::outcome::StepError;

/// The reason Slack's `tokens_revoked` event is recorded with.
const TOKENS_REVOKED: &str = "tokens_revoked";

pub(super) async fn disable_installation(
    workspace: &Workspace,
    reason: &str,
    services: &Services,
) -> Result<(), StepError> {
    if reason == TOKENS_REVOKED {
        installation::revoke_bot_tokens(services, workspace).await?;
    } else {
        installation::uninstall(services, workspace).await?;
    }
    Ok(())
}
