//! A real SFTP server for tests: an OpenSSH sshd of the test's own (its own
//! config, keys and folder) on a free loopback port, key authentication only,
//! SFTP only. `.ci/run` installs openssh-server.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct SftpServer {
    pub port: u16,
    /// The folder clients start in, where tests put files.
    pub data: PathBuf,
    /// The client's private key (OpenSSH text).
    pub client_key: String,
    /// known_hosts lines for the server.
    pub known_hosts: String,
    _dir: tempfile::TempDir,
    child: Child,
}

fn keygen(path: &Path) {
    let _ = std::fs::remove_file(path);
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen runs")
        .success();
    assert!(ok, "ssh-keygen failed");
}

impl SftpServer {
    pub fn start() -> SftpServer {
        let sshd = Path::new("/usr/sbin/sshd");
        assert!(sshd.exists(), "/usr/sbin/sshd is missing: install openssh-server (.ci/run does)");
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let data = d.join("data");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::create_dir_all("/run/sshd").unwrap();
        keygen(&d.join("host_key"));
        keygen(&d.join("client_key"));
        std::fs::copy(d.join("client_key.pub"), d.join("authorized_keys")).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\n\
             AuthorizedKeysFile {d}/authorized_keys\nAuthenticationMethods publickey\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nUsePAM no\nStrictModes no\n\
             AllowTcpForwarding no\nX11Forwarding no\nPermitTTY no\nSubsystem sftp internal-sftp\n\
             ForceCommand internal-sftp -d {data}\n",
            d = d.display(),
            data = data.display()
        );
        std::fs::write(d.join("sshd_config"), config).unwrap();
        let child = Command::new(sshd)
            .args(["-D", "-e", "-f"])
            .arg(d.join("sshd_config"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sshd starts");
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(10), "sshd did not start on port {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        let scan = Command::new("ssh-keyscan")
            .args(["-p", &port.to_string(), "-t", "ed25519", "127.0.0.1"])
            .stderr(Stdio::null())
            .output()
            .expect("ssh-keyscan runs");
        let known_hosts = String::from_utf8(scan.stdout).unwrap();
        assert!(known_hosts.contains("ssh-ed25519"), "ssh-keyscan found no key: {known_hosts}");
        let client_key = std::fs::read_to_string(d.join("client_key")).unwrap();
        SftpServer { port, data, client_key, known_hosts, _dir: dir, child }
    }

    /// The root URL of the data folder.
    pub fn root(&self) -> String {
        format!("sftp://root@127.0.0.1:{}{}", self.port, self.data.display())
    }
}

impl Drop for SftpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
