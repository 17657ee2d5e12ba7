//! `node.toml`: everything one node needs, written by `topology generate`.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use eduioc_protocol::{Certificate, NodeId, NodeKey};
use serde::{Deserialize, Serialize};

/// Contents of `node.toml`. Every field is documented in the file itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NodeToml {
    /// Name of the network (from the topology file).
    pub(crate) network: String,
    /// Unit this node speaks for.
    pub(crate) unit: String,
    /// libp2p listen address.
    pub p2p: String,
    /// Web UI + JSON API listen address.
    pub(crate) http: String,
    /// Parent unit, absent at the root.
    #[serde(default)]
    pub(crate) parent: Option<String>,
    /// Parent's libp2p address.
    #[serde(default)]
    pub parent_p2p: Option<String>,
    /// The root key (hex), trust anchor of all certificates.
    pub(crate) root_key: String,
    /// Most Automerge documents in memory at once (default 4,096).
    #[serde(default = "default_doc_cache")]
    pub(crate) doc_cache: usize,
    /// Memory for loaded Automerge documents, MiB, estimated from their records (default
    /// 256). The cache keeps what fits in both bounds.
    #[serde(default = "default_doc_cache_mib")]
    pub(crate) doc_cache_mib: usize,
    /// School year of imports and figures, e.g. "2026-2027" (default: from the clock).
    #[serde(default)]
    pub(crate) school_year: Option<String>,
    /// Allow an `http` address that is not loopback (default false; the same as
    /// `eduioc run --public-http`). The node speaks plain HTTP: TLS belongs in a reverse
    /// proxy in front of it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) public_http: bool,
    /// Addresses of reverse proxies in front of the web UI (e.g. `["127.0.0.1"]` for an
    /// nginx on the same machine): for a request from one of them, the client's address
    /// — what failed logins are counted against and the audit trail shows — is the one
    /// the proxy puts in `X-Forwarded-For`. Default: none (the connection's address).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) trusted_proxies: Vec<std::net::IpAddr>,
    /// A school whose newest data is older than this many days raises `not_reporting`
    /// (default 7).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) not_reporting_days: Option<u32>,
    /// An alert not acknowledged within this many days shows one severity higher above
    /// its unit (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) escalate_after_days: Option<u32>,
    /// The level student and staff records travel up to (`"district"`, or any office
    /// level): offices of that level send their parent only signed summaries of their
    /// subtree, and nodes above hold no record. Set it alike at every node of the
    /// network. Unset: records travel to the root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) records_up_to: Option<String>,
    /// When a school's HK1 report is due, `MM-DD` of the school year (end of that day,
    /// Vietnam time); a school that has not submitted it raises `report_overdue` after.
    /// Unset: no deadline, no alert.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) report_due_hk1: Option<String>,
    /// The same for HK2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) report_due_hk2: Option<String>,
    /// libp2p addresses of other offices, by unit: where this node dials a new parent
    /// after a re-parenting (`eduioc topology reparent`) takes effect.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub(crate) addresses: std::collections::BTreeMap<String, String>,
}

impl NodeToml {
    /// The alert settings, defaults filled in.
    pub(crate) fn alert_settings(&self) -> eduioc_engine::AlertSettings {
        let d = eduioc_engine::AlertSettings::default();
        eduioc_engine::AlertSettings {
            not_reporting_days: self.not_reporting_days.unwrap_or(d.not_reporting_days),
            escalate_after_days: self.escalate_after_days.unwrap_or(d.escalate_after_days),
            report_due_hk1: self
                .report_due_hk1
                .as_deref()
                .and_then(|s| month_day(s).ok()),
            report_due_hk2: self
                .report_due_hk2
                .as_deref()
                .and_then(|s| month_day(s).ok()),
        }
    }

    /// Checks the report deadlines (the node does not start on one it cannot read).
    pub(crate) fn check_report_dues(&self) -> Result<()> {
        for (name, v) in [
            ("report_due_hk1", &self.report_due_hk1),
            ("report_due_hk2", &self.report_due_hk2),
        ] {
            if let Some(v) = v {
                month_day(v).with_context(|| format!("{name} = {v:?} in node.toml"))?;
            }
        }
        Ok(())
    }
}

/// `MM-DD` as (month, day), a day that exists in a leap year.
fn month_day(s: &str) -> Result<(u32, u32)> {
    let (m, d) = s
        .split_once('-')
        .ok_or_else(|| anyhow!("expected MM-DD, such as 01-31"))?;
    let (m, d): (u32, u32) = (m.parse()?, d.parse()?);
    if chrono::NaiveDate::from_ymd_opt(2028, m, d).is_none() {
        bail!("{s} is not a day of the year");
    }
    Ok((m, d))
}

fn default_doc_cache() -> usize {
    eduioc_engine::DEFAULT_DOC_CACHE
}

fn default_doc_cache_mib() -> usize {
    eduioc_engine::DEFAULT_DOC_CACHE_BYTES >> 20
}

