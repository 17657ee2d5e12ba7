//! Topology files (`CONTRACT.md`) and `eduioc topology generate`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use anyhow::{bail, Context, Result};
use eduioc_protocol::cert::valid_unit_id;
use eduioc_protocol::{CertBody, Certificate, Directory, NodeKey};
use rand::{RngCore, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::config::{NodeToml, ACCOUNTS, ADMIN_PASSWORD, API_TOKEN, CERTS, NODE_KEY, NODE_TOML};
use crate::files::{create_private_dir, write_private};

/// A topology file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Topology {
    /// Network name.
    pub(crate) network: String,
    /// Units, any order.
    #[serde(rename = "unit")]
    pub(crate) units: Vec<Unit>,
}

/// One `[[unit]]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Unit {
    /// Stable id `[a-z0-9-]{1,64}`.
    pub(crate) id: String,
    /// Display name.
    pub(crate) name: String,
    /// Level label.
    pub(crate) level: String,
    /// Parent id; exactly one unit has none.
    #[serde(default)]
    pub(crate) parent: Option<String>,
    /// libp2p listen address.
    pub p2p: String,
    /// HTTP listen address.
    pub(crate) http: String,
}

impl Topology {
    /// Parses and validates a topology file's text.
    pub(crate) fn parse(text: &str) -> Result<Topology> {
        let t: Topology = toml::from_str(text).context("invalid topology TOML")?;
        t.validate()?;
        Ok(t)
    }

    /// Checks ids, one root, known parents, no cycle, no duplicate id or address.
    pub(crate) fn validate(&self) -> Result<()> {
        let mut ids = HashSet::new();
        let mut addrs: HashMap<&str, &str> = HashMap::new();
        for u in &self.units {
            if !valid_unit_id(&u.id) {
                bail!("unit {:?}: id must match [a-z0-9-]{{1,64}}", u.id);
            }
            if !ids.insert(u.id.as_str()) {
                bail!("unit {}: duplicate id", u.id);
            }
            for a in [&u.p2p, &u.http] {
                if let Some(other) = addrs.insert(a.as_str(), u.id.as_str()) {
                    bail!("unit {}: address {a} is already used by unit {other}", u.id);
                }
            }
            u.p2p
                .parse::<libp2p::Multiaddr>()
                .with_context(|| format!("unit {}: p2p {:?} is not a multiaddr", u.id, u.p2p))?;
            u.http
                .parse::<std::net::SocketAddr>()
                .with_context(|| format!("unit {}: http {:?} is not host:port", u.id, u.http))?;
        }
        let roots: Vec<&str> = self
            .units
            .iter()
            .filter(|u| u.parent.is_none())
            .map(|u| u.id.as_str())
            .collect();
        match roots.as_slice() {
            [] => bail!("no root: exactly one unit must have no parent"),
            [_] => {}
            [a, b, ..] => bail!("unit {b}: a second root (unit {a} has no parent either)"),
        }
        let parent: HashMap<&str, &str> = self
            .units
            .iter()
            .filter_map(|u| u.parent.as_deref().map(|p| (u.id.as_str(), p)))
            .collect();
        for (u, p) in &parent {
            if !ids.contains(p) {
                bail!("unit {u}: unknown parent {p}");
            }
        }
        for u in &self.units {
            let mut seen = HashSet::new();
            let mut cur = u.id.as_str();
            while let Some(p) = parent.get(cur) {
                if !seen.insert(cur) {
                    bail!("unit {}: its parents form a cycle", u.id);
                }
                cur = p;
            }
        }
        Ok(())
    }

    /// The root unit.
    pub(crate) fn root(&self) -> &Unit {
        self.units
            .iter()
            .find(|u| u.parent.is_none())
            .unwrap_or(&self.units[0])
    }
}

