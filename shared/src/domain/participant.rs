//! Who is in a call: each participant is an item of its own under the call (so a join
//! to a call of 5,000 costs what a join to a call of 10 does), holding what the
//! provider said last about the person and what Slack was told.

use serde::{Deserialize, Serialize};

use super::call::UnixSeconds;
use super::ids::UserId;

/// A participant as Slack's `users` arrays take it: a Slack user, or an external one
/// with a display name. Serialises to exactly Slack's shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CallUser {
    Slack {
        slack_id: UserId,
    },
    External {
        external_id: String,
        display_name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        avatar_url: Option<String>,
    },
}

impl CallUser {
    /// The participant's identity: the Slack id when known, else the provider's id.
    /// A person who leaves and rejoins keeps it, so they stay one participant.
    pub fn identity(&self) -> &str {
        match self {
            CallUser::Slack { slack_id } => slack_id.as_str(),
            CallUser::External { external_id, .. } => external_id,
        }
    }
}

/// One person of a call. Presence follows the latest event about them, whatever the
/// order events arrive in: a join counts only if it is newer than their latest leave
/// (a leave wins a tie), and a redelivered event changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    pub user: CallUser,
    /// In the call right now, as far as the provider has told us.
    pub present: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_joined_at: Option<UnixSeconds>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_left_at: Option<UnixSeconds>,
    /// What Slack shows of them (the user as last added); unset while not shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shown: Option<CallUser>,
    /// Slack refused to show them (`user_not_found`: never a user of the workspace, or
    /// deleted), with its error code. Left out of every later change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
    /// Optimistic-locking version of the participant's item (0: not stored yet).
    #[serde(default)]
    pub version: u64,
}

/// What Slack has to be told about one participant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParticipantChange {
    /// `calls.participants.add` with this user.
    Add(CallUser),
    /// `calls.participants.remove` with the user as Slack shows them.
    Remove(CallUser),
}

impl Participant {
    /// Someone we have heard nothing about yet.
    pub fn new(user: CallUser) -> Self {
        Participant {
            user,
            present: false,
            last_joined_at: None,
            last_left_at: None,
            shown: None,
            refused: None,
            version: 0,
        }
    }

    pub fn identity(&self) -> &str {
        self.user.identity()
    }

    /// Nothing has been recorded about them yet (their item does not exist).
    pub fn is_unrecorded(&self) -> bool {
        self.version == 0 && self.last_joined_at.is_none() && self.last_left_at.is_none()
    }

    /// Records a join made at `at`. Returns whether what Slack should show changed.
    pub fn joined(&mut self, user: CallUser, at: UnixSeconds) -> bool {
        let before = (self.present, self.user.clone());
        if self.last_joined_at.is_none_or(|joined| at >= joined) {
            // The newest join brings the newest display name and avatar.
            self.user = user;
            self.last_joined_at = Some(at);
        }
        self.settle();
        before != (self.present, self.user.clone())
    }

    /// Records a leave made at `at`. Returns whether their presence changed.
    pub fn left(&mut self, at: UnixSeconds) -> bool {
        let before = self.present;
        self.last_left_at = Some(self.last_left_at.map_or(at, |left| left.max(at)));
        self.settle();
        before != self.present
    }

    /// Presence from the latest join and leave: the later one wins, a leave a tie.
    fn settle(&mut self) {
        self.present = match (self.last_joined_at, self.last_left_at) {
            (Some(joined), Some(left)) => joined > left,
            (Some(_), None) => true,
            (None, _) => false,
        };
    }

    /// What Slack still has to be told about them, if anything.
    pub fn pending(&self) -> Option<ParticipantChange> {
        match (&self.shown, self.present && self.refused.is_none()) {
            (None, true) => Some(ParticipantChange::Add(self.user.clone())),
            (Some(shown), false) => Some(ParticipantChange::Remove(shown.clone())),
            _ => None,
        }
    }

    /// What to send when what Slack shows of them is not known (another run changed
    /// them while this one told Slack): what they should show, whatever `shown` says.
    /// Slack takes a repeated change as done (`bad_users`).
    pub fn resend(&self) -> Option<ParticipantChange> {
        if self.refused.is_some() {
            return None;
        }
        Some(if self.present {
            ParticipantChange::Add(self.user.clone())
        } else {
            ParticipantChange::Remove(self.shown.clone().unwrap_or_else(|| self.user.clone()))
        })
    }

    /// Slack made `change` (now, or earlier: `bad_users`).
    pub fn acknowledge(&mut self, change: &ParticipantChange) {
        self.shown = match change {
            ParticipantChange::Add(user) => Some(user.clone()),
            ParticipantChange::Remove(_) => None,
        };
    }

