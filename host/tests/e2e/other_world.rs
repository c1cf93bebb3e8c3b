//! `other-world`: a well-formed component of another WIT world is refused as a
//! connector, at install and when a pipeline names its file directly.

use crate::bad_input::{GOOD, nothing_written};

#[test]
fn a_component_of_another_world() {
    let env = crate::env();
    let other = headwater_testkit::component("other-world");
    env.headwater(&["connector", "install", other.to_str().unwrap()])
        .fails(2, &["other_world.wasm", "not a Headwater source connector"]);
    assert!(!env.exists("home/connectors"));
    // The same file named directly by a pipeline is refused the same way.
    env.write("p.toml", GOOD.replace("connector = \"rest\"", &format!("path = \"{}\"", other.display())));
    env.headwater(&["run", "p.toml"]).fails(2, &["not a Headwater source connector"]);
    nothing_written(&env);
}
