//! Hostile remote roots: the hostile connector tries to read outside the S3, SFTP
//! and http(s) roots it was granted (a real moto server, a real sshd, a local
//! HTTP file server), through `files.open`, `files.list` and `output.load`. Each
//! attack names the refusal the connector gets, and the secret beside the root
//! never reaches the connector's rows, the sink or the terminal.

use headwater_testkit::s3::S3Server;
use headwater_testkit::sftp::SftpServer;
use headwater_testkit::{Env, Run};
use std::io::{BufRead, Write};
use std::sync::{Arc, Mutex};

/// What every file outside a root holds.
const SECRET: &str = "s3cr3t-outside-the-root";

fn secret_csv() -> String {
    format!("value\n{SECRET}\n")
}

/// A granted root and what a pipeline needs to reach it.
struct Granted {
    /// The root, as connectors name it.
    root: String,
    /// The entry of `[allow] files`.
    files: String,
    /// More `[allow]` lines.
    allow: String,
    /// Tables after `[allow]` (credentials).
    tables: String,
}

/// `attack.toml`: the hostile connector running `attack` on `target`, with the root granted.
fn pipeline(env: &Env, granted: &Granted, attack: &str, target: &str) {
    // A TOML basic string takes JSON's escapes (a NUL as `\u0000`).
    let target = serde_json::to_string(target).unwrap();
    let Granted { files, allow, tables, .. } = granted;
    env.write(
        "attack.toml",
        format!(
            "name = \"attack\"\n[source]\nconnector = \"hostile\"\nconfig = {{ attack = \"{attack}\", target = {target} }}\n\
             [allow]\nfiles = [{files}]\n{allow}\n{tables}\n[sink]\npath = \"lake\"\n"
        ),
    );
    // Each attack starts from an empty sink and state.
    for dir in ["lake", ".headwater"] {
        let _ = std::fs::remove_dir_all(env.path(dir));
    }
}

/// The run fails with every needle, the host does not crash, and the secret is
/// nowhere: not in the terminal, not in the sink.
#[track_caller]
fn refused(env: &Env, granted: &Granted, attack: &str, path: &str, needles: &[&str]) -> Run {
    pipeline(env, granted, attack, &format!("{}|{path}", granted.root));
    let run = env.headwater(&["run", "attack.toml"]);
    let shown = format!("{attack} `{:.80}`", path.escape_debug().to_string());
    assert_eq!(run.code, 1, "{shown}: the run did not fail:\n{}", run.stderr);
    for needle in needles {
        assert!(run.stderr.contains(needle), "{shown}: no `{needle}` in:\n{}", run.stderr);
    }
    assert!(!run.stderr.contains("panicked"), "{shown}: the host panicked:\n{}", run.stderr);
    assert!(!run.stderr.contains(SECRET) && !run.stdout.contains(SECRET), "{shown}: the secret was shown");
    assert!(env.parquet_files("lake").is_empty(), "{shown}: the attack left output");
    run
}

/// Refused as a path outside the root: the connector gets `denied`.
#[track_caller]
fn denied(env: &Env, granted: &Granted, path: &str) {
    for attack in ["read", "load"] {
        refused(env, granted, attack, path, &["denied", "root"]);
    }
}

/// Not refused as an escape, but the key or file it names is not there (it is a
/// name inside the root, not a way out).
#[track_caller]
fn not_found(env: &Env, granted: &Granted, path: &str) {
    for attack in ["read", "load"] {
        let run = refused(env, granted, attack, path, &["other: "]);
        // The server's own word for a missing file, when it resolves the path first (SFTP).
        let absent = ["does not exist in root", "no such file"];
        assert!(absent.iter().any(|a| run.stderr.contains(a)), "{attack} `{path}`: {}", run.stderr);
    }
}

/// The paths a glob lists under the root (the attack commits them as rows).
#[track_caller]
fn listed(env: &Env, granted: &Granted, glob: &str) -> Vec<String> {
    pipeline(env, granted, "glob", &format!("{}|{glob}", granted.root));
    let run = env.headwater(&["run", "attack.toml"]).ok();
    assert!(!run.stderr.contains(SECRET));
    let mut paths: Vec<String> = env
        .rows("lake/loot")
        .into_iter()
        .filter_map(|r| r["value"].as_str().map(str::to_string))
        .filter(|v| v != "listed")
        .collect();
    paths.sort();
    paths
}

