//! `disable_installation`: the app was uninstalled or its tokens revoked.

use crate::domain::Workspace;
use crate::flows::installation;
use crate::flows::Services;

use super::outcome::StepError;

pub(super) async fn disable_installation(
    workspace: &Workspace,
    reason: &str,
    services: &Services,
) -> Result<(), StepError> {
    // The one place an uninstall or a revocation is handled. No token named: the one
    // in the secret is the one that was revoked.
    installation::disable(services, &workspace.team_id, reason, None).await?;
    Ok(())
}
