//! `disable_installation`: the app was uninstalled (the installation and its tokens
//! are deleted) or its tokens revoked (the tokens are).

use crate::domain::{EndReason, Workspace};
use crate::flows::installation;
use crate::flows::Services;
use crate::store::modify_call_from;

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
    end_live_calls(workspace, services).await
}

/// The workspace's live calls are ended here, without a word to Slack (there is no
/// token left to say it with), so nothing touches them afterwards: the provider's
/// events find them ended, the sweep no longer lists them. Calls served by another
/// installation are left alone; an organisation's install ends those of all its
/// workspaces that it served.
async fn end_live_calls(workspace: &Workspace, services: &Services) -> Result<(), StepError> {
    let now = services.clock.now();
    let live = services.store.list_live_calls().await?;
    let mut ended = 0;
    for call in live
        .into_iter()
        .filter(|call| workspace.installation_serves(call))
    {
        let updated = modify_call_from(services.store.as_ref(), call, |c| {
            c.end(EndReason::Uninstalled, now, None).then(Vec::new)
        })
        .await?;
        ended += usize::from(updated.is_some_and(|c| c.end_reason == Some(EndReason::Uninstalled)));
    }
    if ended > 0 {
        tracing::info!(workspace = %workspace, ended, "the workspace's live calls ended with its installation");
    }
    Ok(())
}
