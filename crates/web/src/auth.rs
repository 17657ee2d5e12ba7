//! Web UI accounts and sessions.
//!
//! Accounts live in the node directory's `accounts.toml` (written by
//! `eduioc topology generate`), each with an Argon2id password hash in PHC form:
//!
//! ```toml
//! [[account]]
//! user = "admin"
//! role = "admin"
//! password_hash = "$argon2id$v=19$m=19456,t=2,p=1$..."
//! ```
//!
//! Every account has a [`Role`]: `viewer` reads, `clerk` also imports and edits records,
//! `officer` also sets targets, acknowledges alerts and sends notifications, `admin` also
//! manages the accounts. An account written before roles existed (no `role`) is an
//! `admin`, as every account was then. The node reads the file through an
//! [`AccountBook`], which notices when `eduioc account …` changed it and writes the
//! changes made in the UI back atomically; a role change or a removal takes effect at the
//! account's next request.
//!
//! A successful login creates a session: a random 256-bit id kept in memory (at most
//! [`MAX_SESSIONS`], idle ones expire after [`SESSION_IDLE`]) and sent as an
//! `HttpOnly; SameSite=Strict` cookie whose name carries the unit id, so that nodes
//! sharing `127.0.0.1` on different ports keep separate logins.
//!
//! Password guessing is slowed by a [`Throttle`]: after [`MAX_FAILED_LOGINS`] failed
//! attempts within [`THROTTLE_WINDOW`] for one user name, or from one client address,
//! further attempts are refused before the password is even hashed (Argon2 is
//! deliberately expensive, so this also protects the node's CPU).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::RngCore;
use serde::{Deserialize, Serialize};

/// Most sessions held at once; the least recently used is dropped beyond it.
pub const MAX_SESSIONS: usize = 1024;
/// A session unused for this long is logged out.
pub const SESSION_IDLE: Duration = Duration::from_secs(12 * 3600);
/// Longest user name or password accepted at login, in bytes.
pub const MAX_CREDENTIAL_BYTES: usize = 256;

/// Errors of account files and password hashing.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `accounts.toml` is not valid.
    #[error("invalid accounts file: {0}")]
    File(String),
    /// Hashing failed.
    #[error("password hashing failed: {0}")]
    Hash(String),
    /// A change to the accounts that is not allowed (what and why).
    #[error("{0}")]
    Refused(String),
    /// The accounts file could not be read or written.
    #[error("{0}")]
    Io(String),
}

/// Shortest password an account may be given, in characters.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// What an account may do; each role may do everything the ones before it may.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads every page of the node.
    Viewer,
    /// Also imports and edits records (a school's data entry).
    Clerk,
    /// Also sets targets, acknowledges alerts and sends notifications.
    Officer,
    /// Also manages the node's accounts. Accounts written before roles existed.
    #[default]
    Admin,
}

impl Role {
    /// Every role, least first.
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Clerk, Role::Officer, Role::Admin];

    /// The role's code (`viewer`, `clerk`, `officer`, `admin`).
    pub fn code(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Clerk => "clerk",
            Role::Officer => "officer",
            Role::Admin => "admin",
        }
    }

    /// The role of a code.
    pub fn parse(s: &str) -> Result<Role, Error> {
        Role::ALL
            .into_iter()
            .find(|r| r.code() == s)
            .ok_or_else(|| {
                Error::Refused(format!(
                    "unknown role {s:?}: one of viewer, clerk, officer, admin"
                ))
            })
    }
}

/// One account of `accounts.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    /// Login name.
    pub user: String,
    /// What it may do (`admin` when the file does not say: written before roles).
    #[serde(default)]
    pub role: Role,
    /// Argon2id hash in PHC string form.
    pub password_hash: String,
}

/// The contents of `accounts.toml`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Accounts {
    /// The accounts.
    #[serde(default, rename = "account")]
    pub accounts: Vec<Account>,
}

