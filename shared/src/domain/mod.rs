//! The domain: calls, participants, installations, jobs, and the ids that name them.
//! Pure types and state transitions; no I/O, no Lambda, no HTTP, and nothing of the
//! crate outside this module.

pub mod acks;
pub mod call;
pub mod event_receipt;
pub mod ids;
pub mod installation;
pub mod job;
pub mod limits;
pub mod notice;
pub mod oauth_state;
pub mod participant;
pub mod registration;
pub mod repair;
pub mod sync_plan;
pub mod unfurl;
pub mod workspace;

pub use acks::{ShownDetails, SlackAcks};
pub use call::{Call, CallKind, CallState, EndReason, NewCall, Presence, Rejection, UnixSeconds};
pub use event_receipt::EventReceipt;
pub use ids::{
    ChannelId, EnterpriseId, ExternalId, IdError, InvalidField, SlackCallId, TeamId, UserId,
};
pub use installation::{Installation, InstallationKey};
pub use job::{Job, JobKind, JobStatus, Lease};
pub use notice::ProviderNotice;
pub use oauth_state::{OAuthState, StateCheck};
pub use participant::{CallUser, Participant, ParticipantChange};
pub use registration::RegistrationClaim;
pub use repair::{OwedBy, ParticipantsSettled, Reconciliation, RepairJob};
pub use sync_plan::SyncPlan;
pub use unfurl::{UnfurlSource, UnfurlTarget};
pub use workspace::Workspace;