/// Paths that are never plain, whatever the root: refused before any request.
fn never_plain() -> Vec<String> {
    vec![
        String::new(),
        "..".into(),
        "../secret.csv".into(),
        "../data-secret/x.csv".into(),
        "a/../../secret.csv".into(),
        "./../secret.csv".into(),
        "ok.csv/../../secret.csv".into(),
        "/secret.csv".into(),
        "/etc/passwd".into(),
        "//evil.example/x".into(),
        "ok.csv?x=../../secret.csv".into(),
        "ok.csv#/../../secret.csv".into(),
    ]
}

/// Very long paths: a name of 64 KiB, and 3,000 folders deep.
fn long_paths() -> Vec<String> {
    vec!["x".repeat(64 << 10), format!("{}ok.csv", "a/".repeat(3000))]
}

// ---------------------------------------------------------------- S3

fn s3_root(s3: &S3Server) -> Granted {
    Granted {
        root: "s3://bucket/data".into(),
        files: format!(
            r#"{{ root = "s3://bucket/data", endpoint = "{}", region = "us-east-1", auth = "store" }}"#,
            s3.endpoint()
        ),
        allow: String::new(),
        tables:
            "[auth.store]\nkind = \"s3\"\naccess_key_id = \"${env:S3_KEY}\"\nsecret_access_key = \"${env:S3_SECRET}\""
                .into(),
    }
}

/// moto with `bucket/data/ok.csv` inside the root `s3://bucket/data`, and the
/// secret in keys beside it, two of which start with the root's own key.
fn s3_setup() -> (Env, S3Server, Granted) {
    let mut env = crate::env_with("hostile");
    env.var("S3_KEY", "testing");
    env.var("S3_SECRET", "testing-secret");
    let s3 = S3Server::start();
    s3.create_bucket("bucket");
    s3.put("bucket", "data/ok.csv", "value\nfine\n");
    for key in ["data-secret/x.csv", "datasecret.csv", "secret.csv", "data-secret/ok.csv"] {
        s3.put("bucket", key, secret_csv());
    }
    let granted = s3_root(&s3);
    (env, s3, granted)
}

#[test]
fn an_s3_root_cannot_be_left_by_its_paths() {
    let (env, _s3, granted) = s3_setup();
    // The root is readable: the attacks below fail for what they are.
    pipeline(&env, &granted, "read", "s3://bucket/data|ok.csv");
    env.headwater(&["run", "attack.toml"]).ok();
    assert_eq!(env.rows("lake/loot")[0]["value"], "value\nfine\n");

    for path in never_plain() {
        denied(&env, &granted, &path);
    }
    // Dots, separators and queries in any encoding are a key's own characters on
    // S3 (object_store encodes them on the wire), never a way up or a new request.
    for path in [
        "%2e%2e/secret.csv",
        "%2E%2E/data-secret/x.csv",
        "..%2fsecret.csv",
        "..%2Fdata-secret%2Fx.csv",
        "%2e%2e%2fdata-secret%2fx.csv",
        "..\\secret.csv",
        "..\\data-secret\\x.csv",
        "\\..\\secret.csv",
        "-secret/x.csv",
        "secret/x.csv",
        "ok.csv?x=1",
        "?list-type=2&prefix=data-secret",
        "ok.csv#x",
        "@evil.example/x",
    ] {
        not_found(&env, &granted, path);
    }
    // `./`, empty segments and NUL bytes are not plain object keys.
    for path in ["./ok.csv", "a/./ok.csv", "a//ok.csv", "ok\0.csv", "\0"] {
        denied(&env, &granted, path);
    }
    for path in long_paths() {
        refused(&env, &granted, "read", &path, &["denied", "more than 4096"]);
    }
}