impl Accounts {
    /// Parses `accounts.toml`, checking that every hash is a PHC string.
    pub fn parse(text: &str) -> Result<Accounts, Error> {
        let a: Accounts = toml::from_str(text).map_err(|e| Error::File(e.to_string()))?;
        for acc in &a.accounts {
            if acc.user.is_empty() || acc.user.len() > MAX_CREDENTIAL_BYTES {
                return Err(Error::File(format!(
                    "account {:?}: user must be 1 to 256 bytes",
                    acc.user
                )));
            }
            PasswordHash::new(&acc.password_hash)
                .map_err(|e| Error::File(format!("account {}: password_hash: {e}", acc.user)))?;
        }
        Ok(a)
    }

    /// The file's text, with a comment saying what it is.
    pub fn to_toml(&self) -> Result<String, Error> {
        let body = toml::to_string(self).map_err(|e| Error::File(e.to_string()))?;
        Ok(format!(
            "# Web UI accounts of this node (`eduioc account --help`).\n\
             # role: viewer, clerk, officer or admin (admin when absent).\n\
             # password_hash: Argon2id, PHC string form. Manage with `eduioc account`.\n{body}"
        ))
    }

    /// The role of `user` when `password` is its password (runs Argon2: call it off the
    /// async executor).
    pub fn verify(&self, user: &str, password: &str) -> Option<Role> {
        if user.len() > MAX_CREDENTIAL_BYTES || password.len() > MAX_CREDENTIAL_BYTES {
            return None;
        }
        let acc = self.accounts.iter().find(|a| a.user == user)?;
        let ok = PasswordHash::new(&acc.password_hash).is_ok_and(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        });
        ok.then_some(acc.role)
    }

    /// The role of `user`, if it has an account.
    pub fn role(&self, user: &str) -> Option<Role> {
        self.accounts
            .iter()
            .find(|a| a.user == user)
            .map(|a| a.role)
    }

    /// Adds an account (`Refused` if the user exists or the name or password is not
    /// acceptable).
    pub fn add(
        &mut self,
        user: &str,
        password: &str,
        role: Role,
        salt: [u8; 16],
    ) -> Result<(), Error> {
        check_user(user)?;
        if self.role(user).is_some() {
            return Err(Error::Refused(format!("account {user:?} already exists")));
        }
        let password_hash = hash_password(checked_password(password)?, salt)?;
        self.accounts.push(Account {
            user: user.to_string(),
            role,
            password_hash,
        });
        Ok(())
    }

    /// Gives `user` a new password.
    pub fn set_password(
        &mut self,
        user: &str,
        password: &str,
        salt: [u8; 16],
    ) -> Result<(), Error> {
        let hash = hash_password(checked_password(password)?, salt)?;
        self.find_mut(user)?.password_hash = hash;
        Ok(())
    }

    /// Gives `user` a new role; the last admin cannot lose it.
    pub fn set_role(&mut self, user: &str, role: Role) -> Result<(), Error> {
        let was = self.find_mut(user)?.role;
        if was == Role::Admin && role != Role::Admin {
            self.keep_an_admin(user)?;
        }
        self.find_mut(user)?.role = role;
        Ok(())
    }

    /// Removes `user`'s account; the last admin cannot be removed.
    pub fn remove(&mut self, user: &str) -> Result<(), Error> {
        if self.find_mut(user)?.role == Role::Admin {
            self.keep_an_admin(user)?;
        }
        self.accounts.retain(|a| a.user != user);
        Ok(())
    }

    fn find_mut(&mut self, user: &str) -> Result<&mut Account, Error> {
        self.accounts
            .iter_mut()
            .find(|a| a.user == user)
            .ok_or_else(|| Error::Refused(format!("no account {user:?}")))
    }

    /// Refuses when `user` is the only admin.
    fn keep_an_admin(&self, user: &str) -> Result<(), Error> {
        let others = self
            .accounts
            .iter()
            .any(|a| a.role == Role::Admin && a.user != user);
        if others {
            Ok(())
        } else {
            Err(Error::Refused(format!(
                "{user:?} is the node's only admin: give another account the admin role first"
            )))
        }
    }
}

