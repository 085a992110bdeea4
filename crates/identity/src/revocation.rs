//! Revocations as gateways receive them.
//!
//! The control plane records every revocation with a version that only grows. A gateway keeps
//! a [`RevocationSet`] and asks for what came after its version ([`RevocationDelta`]), so a
//! revocation reaches it on its next poll. An entry is kept only while a token it affects
//! could still be valid; after that it is pruned on both sides.

use seawall_core::auth::Principal;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// What a revocation names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevocationKind {
    /// A session (sign-out, or its refresh family revoked): every token with this `sid`.
    Session,
    /// One token, by `jti`.
    Jti,
    /// Every token of a user issued up to the revocation (user disabled, group removed).
    User,
}

impl RevocationKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RevocationKind::Session => "session",
            RevocationKind::Jti => "jti",
            RevocationKind::User => "user",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "session" => Some(RevocationKind::Session),
            "jti" => Some(RevocationKind::Jti),
            "user" => Some(RevocationKind::User),
            _ => None,
        }
    }
}

/// One revocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    pub version: i64,
    pub kind: RevocationKind,
    /// The session id, token id or user id.
    pub subject: String,
    /// When it was revoked (unix seconds). For [`RevocationKind::User`], tokens issued at or
    /// before this second are refused.
    pub revoked_at: i64,
    /// After this time no token it affects is valid any more.
    pub expires_at: i64,
}

/// The revocations after `from_version`, up to `version`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationDelta {
    pub from_version: i64,
    pub version: i64,
    pub entries: Vec<Revocation>,
}

/// A user's tokens issued before `revoked_before` are refused until `expires_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRevocation {
    /// Tokens with `iat` strictly before this (unix seconds) are revoked.
    pub revoked_before: i64,
    pub expires_at: i64,
}

/// Everything currently revoked, with the version it reflects.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationSet {
    pub version: i64,
    /// Session id to expiry.
    pub sessions: HashMap<String, i64>,
    /// Token id to expiry.
    pub jtis: HashMap<String, i64>,
    /// User id to its revocation.
    pub users: HashMap<String, UserRevocation>,
}

impl RevocationSet {
    /// Applies a delta. Entries are idempotent, so applying one twice changes nothing.
    pub fn apply(&mut self, delta: &RevocationDelta) {
        for e in &delta.entries {
            match e.kind {
                RevocationKind::Session => bump(
                    self.sessions.entry(e.subject.clone()).or_default(),
                    e.expires_at,
                ),
                RevocationKind::Jti => bump(
                    self.jtis.entry(e.subject.clone()).or_default(),
                    e.expires_at,
                ),
                RevocationKind::User => {
                    let u = self
                        .users
                        .entry(e.subject.clone())
                        .or_insert(UserRevocation {
                            revoked_before: 0,
                            expires_at: 0,
                        });
                    u.revoked_before = u.revoked_before.max(e.revoked_at.saturating_add(1));
                    u.expires_at = u.expires_at.max(e.expires_at);
                }
            }
        }
        self.version = self.version.max(delta.version);
    }

    /// Whether the token `p` describes is revoked.
    pub fn is_revoked(&self, p: &Principal) -> bool {
        if self.jtis.contains_key(&p.token_id) {
            return true;
        }
        if let Some(sid) = &p.session_id {
            if self.sessions.contains_key(sid.as_str()) {
                return true;
            }
        }
        self.users
            .get(p.user_id.as_str())
            .is_some_and(|u| p.issued_at < u.revoked_before)
    }

    /// Drops entries that expired before `now`.
    pub fn prune(&mut self, now: i64) {
        self.sessions.retain(|_, exp| *exp >= now);
        self.jtis.retain(|_, exp| *exp >= now);
        self.users.retain(|_, u| u.expires_at >= now);
    }

    /// How many entries the set holds.
    pub fn len(&self) -> usize {
        self.sessions.len() + self.jtis.len() + self.users.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn bump(slot: &mut i64, expires_at: i64) {
    *slot = (*slot).max(expires_at);
}

#[cfg(test)]
mod tests {
    use super::*;
    use seawall_core::ids::{SessionId, UserId};

    fn principal(iat: i64) -> Principal {
        Principal {
            user_id: UserId::from_stored("usr_1"),
            username: "alice".into(),
            groups: vec![],
            amr: vec![],
            auth_time: iat,
            mfa_time: iat,
            session_id: Some(SessionId::from_stored("ses_1")),
            token_id: "jti_1".into(),
            issued_at: iat,
            expires_at: iat + 300,
        }
    }

    fn entry(version: i64, kind: RevocationKind, subject: &str, at: i64) -> Revocation {
        Revocation {
            version,
            kind,
            subject: subject.into(),
            revoked_at: at,
            expires_at: at + 100,
        }
    }

    #[test]
    fn each_kind_revokes_what_it_names() {
        for (kind, subject) in [
            (RevocationKind::Session, "ses_1"),
            (RevocationKind::Jti, "jti_1"),
            (RevocationKind::User, "usr_1"),
        ] {
            let mut set = RevocationSet::default();
            assert!(!set.is_revoked(&principal(50)));
            set.apply(&RevocationDelta {
                from_version: 0,
                version: 1,
                entries: vec![entry(1, kind, subject, 50)],
            });
            assert!(set.is_revoked(&principal(50)), "{kind:?}");
            assert_eq!(set.version, 1);
        }
    }

    #[test]
    fn user_revocation_spares_tokens_issued_after_it() {
        let mut set = RevocationSet::default();
        set.apply(&RevocationDelta {
            from_version: 0,
            version: 3,
            entries: vec![entry(3, RevocationKind::User, "usr_1", 50)],
        });
        assert!(set.is_revoked(&principal(49)));
        assert!(set.is_revoked(&principal(50)));
        assert!(!set.is_revoked(&principal(51)));
    }

    #[test]
    fn pruning_drops_only_expired_entries_and_keeps_the_version() {
        let mut set = RevocationSet::default();
        set.apply(&RevocationDelta {
            from_version: 0,
            version: 2,
            entries: vec![
                entry(1, RevocationKind::Jti, "old", 0),
                entry(2, RevocationKind::Jti, "new", 500),
            ],
        });
        set.prune(200);
        assert_eq!(set.len(), 1);
        assert!(set.jtis.contains_key("new"));
        assert_eq!(set.version, 2);
    }

    #[test]
    fn set_round_trips_through_json() {
        let mut set = RevocationSet::default();
        set.apply(&RevocationDelta {
            from_version: 0,
            version: 1,
            entries: vec![entry(1, RevocationKind::User, "usr_1", 50)],
        });
        let text = serde_json::to_string(&set).unwrap();
        assert_eq!(serde_json::from_str::<RevocationSet>(&text).unwrap(), set);
    }
}