#[test]
fn an_s3_root_lists_only_its_own_keys() {
    let (env, _s3, granted) = s3_setup();
    for glob in ["*", "**", "**/*", "../data-secret/*", "../**", "**/../..", "../*", "*secret*", "{,../}data-secret/*"]
    {
        assert_eq!(listed(&env, &granted, glob), glob_expect(glob), "glob `{glob}`");
    }
    // A glob with a NUL byte, or as long as the bound, lists nothing out of the root either.
    assert!(listed(&env, &granted, "*\0*").is_empty());
    refused(&env, &granted, "glob", &"*".repeat(5000), &["longer than 4096 bytes"]);
}

/// What a glob may list in a root holding only `ok.csv`.
fn glob_expect(glob: &str) -> Vec<String> {
    if matches!(glob, "*" | "**" | "**/*" | "**/*.csv") { vec!["ok.csv".to_string()] } else { Vec::new() }
}

// ---------------------------------------------------------------- SFTP

/// sshd serving `data/` (holding `ok.csv`) with the secret beside it, and
/// symlinks inside the root pointing out of it: to a file by a relative and an
/// absolute path, to a folder, and to a sibling whose name starts with the root's.
fn sftp_setup() -> (Env, SftpServer, Granted) {
    use std::os::unix::fs::symlink;
    let env = crate::env_with("hostile");
    let server = SftpServer::start();
    let data = &server.data;
    let outside = data.parent().unwrap();
    std::fs::write(data.join("ok.csv"), "value\nfine\n").unwrap();
    std::fs::create_dir_all(data.join("sub")).unwrap();
    std::fs::create_dir_all(outside.join("data-secret")).unwrap();
    std::fs::write(outside.join("data-secret/x.csv"), secret_csv()).unwrap();
    std::fs::write(outside.join("secret.csv"), secret_csv()).unwrap();
    symlink("../secret.csv", data.join("link.csv")).unwrap();
    symlink(outside.join("secret.csv"), data.join("abs-link.csv")).unwrap();
    symlink("../data-secret", data.join("dirlink")).unwrap();
    symlink("../../data-secret/x.csv", data.join("sub/deep-link.csv")).unwrap();
    symlink("/", data.join("slash")).unwrap();
    env.write("known_hosts", &server.known_hosts);
    env.write("client_key", &server.client_key);
    let root = server.root();
    let granted = Granted {
        files: format!(r#"{{ root = "{root}", auth = "ssh", known_hosts = "known_hosts" }}"#),
        root,
        allow: String::new(),
        tables: "[auth.ssh]\nkind = \"ssh\"\nprivate_key = \"${file:client_key}\"".into(),
    };
    (env, server, granted)
}

#[test]
fn an_sftp_root_cannot_be_left_by_its_paths_or_symlinks() {
    let (env, _server, granted) = sftp_setup();
    pipeline(&env, &granted, "read", &format!("{}|./ok.csv", granted.root));
    env.headwater(&["run", "attack.toml"]).ok();
    assert_eq!(env.rows("lake/loot")[0]["value"], "value\nfine\n");

    for path in never_plain() {
        denied(&env, &granted, &path);
    }
    // Symlinks inside the root that lead out of it: the server's resolution is checked.
    for path in
        ["link.csv", "abs-link.csv", "dirlink/x.csv", "sub/deep-link.csv", "slash/etc/passwd", "./dirlink/x.csv"]
    {
        for attack in ["read", "load"] {
            refused(&env, &granted, attack, path, &["denied", "resolves outside root", "as the server resolves it"]);
        }
    }
    // Encoded dots and separators, backslashes and queries are a name's own characters.
    for path in [
        "%2e%2e/secret.csv",
        "..%2fsecret.csv",
        "%2e%2e%2fdata-secret%2fx.csv",
        "..\\secret.csv",
        "\\..\\secret.csv",
        "ok.csv?x=1",
        "-secret/x.csv",
    ] {
        not_found(&env, &granted, path);
    }
    // A NUL byte: `..` after it is still refused; before libssh2 sends a path, it refuses one with a NUL.
    denied(&env, &granted, "\0/../secret.csv");
    refused(&env, &granted, "read", "ok\0.csv", &["other: ", "path provided contains a 0 byte"]);
    for path in long_paths() {
        refused(&env, &granted, "read", &path, &["denied", "more than 4096"]);
    }
}

#[test]
fn an_sftp_root_lists_only_its_own_files() {
    let (env, _server, granted) = sftp_setup();
    for glob in [
        "*",
        "**",
        "**/*",
        "../**",
        "**/../..",
        "../data-secret/*",
        "dirlink/*",
        "dirlink/**",
        "slash/**",
        "*link*",
        "**/*.csv",
    ] {
        assert_eq!(listed(&env, &granted, glob), glob_expect(glob), "glob `{glob}`");
    }
}

// ---------------------------------------------------------------- http(s)

/// A local HTTP file server mapping a request to a file as common static file
/// servers do (Python's `http.server`): query and fragment cut, the path
/// percent-decoded, `.` and `..` resolved (`\` as a separator too, as on
/// Windows servers). It serves `/exports/ok.csv` and the secret at
/// `/private/secret.csv`, and redirects `/exports/moved.csv` to the secret (same
/// origin) and `/exports/away.csv` to another host.
struct FileServer {
    port: u16,
    /// The files requests resolved to.
    served: Arc<Mutex<Vec<String>>>,
}

impl FileServer {
    fn start() -> FileServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let served = Arc::new(Mutex::new(Vec::new()));
        let log = served.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let log = log.clone();
                std::thread::spawn(move || serve(stream, port, &log));
            }
        });
        FileServer { port, served }
    }

    fn secret_served(&self) -> bool {
        self.served.lock().unwrap().iter().any(|p| p.contains("private"))
    }
}

