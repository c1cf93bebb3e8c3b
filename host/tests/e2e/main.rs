//! End-to-end tests: the real `headwater` binary running the real connector and
//! test components, against real files, the mock orders API, moto's S3 and an
//! OpenSSH server on 127.0.0.1, with the Parquet it writes read back row by row.
//!
//! They live in the `headwater` package so that `cargo test` rebuilds the
//! binary they run (`CARGO_BIN_EXE_headwater`); `headwater-testkit`'s build
//! script rebuilds the components. One module per component is required (see
//! the bottom of this file); the others group tests by what they exercise.

mod api;
mod bad_input;
mod batch;
mod cli;
mod crash;
mod disk;
mod files;
mod foreign;
mod hostile;
mod hostile_roots;
mod hostile_sources;
mod hybrid;
mod inspect;
mod lake;
mod languages;
mod languages_c;
mod languages_go;
mod languages_rust;
mod object_store;
mod other_world;
mod replay;
mod rest;
mod s3_sink;
mod scaffold;
mod sftp;
mod vendors;
mod vendors_more;
mod workers;

use headwater_testkit::Env;

/// A fresh folder and `HEADWATER_HOME` running the binary this package built.
fn env() -> Env {
    Env::new(env!("CARGO_BIN_EXE_headwater"))
}

/// A fresh [`env`] with the component `name` installed under its own name.
fn env_with(name: &str) -> Env {
    let env = env();
    env.install(name);
    env
}

/// Every shipped connector and every test component has a test module of its
/// name here: one without it fails to compile (`no module named …`), so none is
/// built and then silently left untested (wasmtime's `crates/wasi/tests/all`).
macro_rules! assert_test_exists {
    ($name:ident) => {
        #[expect(unused_imports, reason = "only checks that the module exists")]
        use self::$name as _;
    };
}
headwater_testkit::foreach_component!(assert_test_exists);