/// Writes `DIR/<unit>/` for every unit. `seed` makes keys and tokens reproducible (tests);
/// without it they come from the operating system's randomness. `DIR` and every node
/// directory are `0700`, every file `0600`, whatever the umask.
pub(crate) fn generate(t: &Topology, out: &Path, force: bool, seed: Option<u64>) -> Result<()> {
    t.validate()?;
    if out.exists() {
        if !force {
            bail!("{} exists; use --force to overwrite", out.display());
        }
        std::fs::remove_dir_all(out).with_context(|| format!("cannot remove {}", out.display()))?;
    }
    create_private_dir(out)?;
    let mut rng: Box<dyn RngCore> = match seed {
        Some(s) => Box::new(rand_chacha::ChaCha20Rng::seed_from_u64(s)),
        None => Box::new(rand::rngs::OsRng),
    };
    let mut keys = BTreeMap::new();
    let mut tokens = BTreeMap::new();
    for u in &t.units {
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        keys.insert(u.id.clone(), NodeKey::from_secret(secret));
        let mut tok = [0u8; 24];
        rng.fill_bytes(&mut tok);
        tokens.insert(u.id.clone(), hex::encode(tok));
    }
    // Drawn after the keys and tokens, so those stay what they were for a given seed.
    let mut passwords = BTreeMap::new();
    for u in &t.units {
        let password = random_password(&mut *rng);
        let mut salt = [0u8; 16];
        rng.fill_bytes(&mut salt);
        let hash = eduioc_web::auth::hash_password(&password, salt)
            .with_context(|| format!("unit {}: hashing the admin password", u.id))?;
        passwords.insert(u.id.clone(), (password, hash));
    }
    let root = t.root();
    let root_key = &keys[&root.id];
    let has_children: HashSet<&str> = t.units.iter().filter_map(|u| u.parent.as_deref()).collect();
    let mut dir = Directory::new(root_key.id());
    for u in order_top_down(t) {
        let body = CertBody {
            unit: u.id.clone(),
            name: u.name.clone(),
            level: u.level.clone(),
            parent: u.parent.clone(),
            key: keys[&u.id].id(),
            version: 1,
            effective_ms: 0,
            delegate: has_children.contains(u.id.as_str()),
            issuer: root_key.id(),
        };
        dir.insert(Certificate::issue(body, root_key))
            .with_context(|| format!("unit {}: certificate", u.id))?;
    }
    let addr: HashMap<&str, &str> = t
        .units
        .iter()
        .map(|u| (u.id.as_str(), u.p2p.as_str()))
        .collect();
    for u in &t.units {
        let d = out.join(&u.id);
        create_private_dir(&d)?;
        let node = NodeToml {
            network: t.network.clone(),
            unit: u.id.clone(),
            p2p: u.p2p.clone(),
            http: u.http.clone(),
            parent: u.parent.clone(),
            parent_p2p: u.parent.as_deref().map(|p| addr[p].to_string()),
            root_key: root_key.id().to_string(),
            doc_cache: eduioc_engine::DEFAULT_DOC_CACHE,
            doc_cache_mib: eduioc_engine::DEFAULT_DOC_CACHE_BYTES >> 20,
            school_year: None,
            public_http: false,
            trusted_proxies: Vec::new(),
            not_reporting_days: None,
            escalate_after_days: None,
            report_due_hk1: None,
            report_due_hk2: None,
            records_up_to: None,
            // Every office but this unit's own parent: where it would go if re-parented.
            addresses: if has_children.contains(u.id.as_str()) && u.parent.is_none() {
                Default::default()
            } else {
                t.units
                    .iter()
                    .filter(|o| {
                        has_children.contains(o.id.as_str())
                            && o.id != u.id
                            && Some(&o.id) != u.parent.as_ref()
                    })
                    .map(|o| (o.id.clone(), o.p2p.clone()))
                    .collect()
            },
        };
        let text = format!(
            "# EduIOC node configuration, written by `eduioc topology generate`.\n\
             # network: name of the network; unit: the unit this node speaks for;\n\
             # p2p / http: listen addresses; parent / parent_p2p: the unit this node syncs up to;\n\
             # root_key: trust anchor of all certificates; doc_cache_mib / doc_cache: memory\n\
             # (MiB, estimated) and most Automerge documents held in memory at once;\n\
             # school_year (optional): year of imports and figures;\n\
             # public_http (optional, default false): allow a non-loopback http address\n\
             # (plain HTTP: put a reverse proxy with TLS in front); trusted_proxies\n\
             # (optional, e.g. [\"127.0.0.1\"]): that proxy's address, whose X-Forwarded-For\n\
             # then names the client whose failed logins are counted;\n\
             # not_reporting_days (optional, default 7): a school whose newest data is older\n\
             # raises a not_reporting alert; escalate_after_days (optional, default 3): an\n\
             # alert unacknowledged that long shows one severity higher above its unit;\n\
             # [addresses]: libp2p addresses of other offices, dialled when a re-parenting\n\
             # (`eduioc topology reparent`) puts this unit under one of them.\n{}",
            toml::to_string(&node)?
        );
        write_private(&d.join(NODE_TOML), text.as_bytes())?;
        write_private(
            &d.join(NODE_KEY),
            hex::encode(keys[&u.id].secret()).as_bytes(),
        )?;
        write_private(
            &d.join(API_TOKEN),
            format!("{}\n", tokens[&u.id]).as_bytes(),
        )?;
        let (password, hash) = &passwords[&u.id];
        let accounts = eduioc_web::Accounts {
            accounts: vec![eduioc_web::auth::Account {
                user: "admin".into(),
                role: eduioc_web::Role::Admin,
                password_hash: hash.clone(),
            }],
        };
        write_private(&d.join(ACCOUNTS), accounts.to_toml()?.as_bytes())?;
        write_private(&d.join(ADMIN_PASSWORD), format!("{password}\n").as_bytes())?;
        let mut units: Vec<String> = dir.ancestors_or_self(&u.id);
        units.extend(dir.subtree(&u.id));
        let certs = dir.certs_for(units.iter().map(String::as_str));
        write_private(&d.join(CERTS), &postcard::to_stdvec(&certs)?)?;
    }
    Ok(())
}

