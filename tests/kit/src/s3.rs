//! A real S3-compatible server for tests: moto's standalone server on a free
//! loopback port, one per test (state is in memory and dies with it). `just
//! setup` installs it (`pip install 'moto[server]'`).

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct S3Server {
    pub port: u16,
    child: Child,
}

impl S3Server {
    pub fn start() -> S3Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start moto_server ({e}): the S3 tests need moto's server; `just setup` installs it \
                     (pip install 'moto[server]')"
                )
            });
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(20), "moto_server did not start on port {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        S3Server { port, child }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Sends one plain request (moto does not check signatures).
    fn request(&self, method: reqwest::Method, path: &str, body: Vec<u8>) {
        let url = format!("{}/{path}", self.endpoint());
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let status = rt
            .block_on(async { reqwest::Client::new().request(method, &url).body(body).send().await.unwrap().status() });
        assert!(status.is_success(), "{url}: HTTP {status}");
    }

    pub fn create_bucket(&self, bucket: &str) {
        self.request(reqwest::Method::PUT, bucket, Vec::new());
    }

    pub fn put(&self, bucket: &str, key: &str, bytes: impl Into<Vec<u8>>) {
        self.request(reqwest::Method::PUT, &format!("{bucket}/{key}"), bytes.into());
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
