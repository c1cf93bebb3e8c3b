//! File roots in an S3-compatible object store (a real moto server on 127.0.0.1):
//! listing, streaming and bulk loads, file-level incremental, and the root's bounds.

use headwater_mock::{orders, orders_csv};
use headwater_testkit::s3::S3Server;
use headwater_testkit::{Env, assert_same_orders};

fn pipeline(env: &Env, s3: &S3Server, connector: &str, config: &str) {
    env.write(
        "s3.toml",
        format!(
            r#"
name = "s3"
[source]
connector = "{connector}"
config = {config}
[allow]
files = [{{ root = "s3://exports/orders/", endpoint = "{endpoint}", region = "us-east-1", auth = "store" }}]
[auth.store]
kind = "s3"
access_key_id = "${{env:S3_KEY}}"
secret_access_key = "${{env:S3_SECRET}}"
[sink]
path = "lake"
"#,
            endpoint = s3.endpoint()
        ),
    );
}

fn env() -> Env {
    let mut env = crate::env();
    env.var("S3_KEY", "testing");
    env.var("S3_SECRET", "testing-secret");
    env
}

#[test]
fn loads_exports_from_an_s3_root_and_reruns_load_only_new_objects() {
    let env = env();
    env.install("files");
    let s3 = S3Server::start();
    s3.create_bucket("exports");
    s3.put("exports", "orders/dt=2025-01-01/a.csv", orders_csv(&orders(1..=700)));
    s3.put("exports", "orders/dt=2025-01-02/b.csv", orders_csv(&orders(701..=1000)));
    s3.put("exports", "elsewhere/c.csv", orders_csv(&orders(5000..=5010)));
    pipeline(
        &env,
        &s3,
        "files",
        r#"{ root = "s3://exports/orders/", glob = "**/*.csv", stream = "orders", primary_key = ["id"], cursor_field = "id" }"#,
    );
    let run = env.headwater(&["run", "s3.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["rows"], 1000, "{run}");
    assert_same_orders(&env.rows("lake/orders"), &orders(1..=1000));

    s3.put("exports", "orders/dt=2025-01-03/d.csv", orders_csv(&orders(1001..=1100)));
    let run = env.headwater(&["run", "s3.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["rows"], 100, "only the new object: {run}");
    assert_same_orders(&env.rows("lake/orders"), &orders(1..=1100));
}

#[test]
fn a_connector_cannot_read_outside_its_s3_root() {
    let env = env();
    env.install("hostile");
    let s3 = S3Server::start();
    s3.create_bucket("exports");
    s3.put("exports", "secret.txt", "top secret");
    // A key beside the root's prefix that shares its first letters.
    s3.put("exports", "orders-private/secret.txt", "top secret");
    for (target, refusal) in [
        ("../secret.txt", "denied"),
        ("a/../../secret.txt", "denied"),
        ("/secret.txt", "denied"),
        // Encoded dots are a key's own characters on S3, never a way up.
        ("%2e%2e/secret.txt", "secret.txt"),
        ("..%2fsecret.txt", "secret.txt"),
        ("../orders-private/secret.txt", "denied"),
    ] {
        let config = format!(r#"{{ attack = "file", target = "s3://exports/orders/|{target}" }}"#);
        pipeline(&env, &s3, "hostile", &config);
        let run = env.headwater(&["run", "s3.toml"]).fails(1, &[refusal]);
        assert!(!run.stderr.contains("top secret") && !run.stdout.contains("top secret"), "{target}: {run:?}");
        assert!(env.parquet_files("lake").is_empty(), "{target}");
    }
}