/// A 14-character password (`xxxx-xxxx-xxxx`, about 59 bits) without look-alike letters.
pub(crate) fn random_password(rng: &mut dyn RngCore) -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut out = String::with_capacity(14);
    for i in 0..12 {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        // 31 symbols: rejection sampling keeps the choice uniform.
        loop {
            let b = (rng.next_u32() & 0x1f) as usize;
            if b < ALPHABET.len() {
                out.push(ALPHABET[b] as char);
                break;
            }
        }
    }
    out
}

fn order_top_down(t: &Topology) -> Vec<&Unit> {
    let mut out: Vec<&Unit> = Vec::new();
    let mut placed: HashSet<&str> = HashSet::new();
    while out.len() < t.units.len() {
        let before = out.len();
        for u in &t.units {
            if !placed.contains(u.id.as_str())
                && u.parent.as_deref().is_none_or(|p| placed.contains(p))
            {
                placed.insert(&u.id);
                out.push(u);
            }
        }
        if out.len() == before {
            break;
        }
    }
    out
}

/// `eduioc topology reparent`: asks the node of `dir` to issue `unit`'s next certificate
/// version under `parent` through its API when it runs, else opens its store and issues
/// it there (the entry goes out when the node next runs). Returns what to print.
pub(crate) fn reparent(
    dir: &Path,
    unit: &str,
    parent: &str,
    effective: Option<&str>,
) -> Result<String> {
    let nd = crate::config::NodeDir::load(dir)?;
    let effective_ms = effective
        .map(|t| {
            chrono::DateTime::parse_from_rfc3339(t)
                .map(|t| t.timestamp_millis())
                .with_context(|| format!("--effective {t:?}: expected RFC 3339"))
        })
        .transpose()?;
    let mut body = serde_json::json!({ "parent": parent });
    if let Some(t) = effective {
        body["effective"] = serde_json::json!(t);
    }
    let url = format!("http://{}/api/v1/units/{unit}/parent", nd.toml.http);
    let answer = ureq::post(&url)
        .set("Authorization", &format!("Bearer {}", nd.token))
        .timeout(std::time::Duration::from_secs(60))
        .send_json(body);
    let said = |v: &serde_json::Value| {
        format!(
            "{unit} moves under {parent} from {} (certificate version {}), issued by {}",
            v["effective"].as_str().unwrap_or("now"),
            v["version"],
            nd.toml.unit
        )
    };
    match answer {
        Ok(r) => Ok(said(&r.into_json()?)),
        Err(ureq::Error::Status(code, r)) => {
            let v: serde_json::Value = r.into_json().unwrap_or_default();
            bail!(
                "{} refused ({code}): {}",
                nd.toml.unit,
                v["error"].as_str().unwrap_or("?")
            )
        }
        // Not running: issue it in its store.
        Err(ureq::Error::Transport(_)) => {
            let mut engine = nd.open_engine("topology reparent")?;
            let cert = engine.reparent(unit, parent, effective_ms)?;
            let at = chrono::DateTime::from_timestamp_millis(cert.body.effective_ms)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
            Ok(said(&serde_json::json!({
                "effective": at,
                "version": cert.body.version,
            })) + " (the node was not running: the certificate goes out when it runs)")
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn unit(id: &str, parent: Option<&str>, port: u16) -> String {
        format!(
            "[[unit]]\nid = \"{id}\"\nname = \"{id}\"\nlevel = \"x\"\n{}p2p = \"/ip4/127.0.0.1/tcp/{port}\"\nhttp = \"127.0.0.1:{}\"\n",
            parent.map(|p| format!("parent = \"{p}\"\n")).unwrap_or_default(),
            port + 1000
        )
    }

    fn err(text: &str) -> String {
        format!("{:#}", Topology::parse(text).unwrap_err())
    }

    #[test]
    fn generate_writes_secret_files_and_refuses_to_overwrite() {
        use std::os::unix::fs::PermissionsExt;
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../topology/hanoi-small.toml"
        ))
        .unwrap();
        let t = Topology::parse(&text).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("nodes");
        generate(&t, &out, false, Some(1)).unwrap();
        for u in &t.units {
            let d = out.join(&u.id);
            for f in [NODE_KEY, API_TOKEN] {
                let mode = std::fs::metadata(d.join(f)).unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "{}/{f}", u.id);
            }
            let nd = crate::config::NodeDir::load(&d).unwrap();
            assert_eq!(nd.toml.unit, u.id);
            assert_eq!(nd.toml.parent, u.parent);
            // The chain verifies from the root and names this node's key.
            let mut dir = Directory::new(nd.root_key);
            for c in nd.certs {
                let _ = dir.insert(c);
            }
            assert_eq!(dir.key_of(&u.id), Some(nd.key.id()));
        }
        let again = generate(&t, &out, false, Some(1)).unwrap_err().to_string();
        assert!(again.contains("--force"), "{again}");
        generate(&t, &out, true, Some(2)).unwrap();
    }

    #[test]
    fn generate_writes_a_private_admin_login_that_verifies() {
        let text = format!(
            "network = \"t\"\n{}{}",
            unit("a", None, 1),
            unit("b", Some("a"), 2)
        );
        let t = Topology::parse(&text).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("nodes");
        generate(&t, &out, false, Some(7)).unwrap();
        for id in ["a", "b"] {
            let d = out.join(id);
            let password = std::fs::read_to_string(d.join(ADMIN_PASSWORD)).unwrap();
            let password = password.trim();
            assert_eq!(password.len(), 14);
            let accounts =
                eduioc_web::Accounts::parse(&std::fs::read_to_string(d.join(ACCOUNTS)).unwrap())
                    .unwrap();
            assert_eq!(
                accounts.verify("admin", password),
                Some(eduioc_web::Role::Admin)
            );
            assert_eq!(accounts.verify("admin", "wrong"), None);
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                for f in [ADMIN_PASSWORD, ACCOUNTS] {
                    assert_eq!(
                        std::fs::metadata(d.join(f)).unwrap().permissions().mode() & 0o777,
                        0o600
                    );
                }
            }
        }
    }

    #[test]
    fn refuses_bad_topologies_naming_the_unit() {
        let head = "network = \"t\"\n";
        let ok = format!("{head}{}{}", unit("a", None, 1), unit("b", Some("a"), 2));
        assert!(Topology::parse(&ok).is_ok());
        assert!(err(&format!(
            "{head}{}{}",
            unit("a", None, 1),
            unit("b", None, 2)
        ))
        .contains("unit b: a second root"));
        assert!(err(&format!(
            "{head}{}{}",
            unit("a", None, 1),
            unit("b", Some("zz"), 2)
        ))
        .contains("unit b: unknown parent zz"));
        assert!(err(&format!(
            "{head}{}{}",
            unit("a", None, 1),
            unit("a", Some("a"), 2)
        ))
        .contains("unit a: duplicate id"));
        assert!(err(&format!(
            "{head}{}{}",
            unit("a", None, 1),
            unit("b", Some("a"), 1)
        ))
        .contains("unit b: address"));
        let cyc = format!(
            "{head}{}{}{}",
            unit("r", None, 1),
            unit("a", Some("b"), 2),
            unit("b", Some("a"), 3)
        );
        assert!(err(&cyc).contains("cycle"));
        assert!(err(&format!("{head}{}", unit("A", None, 1))).contains("unit \"A\""));
    }
}