/// A user name: 1 to 64 characters, letters, digits, `.`, `_`, `-` or `@`.
fn check_user(user: &str) -> Result<(), Error> {
    let ok = !user.is_empty()
        && user.chars().count() <= 64
        && user
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(Error::Refused(format!(
            "user name {user:?}: 1 to 64 letters, digits, '.', '_', '-' or '@'"
        )))
    }
}

/// A password of at least [`MIN_PASSWORD_CHARS`] characters and at most
/// [`MAX_CREDENTIAL_BYTES`] bytes (what login accepts).
fn checked_password(password: &str) -> Result<&str, Error> {
    if password.chars().count() < MIN_PASSWORD_CHARS || password.len() > MAX_CREDENTIAL_BYTES {
        return Err(Error::Refused(format!(
            "a password has at least {MIN_PASSWORD_CHARS} characters and at most \
             {MAX_CREDENTIAL_BYTES} bytes"
        )));
    }
    Ok(password)
}

/// The accounts of a node as its server uses them: read from `accounts.toml` again when
/// the file changed (`eduioc account …` while the node runs), and written back
/// atomically (a new file renamed over the old, mode 0600) when the UI changes them.
/// A file that no longer parses keeps the accounts last read, with a warning.
#[derive(Debug)]
pub struct AccountBook {
    path: Option<std::path::PathBuf>,
    inner: Mutex<(Accounts, Option<FileStamp>)>,
}

/// What tells a changed file: modification time and length.
type FileStamp = (std::time::SystemTime, u64);

fn stamp(path: &std::path::Path) -> Option<FileStamp> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

impl AccountBook {
    /// Accounts held in memory only (tests, the demo).
    pub fn in_memory(accounts: Accounts) -> AccountBook {
        AccountBook {
            path: None,
            inner: Mutex::new((accounts, None)),
        }
    }

    /// The accounts of the file at `path` (none when it does not exist).
    pub fn open(path: &std::path::Path) -> Result<AccountBook, Error> {
        let accounts = read_file(path)?;
        Ok(AccountBook {
            path: Some(path.to_path_buf()),
            inner: Mutex::new((accounts, stamp(path))),
        })
    }

    /// The accounts now (re-read if the file changed).
    pub fn current(&self) -> Accounts {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        self.refresh(&mut g);
        g.0.clone()
    }

    /// The role of `user` now, if it has an account.
    pub fn role(&self, user: &str) -> Option<Role> {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        self.refresh(&mut g);
        g.0.role(user)
    }

    /// The role and the password hash of `user` now: a session opened with another hash
    /// (the password changed since, here or with `eduioc account passwd`) is over.
    pub fn stamp(&self, user: &str) -> Option<(Role, String)> {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        self.refresh(&mut g);
        g.0.accounts
            .iter()
            .find(|a| a.user == user)
            .map(|a| (a.role, a.password_hash.clone()))
    }

    /// Changes the accounts with `f` and writes them; nothing changes if `f` or the
    /// write fails. With a file, the change is made to the file as it is now, under its
    /// lock ([`update_file`]): a change `eduioc account` made a moment before stays.
    ///
    /// The book's own lock is taken only to install the result, never while the file's
    /// is awaited: the requests that read the accounts (every page checks its session
    /// against them) do not wait for a change made elsewhere.
    pub fn update<T>(&self, f: impl FnOnce(&mut Accounts) -> Result<T, Error>) -> Result<T, Error> {
        let Some(path) = &self.path else {
            let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            let mut next = g.0.clone();
            let out = f(&mut next)?;
            g.0 = next;
            return Ok(out);
        };
        let (out, next) = change_file(path, f)?;
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        *g = (next, stamp(path));
        Ok(out)
    }

    fn refresh(&self, g: &mut (Accounts, Option<FileStamp>)) {
        let Some(path) = &self.path else { return };
        let now = stamp(path);
        if now == g.1 {
            return;
        }
        match read_file(path) {
            Ok(a) => *g = (a, now),
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "accounts file not re-read; the accounts last read stay in force");
                g.1 = now;
            }
        }
    }
}

