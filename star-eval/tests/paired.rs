//! Paired comparisons: the bootstrap interval on hand-checkable cases, the strongest baseline,
//! and what a report writes (JSON round trip, the Markdown tables).

mod support;

use star_eval::paired::{compare_cases, Resamples, COMPARED, RESAMPLES, SEED};
use star_eval::{CaseResult, EvalReport};
use support::{cases, report};

#[test]
fn constant_differences_have_a_point_interval_and_equal_methods_zero() {
    let s = Resamples::new(5, 200, 7);
    let d = s.interval(&[0.5; 5]);
    assert_eq!((d.mean, d.low, d.high), (0.5, 0.5, 0.5));
    assert_eq!(d.sign(), Some(true));
    let same = compare_cases(
        ("a", &cases(&[0, 3, 9])),
        ("b", &cases(&[0, 3, 9])),
        &Resamples::new(3, 100, 1),
    )
    .unwrap();
    for key in COMPARED {
        let d = same[key];
        assert_eq!((d.mean, d.low, d.high), (0.0, 0.0, 0.0), "{key}");
        assert_eq!(d.sign(), None);
    }
}

#[test]
fn the_interval_brackets_the_mean_and_follows_the_data() {
    // 100 cases: the method finds the item first on 30 of them where the reference has it
    // 5th; elsewhere the two agree. avg-HR per case: 1 against 1/3 (rank 4 is in the top 5
    // only), so the mean difference is 0.3 · 2/3 = 0.2.
    let reference: Vec<usize> = vec![4; 100];
    let method: Vec<usize> = (0..100).map(|i| if i % 10 < 3 { 0 } else { 4 }).collect();
    let s = Resamples::new(100, RESAMPLES, SEED);
    let d = compare_cases(("m", &cases(&method)), ("r", &cases(&reference)), &s).unwrap();
    let avg = d["avg_HR"];
    assert!((avg.mean - 0.2).abs() < 1e-12, "{avg:?}");
    assert!(avg.low < avg.mean && avg.mean < avg.high, "{avg:?}");
    // the standard error is sqrt(0.3 · 0.7 / 100) · 2/3 ≈ 0.031: the interval is about ±0.06
    assert!((avg.high - avg.low - 0.12).abs() < 0.03, "{avg:?}");
    assert_eq!(avg.sign(), Some(true));
    // HR@1: 0.3 better; the reverse comparison is the mirror image
    assert!((d["HR@1"].mean - 0.3).abs() < 1e-12);
    let back = compare_cases(("r", &cases(&reference)), ("m", &cases(&method)), &s).unwrap();
    assert!((back["avg_HR"].mean + 0.2).abs() < 1e-12);
    assert!((back["avg_HR"].high + avg.low).abs() < 1e-12);
    assert_eq!(back["avg_HR"].sign(), Some(false));
    // the same seed draws the same sets
    assert_eq!(
        Resamples::new(100, RESAMPLES, SEED).interval(&[0.1; 100]),
        s.interval(&[0.1; 100])
    );
}

#[test]
fn cases_of_other_users_are_refused_by_name() {
    let s = Resamples::new(2, 10, 1);
    let mut other = cases(&[0, 1]);
    other[1].user_raw = "x9".into();
    let err = compare_cases(("m", &cases(&[0, 1])), ("r", &other), &s).unwrap_err();
    assert!(err.to_string().contains("x9"), "{err}");
    let err = compare_cases(("m", &cases(&[0, 1])), ("r", &cases(&[0])), &s).unwrap_err();
    assert!(err.to_string().contains("m has 2 cases and r 1"), "{err}");
}

