//! Web UI accounts and sessions.
//!
//! Accounts live in the node directory's `accounts.toml` (written by
//! `eduioc topology generate`), each with an Argon2id password hash in PHC form:
//!
//! ```toml
//! [[account]]
//! user = "admin"
//! password_hash = "$argon2id$v=19$m=19456,t=2,p=1$..."
//! ```
//!
//! A successful login creates a session: a random 256-bit id kept in memory (at most
//! [`MAX_SESSIONS`], idle ones expire after [`SESSION_IDLE`]) and sent as an
//! `HttpOnly; SameSite=Strict` cookie whose name carries the unit id, so that nodes
//! sharing `127.0.0.1` on different ports keep separate logins.

use std::collections::HashMap;
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
}

/// One account of `accounts.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    /// Login name.
    pub user: String,
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
            "# Web UI accounts of this node, written by `eduioc topology generate`.\n\
             # password_hash: Argon2id, PHC string form. Add accounts with the same form.\n{body}"
        ))
    }

    /// Whether `password` is the password of `user` (runs Argon2: call it off the async
    /// executor).
    pub fn verify(&self, user: &str, password: &str) -> bool {
        if user.len() > MAX_CREDENTIAL_BYTES || password.len() > MAX_CREDENTIAL_BYTES {
            return false;
        }
        let Some(acc) = self.accounts.iter().find(|a| a.user == user) else {
            return false;
        };
        PasswordHash::new(&acc.password_hash).is_ok_and(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
    }
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
                    last_used: now,
                },
            );
        }
        id
    }

    /// The user of a live session, refreshing its idle timer.
    pub fn user(&self, id: &str) -> Option<String> {
        let mut m = self.inner.lock().ok()?;
        let now = Instant::now();
        let s = m.get_mut(id)?;
        if now.duration_since(s.last_used) >= SESSION_IDLE {
            m.remove(id);
            return None;
        }
        s.last_used = now;
        Some(s.user.clone())
    }

    /// Ends a session.
    pub fn remove(&self, id: &str) {
        if let Ok(mut m) = self.inner.lock() {
            m.remove(id);
        }
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
                password_hash: h,
            }],
        };
        let text = accounts.to_toml().unwrap();
        let parsed = Accounts::parse(&text).unwrap();
        assert!(parsed.verify("admin", "s3cret-pass"));
        assert!(!parsed.verify("admin", "wrong"));
        assert!(!parsed.verify("root", "s3cret-pass"));
        assert!(Accounts::parse("[[account]]\nuser = \"a\"\npassword_hash = \"plain\"\n").is_err());
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