    /// Slack refused them (`code`); they are not shown.
    pub fn refuse(&mut self, code: &str) {
        self.refused = Some(code.to_owned());
        self.shown = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::id;

    fn slack(user: &str) -> CallUser {
        CallUser::Slack { slack_id: id(user) }
    }

    fn guest(name: &str) -> CallUser {
        CallUser::External {
            external_id: "g1".into(),
            display_name: name.into(),
            avatar_url: None,
        }
    }

    #[test]
    fn a_leave_wins_over_an_older_or_equal_join_in_any_order() {
        for order in [[0, 1, 2], [2, 1, 0], [1, 2, 0], [2, 0, 1]] {
            let mut p = Participant::new(slack("U2"));
            for step in order {
                match step {
                    0 => p.joined(slack("U2"), 10),
                    1 => p.left(20),
                    _ => p.joined(slack("U2"), 20),
                };
            }
            assert!(!p.present, "{order:?}");
            assert_eq!(p.pending(), None, "{order:?}");
        }
        let mut p = Participant::new(slack("U2"));
        p.left(20);
        assert!(p.joined(slack("U2"), 21), "a newer join re-adds");
        assert!(!p.joined(slack("U2"), 21), "a duplicate changes nothing");
        assert_eq!(p.pending(), Some(ParticipantChange::Add(slack("U2"))));
    }

    #[test]
    fn the_newest_join_names_them() {
        let mut p = Participant::new(guest("New"));
        assert!(p.joined(guest("New"), 20));
        assert!(!p.joined(guest("Old"), 10), "an older join does not rename");
        assert_eq!(p.user, guest("New"));
        assert!(p.joined(guest("Newer"), 30));
        assert_eq!(p.user, guest("Newer"));
    }

    #[test]
    fn pending_follows_what_slack_shows() {
        let mut p = Participant::new(slack("U2"));
        assert!(p.is_unrecorded());
        p.joined(slack("U2"), 1);
        let add = p.pending().expect("owed an add");
        p.acknowledge(&add);
        assert_eq!(p.pending(), None);
        p.left(2);
        assert_eq!(p.pending(), Some(ParticipantChange::Remove(slack("U2"))));
        p.acknowledge(&ParticipantChange::Remove(slack("U2")));
        assert_eq!(p.pending(), None);
        p.joined(slack("U2"), 3);
        p.refuse("user_not_found");
        assert_eq!(
            p.pending(),
            None,
            "a refused participant is never sent again"
        );
    }

    mod histories {
        use super::*;
        use crate::domain::call::tests::call;
        use crate::domain::Presence;
        use proptest::prelude::*;

        /// (person, joined?, time): an event of a history.
        type Event = (usize, bool, i64);

        const PEOPLE: [&str; 3] = ["U2", "U3", "U4"];

        /// What the latest event about `person` says (a leave wins a tie); absent if none.
        fn latest_says_present(history: &[Event], person: usize) -> bool {
            history
                .iter()
                .filter(|(who, _, _)| *who == person)
                .max_by_key(|(_, joined, at)| (*at, !*joined))
                .is_some_and(|(_, joined, _)| *joined)
        }

        fn history() -> impl Strategy<Value = (Vec<Event>, Vec<usize>, Vec<bool>)> {
            prop::collection::vec((0..PEOPLE.len(), any::<bool>(), 0i64..20), 1..16).prop_flat_map(
                |history| {
                    let n = history.len();
                    // Deliveries: each event once or more (redeliveries), in any order;
                    // a sync may run after any of them.
                    let deliveries =
                        prop::collection::vec(0..n, n..3 * n).prop_map(move |mut extra| {
                            extra.extend(0..n);
                            extra
                        });
                    (
                        Just(history),
                        deliveries.prop_shuffle(),
                        prop::collection::vec(any::<bool>(), 3 * n + n),
                    )
                },
            )
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            /// Whatever order and however often events arrive, and whenever syncs run,
            /// each person ends as the latest event about them says, in the call's
            /// counts and in what Slack is told.
            #[test]
            fn the_latest_event_per_person_wins((history, deliveries, syncs) in history()) {
                let mut call = call();
                let base = call.created_at;
                let mut people: Vec<Participant> = PEOPLE
                    .iter()
                    .map(|id| Participant::new(CallUser::Slack { slack_id: crate::domain::ids::id(id) }))
                    .collect();
                let mut slack_shows = [false; PEOPLE.len()];
                let sync = |people: &mut Vec<Participant>, slack_shows: &mut [bool; 3]| {
                    for (i, p) in people.iter_mut().enumerate() {
                        if let Some(change) = p.pending() {
                            slack_shows[i] = matches!(change, ParticipantChange::Add(_));
                            p.acknowledge(&change);
                        }
                    }
                };
                for (step, &index) in deliveries.iter().enumerate() {
                    let (who, joined, at) = history[index];
                    let presence = if joined {
                        Presence::Joined(people[who].user.clone())
                    } else {
                        Presence::Left
                    };
                    call.record_presence(&mut people[who], presence, Some(base + at), base + 20);
                    if syncs.get(step).copied().unwrap_or(false) {
                        sync(&mut people, &mut slack_shows);
                    }
                }
                sync(&mut people, &mut slack_shows);
                for (who, p) in people.iter().enumerate() {
                    let expected = latest_says_present(&history, who);
                    prop_assert_eq!(p.present, expected, "{} after {:?}", PEOPLE[who], deliveries);
                    prop_assert_eq!(slack_shows[who], expected);
                    prop_assert_eq!(p.pending(), None);
                }
                let present = people.iter().filter(|p| p.present).count();
                prop_assert_eq!(call.present_count as usize, present);
                prop_assert_eq!(call.nobody_joined(), !history.iter().any(|(_, joined, _)| *joined));
            }
        }
    }
}
