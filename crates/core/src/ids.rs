//! Typed identifiers.
//!
//! Every id is a newtype so that a user id cannot be passed where a session id is expected.
//! Ids are random UUIDs rendered as text; they carry no meaning and are safe to log.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// A new random id.
            pub fn random() -> Self {
                Self(format!(concat!($prefix, "_{}"), uuid::Uuid::new_v4().simple()))
            }

            /// Wraps an id read back from the store or from a token.
            pub fn from_stored(s: impl Into<String>) -> Self {
                Self(s.into())
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }
    };
}

id_type!(
    /// A user account.
    UserId, "usr"
);
id_type!(
    /// A group of users.
    GroupId, "grp"
);
id_type!(
    /// A sign-in session (browser cookie or CLI login).
    SessionId, "ses"
);
id_type!(
    /// An enrolled second factor.
    FactorId, "fac"
);
id_type!(
    /// A family of refresh tokens descending from one sign-in.
    TokenFamilyId, "fam"
);
id_type!(
    /// A signing key; also the JWK `kid`.
    KeyId, "key"
);
