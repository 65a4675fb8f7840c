//! `disable_installation`: the app was uninstalled or its tokens revoked.

use crate::domain::TeamId;
use crate::flows::installation;
use crate::flows::Services;

use super::outcome::StepError;

pub(super) async fn disable_installation(
    team_id: &TeamId,
    reason: &str,
    services: &Services,
) -> Result<(), StepError> {
    // No token named: the one in the secret is the one that was revoked.
    installation::disable(services, team_id, reason, None).await?;
    Ok(())
}
