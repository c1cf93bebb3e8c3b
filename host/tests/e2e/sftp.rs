//! SFTP file roots against a real OpenSSH server on 127.0.0.1: loading,
//! file-level incremental, host-key checking, and the root's bounds.

use headwater_mock::{orders, orders_csv};
use headwater_testkit::sftp::SftpServer;
use headwater_testkit::{Env, assert_same_orders};

fn pipeline(env: &mut Env, server: &SftpServer, connector: &str, config: &str) {
    env.write("known_hosts", &server.known_hosts);
    env.write("client_key", &server.client_key);
    env.write(
        "sftp.toml",
        format!(
            r#"
name = "sftp"
[source]
connector = "{connector}"
config = {config}
[allow]
files = [{{ root = "{root}", auth = "ssh", known_hosts = "known_hosts" }}]
[auth.ssh]
kind = "ssh"
private_key = "${{file:client_key}}"
[sink]
path = "lake"
"#,
            root = server.root()
        ),
    );
}

#[test]
fn loads_exports_over_sftp_and_reruns_load_only_new_files() {
    let mut env = crate::env();
    env.install("files");
    let server = SftpServer::start();
    std::fs::create_dir_all(server.data.join("orders/dt=2025-01-01")).unwrap();
    std::fs::write(server.data.join("orders/dt=2025-01-01/a.csv"), orders_csv(&orders(1..=300))).unwrap();
    std::fs::write(server.data.join("orders/b.csv"), orders_csv(&orders(301..=400))).unwrap();
    let config = format!(
        r#"{{ root = "{}", glob = "orders/**/*.csv", stream = "orders", primary_key = ["id"], cursor_field = "id" }}"#,
        server.root()
    );
    pipeline(&mut env, &server, "files", &config);
    let run = env.headwater(&["run", "sftp.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["rows"], 400, "{run}");
    assert_same_orders(&env.rows("lake/orders"), &orders(1..=400));

    std::fs::write(server.data.join("orders/c.csv"), orders_csv(&orders(401..=450))).unwrap();
    let run = env.headwater(&["run", "sftp.toml", "--json"]).ok().json();
    assert_eq!(run["streams"][0]["rows"], 50);
    assert_same_orders(&env.rows("lake/orders"), &orders(1..=450));
}

#[test]
fn a_server_whose_host_key_does_not_match_is_refused() {
    let mut env = crate::env();
    env.install("files");
    let server = SftpServer::start();
    let other = SftpServer::start();
    std::fs::write(server.data.join("a.csv"), orders_csv(&orders(1..=3))).unwrap();
    let config = format!(r#"{{ root = "{}", glob = "*.csv", stream = "orders" }}"#, server.root());
    pipeline(&mut env, &server, "files", &config);
    // known_hosts holds the other server's key under this server's address.
    let forged = other.known_hosts.replace(&other.port.to_string(), &server.port.to_string());
    env.write("known_hosts", forged);
    env.headwater(&["run", "sftp.toml"]).fails(1, &["host key", "does not match"]);
    assert!(env.parquet_files("lake").is_empty());
}

#[test]
fn a_connector_cannot_read_outside_its_sftp_root() {
    let mut env = crate::env();
    env.install("hostile");
    let server = SftpServer::start();
    let secret = server.data.parent().unwrap().join("secret.txt");
    std::fs::write(&secret, "top secret").unwrap();
    std::os::unix::fs::symlink(&secret, server.data.join("link.txt")).unwrap();
    for target in ["../secret.txt", "link.txt", "/etc/passwd", "a/../../secret.txt", "%2e%2e/secret.txt"] {
        let config = format!(r#"{{ attack = "file", target = "{}|{target}" }}"#, server.root());
        pipeline(&mut env, &server, "hostile", &config);
        let run = env.headwater(&["run", "sftp.toml"]).fails(1, &[target]);
        assert!(!run.stderr.contains("top secret"));
    }
    assert!(env.parquet_files("lake").is_empty());
}

#[test]
fn password_authentication() {
    use headwater_testkit::sftp::{PASSWORD, PASSWORD_USER};
    let mut env = crate::env();
    env.install("files");
    let server = SftpServer::start_with_passwords();
    std::fs::write(server.data.join("a.csv"), orders_csv(&orders(1..=25))).unwrap();
    env.var("SFTP_PASSWORD", PASSWORD);
    let root = server.root().replace("root@", &format!("{PASSWORD_USER}@"));
    env.write("known_hosts", &server.known_hosts);
    env.write(
        "sftp.toml",
        format!(
            r#"
name = "sftp"
[source]
connector = "files"
config = {{ root = "{root}", glob = "*.csv", stream = "orders" }}
[allow]
files = [{{ root = "{root}", auth = "ssh", known_hosts = "known_hosts" }}]
[auth.ssh]
kind = "ssh"
password = "${{env:SFTP_PASSWORD}}"
[sink]
path = "lake"
"#
        ),
    );
    let run = env.headwater(&["run", "sftp.toml"]).ok();
    assert!(!run.stdout.contains(PASSWORD) && !run.stderr.contains(PASSWORD));
    assert_same_orders(&env.rows("lake/orders"), &orders(1..=25));

    env.var("SFTP_PASSWORD", "wrong");
    let env2 = env;
    let run = env2.headwater(&["run", "sftp.toml"]).fails(1, &["authenticating as"]);
    assert!(!run.stderr.contains("wrong"));
}

/// A server that accepts the connection and never answers holds the root's
/// open in a blocking thread. The stream fails at its call's time limit, and
/// the process exits then: a stuck open does not keep it alive (before, it
/// waited for the socket's own 60 s read timeout).
#[test]
fn a_server_that_never_answers_fails_the_stream_and_does_not_keep_the_process() {
    let env = crate::env();
    env.install("files");
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let held = std::thread::spawn(move || {
        let mut open = Vec::new();
        for stream in silent.incoming().flatten() {
            open.push(stream); // accepted, never answered, never closed
        }
    });
    env.write("known_hosts", "");
    env.write("client_key", "never read by the server");
    let root = format!("sftp://tester@127.0.0.1:{port}/data");
    env.write(
        "silent.toml",
        format!(
            r#"
name = "silent"
[source]
connector = "files"
config = {{ root = "{root}", glob = "*.csv", stream = "orders" }}
[allow]
files = [{{ root = "{root}", auth = "ssh", known_hosts = "known_hosts" }}]
[auth.ssh]
kind = "ssh"
private_key = "${{file:client_key}}"
[limits]
call_timeout_s = 2
[sink]
path = "lake"
"#
        ),
    );
    let mut child = env
        .command(&["run", "silent.toml"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > until {
            let _ = child.kill();
            panic!("headwater was still running 30 s after its stream's 2 s time limit");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("call_timeout_s"), "{stderr}");
    drop(held);
}
