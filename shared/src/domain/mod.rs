//! The domain: calls, participants, installations, jobs. Pure types and state
//! transitions; no I/O, no Lambda, no HTTP.

pub mod call;
pub mod event_receipt;
pub mod ids;
pub mod installation;
pub mod job;

pub use call::{
    Call, CallKind, CallState, CallUser, EndReason, NewCall, Participant, Rejection, SyncPlan,
    UnixSeconds,
};
pub use event_receipt::EventReceipt;
pub use installation::Installation;
pub use job::{Job, JobKind, JobStatus};
