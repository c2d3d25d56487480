//! The trajectory's segment vocabulary: `<plan>`, `<tool_call>`, `<tool_response>`,
//! `<reflection>`, `<recommend>`. The teacher writes steps in these tags, the tokenizer keeps
//! each tag a single special token (`assets/special_tokens.json`, checked against this enum by
//! a test), and the distillation loss labels every token with the segment it belongs to.

use serde::{Deserialize, Serialize};

/// A segment of a student sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Segment {
    /// The prompt and anything outside tagged segments: conditioned on, never predicted.
    Prompt,
    /// `<plan>…</plan>`.
    Plan,
    /// `<tool_call>…</tool_call>`.
    ToolCall,
    /// `<tool_response>…</tool_response>`: inserted by the tool executor, conditioned on.
    ToolResponse,
    /// `<reflection>…</reflection>` (analyst conclusions and reflector verdicts).
    Reflection,
    /// `<recommend>…</recommend>`.
    Recommend,
}

impl Segment {
    /// The tagged segments, in the order of `assets/special_tokens.json` (their tags' token
    /// ids follow this order).
    pub const TAGGED: [Segment; 5] = [
        Segment::Plan,
        Segment::ToolCall,
        Segment::ToolResponse,
        Segment::Reflection,
        Segment::Recommend,
    ];

    /// The segments whose tokens the distillation loss predicts, in loss order.
    pub const LEARNED: [Segment; 4] = [
        Segment::Plan,
        Segment::ToolCall,
        Segment::Reflection,
        Segment::Recommend,
    ];

    /// The tag name (`plan`, `tool_call`, …; `prompt` for the prompt, which has no tag).
    pub const fn name(self) -> &'static str {
        match self {
            Segment::Prompt => "prompt",
            Segment::Plan => "plan",
            Segment::ToolCall => "tool_call",
            Segment::ToolResponse => "tool_response",
            Segment::Reflection => "reflection",
            Segment::Recommend => "recommend",
        }
    }

    /// The tagged segment named `tag` (`plan`, …); `None` for anything else, `prompt` included.
    pub fn of_tag(tag: &str) -> Option<Segment> {
        Segment::TAGGED.into_iter().find(|s| s.name() == tag)
    }

    /// The opening tag, e.g. `<plan>`.
    pub fn open(self) -> String {
        format!("<{}>", self.name())
    }

    /// The closing tag, e.g. `</plan>`.
    pub fn close(self) -> String {
        format!("</{}>", self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_special_tokens_hold_exactly_the_tagged_segments_in_order() {
        let spec: serde_json::Value = serde_json::from_str(crate::student::SPECIAL_TOKENS).unwrap();
        let names: Vec<&str> = spec["segments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        let want: Vec<&str> = Segment::TAGGED.iter().map(|s| s.name()).collect();
        assert_eq!(names, want);
        // and the tokenizer's special tokens open and close each of them
        let specials = crate::student::special_tokens();
        for s in Segment::TAGGED {
            assert!(
                specials.contains(&s.open()) && specials.contains(&s.close()),
                "{s:?}"
            );
        }
    }

    #[test]
    fn tags_name_their_segments() {
        for s in Segment::TAGGED {
            assert_eq!(Segment::of_tag(s.name()), Some(s));
            assert_eq!(s.open(), format!("<{}>", s.name()));
            assert_eq!(s.close(), format!("</{}>", s.name()));
        }
        assert_eq!(Segment::of_tag("prompt"), None);
        assert_eq!(Segment::of_tag("<plan>"), None);
        assert!(Segment::LEARNED.iter().all(|s| Segment::TAGGED.contains(s)));
        assert!(!Segment::LEARNED.contains(&Segment::ToolResponse));
    }
}