fn serve(mut stream: std::net::TcpStream, port: u16, log: &Mutex<Vec<String>>) {
    let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).map_or(true, |n| n == 0) || header == "\r\n" {
            break;
        }
    }
    let path = resolve(line.split(' ').nth(1).unwrap_or(""));
    log.lock().unwrap().push(path.clone());
    let (status, location, body) = match path.as_str() {
        "/exports/ok.csv" => (200, String::new(), "value\nfine\n".to_string()),
        "/private/secret.csv" => (200, String::new(), secret_csv()),
        "/exports/moved.csv" => (302, "/private/secret.csv".to_string(), String::new()),
        "/exports/away.csv" => (302, format!("http://localhost:{port}/private/secret.csv"), String::new()),
        _ => (404, String::new(), "not found".to_string()),
    };
    let location = if location.is_empty() { String::new() } else { format!("Location: {location}\r\n") };
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n{location}\r\n{body}",
        body.len()
    );
}

/// A request target as the server maps it to a file.
fn resolve(target: &str) -> String {
    let path = target.split(['?', '#']).next().unwrap_or("");
    let bytes = path.as_bytes();
    let mut decoded = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                decoded.push(b);
                i += 3;
            }
            (b, _) => {
                decoded.push(b);
                i += 1;
            }
        }
    }
    let decoded = String::from_utf8_lossy(&decoded);
    let mut segments: Vec<&str> = Vec::new();
    for segment in decoded.split(['/', '\\']) {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    format!("/{}", segments.join("/"))
}

fn http_setup() -> (Env, FileServer, Granted) {
    let env = crate::env_with("hostile");
    let server = FileServer::start();
    let root = format!("http://127.0.0.1:{}/exports/", server.port);
    let granted = Granted {
        files: format!("\"{root}\""),
        root,
        allow: format!("hosts = [\"127.0.0.1:{}\"]", server.port),
        tables: String::new(),
    };
    (env, server, granted)
}

