//! The spread over training seeds: mean and sample sd checked by hand, differences paired by
//! seed, and the errors that name the offending seed.

mod support;

use star_eval::{SeedSpread, Spread};
use support::report_of_seed as report;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

#[test]
fn spread_is_the_mean_and_the_sample_standard_deviation() {
    let s = Spread::of(&[1.0, 2.0, 3.0, 6.0]);
    assert!(close(s.mean, 3.0));
    // Σ(x − 3)² = 4 + 1 + 0 + 9 = 14, over n − 1 = 3
    assert!(close(s.sd, (14.0f64 / 3.0).sqrt()), "{s:?}");
    assert_eq!(
        Spread::of(&[0.25]),
        Spread {
            mean: 0.25,
            sd: 0.0
        }
    );
}

#[test]
fn differences_are_paired_by_seed() {
    // HR@1 over 4 cases: seed 1: A 0.75, B 0.25; seed 2: A 0.5, B 0.5
    let runs = vec![
        (1, report(42, &[("B", &[0, 5, 5, 5]), ("A", &[0, 0, 0, 5])])),
        (2, report(42, &[("B", &[0, 0, 5, 5]), ("A", &[0, 0, 5, 5])])),
    ];
    let s = SeedSpread::of(&runs, "B").unwrap();
    assert_eq!(s.seeds, [1, 2]);
    assert_eq!(s.reference, "B");
    let names: Vec<&str> = s.methods.iter().map(|m| m.method.as_str()).collect();
    assert_eq!(names, ["B", "A"]);
    let a = &s.methods[1];
    let hr1 = |v: &[(String, Spread)]| v.iter().find(|(k, _)| k == "HR@1").unwrap().1;
    assert!(close(hr1(&a.metrics).mean, 0.625));
    // differences 0.5 and 0.0: mean 0.25, sd √(2 · 0.25² / 1)
    let d = hr1(&a.minus_reference);
    assert!(
        close(d.mean, 0.25) && close(d.sd, (0.125f64).sqrt()),
        "{d:?}"
    );
    // the reference has no difference to itself
    assert!(s.methods[0].minus_reference.is_empty());
    let md = s.to_markdown();
    assert!(md.contains("### Over 2 training seeds (1, 2)"), "{md}");
    assert!(md.contains("| A | "), "{md}");
    assert!(md.contains("| +25.00 ± 35.36 |"), "{md}");
    assert!(md.contains("| B | ") && md.contains(" – | – | – |"), "{md}");
}

#[test]
fn other_cases_or_a_missing_method_are_errors_naming_the_seed() {
    let a = report(42, &[("B", &[0, 1]), ("A", &[1, 0])]);
    let other_candidates = report(7, &[("B", &[0, 1]), ("A", &[1, 0])]);
    let err = SeedSpread::of(&[(1, a.clone()), (2, other_candidates)], "B").unwrap_err();
    assert!(err.to_string().contains("training seed 2"), "{err}");
    let no_a = report(42, &[("B", &[0, 1])]);
    let err = SeedSpread::of(&[(1, a.clone()), (3, no_a)], "B").unwrap_err();
    assert!(
        err.to_string().contains("training seed 3") && err.to_string().contains("`A`"),
        "{err}"
    );
    let err = SeedSpread::of(&[(1, a)], "C").unwrap_err();
    assert!(err.to_string().contains("`C`"), "{err}");
    assert!(SeedSpread::of(&[], "B").is_err());
}
