//! The node binary against a hostile host and hostile clients: file modes whatever the
//! umask, a non-loopback HTTP address only with an explicit opt-in, and slowloris.

#![allow(missing_docs, clippy::unwrap_used)]

mod harness;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use harness::{free_port, BIN};

/// A command of the binary that runs with `umask 000`, as a careless service manager
/// might start it.
fn eduioc_umask0() -> Command {
    let mut c = Command::new(BIN);
    // SAFETY: umask is async-signal-safe and touches only the child's mask.
    unsafe {
        c.pre_exec(|| {
            libc::umask(0);
            Ok(())
        });
    }
    c
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// Every path under `dir` (itself included) whose mode is not private.
fn loose(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if mode(dir) != 0o700 {
        out.push(format!("{} {:o}", dir.display(), mode(dir)));
    }
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(loose(&p));
        } else if mode(&p) != 0o600 {
            out.push(format!("{} {:o}", p.display(), mode(&p)));
        }
    }
    out
}

/// Writes a topology of a department and one school; returns its path.
fn topology(dir: &Path, dept_http: &str) -> PathBuf {
    let text = format!(
        "network = \"t\"\n\n[[unit]]\nid = \"so\"\nname = \"Sở\"\nlevel = \"department\"\n\
         p2p = \"/ip4/127.0.0.1/tcp/{}\"\nhttp = \"{dept_http}\"\n\n[[unit]]\nid = \"th\"\n\
         name = \"Trường\"\nlevel = \"school\"\nparent = \"so\"\n\
         p2p = \"/ip4/127.0.0.1/tcp/{}\"\nhttp = \"127.0.0.1:{}\"\n",
        free_port(),
        free_port(),
        free_port()
    );
    let path = dir.join("topology.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn generate(topo: &Path, out: &Path) -> Output {
    let o = eduioc_umask0()
        .args(["topology", "generate"])
        .arg(topo)
        .arg("--out")
        .arg(out)
        .args(["--seed", "7"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    o
}

/// A running `eduioc run`, its stderr in a file; SIGTERM on drop.
struct Node {
    child: Child,
    log: PathBuf,
}

impl Node {
    fn start(dir: &Path, extra: &[&str]) -> Node {
        // Beside the topology, outside the directory whose modes are checked.
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let log = dir.parent().unwrap().with_file_name(format!("{name}.log"));
        let child = eduioc_umask0()
            .args(["run", "--dir"])
            .arg(dir)
            .args(extra)
            .env("RUST_LOG", "info,libp2p=warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Node { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until `GET /api/v1/status` answers 200 at `http`.
    fn wait_up(&mut self, http: &str, token: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ok = ureq::get(&format!("http://{http}/api/v1/status"))
                .set("Authorization", &format!("Bearer {token}"))
                .timeout(Duration::from_secs(5))
                .call()
                .is_ok();
            if ok {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the node exited ({status}):\n{}", self.log());
            }
            assert!(Instant::now() < deadline, "never came up:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM, and a clean exit.
    fn stop(mut self) {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{status:?}:\n{}", self.log());
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn token(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("api.token"))
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn node_files_are_private_whatever_the_umask() {
    let tmp = tempfile::tempdir().unwrap();
    let http = format!("127.0.0.1:{}", free_port());
    let topo = topology(tmp.path(), &http);
    let out = tmp.path().join("nodes");
    generate(&topo, &out);
    let l = loose(&out);
    assert!(l.is_empty(), "after topology generate: {l:?}");

    // A node that ran and shut down.
    let dir = out.join("so");
    let mut node = Node::start(&dir, &[]);
    node.wait_up(&http, &token(&dir));
    node.stop();
    assert!(dir.join("store.redb").exists());
    let l = loose(&out);
    assert!(l.is_empty(), "after a node ran: {l:?}");

    // A directory left readable by an earlier version (or a copy) is tightened at start,
    // with a warning naming what changed.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    for f in ["api.token", "store.redb", "node.toml"] {
        std::fs::set_permissions(dir.join(f), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let mut node = Node::start(&dir, &[]);
    node.wait_up(&http, &token(&dir));
    let log = node.log();
    node.stop();
    assert!(log.contains("mode tightened"), "{log}");
    assert!(log.contains("api.token"), "{log}");
    let l = loose(&out);
    assert!(l.is_empty(), "after a start on a loose directory: {l:?}");
}

/// Runs `cmd`, which must exit by itself; one still running after a minute started when
/// it should have refused, and is killed so that the test fails instead of hanging.
fn refused_at_once(cmd: &mut Command) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "started instead of refusing:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn a_non_loopback_http_address_needs_the_opt_in() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let topo = topology(tmp.path(), &format!("0.0.0.0:{port}"));
    let out = tmp.path().join("nodes");
    generate(&topo, &out);
    let dir = out.join("so");

    let refused = refused_at_once(Command::new(BIN).args(["run", "--dir"]).arg(&dir));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{err}");
    assert!(err.contains(&format!("0.0.0.0:{port}")), "{err}");
    assert!(err.contains("--public-http"), "{err}");
    assert!(!dir.join("store.redb").exists(), "opened the store anyway");

    let mut node = Node::start(&dir, &["--public-http"]);
    node.wait_up(&format!("127.0.0.1:{port}"), &token(&dir));
    let log = node.log();
    node.stop();
    assert!(log.contains("reverse proxy"), "{log}");

    // The demo too.
    let demo = refused_at_once(
        Command::new(BIN)
            .args(["demo", "--tiny", "--districts", "1", "--http"])
            .arg(format!("0.0.0.0:{}", free_port()))
            .arg("--data")
            .arg(tmp.path().join("demo")),
    );
    let err = String::from_utf8_lossy(&demo.stderr);
    assert!(!demo.status.success(), "{err}");
    assert!(
        err.contains("--public-http") && err.contains("0.0.0.0:"),
        "{err}"
    );
    assert!(!tmp.path().join("demo").exists());
}

/// Opens a connection that sends part of a request head, then nothing.
fn slowloris(http: &str) -> TcpStream {
    let mut s = TcpStream::connect(http).unwrap();
    s.write_all(b"GET /api/v1/status HTTP/1.1\r\nHost: x\r\nX-Slow: a")
        .unwrap();
    s
}

#[test]
fn slowloris_connections_cannot_pin_the_node() {
    let tmp = tempfile::tempdir().unwrap();
    let http = format!("127.0.0.1:{}", free_port());
    let topo = topology(tmp.path(), &http);
    let out = tmp.path().join("nodes");
    generate(&topo, &out);
    let dir = out.join("so");
    let tok = token(&dir);
    let mut node = Node::start(&dir, &[]);
    node.wait_up(&http, &tok);

    let started = Instant::now();
    let mut slow: Vec<TcpStream> = (0..100).map(|_| slowloris(&http)).collect();
    // A kept-alive connection that made one request and then idles.
    let mut kept = TcpStream::connect(&http).unwrap();
    write!(
        kept,
        "GET /api/v1/status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {tok}\r\n\r\n"
    )
    .unwrap();
    let mut buf = [0u8; 4096];
    let n = kept.read(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    // The node answers a real request while the slow ones hold their connections.
    let resp = ureq::get(&format!("http://{http}/api/v1/status"))
        .set("Authorization", &format!("Bearer {tok}"))
        .timeout(Duration::from_secs(30))
        .call()
        .unwrap();
    assert_eq!(resp.status(), 200);
    println!(
        "real request answered {:?} after 100 slow connections opened",
        started.elapsed()
    );

    // Each slow connection, and the idle one, is closed by the node without an answer.
    // (The read timeout only keeps a broken node from hanging the test.)
    for s in slow.iter_mut().chain(std::iter::once(&mut kept)) {
        s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
        let r = s.read(&mut buf);
        match r {
            Ok(0) => {}
            Ok(n) => panic!(
                "answered a partial request: {}",
                String::from_utf8_lossy(&buf[..n])
            ),
            Err(e) => assert!(
                !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ),
                "still open: {e}"
            ),
        }
    }
    println!(
        "all 100 slow connections and the idle one closed {:?} after they opened",
        started.elapsed()
    );
    node.stop();
}
