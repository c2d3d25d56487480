//! The local chat backend: a Hugging Face chat checkpoint written by transformers
//! (`assets/fixtures/hf/chat`, see `scripts/fixtures/hf_checkpoints.py`) answers through the
//! `ChatModel` trait with transformers' prompt and greedy tokens; tool calls are read back from
//! `<tool_call>` blocks.

use burn::tensor::Device;
use star_agents::chat::local::{split_tool_calls, LocalDecoder};
use star_agents::chat::{ChatBackend, ChatMessage, ChatModel, ToolSpec};
use std::path::{Path, PathBuf};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/fixtures/hf/chat")
}

#[derive(serde::Deserialize)]
struct Reference {
    conversation: Vec<serde_json::Value>,
    tools: Vec<serde_json::Value>,
    prompt: Vec<u32>,
    greedy: Vec<u32>,
    greedy_text: String,
}

#[test]
fn a_local_checkpoint_answers_with_transformers_prompt_and_tokens() {
    let r: Reference =
        serde_json::from_str(&std::fs::read_to_string(fixture().join("reference.json")).unwrap())
            .unwrap();
    let model = LocalDecoder::load(&fixture(), &Device::flex())
        .unwrap()
        .with_max_new_tokens(r.greedy.len());
    assert_eq!(model.describe(), format!("local:{}", fixture().display()));
    let text = |m: &serde_json::Value| m["content"].as_str().unwrap().to_string();
    let messages = [
        ChatMessage::system(text(&r.conversation[0])),
        ChatMessage::user(text(&r.conversation[1])),
    ];
    let f = &r.tools[0]["function"];
    let tools = [ToolSpec {
        name: f["name"].as_str().unwrap().into(),
        description: f["description"].as_str().unwrap().into(),
        parameters: f["parameters"].clone(),
    }];
    let answer = model.chat(&messages, Some(&tools)).unwrap();
    // the prompt is the one transformers' apply_chat_template renders, token for token
    assert_eq!(answer.usage.prompt_tokens, r.prompt.len() as u64);
    assert_eq!(answer.usage.completion_tokens, r.greedy.len() as u64);
    assert_eq!(answer.message.content, r.greedy_text.trim());
    assert!(answer.message.tool_calls.is_empty());
    // greedy: the same answer twice
    assert_eq!(model.chat(&messages, Some(&tools)).unwrap(), answer);
}

#[test]
fn tool_calls_are_read_from_their_blocks_and_malformed_ones_stay_text() {
    let (prose, calls) = split_tool_calls(
        "Let me check.\n<tool_call>\n{\"name\": \"co_occurrence\", \"arguments\": {\"item\": 42}}\n</tool_call>\n<tool_call>{\"name\": \"popularity\", \"arguments\": \"{\\\"item\\\": 8}\"}</tool_call>",
    );
    assert_eq!(prose, "Let me check.");
    assert_eq!(calls.len(), 2);
    assert_eq!(
        (calls[0].id.as_str(), calls[0].name.as_str()),
        ("call_0", "co_occurrence")
    );
    assert_eq!(calls[0].arguments, r#"{"item":42}"#);
    assert_eq!(
        (calls[1].name.as_str(), calls[1].arguments.as_str()),
        ("popularity", r#"{"item": 8}"#)
    );

    let (prose, calls) =
        split_tool_calls("a <tool_call>{not json}</tool_call> b <tool_call>{\"x\": 1}");
    assert!(calls.is_empty());
    assert_eq!(
        prose,
        "a <tool_call>{not json}</tool_call> b <tool_call>{\"x\": 1}"
    );
}

#[test]
fn chat_backends_parse_from_their_names() {
    assert_eq!("openai".parse::<ChatBackend>(), Ok(ChatBackend::OpenAi));
    assert_eq!(
        "local:/m/qwen".parse::<ChatBackend>(),
        Ok(ChatBackend::Local("/m/qwen".into()))
    );
    for bad in ["local:", "vllm", ""] {
        let err = bad.parse::<ChatBackend>().unwrap_err();
        assert!(err.contains("local:DIR") && err.contains("openai"), "{err}");
    }
    // a directory that is not a checkpoint is refused, naming it
    let tmp = tempfile::tempdir().unwrap();
    let err = ChatBackend::Local(tmp.path().into())
        .open(&Device::flex(), 8)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains(&tmp.path().display().to_string()), "{err}");
}