#[test]
fn an_http_root_cannot_be_left_by_its_paths() {
    let (env, server, granted) = http_setup();
    pipeline(&env, &granted, "read", &format!("{}|ok.csv?x=1#frag", granted.root));
    env.headwater(&["run", "attack.toml"]).ok();
    assert_eq!(env.rows("lake/loot")[0]["value"], "value\nfine\n");

    for path in never_plain() {
        denied(&env, &granted, &path);
    }
    // Paths the URL parser resolves out of the prefix or to another host.
    for path in [
        "%2e%2e/private/secret.csv",
        ".%2E/private/secret.csv",
        "..\\private\\secret.csv",
        "\\..\\private\\secret.csv",
        "\\\\evil.example\\x",
        "http://evil.example/x",
        "https:evil.example/x",
        "http:/private/secret.csv",
        "http:\\\\evil.example\\x",
        "http://127.0.0.1:1/exports/ok.csv",
    ] {
        for attack in ["read", "load"] {
            refused(&env, &granted, attack, path, &["denied", "resolves outside root", "joined to its URL prefix"]);
        }
    }
    // Encoded separators the URL parser leaves alone, but a file server decodes
    // and resolves: `/exports/..%2Fprivate/secret.csv` is `/private/secret.csv` there.
    for path in [
        "..%2Fprivate%2Fsecret.csv",
        "..%2fprivate/secret.csv",
        "%2e%2e%2fprivate%2fsecret.csv",
        "%2E%2E%2Fprivate%2Fsecret.csv",
        "..%5cprivate%5csecret.csv",
        "a/..%2F..%2Fprivate/secret.csv",
    ] {
        for attack in ["read", "load"] {
            refused(&env, &granted, attack, path, &["denied", "resolves outside root"]);
        }
    }
    // Inside the prefix whatever they look like: the server has no such file.
    for path in ["@evil.example/x", "http:evil.example/x", "ok.csv%00", "ok\0.csv"] {
        refused(&env, &granted, "read", path, &["other: ", "does not exist in root"]);
    }
    for path in long_paths() {
        refused(&env, &granted, "read", &path, &["denied", "more than 4096"]);
    }
    // A redirect to another host is not followed: it leaves the root's prefix.
    refused(&env, &granted, "read", "away.csv", &["denied", "away.csv", "redirected out of its URL prefix"]);
    assert!(!server.secret_served(), "a file outside the prefix was served: {:?}", server.served.lock().unwrap());
    // Not listable at all: no glob can climb.
    refused(&env, &granted, "glob", "../**", &["cannot be listed"]);
}

/// The server redirects a file under the prefix to a file outside it, on the
/// same host: the host must not read it as the root's. A download follows no
/// redirect itself (`HttpPolicy::download`); the root follows one only within its
/// prefix, so the file outside is never asked for.
#[test]
fn an_http_root_does_not_follow_a_redirect_out_of_its_prefix() {
    let (env, server, granted) = http_setup();
    for attack in ["read", "load"] {
        refused(&env, &granted, attack, "moved.csv", &["denied", "redirect"]);
    }
    assert!(!server.secret_served(), "the redirect was followed: {:?}", server.served.lock().unwrap());
}

/// A remote file is staged on the sink's disk to be decoded: one without end
/// (an http(s) root serving a chunked body forever) or merely larger than
/// `[limits] max_file_mb` (an S3 object) is cut at that limit and fails its
/// stream naming it, instead of filling the disk.
#[test]
fn a_remote_file_past_the_file_limit_is_cut_while_it_is_staged() {
    let env = crate::env_with("hostile");
    let endless = headwater_mock::hostile::HostileApi::start(headwater_mock::hostile::Hostility::default());
    let root = format!("http://127.0.0.1:{}/", endless.port);
    let granted = Granted {
        files: format!("\"{root}\""),
        root,
        allow: format!("hosts = [\"127.0.0.1:{}\"]", endless.port),
        tables: "[limits]\nmax_file_mb = 1".into(),
    };
    refused(&env, &granted, "load", "endless", &["endless", "larger than [limits] max_file_mb = 1 MiB"]);

    let (env, s3, mut granted) = s3_setup();
    s3.put("bucket", "data/big.csv", format!("value\n{}", "x\n".repeat(1 << 20)));
    granted.tables.push_str("\n[limits]\nmax_file_mb = 1");
    refused(&env, &granted, "load", "big.csv", &["big.csv", "passed [limits] max_file_mb = 1 MiB"]);
    // Within the limit the same object loads.
    granted.tables = granted.tables.replace("max_file_mb = 1", "max_file_mb = 4");
    pipeline(&env, &granted, "load", &format!("{}|big.csv", granted.root));
    env.headwater(&["run", "attack.toml"]).ok();
}
