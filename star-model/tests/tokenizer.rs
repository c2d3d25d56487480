//! The tokenizer: training on a corpus, atomic special tokens, round trips, save/load.

use star_model::student::{special_tokens, StarTokenizer};

fn corpus() -> Vec<String> {
    let lines = [
        "<plan>The history is long, so co-occurrence carries the most weight.</plan>",
        "<tool_call>{\"name\":\"item_cf\",\"arguments\":{\"item\":\"242\"}}</tool_call>",
        "<tool_response>[603] Rear Window (1954) x28; [281] River Wild, The (1994) x20.</tool_response>",
        "<reflection>Reflector: all 96 claims match the tool results.</reflection>",
        "<recommend>[603] [281] [478] | 1. Rear Window: 28 of the 50 users closest to you watched it.</recommend>",
        "User 1 has 200 items. Candidates: <item>[603] Rear Window (1954); <item>[281] River Wild, The (1994)",
        "Misérables, Les (1995) — Señor Zorrito; Über den Wolken",
    ];
    (0..20)
        .flat_map(|_| lines.iter().map(|s| s.to_string()))
        .collect()
}

#[test]
fn special_tokens_are_atomic_and_text_round_trips() {
    let tk = StarTokenizer::train(corpus().into_iter(), 300).unwrap();
    assert!(tk.vocab_size() <= 300 && tk.vocab_size() > special_tokens().len());
    // every special token has its own id and encodes to exactly that id
    for (i, s) in special_tokens().iter().enumerate() {
        assert_eq!(tk.token_id(s), Some(i as u32), "{s}");
        assert_eq!(tk.encode(s).unwrap(), vec![i as u32], "{s}");
    }
    // inside text too, a tag is one token
    let text = "<recommend>[603] [281]</recommend> <item>Señor Zorrito (1994)";
    let ids = tk.encode(text).unwrap();
    let rec = tk.token_id("<recommend>").unwrap();
    let item = tk.token_id("<item>").unwrap();
    assert_eq!(ids[0], rec);
    assert_eq!(ids.iter().filter(|&&i| i == item).count(), 1);
    assert_eq!(tk.decode(&ids).unwrap(), text);
    // text never seen in training (byte-level BPE has no unknown characters)
    let odd = "日本語 ✓ <plan>x</plan>";
    assert_eq!(tk.decode(&tk.encode(odd).unwrap()).unwrap(), odd);
    // save / load
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokenizer.json");
    tk.save(&path).unwrap();
    let back = StarTokenizer::load(&path).unwrap();
    assert_eq!(back.encode(text).unwrap(), ids);
    let err = StarTokenizer::load(&dir.path().join("missing.json")).unwrap_err();
    assert!(err.to_string().contains("missing.json"), "{err}");
}

#[test]
fn training_is_deterministic() {
    // a resumed distillation retrains nothing, but runs that rebuild a tokenizer from the same
    // corpus must get the same ids
    let a = StarTokenizer::train(corpus().into_iter(), 300).unwrap();
    let b = StarTokenizer::train(corpus().into_iter(), 300).unwrap();
    let text = "<recommend>[603] [281]</recommend> Rear Window (1954) co-watched 28 times";
    assert_eq!(a.encode(text).unwrap(), b.encode(text).unwrap());
    assert_eq!(
        a.inner().get_vocab(true).len(),
        b.inner().get_vocab(true).len()
    );
    let mut va: Vec<_> = a.inner().get_vocab(true).into_iter().collect();
    let mut vb: Vec<_> = b.inner().get_vocab(true).into_iter().collect();
    va.sort();
    vb.sort();
    assert_eq!(va, vb);
}

#[test]
fn every_cut_short_tokenizer_file_is_an_error_naming_it() {
    // The tokenizers crate panics on some damaged files (found by the model-directory property
    // test: `Helper: Error("EOF while parsing a value")`); loading must return an error.
    let tk = StarTokenizer::train(corpus().into_iter(), 300).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("tokenizer.json");
    tk.save(&good).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let path = dir.path().join("cut.json");
    for len in (0..bytes.len()).step_by(3) {
        std::fs::write(&path, &bytes[..len]).unwrap();
        let loaded = std::panic::catch_unwind(|| StarTokenizer::load(&path));
        let err = loaded
            .unwrap_or_else(|_| panic!("cut to {len} bytes: panicked"))
            .err()
            .unwrap_or_else(|| panic!("cut to {len} bytes: loaded"));
        assert!(err.to_string().contains("cut.json"), "{err}");
    }
}
