//! `headwater new`: the project it makes in each language passes its own test
//! out of the box. Each test makes a project into a fresh folder, as a user
//! would, and runs the project's `test.sh`: it builds the component with the
//! language's toolchain (installed by `just setup-langs`, like the examples'),
//! installs it with `headwater connector install` into a throwaway home, runs
//! it with the real host against the project's stand-in API and checks the
//! rows that land, a first run and an incremental one. `test.sh` finds this
//! binary by itself: `headwater new` writes its path into the project.

use headwater_testkit::{Env, workspace_root};
use std::process::Command;
use std::time::Instant;

/// Makes the `lang` project `name` in `<env>/project` with `extra` arguments, then runs its `test.sh`.
fn passes_its_own_test(lang: &str, name: &str, extra: &[&str]) {
    let env = crate::env();
    let mut args = vec!["new", name, "--lang", lang, "--dir", "project", "--json"];
    args.extend(extra);
    let made = env.headwater(&args).ok().json();
    assert_eq!(made["name"], name, "{made}");
    assert_eq!(made["lang"], lang, "{made}");
    let files: Vec<&str> = made["files"].as_array().expect("files").iter().filter_map(|f| f.as_str()).collect();
    for file in ["build.sh", "test.sh", "README.md", "testdata/api.py", "testdata/items.json"] {
        assert!(files.contains(&file) && env.exists(&format!("project/{file}")), "no {file} in {files:?}");
    }
    let readme = std::fs::read_to_string(env.path("project/README.md")).expect("the README");
    let sdk = workspace_root().display().to_string();
    assert!(readme.contains(&sdk), "the README names the repository it builds with ({sdk}):\n{readme}");

    let started = Instant::now();
    let mut test = Command::new("bash");
    test.arg(env.path("project/test.sh"))
        .current_dir(env.path("project"))
        // Its own defaults: the headwater that made it, a home of its own.
        .env_remove("HEADWATER")
        .env_remove("HEADWATER_HOME")
        .env_remove("HEADWATER_SDK")
        .env_remove("RUST_LOG");
    if lang == "rust" {
        // Outside the project, so that a rerun of the suite builds warm; outside
        // connectors/, which the test kit's build script watches.
        test.env("CARGO_TARGET_DIR", workspace_root().join("target/scaffold-build"));
    }
    let out = test.output().expect("bash runs test.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{name}/test.sh failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}", out.status);
    assert!(stdout.contains(&format!("{name}: all checks passed")), "stdout:\n{stdout}\nstderr:\n{stderr}");
    eprintln!("{name}: its own test passed in {:.1} s", started.elapsed().as_secs_f64());
}

#[test]
fn a_new_rust_connector_passes_its_own_test() {
    passes_its_own_test("rust", "scaffold-rust", &[]);
}

#[test]
fn a_new_python_connector_passes_its_own_test() {
    passes_its_own_test("python", "scaffold-python", &[]);
}

#[test]
fn a_new_js_connector_passes_its_own_test() {
    passes_its_own_test("js", "scaffold-js", &[]);
}

/// `--sdk` given explicitly (the others take the default, the repository this binary was built from).
#[test]
fn a_new_c_connector_passes_its_own_test() {
    let repo = workspace_root();
    passes_its_own_test("c", "scaffold.c", &["--sdk", repo.to_str().expect("a UTF-8 path")]);
}

/// What `new` refuses, before it writes anything: a folder in use, a name that
/// is not a connector name (or, in Rust, not a Cargo package name), a `--sdk`
/// that is not a Headwater repository.
#[test]
fn new_refuses_a_folder_in_use_a_bad_name_and_a_folder_that_is_no_repository() {
    let env: Env = crate::env();
    env.write("taken/notes.txt", "mine");
    let out = env.headwater(&["new", "items", "--lang", "c", "--dir", "taken"]).fails(2, &["taken", "not empty"]);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    assert_eq!(std::fs::read_dir(env.path("taken")).unwrap().count(), 1, "nothing was written into it");
    assert_eq!(std::fs::read_to_string(env.path("taken/notes.txt")).unwrap(), "mine");

    // An empty folder is fine, and the default folder is the name.
    std::fs::create_dir(env.path("empty")).unwrap();
    env.headwater(&["new", "items", "--lang", "c", "--dir", "empty"]).ok();
    assert!(env.exists("empty/connector.c"));
    env.headwater(&["new", "items", "--lang", "python"]).ok();
    assert!(env.exists("items/app.py") && env.exists("items/test.sh"));
    env.headwater(&["new", "items", "--lang", "python"]).fails(2, &["items", "not empty"]);

    for bad in ["../escape", "_hidden", "a b"] {
        env.headwater(&["new", bad, "--lang", "c", "--dir", "bad"]).fails(2, &["connector name"]);
    }
    env.headwater(&["new", "2items", "--lang", "rust", "--dir", "bad"]).fails(2, &["Cargo package"]);
    env.write("not-a-repo/README.md", "");
    env.headwater(&["new", "items", "--lang", "js", "--dir", "bad", "--sdk", "not-a-repo"])
        .fails(2, &["--sdk not-a-repo", "wit/world.wit", "not a Headwater repository"]);
    env.headwater(&["new", "items", "--lang", "js", "--dir", "bad", "--sdk", "nowhere"]).fails(2, &["--sdk nowhere"]);
    assert!(!env.exists("bad"), "nothing was written for a refused project");
}