/// The accounts of the file at `path`; none when it does not exist.
pub fn read_file(path: &std::path::Path) -> Result<Accounts, Error> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8(bytes)
                .map_err(|_| Error::File(format!("{} is not UTF-8", path.display())))?;
            Accounts::parse(&text).map_err(|e| Error::File(format!("{}: {e}", path.display())))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Accounts::default()),
        Err(e) => Err(Error::Io(format!("cannot read {}: {e}", path.display()))),
    }
}

/// Changes the accounts of the file at `path` with `f` and writes them, holding the
/// file's lock (`accounts.toml.lock`, an exclusive `flock`) from the read to the write:
/// the node's UI and `eduioc account` change the same file, and neither loses what the
/// other wrote between its read and its write. Nothing is written if `f` fails.
pub fn update_file<T>(
    path: &std::path::Path,
    f: impl FnOnce(&mut Accounts) -> Result<T, Error>,
) -> Result<T, Error> {
    change_file(path, f).map(|(out, _)| out)
}

/// [`update_file`], returning the accounts as written too.
fn change_file<T>(
    path: &std::path::Path,
    f: impl FnOnce(&mut Accounts) -> Result<T, Error>,
) -> Result<(T, Accounts), Error> {
    let _lock = FileLock::exclusive(&path.with_extension("toml.lock"))?;
    let mut accounts = read_file(path)?;
    let out = f(&mut accounts)?;
    write_file(path, &accounts)?;
    Ok((out, accounts))
}

/// An exclusive advisory lock on a file, released when dropped (closing the file).
struct FileLock(#[allow(dead_code)] std::fs::File);

impl FileLock {
    fn exclusive(path: &std::path::Path) -> Result<FileLock, Error> {
        // Read-only is enough to lock: a lock file another user created (`sudo eduioc
        // account …`) still serves. Created, empty and private, when missing.
        let file = match std::fs::File::open(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut opts = std::fs::OpenOptions::new();
                opts.write(true).create(true).truncate(false);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
                opts.open(path).and_then(|_| std::fs::File::open(path))
            }
            other => other,
        }
        .map_err(|e| Error::Io(format!("cannot open {}: {e}", path.display())))?;
        // `flock` on Linux; waits while another holder has it.
        file.lock()
            .map_err(|e| Error::Io(format!("cannot lock {}: {e}", path.display())))?;
        Ok(FileLock(file))
    }
}

/// Writes `accounts` to `path` atomically: a new file (mode 0600), synced, renamed over
/// the old one.
pub fn write_file(path: &std::path::Path, accounts: &Accounts) -> Result<(), Error> {
    use std::io::Write;
    let text = accounts.to_toml()?;
    let tmp = path.with_extension("toml.new");
    let io =
        |what: &str, e: std::io::Error| Error::Io(format!("cannot {what} {}: {e}", tmp.display()));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(&tmp).map_err(|e| io("create", e))?;
    f.write_all(text.as_bytes()).map_err(|e| io("write", e))?;
    f.sync_all().map_err(|e| io("sync", e))?;
    drop(f);
    std::fs::rename(&tmp, path)
        .map_err(|e| Error::Io(format!("cannot replace {}: {e}", path.display())))
}

/// A fresh random salt for [`hash_password`].
pub fn random_salt() -> [u8; 16] {
    let mut s = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut s);
    s
}

/// Hashes `password` with Argon2id (default parameters) and the given 16-byte salt.
pub fn hash_password(password: &str, salt: [u8; 16]) -> Result<String, Error> {
    let salt = SaltString::encode_b64(&salt).map_err(|e| Error::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Hash(e.to_string()))
}

struct Session {
    user: String,
    /// The account's password hash when the session opened: a new password ends it.
    stamp: String,
    last_used: Instant,
}

/// The node's logged-in sessions (cloneable handle).
#[derive(Clone)]
pub struct Sessions {
    cookie: Arc<str>,
    inner: Arc<Mutex<HashMap<String, Session>>>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("cookie", &self.cookie)
            .finish_non_exhaustive()
    }
}

