//! `eduioc account add|passwd|role|remove|list --dir DIR/<unit>`: the node's web UI
//! accounts from the command line, whether the node runs or not (a running node reads
//! `accounts.toml` again when it changes). A password comes from standard input with
//! `--password-stdin`, or is drawn at random and printed once.

use std::io::BufRead;
use std::path::Path;

use anyhow::{bail, Context, Result};
use eduioc_web::auth::{random_salt as salt, read_file, update_file, Accounts, Error as AuthError};
use eduioc_web::Role;

use crate::config::ACCOUNTS;

/// What to do.
pub(crate) enum Change {
    /// A new account.
    Add { user: String, role: String },
    /// A new password.
    Passwd { user: String },
    /// A new role.
    Role { user: String, role: String },
    /// No more account.
    Remove { user: String },
    /// Print the accounts and their roles.
    List,
}

/// The password: one line of standard input, or a random one (returned to print).
fn password(from_stdin: bool) -> Result<(String, bool)> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        let pw = line.trim_end_matches(['\r', '\n']).to_string();
        if pw.is_empty() {
            bail!("--password-stdin: standard input held no password");
        }
        Ok((pw, false))
    } else {
        Ok((
            crate::topology::random_password(&mut rand::rngs::OsRng),
            true,
        ))
    }
}

/// Runs `change` on the accounts of the node directory `dir`; returns what to print.
pub(crate) fn run(dir: &Path, change: Change, password_stdin: bool) -> Result<String> {
    if !dir.join(crate::config::NODE_TOML).exists() {
        bail!("{} is not a node directory (no node.toml)", dir.display());
    }
    let path = dir.join(ACCOUNTS);
    if let Change::List = change {
        let mut out = String::new();
        for a in &read_file(&path)?.accounts {
            out.push_str(&format!("{}\t{}\n", a.user, a.role.code()));
        }
        return Ok(out);
    }
    // A password is read (or drawn) before the file is locked: the lock is held only from
    // the read of the file to its write, which the running node's UI waits for.
    let pw = match &change {
        Change::Add { .. } | Change::Passwd { .. } => Some(password(password_stdin)?),
        _ => None,
    };
    let said = update_file(
        &path,
        |accounts: &mut Accounts| -> Result<String, AuthError> {
            Ok(match change {
                // Answered above, without the lock.
                Change::List => String::new(),
                Change::Add { user, role } => {
                    let role = Role::parse(&role)?;
                    let (pw, drawn) = pw.unwrap_or_default();
                    accounts.add(&user, &pw, role, salt())?;
                    shown(format!("added {user} ({})", role.code()), &pw, drawn)
                }
                Change::Passwd { user } => {
                    let (pw, drawn) = pw.unwrap_or_default();
                    accounts.set_password(&user, &pw, salt())?;
                    shown(format!("new password for {user}"), &pw, drawn)
                }
                Change::Role { user, role } => {
                    let role = Role::parse(&role)?;
                    accounts.set_role(&user, role)?;
                    format!("{user} is now {}", role.code())
                }
                Change::Remove { user } => {
                    accounts.remove(&user)?;
                    format!("removed {user}")
                }
            })
        },
    )?;
    Ok(said)
}

fn shown(what: String, pw: &str, drawn: bool) -> String {
    if drawn {
        format!("{what}; password (shown once): {pw}")
    } else {
        what
    }
}
