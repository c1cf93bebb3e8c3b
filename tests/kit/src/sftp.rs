//! A real SFTP server for tests: an OpenSSH sshd of the test's own (its own
//! config, keys and folder) on a free loopback port, key authentication only,
//! SFTP only.
//!
//! These tests change the machine they run on, so they need root: sshd wants
//! its privilege-separation folder `/run/sshd`, and the password test creates a
//! system user ([`PASSWORD_USER`], with `useradd` and `chpasswd`). Every server
//! checks that first and fails saying so, rather than failing halfway; `just
//! setup` installs openssh-server. They are never skipped: a missing
//! prerequisite is a failure.

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

const SSHD: &str = "/usr/sbin/sshd";

/// Fails up front, naming what is missing, unless this process is root and
/// OpenSSH's server and key tools are installed.
#[track_caller]
fn require_root_and_sshd() {
    use std::os::unix::fs::MetadataExt;
    // A process's /proc entry belongs to its effective user.
    let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    let missing: Vec<&str> =
        [SSHD, "/usr/bin/ssh-keygen", "/usr/bin/ssh-keyscan"].into_iter().filter(|p| !Path::new(p).exists()).collect();
    assert!(
        root && missing.is_empty(),
        "the SFTP tests need root and OpenSSH's server: they start {SSHD} (which needs /run/sshd) and \
         create the system user `{PASSWORD_USER}` with useradd and chpasswd.{}{} Run `just setup` as root \
         (it installs openssh-server), then the tests as root.",
        if root { "" } else { " This process is not root." },
        if missing.is_empty() { String::new() } else { format!(" Missing: {}.", missing.join(", ")) },
    );
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

/// A throwaway system user for password logins (created once, as root).
pub const PASSWORD_USER: &str = "hwsftptest";
pub const PASSWORD: &str = "Pw-for-tests-only-7";

fn ensure_password_user() {
    let exists = Command::new("id").arg(PASSWORD_USER).stdout(Stdio::null()).stderr(Stdio::null()).status();
    if !exists.is_ok_and(|s| s.success()) {
        let ok = Command::new("useradd")
            .args(["--no-create-home", "--shell", "/usr/sbin/nologin", PASSWORD_USER])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok || Command::new("id").arg(PASSWORD_USER).status().is_ok_and(|s| s.success()), "useradd failed");
    }
    let mut chpasswd = Command::new("chpasswd").stdin(Stdio::piped()).spawn().expect("chpasswd runs");
    std::io::Write::write_all(chpasswd.stdin.as_mut().unwrap(), format!("{PASSWORD_USER}:{PASSWORD}\n").as_bytes())
        .unwrap();
    assert!(chpasswd.wait().unwrap().success(), "chpasswd failed");
}

impl SftpServer {
    pub fn start() -> SftpServer {
        require_root_and_sshd();
        Self::start_with(false)
    }

    /// A server that also takes passwords (for `PASSWORD_USER`).
    pub fn start_with_passwords() -> SftpServer {
        require_root_and_sshd();
        ensure_password_user();
        Self::start_with(true)
    }

    fn start_with(passwords: bool) -> SftpServer {
        let sshd = Path::new(SSHD);
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let data = d.join("data");
        std::fs::create_dir_all(&data).unwrap();
        // Other users (the password user) must be able to reach and read the data folder.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::create_dir_all("/run/sshd").unwrap();
        keygen(&d.join("host_key"));
        keygen(&d.join("client_key"));
        std::fs::copy(d.join("client_key.pub"), d.join("authorized_keys")).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\n\
             AuthorizedKeysFile {d}/authorized_keys\nAuthenticationMethods {methods}\nPasswordAuthentication {password}\n\
             KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nUsePAM no\nStrictModes no\n\
             AllowTcpForwarding no\nX11Forwarding no\nPermitTTY no\nSubsystem sftp internal-sftp\n\
             ForceCommand internal-sftp -d {data}\n",
            d = d.display(),
            data = data.display(),
            methods = if passwords { "publickey password" } else { "publickey" },
            password = if passwords { "yes" } else { "no" },
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