impl Sessions {
    /// Sessions of the node of `unit` (the cookie is `eduioc_<unit>`).
    pub fn new(unit: &str) -> Sessions {
        Sessions {
            cookie: format!(
                "eduioc_{}",
                unit.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
            )
            .into(),
            inner: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Name of the session cookie.
    pub fn cookie_name(&self) -> &str {
        &self.cookie
    }

    /// Opens a session for `user` and returns its id.
    pub fn create(&self, user: &str) -> String {
        self.create_with(user, "")
    }

    /// Opens a session for `user` whose password hash is `stamp` (see
    /// [`AccountBook::stamp`]) and returns its id.
    pub fn create_with(&self, user: &str, stamp: &str) -> String {
        let mut raw = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let id: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        let now = Instant::now();
        if let Ok(mut m) = self.inner.lock() {
            m.retain(|_, s| now.duration_since(s.last_used) < SESSION_IDLE);
            while m.len() >= MAX_SESSIONS {
                let oldest = m
                    .iter()
                    .min_by_key(|(_, s)| s.last_used)
                    .map(|(k, _)| k.clone());
                match oldest {
                    Some(k) => m.remove(&k),
                    None => break,
                };
            }
            m.insert(
                id.clone(),
                Session {
                    user: user.to_string(),
                    stamp: stamp.to_string(),
                    last_used: now,
                },
            );
        }
        id
    }

    /// The user of a live session, refreshing its idle timer.
    pub fn user(&self, id: &str) -> Option<String> {
        self.user_and_stamp(id).map(|(u, _)| u)
    }

    /// The user of a live session and the password hash it opened with, refreshing its
    /// idle timer.
    pub fn user_and_stamp(&self, id: &str) -> Option<(String, String)> {
        let mut m = self.inner.lock().ok()?;
        let now = Instant::now();
        let s = m.get_mut(id)?;
        if now.duration_since(s.last_used) >= SESSION_IDLE {
            m.remove(id);
            return None;
        }
        s.last_used = now;
        Some((s.user.clone(), s.stamp.clone()))
    }

    /// Ends a session.
    pub fn remove(&self, id: &str) {
        if let Ok(mut m) = self.inner.lock() {
            m.remove(id);
        }
    }
}

/// Failed logins allowed per user name and per client address within [`THROTTLE_WINDOW`];
/// the next attempt is refused.
pub const MAX_FAILED_LOGINS: usize = 5;
/// How long a failed login counts against its user name and address.
pub const THROTTLE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Most user names and addresses tracked at once; beyond it the one whose latest attempt
/// is oldest is forgotten.
pub const MAX_THROTTLED_KEYS: usize = 4096;

/// A source of "now" in Unix milliseconds (injectable so that tests move time by hand).
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// What failures are counted under.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum ThrottleKey {
    User(String),
    /// An IPv4 address, or the /64 prefix of an IPv6 one (a single host usually holds a
    /// whole /64).
    Addr(IpAddr),
}

fn addr_key(ip: IpAddr) -> ThrottleKey {
    let ip = match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
        v4 => v4,
    };
    ThrottleKey::Addr(ip)
}

/// Counts login attempts per user name and per client address (cloneable handle).
///
/// [`Throttle::begin`] lets an attempt through only while both its user name and its
/// address have had fewer than [`MAX_FAILED_LOGINS`] failures in the last
/// [`THROTTLE_WINDOW`], and counts it as failed at once, so that concurrent guesses cannot
/// overtake the limit; [`Throttle::succeeded`] takes the count back and clears the user
/// name's failures. At most [`MAX_THROTTLED_KEYS`] keys are held.
#[derive(Clone)]
pub struct Throttle {
    clock: Clock,
    /// Per key, the times (Unix ms) of its recent failures, oldest first, at most
    /// [`MAX_FAILED_LOGINS`].
    inner: Arc<Mutex<HashMap<ThrottleKey, VecDeque<i64>>>>,
}

impl std::fmt::Debug for Throttle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Throttle").finish_non_exhaustive()
    }
}