#[test]
fn a_report_compares_every_method_with_its_references() {
    let ranks_base: Vec<usize> = (0..40).map(|i| i % 7).collect();
    let ranks_weak: Vec<usize> = (0..40).map(|i| (i % 7) + 3).collect();
    let ranks_star: Vec<usize> = (0..40)
        .map(|i| if i % 2 == 0 { 0 } else { i % 7 })
        .collect();
    let mut r = report(&[
        ("Weak", &ranks_weak),
        ("Base", &ranks_base),
        ("teacher", &ranks_weak),
        ("student", &ranks_star),
    ]);
    assert_eq!(r.strongest(["Weak", "Base", "missing"]), Some("Base"));
    assert_eq!(r.strongest(["missing"]), None);
    r.compare_against("Base", "strongest baseline").unwrap();
    r.compare_against("teacher", "teacher").unwrap();
    // a second comparison against the same reference replaces the first
    r.compare_against("Base", "strongest baseline").unwrap();
    assert_eq!(r.comparisons.len(), 2);
    let c = &r.comparisons[0];
    assert_eq!(
        (c.against.as_str(), c.resamples, c.seed),
        ("Base", RESAMPLES, SEED)
    );
    assert_eq!(c.methods.len(), 3);
    assert!(!c.methods.contains_key("Base"));
    assert_eq!(c.methods["student"]["avg_HR"].sign(), Some(true));
    assert_eq!(c.methods["Weak"]["avg_HR"].sign(), Some(false));
    assert!(r.compare_against("nobody", "x").is_err());

    let md = r.to_markdown();
    assert!(md.contains("### Against Base (strongest baseline)"), "{md}");
    assert!(md.contains("### Against teacher (teacher)"), "{md}");
    let student_row = md
        .lines()
        .find(|l| l.starts_with("| student |") && l.contains('['))
        .expect("a student row in a comparison table");
    assert!(student_row.contains("**+"), "{student_row}");

    // the comparisons are part of the JSON
    let back: EvalReport = serde_json::from_str(&r.to_json_string()).unwrap();
    assert_eq!(back.comparisons, r.comparisons);
    // a report without comparisons has no such key
    let plain = report(&[("Base", &ranks_base)]);
    assert!(!plain.to_json_string().contains("comparisons"));
}

#[test]
fn per_user_files_read_back_give_the_same_comparisons() {
    let dir = tempfile::tempdir().unwrap();
    let (json, lines) = (
        dir.path().join("report.json"),
        dir.path().join("per_user.jsonl"),
    );
    let ranks_a: Vec<usize> = (0..30).map(|i| i % 5).collect();
    let ranks_b: Vec<usize> = (0..30).map(|i| (i * 7) % 11).collect();
    let mut r = report(&[("A", &ranks_a), ("B", &ranks_b)]);
    r.compare_against("A", "strongest baseline").unwrap();
    r.save_json(&json).unwrap();
    r.per_user_jsonl(&lines).unwrap();

    let mut back = EvalReport::load_json(&json).unwrap();
    assert!(back.methods.iter().all(|(_, m)| m.cases.is_empty()));
    back.load_cases(&lines).unwrap();
    for ((_, m), (_, o)) in back.methods.iter().zip(&r.methods) {
        let key = |c: &CaseResult| (c.user_raw.clone(), c.rank, c.valid);
        assert_eq!(
            m.cases.iter().map(key).collect::<Vec<_>>(),
            o.cases.iter().map(key).collect::<Vec<_>>()
        );
    }
    back.compare_against("A", "strongest baseline").unwrap();
    assert_eq!(back.comparisons, r.comparisons);

    // a damaged line is named; a short file is refused
    std::fs::write(&lines, "{\"method\": \"A\"}\n").unwrap();
    let err = back.load_cases(&lines).unwrap_err().to_string();
    assert!(err.contains("line 1"), "{err}");
    let one = r#"{"method":"A","user":"u0","rank":0,"valid":true,"latency_ms":1.0,"scenarios":[]}"#;
    std::fs::write(&lines, format!("{one}\n")).unwrap();
    let err = back.load_cases(&lines).unwrap_err().to_string();
    assert!(err.contains("A: 1 cases for a report of 30 users"), "{err}");
}
