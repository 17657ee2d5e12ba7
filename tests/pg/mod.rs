//! A private PostgreSQL server for a test: Debian's binaries (package `postgresql`),
//! a cluster in a temporary directory, listening on a free loopback port, stopped when
//! dropped. Without the binaries the test says so and passes, unless
//! `EDUIOC_POSTGRES_TESTS=require` (CI), where that is a failure.
#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Pg {
    pub url: String,
    bin: PathBuf,
    data: PathBuf,
    /// The user the server runs as when this process is root (`initdb` refuses root).
    user: Option<String>,
    server: Child,
    _tmp: tempfile::TempDir,
}

/// The newest `/usr/lib/postgresql/<version>/bin` holding `initdb`.
fn binaries() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, b)| b)
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// `program args` as `user` (through `runuser`) or as this process.
fn as_user(user: Option<&str>, program: &Path) -> Command {
    match user {
        Some(u) => {
            let mut c = Command::new("runuser");
            c.args(["-u", u, "--"]).arg(program);
            c
        }
        None => Command::new(program),
    }
}

impl Pg {
    /// A running server, or `None` (said on stderr) when PostgreSQL is not installed and
    /// not required.
    pub fn start() -> Option<Pg> {
        let required = std::env::var("EDUIOC_POSTGRES_TESTS").as_deref() == Ok("require");
        let Some(bin) = binaries() else {
            assert!(
                !required,
                "EDUIOC_POSTGRES_TESTS=require but no PostgreSQL under /usr/lib/postgresql \
                 (apt-get install postgresql)"
            );
            eprintln!("PostgreSQL is not installed (apt-get install postgresql): test skipped");
            return None;
        };
        let user = is_root().then(|| "postgres".to_string());
        let tmp = tempfile::tempdir().unwrap();
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let data = tmp.path().join("data");
        let run = tmp.path().join("run");
        std::fs::create_dir(&run).unwrap();
        std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o777)).unwrap();
        let out = as_user(user.as_deref(), &bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ])
            .stdout(Stdio::null())
            .output()
            .expect("initdb runs");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = crate::harness::free_port();
        let server = as_user(user.as_deref(), &bin.join("postgres"))
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-h", "127.0.0.1", "-F"])
            .arg("-k")
            .arg(&run)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("postgres starts");
        let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
        let pg = Pg {
            url,
            bin,
            data,
            user,
            server,
            _tmp: tmp,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match postgres::Client::connect(&pg.url, postgres::NoTls) {
                Ok(_) => break,
                Err(e) if Instant::now() > deadline => panic!("PostgreSQL never answered: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
        Some(pg)
    }

    /// A new connection.
    pub fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.url, postgres::NoTls).unwrap()
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        let _ = as_user(self.user.as_deref(), &self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}