impl Default for Throttle {
    fn default() -> Throttle {
        Throttle::new()
    }
}

/// A login attempt [`Throttle::begin`] let through (counted as failed until
/// [`Throttle::succeeded`]).
#[derive(Debug)]
pub struct Attempt {
    user: String,
    addr: Option<ThrottleKey>,
    at_ms: i64,
}

impl Throttle {
    /// A throttle on the system clock.
    pub fn new() -> Throttle {
        Throttle::with_clock(Arc::new(|| chrono::Utc::now().timestamp_millis()))
    }

    /// A throttle on the given clock.
    pub fn with_clock(clock: Clock) -> Throttle {
        Throttle {
            clock,
            inner: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Lets an attempt of `user` from `ip` through (counting it as failed), or refuses it
    /// with the time (Unix ms) from which it would be let through.
    pub fn begin(&self, user: &str, ip: Option<IpAddr>) -> Result<Attempt, i64> {
        let now = self.now_ms();
        let window = THROTTLE_WINDOW.as_millis() as i64;
        let keys: Vec<ThrottleKey> = std::iter::once(ThrottleKey::User(user.to_string()))
            .chain(ip.map(addr_key))
            .collect();
        let Ok(mut m) = self.inner.lock() else {
            // A poisoned table: refuse rather than let guesses through unchecked.
            return Err(now + window);
        };
        let mut retry_at = None;
        for k in &keys {
            if let Some(times) = m.get_mut(k) {
                while times.front().is_some_and(|t| *t <= now - window) {
                    times.pop_front();
                }
                if times.len() >= MAX_FAILED_LOGINS {
                    let at = times.front().map_or(now, |t| t + window);
                    retry_at = Some(retry_at.map_or(at, |r: i64| r.max(at)));
                }
            }
        }
        if let Some(at) = retry_at {
            return Err(at);
        }
        for k in &keys {
            if !m.contains_key(k) && m.len() >= MAX_THROTTLED_KEYS {
                m.retain(|_, t| t.back().is_some_and(|t| *t > now - window));
                if m.len() >= MAX_THROTTLED_KEYS {
                    let oldest = m
                        .iter()
                        .min_by_key(|(_, t)| t.back().copied().unwrap_or(i64::MIN))
                        .map(|(k, _)| k.clone());
                    if let Some(o) = oldest {
                        m.remove(&o);
                    }
                }
            }
            let times = m.entry(k.clone()).or_default();
            times.push_back(now);
            while times.len() > MAX_FAILED_LOGINS {
                times.pop_front();
            }
        }
        Ok(Attempt {
            user: user.to_string(),
            addr: ip.map(addr_key),
            at_ms: now,
        })
    }

    /// The attempt's password was right: its user name's failures are cleared and the
    /// address gets its count back.
    pub fn succeeded(&self, a: Attempt) {
        if let Ok(mut m) = self.inner.lock() {
            m.remove(&ThrottleKey::User(a.user));
            if let Some(k) = a.addr {
                if let Some(times) = m.get_mut(&k) {
                    if let Some(i) = times.iter().rposition(|t| *t == a.at_ms) {
                        times.remove(i);
                    }
                    if times.is_empty() {
                        m.remove(&k);
                    }
                }
            }
        }
    }

    /// Now, by the throttle's clock (Unix ms).
    pub fn now_ms(&self) -> i64 {
        (self.clock)()
    }

    /// Keys tracked (for tests of the bound).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.lock().map_or(0, |m| m.len())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn hash_verify_round_trip() {
        let h = hash_password("s3cret-pass", [7; 16]).unwrap();
        let accounts = Accounts {
            accounts: vec![Account {
                user: "admin".into(),
                role: Role::Officer,
                password_hash: h,
            }],
        };
        let text = accounts.to_toml().unwrap();
        let parsed = Accounts::parse(&text).unwrap();
        assert_eq!(parsed.verify("admin", "s3cret-pass"), Some(Role::Officer));
        assert_eq!(parsed.verify("admin", "wrong"), None);
        assert_eq!(parsed.verify("root", "s3cret-pass"), None);
        // A file written before roles: every account is an admin, as it was.
        let old = text.replace("role = \"officer\"\n", "");
        assert_ne!(old, text);
        assert_eq!(
            Accounts::parse(&old).unwrap().role("admin"),
            Some(Role::Admin)
        );
        assert!(Accounts::parse("[[account]]\nuser = \"a\"\npassword_hash = \"plain\"\n").is_err());
    }

    #[test]
    fn accounts_keep_an_admin_and_refuse_bad_names_and_passwords() {
        let mut a = Accounts::default();
        a.add("admin", "correct horse", Role::Admin, [1; 16])
            .unwrap();
        a.add("thu", "battery staple", Role::Clerk, [2; 16])
            .unwrap();
        assert!(matches!(
            a.add("thu", "battery staple", Role::Viewer, [2; 16]),
            Err(Error::Refused(_))
        ));
        assert!(matches!(
            a.add("x y", "battery staple", Role::Viewer, [2; 16]),
            Err(Error::Refused(_))
        ));
        assert!(matches!(
            a.add("lan", "short", Role::Viewer, [2; 16]),
            Err(Error::Refused(_))
        ));
        // The only admin can be neither demoted nor removed.
        assert!(matches!(
            a.set_role("admin", Role::Viewer),
            Err(Error::Refused(_))
        ));
        assert!(matches!(a.remove("admin"), Err(Error::Refused(_))));
        a.set_role("thu", Role::Admin).unwrap();
        a.set_role("admin", Role::Viewer).unwrap();
        a.remove("admin").unwrap();
        assert_eq!(a.role("admin"), None);
        a.set_password("thu", "a new password", [3; 16]).unwrap();
        assert_eq!(a.verify("thu", "a new password"), Some(Role::Admin));
        assert_eq!(a.verify("thu", "battery staple"), None);
        assert!(matches!(
            a.set_password("nobody", "a new password", [3; 16]),
            Err(Error::Refused(_))
        ));
    }

    #[test]
    fn the_book_sees_changes_to_its_file_and_writes_its_own_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("accounts.toml");
        let book = AccountBook::open(&path).unwrap();
        assert!(book.current().accounts.is_empty());
        book.update(|a| a.add("admin", "correct horse", Role::Admin, [1; 16]))
            .unwrap();
        assert_eq!(read_file(&path).unwrap().role("admin"), Some(Role::Admin));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Another process (the command line) adds an account: the book sees it.
        let mut other = read_file(&path).unwrap();
        other
            .add("thu", "battery staple", Role::Clerk, [2; 16])
            .unwrap();
        write_file(&path, &other).unwrap();
        assert_eq!(book.role("thu"), Some(Role::Clerk));
        // A refused change writes nothing.
        assert!(book.update(|a| a.remove("nobody")).is_err());
        assert_eq!(read_file(&path).unwrap().accounts.len(), 2);
        // A file broken by hand keeps the accounts last read.
        std::fs::write(&path, "[[account]]\nuser = 1\n").unwrap();
        assert_eq!(book.role("thu"), Some(Role::Clerk));
    }

