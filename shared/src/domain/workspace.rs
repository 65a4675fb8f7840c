//! Which Slack workspace a request or a call belongs to.

use serde::{Deserialize, Serialize};

use super::call::Call;
use super::ids::{EnterpriseId, TeamId};

/// A workspace as Slack names it on every request: its team and, inside an Enterprise
/// Grid organisation, the organisation. `is_enterprise_install` says the app was
/// installed for the whole organisation (one installation serves all its workspaces)
/// rather than for this workspace alone.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Workspace {
    pub team_id: TeamId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enterprise_id: Option<EnterpriseId>,
    #[serde(default)]
    pub is_enterprise_install: bool,
}

impl Workspace {
    /// A workspace outside any organisation, or one whose organisation is not known.
    pub fn team(team_id: TeamId) -> Self {
        Workspace {
            team_id,
            enterprise_id: None,
            is_enterprise_install: false,
        }
    }

    /// Whether `call` is this workspace's: a call belongs to the team it was started or
    /// shared in, whichever installation (the team's or its organisation's) serves it.
    pub fn owns(&self, call: &Call) -> bool {
        let same_org = match (&self.enterprise_id, &call.enterprise_id) {
            (Some(mine), Some(its)) => mine == its,
            _ => true,
        };
        call.team_id == self.team_id && same_org
    }

    /// Whether `call` is served by the installation this workspace's request names: the
    /// calls of its own team, and, for an organisation-wide install, the calls of every
    /// workspace of the organisation that the organisation's install serves. What an
    /// uninstall or a revocation stops.
    pub fn installation_serves(&self, call: &Call) -> bool {
        let whole_org = self.is_enterprise_install
            && call.enterprise_install
            && self.enterprise_id.is_some()
            && call.enterprise_id == self.enterprise_id;
        whole_org || (self.owns(call) && call.enterprise_install == self.is_enterprise_install)
    }
}

impl std::fmt::Display for Workspace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.enterprise_id {
            Some(enterprise) => write!(f, "{}/{}", enterprise, self.team_id),
            None => write!(f, "{}", self.team_id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::call::tests::call;
    use crate::domain::ids::id;

    #[test]
    fn a_workspace_owns_the_calls_of_its_team_only() {
        let mut call = call();
        let team = Workspace::team(id("T1"));
        assert!(team.owns(&call));
        assert!(!Workspace::team(id("T2")).owns(&call));

        // Inside an organisation, through the team's or the org's install alike.
        call.enterprise_id = Some(id("E1"));
        let org_install = Workspace {
            team_id: id("T1"),
            enterprise_id: Some(id("E1")),
            is_enterprise_install: true,
        };
        assert!(org_install.owns(&call));
        assert!(
            team.owns(&call),
            "an event that did not name the organisation"
        );
        let other_org = Workspace {
            enterprise_id: Some(id("E2")),
            ..org_install
        };
        assert!(!other_org.owns(&call));
    }

    #[test]
    fn an_org_install_serves_every_workspace_of_the_org_a_team_install_its_own() {
        let mut call = call();
        call.enterprise_id = Some(id("E1"));
        call.enterprise_install = true;
        let org_install_elsewhere = Workspace {
            team_id: id("T9"),
            enterprise_id: Some(id("E1")),
            is_enterprise_install: true,
        };
        assert!(org_install_elsewhere.installation_serves(&call));
        assert!(!org_install_elsewhere.owns(&call));
        let team_install = Workspace {
            team_id: id("T1"),
            enterprise_id: Some(id("E1")),
            is_enterprise_install: false,
        };
        assert!(
            !team_install.installation_serves(&call),
            "a team's own install does not serve calls made through the org's"
        );
        call.enterprise_install = false;
        assert!(team_install.installation_serves(&call));
        assert!(!org_install_elsewhere.installation_serves(&call));
        let other_org = Workspace {
            enterprise_id: Some(id("E2")),
            ..org_install_elsewhere
        };
        call.enterprise_install = true;
        assert!(!other_org.installation_serves(&call));
    }
}
