//! Where an episode comes from: a training sample (a user's train position) or a valid/test
//! case. It is the episode's id, written in trajectory files as `train:USER:T`,
//! `valid:USER` or `test:USER`.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Where an episode comes from; its id.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Origin {
    /// A training sample: the prefix of `user`'s train sequence before `position`, whose item
    /// is the target. Written `train:USER:T`.
    Train {
        /// Raw user id.
        user: String,
        /// Position of the target in the user's train sequence.
        position: usize,
    },
    /// The user's validation case. Written `valid:USER`.
    Valid {
        /// Raw user id.
        user: String,
    },
    /// The user's test case. Written `test:USER`.
    Test {
        /// Raw user id.
        user: String,
    },
}

impl Origin {
    /// The raw user id.
    pub fn user(&self) -> &str {
        match self {
            Origin::Train { user, .. } | Origin::Valid { user } | Origin::Test { user } => user,
        }
    }

    /// The split's name: `train`, `valid` or `test`.
    pub fn split(&self) -> &'static str {
        match self {
            Origin::Train { .. } => "train",
            Origin::Valid { .. } => "valid",
            Origin::Test { .. } => "test",
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Train { user, position } => write!(f, "train:{user}:{position}"),
            Origin::Valid { user } => write!(f, "valid:{user}"),
            Origin::Test { user } => write!(f, "test:{user}"),
        }
    }
}

/// An episode id that is not `train:USER:T`, `valid:USER` or `test:USER`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("episode id `{id}`: {message}")]
pub struct OriginError {
    /// The id.
    pub id: String,
    /// What is wrong with it.
    pub message: String,
}

impl std::str::FromStr for Origin {
    type Err = OriginError;

    fn from_str(id: &str) -> Result<Self, OriginError> {
        let bad = |message: &str| OriginError {
            id: id.to_string(),
            message: message.to_string(),
        };
        let (kind, rest) = id
            .split_once(':')
            .ok_or_else(|| bad("expected `train:USER:T`, `valid:USER` or `test:USER`"))?;
        let user = |u: &str| {
            if u.is_empty() {
                Err(bad("the user id is empty"))
            } else {
                Ok(u.to_string())
            }
        };
        match kind {
            "train" => {
                let (u, t) = rest
                    .rsplit_once(':')
                    .ok_or_else(|| bad("a train id ends in `:T`, the target position"))?;
                let position = t
                    .parse()
                    .map_err(|_| bad("the target position is not a number"))?;
                Ok(Origin::Train {
                    user: user(u)?,
                    position,
                })
            }
            "valid" => Ok(Origin::Valid { user: user(rest)? }),
            "test" => Ok(Origin::Test { user: user(rest)? }),
            _ => Err(bad("the split is not `train`, `valid` or `test`")),
        }
    }
}

impl TryFrom<String> for Origin {
    type Error = OriginError;
    fn try_from(id: String) -> Result<Self, OriginError> {
        id.parse()
    }
}

impl From<Origin> for String {
    fn from(o: Origin) -> String {
        o.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_text_and_json() {
        for (id, origin) in [
            (
                "train:196:12",
                Origin::Train {
                    user: "196".into(),
                    position: 12,
                },
            ),
            // a raw user id may hold a colon: the position is what follows the last one
            (
                "train:a:b:3",
                Origin::Train {
                    user: "a:b".into(),
                    position: 3,
                },
            ),
            ("valid:7", Origin::Valid { user: "7".into() }),
            ("test:u:1", Origin::Test { user: "u:1".into() }),
        ] {
            assert_eq!(id.parse::<Origin>().unwrap(), origin);
            assert_eq!(origin.to_string(), id);
            let json = serde_json::to_string(&origin).unwrap();
            assert_eq!(json, format!("\"{id}\""));
            assert_eq!(serde_json::from_str::<Origin>(&json).unwrap(), origin);
        }
    }

    #[test]
    fn a_bad_id_is_refused_naming_it() {
        for (id, says) in [
            ("196", "expected `train:USER:T`"),
            ("train:196", "ends in `:T`"),
            ("train:196:x", "not a number"),
            ("train::4", "user id is empty"),
            ("test:", "user id is empty"),
            ("dev:196", "not `train`, `valid` or `test`"),
        ] {
            let err = id.parse::<Origin>().unwrap_err().to_string();
            assert!(err.starts_with(&format!("episode id `{id}`: ")), "{err}");
            assert!(err.contains(says), "{err}");
        }
        let err = serde_json::from_str::<Origin>("\"nope\"").unwrap_err();
        assert!(err.to_string().contains("episode id `nope`"), "{err}");
    }
}
