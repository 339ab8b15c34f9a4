//! The README's quick start, run as written: every command of its marked block, in order, in
//! an empty folder, with `pixel-hnn` the built binary. Each must succeed, and what it says it
//! writes must be there.

use crate::common::read_json;
use std::process::Command;

/// The commands between `<!-- quickstart -->` and `<!-- /quickstart -->`: every line of the
/// fenced block that is neither blank, a comment nor a fence.
fn quickstart_commands(readme: &str) -> Vec<String> {
    let start = readme.find("<!-- quickstart -->").expect("README marks its quick start");
    let end = readme.find("<!-- /quickstart -->").expect("README closes its quick start");
    readme[start..end]
        .lines()
        .skip(1)
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with("```"))
        .map(String::from)
        .collect()
}

#[test]
fn the_readmes_quick_start_runs_as_written() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let commands = quickstart_commands(&readme);
    assert!(commands.len() >= 4, "{commands:?}");
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_pixel-hnn");
    for line in &commands {
        let (first, rest) = line.split_once(' ').unwrap_or((line, ""));
        assert_eq!(first, "pixel-hnn", "a quick-start line is one pixel-hnn command: {line}");
        let out = Command::new("bash").arg("-c").arg(format!("'{bin}' {rest}")).current_dir(dir.path()).output().unwrap();
        assert!(
            out.status.success(),
            "{line}\nstdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // What the block's comments promise.
    let run = dir.path().join("runs/quick");
    let metrics = read_json(run.join("metrics.json"));
    let models: Vec<&str> = metrics["models"].as_array().unwrap().iter().map(|m| m["model"].as_str().unwrap()).collect();
    assert!(models.contains(&"hnn") && models.contains(&"baseline"), "{models:?}");
    for file in ["comparison.gif", "energy.png"] {
        let bytes = std::fs::read(run.join("rollout").join(file)).unwrap_or_else(|e| panic!("rollout/{file}: {e}"));
        image::load_from_memory(&bytes).unwrap_or_else(|e| panic!("rollout/{file} is not an image: {e}"));
    }
    image::open(dir.path().join("sheet.png")).expect("the contact sheet opens");
}

#[test]
fn the_quick_start_block_is_read_line_by_line() {
    // The extraction the test above relies on: comments, fences and blank lines are not run.
    let readme = "x\n<!-- quickstart -->\n```sh\n# say\npixel-hnn a --b\n\n  pixel-hnn c\n```\n<!-- /quickstart -->\npixel-hnn never";
    assert_eq!(quickstart_commands(readme), vec!["pixel-hnn a --b", "pixel-hnn c"]);
}
