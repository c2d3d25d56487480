//! Evidence sentence templates (a user-editable file, `--templates`): arbitrary bytes loaded as
//! a templates file, and arbitrary text parsed as each template with its placeholders.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use star_cf::evidence::{Template, Templates, TEMPLATE_FIELDS};

fuzz_target!(|data: &[u8]| {
    let path = common::scratch().join("templates.txt");
    std::fs::write(&path, data).unwrap();
    let _ = Templates::load(&path);
    if let Ok(text) = std::str::from_utf8(data) {
        for (name, fields) in TEMPLATE_FIELDS {
            let _ = Template::parse(name, text, fields);
        }
    }
});