/// A node directory loaded and checked.
#[derive(Debug, Clone)]
pub(crate) struct NodeDir {
    /// The directory.
    pub(crate) dir: PathBuf,
    /// Parsed `node.toml`.
    pub(crate) toml: NodeToml,
    /// `node.key`.
    pub(crate) key: NodeKey,
    /// `certs.bin`.
    pub(crate) certs: Vec<Certificate>,
    /// `api.token`.
    pub(crate) token: String,
    /// Parsed root key.
    pub(crate) root_key: NodeId,
    /// Path of the web UI accounts (`accounts.toml`; none when the file is absent).
    pub(crate) accounts: PathBuf,
    /// `admin.password`, when present (printed by the demo).
    pub(crate) admin_password: Option<String>,
}

/// File names inside a node directory.
pub(crate) const NODE_TOML: &str = "node.toml";
/// The secret key, hex, mode 0600.
pub(crate) const NODE_KEY: &str = "node.key";
/// Certificates (postcard list): the node's chain and its subtree.
pub(crate) const CERTS: &str = "certs.bin";
/// Bearer token of the JSON API, one line, mode 0600.
pub(crate) const API_TOKEN: &str = "api.token";
/// Web UI accounts with Argon2id password hashes, mode 0600.
pub(crate) const ACCOUNTS: &str = "accounts.toml";
/// The initial plain password of the `admin` account, one line, mode 0600.
pub(crate) const ADMIN_PASSWORD: &str = "admin.password";

impl NodeToml {
    /// The HTTP listen address, refused when it is not loopback and `public_http` (or
    /// the command line's `--public-http`) does not allow it.
    pub(crate) fn http_addr(&self) -> Result<std::net::SocketAddr> {
        let addr: std::net::SocketAddr = self
            .http
            .parse()
            .with_context(|| format!("http {:?} is not host:port", self.http))?;
        if !addr.ip().is_loopback() && !self.public_http {
            bail!(
                "unit {}: http address {addr} is not a loopback address, so the web UI and \
                 API would be reachable from the network over plain HTTP. Put a reverse proxy \
                 with TLS in front of the node and allow it with --public-http (or \
                 public_http = true in node.toml)",
                self.unit
            );
        }
        Ok(addr)
    }
}

impl NodeDir {
    /// Opens this node's engine on its store, for a command run while the node is stopped
    /// (`what`: the command, for the error when the store is locked by the running node).
    pub(crate) fn open_engine(&self, what: &str) -> Result<eduioc_engine::Engine> {
        eduioc_engine::Engine::open(eduioc_engine::Config {
            unit: self.toml.unit.clone(),
            key: self.key.clone(),
            root_key: self.root_key,
            certs: self.certs.clone(),
            data_dir: self.dir.clone(),
            doc_cache: 16,
            doc_cache_bytes: 64 << 20,
            school_year: self.toml.school_year.clone(),
        })
        .with_context(|| {
            format!(
                "{what}: opening the store of {} (is it running?)",
                self.toml.unit
            )
        })
    }

    /// Loads `dir`, naming the file at fault on any error. First tightens the modes of
    /// the directory and its files when other users could read them (with a warning).
    pub(crate) fn load(dir: &Path) -> Result<NodeDir> {
        crate::files::tighten(dir)?;
        let read = |name: &str| {
            std::fs::read(dir.join(name))
                .with_context(|| format!("cannot read {}", dir.join(name).display()))
        };
        let toml_text = String::from_utf8(read(NODE_TOML)?).context("node.toml is not UTF-8")?;
        let toml: NodeToml = toml::from_str(&toml_text)
            .with_context(|| format!("invalid {}", dir.join(NODE_TOML).display()))?;
        toml.check_report_dues()
            .with_context(|| format!("invalid {}", dir.join(NODE_TOML).display()))?;
        let key_hex = String::from_utf8(read(NODE_KEY)?).context("node.key is not UTF-8")?;
        let secret: [u8; 32] = hex::decode(key_hex.trim())
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| anyhow!("{} must hold 64 hex digits", dir.join(NODE_KEY).display()))?;
        let certs: Vec<Certificate> = postcard::from_bytes(&read(CERTS)?)
            .with_context(|| format!("{} is not a certificate list", dir.join(CERTS).display()))?;
        let token = String::from_utf8(read(API_TOKEN)?)
            .context("api.token is not UTF-8")?
            .trim()
            .to_string();
        if token.len() < 16 {
            bail!(
                "{} must hold a token of at least 16 characters",
                dir.join(API_TOKEN).display()
            );
        }
        let root_key = NodeId::from_hex(&toml.root_key)
            .ok_or_else(|| anyhow!("root_key in node.toml must be 64 hex digits"))?;
        let accounts = dir.join(ACCOUNTS);
        if !accounts.exists() {
            tracing::warn!(dir = %dir.display(), "no accounts.toml: nobody can log in to the web UI");
        }
        // Checked now, so that a node does not start on a file it cannot read.
        eduioc_web::auth::read_file(&accounts)?;
        let admin_password = std::fs::read_to_string(dir.join(ADMIN_PASSWORD))
            .ok()
            .map(|s| s.trim().to_string());
        Ok(NodeDir {
            accounts,
            admin_password,
            dir: dir.to_path_buf(),
            toml,
            key: NodeKey::from_secret(secret),
            certs,
            token,
            root_key,
        })
    }
}
