//! The four analysts of the paper, by kind: shared by the roles that play them and the
//! episodes that record their conclusions.

use serde::{Deserialize, Serialize};

/// The four analysts of the paper.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnalystKind {
    /// Who the user is: long-term tastes and similar users.
    UserProfile,
    /// What the whole history says about each candidate.
    HistoricalInterest,
    /// What the most recent items say.
    RecentInterest,
    /// Where recent tastes depart from long-term ones.
    InterestDivergence,
}

impl AnalystKind {
    /// All analysts, in the order they run.
    pub const ALL: [AnalystKind; 4] = [
        AnalystKind::UserProfile,
        AnalystKind::HistoricalInterest,
        AnalystKind::RecentInterest,
        AnalystKind::InterestDivergence,
    ];

    /// Display name.
    pub fn title(self) -> &'static str {
        match self {
            AnalystKind::UserProfile => "User-Profile analyst",
            AnalystKind::HistoricalInterest => "Historical-Interest analyst",
            AnalystKind::RecentInterest => "Recent-Interest analyst",
            AnalystKind::InterestDivergence => "Interest-Divergence analyst",
        }
    }
}