    #[test]
    fn the_ui_and_the_command_line_changing_the_file_at_once_lose_nothing() {
        // The node's book and, in other threads as in other processes, `eduioc account`
        // (`update_file`) add accounts to one file at the same time: every one stays.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("accounts.toml");
        let book = std::sync::Arc::new(AccountBook::open(&path).unwrap());
        const EACH: usize = 12;
        let mut threads = Vec::new();
        for t in 0..3 {
            let (book, path) = (book.clone(), path.clone());
            threads.push(std::thread::spawn(move || {
                for i in 0..EACH {
                    let user = format!("u{t}x{i}");
                    let add = |a: &mut Accounts| a.add(&user, "long enough!", Role::Clerk, [7; 16]);
                    if t == 0 {
                        book.update(add).unwrap();
                    } else {
                        update_file(&path, add).unwrap();
                    }
                }
            }));
        }
        for t in threads {
            t.join().unwrap();
        }
        let held = read_file(&path).unwrap();
        assert_eq!(
            held.accounts.len(),
            3 * EACH,
            "{:?}",
            held.accounts.iter().map(|a| &a.user).collect::<Vec<_>>()
        );
        assert_eq!(book.current().accounts.len(), 3 * EACH);
    }

    #[test]
    fn sessions_are_bounded_and_removable() {
        let s = Sessions::new("thcs-tam-hiep");
        assert_eq!(s.cookie_name(), "eduioc_thcs_tam_hiep");
        let id = s.create("admin");
        assert_eq!(s.user(&id).as_deref(), Some("admin"));
        s.remove(&id);
        assert_eq!(s.user(&id), None);
        for _ in 0..MAX_SESSIONS + 5 {
            s.create("x");
        }
        assert!(s.inner.lock().unwrap().len() <= MAX_SESSIONS);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod throttle_tests {
    use std::sync::atomic::{AtomicI64, Ordering};

    use super::*;

    fn clock() -> (Arc<AtomicI64>, Throttle) {
        let now = Arc::new(AtomicI64::new(1_700_000_000_000));
        let n2 = now.clone();
        (
            now,
            Throttle::with_clock(Arc::new(move || n2.load(Ordering::SeqCst))),
        )
    }

    const WINDOW_MS: i64 = THROTTLE_WINDOW.as_millis() as i64;

    #[test]
    fn five_failures_lock_the_user_and_the_address_until_the_window_passes() {
        let (now, t) = clock();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let start = now.load(Ordering::SeqCst);
        for i in 0..MAX_FAILED_LOGINS as i64 {
            now.store(start + i * 1000, Ordering::SeqCst);
            t.begin("admin", Some(ip)).unwrap();
        }
        assert_eq!(t.begin("admin", Some(ip)).unwrap_err(), start + WINDOW_MS);
        // The user name is locked from anywhere, the address for any user name.
        assert!(t.begin("admin", Some("10.0.0.2".parse().unwrap())).is_err());
        assert!(t.begin("admin", None).is_err());
        assert!(t.begin("other", Some(ip)).is_err());
        assert!(t.begin("other", Some("10.0.0.2".parse().unwrap())).is_ok());
        // The oldest failure leaves the window: one more attempt is allowed.
        now.store(start + WINDOW_MS, Ordering::SeqCst);
        let a = t.begin("admin", Some(ip)).unwrap();
        assert!(t.begin("admin", Some(ip)).is_err(), "counted at once");
        // A success clears the user name, and gives the address its count back.
        t.succeeded(a);
        assert!(t.begin("admin", Some("10.9.9.9".parse().unwrap())).is_ok());
        assert!(t.begin("someone", Some(ip)).is_ok());
    }

    #[test]
    fn an_ipv6_host_is_one_address_and_the_table_is_bounded() {
        let (now, t) = clock();
        for i in 0..MAX_FAILED_LOGINS {
            let ip: IpAddr = format!("2001:db8:1:2::{i:x}").parse().unwrap();
            t.begin(&format!("u{i}"), Some(ip)).unwrap();
        }
        assert!(t
            .begin("fresh", Some("2001:db8:1:2:ffff::1".parse().unwrap()))
            .is_err());
        assert!(t
            .begin("fresh", Some("2001:db8:1:3::1".parse().unwrap()))
            .is_ok());
        let start = now.load(Ordering::SeqCst);
        for i in 0..MAX_THROTTLED_KEYS + 100 {
            now.store(start + i as i64, Ordering::SeqCst);
            let _ = t.begin(&format!("spray{i}"), None);
        }
        assert!(t.len() <= MAX_THROTTLED_KEYS, "{}", t.len());
        // The newest keys are the ones kept.
        let last = format!("spray{}", MAX_THROTTLED_KEYS + 99);
        for _ in 1..MAX_FAILED_LOGINS {
            t.begin(&last, None).unwrap();
        }
        assert!(t.begin(&last, None).is_err());
    }
}
