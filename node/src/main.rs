//! `eduioc`: the EduIOC node binary. One binary runs at every school, office and the
//! department; see `README.md` and `ARCHITECTURE.md`.

mod accounts;
mod columnar;
mod config;
mod demo;
mod export;
mod files;
mod node;
mod topology;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

/// EduIOC: the federated data network of an education operations center.
#[derive(Parser)]
#[command(name = "eduioc", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start a realistic federation on this machine (a department, districts and
    /// schools, every node a real node over libp2p on loopback) and print its URLs.
    Demo {
        /// HTTP address of the department's web UI and API.
        #[arg(long, default_value = "127.0.0.1:8080")]
        http: SocketAddr,
        /// Data directory (default: a fresh directory under the system temp dir).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Seed of the synthetic data and keys.
        #[arg(long, default_value_t = 2025)]
        seed: u64,
        /// Number of districts.
        #[arg(long, default_value_t = 4)]
        districts: usize,
        /// Small rosters (tests, slow machines).
        #[arg(long)]
        tiny: bool,
        /// Allow a `--http` address that is not loopback. The node serves plain HTTP:
        /// TLS belongs in a reverse proxy in front of it.
        #[arg(long)]
        public_http: bool,
    },
    /// The node's web UI accounts and their roles (viewer, clerk, officer, admin).
    Account {
        #[command(subcommand)]
        command: AccountCommand,
    },
    /// Hand the node's data over to another database.
    Export {
        #[command(subcommand)]
        command: ExportCommand,
    },
    /// Topology files.
    Topology {
        #[command(subcommand)]
        command: TopologyCommand,
    },
    /// Bring back a node whose store was lost (keys kept): it fetches its own log and
    /// documents from its parent and signs nothing until it holds them again, then runs
    /// as `run` does, until SIGINT/SIGTERM.
    Restore {
        /// The node's directory, `DIR/<unit id>`.
        #[arg(long)]
        dir: PathBuf,
        /// As for `run`.
        #[arg(long)]
        public_http: bool,
    },
    /// Run the node whose directory `topology generate` wrote, until SIGINT/SIGTERM.
    Run {
        /// The node's directory, `DIR/<unit id>`.
        #[arg(long)]
        dir: PathBuf,
        /// Allow an `http` address in node.toml that is not loopback (as `public_http =
        /// true` there). The node serves plain HTTP: TLS belongs in a reverse proxy in
        /// front of it.
        #[arg(long)]
        public_http: bool,
    },
}

#[derive(Subcommand)]
enum AccountCommand {
    /// Add an account.
    Add {
        /// The node's directory, `DIR/<unit id>`.
        #[arg(long)]
        dir: PathBuf,
        /// The login name.
        #[arg(long)]
        user: String,
        /// viewer, clerk, officer or admin.
        #[arg(long, default_value = "viewer")]
        role: String,
        /// Read the password from standard input (else one is drawn and printed).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Give an account a new password.
    Passwd {
        /// The node's directory, `DIR/<unit id>`.
        #[arg(long)]
        dir: PathBuf,
        /// The login name.
        #[arg(long)]
        user: String,
        /// Read the password from standard input (else one is drawn and printed).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Give an account a new role (the last admin keeps it).
    Role {
        /// The node's directory, `DIR/<unit id>`.
        #[arg(long)]
        dir: PathBuf,
        /// The login name.
        #[arg(long)]
        user: String,
        /// viewer, clerk, officer or admin.
        #[arg(long)]
        role: String,
    },
    /// Remove an account (not the last admin).
    Remove {
        /// The node's directory, `DIR/<unit id>`.
        #[arg(long)]
        dir: PathBuf,
        /// The login name.
        #[arg(long)]
        user: String,
    },
    /// List the accounts and their roles.
    List {
        /// The node's directory, `DIR/<unit id>`.
        #[arg(long)]
        dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum ExportCommand {
    /// Keep a PostgreSQL schema in step with the node (docs/export.md): units, records
    /// of every collection, indicators; incremental, resumable after a kill at any
    /// moment. Reads the running node's API, or its store with --once when it is stopped.
    Postgres {
        /// The node's directory, `DIR/<unit id>`.
        #[arg(long)]
        dir: PathBuf,
        /// The database, `postgres://user[:password]@host[:port]/database` (or the
        /// environment variable EDUIOC_POSTGRES_URL, which keeps a password out of the
        /// process list).
        #[arg(long)]
        url: Option<String>,
        /// The schema the tables are in.
        #[arg(long, default_value = "eduioc")]
        schema: String,
        /// Stop once everything the node holds is exported (else follow its changes).
        #[arg(long)]
        once: bool,
        /// While following: milliseconds between looks at the node's feed.
        #[arg(long, default_value_t = 1000)]
        interval_ms: u64,
        /// Documents per transaction (1–500).
        #[arg(long, default_value_t = 50)]
        page_docs: usize,
    },
    /// Write the node's records, units and indicators as Parquet files, one per table and
    /// school year (`students_2026-2027.parquet`, …), for DuckDB, Spark or pandas. Reads
    /// the running node's API, or its store when it is stopped.
    Parquet {
        /// The node's directory, `DIR/<unit id>`.
        #[arg(long)]
        dir: PathBuf,
        /// The directory the files are written to (created if needed; files of the same
        /// name are replaced once the new ones are whole).
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum TopologyCommand {
    /// Issue the next certificate version of a unit under a new parent, from the root's
    /// or a delegated office's node. It reaches the network like any certificate; the
    /// unit's node dials its new parent (at the address in its node.toml's [addresses])
    /// when the version takes effect. Goes through the node's API if it runs.
    Reparent {
        /// The issuing node's directory, `DIR/<root or delegated office>`.
        #[arg(long)]
        dir: PathBuf,
        /// The unit to move.
        #[arg(long)]
        unit: String,
        /// Its new parent.
        #[arg(long)]
        parent: String,
        /// When the move takes effect (RFC 3339); now by default.
        #[arg(long)]
        effective: Option<String>,
    },
    /// Create `DIR/<unit id>/` (node.toml, node.key, certs.bin, api.token, accounts.toml, admin.password) for every unit.
    Generate {
        /// The topology file (TOML).
        file: PathBuf,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
        /// Overwrite an existing output directory.
        #[arg(long)]
        force: bool,
        /// Derive keys and tokens from this seed (reproducible tests; never in production).
        #[arg(long)]
        seed: Option<u64>,
    },
}

fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn main() -> Result<()> {
    node::tune_allocator();
    // Node directories hold keys, tokens and every record of a subtree: whatever this
    // process creates is private to its user, whatever the umask it was started with.
    files::private_umask();
    let cli = Cli::parse();
    match cli.command {
        Command::Topology {
            command:
                TopologyCommand::Generate {
                    file,
                    out,
                    force,
                    seed,
                },
        } => {
            init_logging("warn");
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let t = topology::Topology::parse(&text)
                .with_context(|| format!("in {}", file.display()))?;
            topology::generate(&t, &out, force, seed)?;
            println!(
                "wrote {} node directories under {}",
                t.units.len(),
                out.display()
            );
            Ok(())
        }
        Command::Topology {
            command:
                TopologyCommand::Reparent {
                    dir,
                    unit,
                    parent,
                    effective,
                },
        } => {
            init_logging("warn");
            let said = topology::reparent(&dir, &unit, &parent, effective.as_deref())?;
            println!("{said}");
            Ok(())
        }
        Command::Account { command } => {
            init_logging("warn");
            use accounts::Change;
            let (dir, change, stdin) = match command {
                AccountCommand::Add {
                    dir,
                    user,
                    role,
                    password_stdin,
                } => (dir, Change::Add { user, role }, password_stdin),
                AccountCommand::Passwd {
                    dir,
                    user,
                    password_stdin,
                } => (dir, Change::Passwd { user }, password_stdin),
                AccountCommand::Role { dir, user, role } => {
                    (dir, Change::Role { user, role }, false)
                }
                AccountCommand::Remove { dir, user } => (dir, Change::Remove { user }, false),
                AccountCommand::List { dir } => (dir, Change::List, false),
            };
            let said = accounts::run(&dir, change, stdin)?;
            println!("{}", said.trim_end());
            Ok(())
        }
        Command::Export {
            command:
                ExportCommand::Postgres {
                    dir,
                    url,
                    schema,
                    once,
                    interval_ms,
                    page_docs,
                },
        } => {
            init_logging("warn");
            let url = match url.or_else(|| std::env::var("EDUIOC_POSTGRES_URL").ok()) {
                Some(u) => u,
                None => anyhow::bail!("give the database with --url or EDUIOC_POSTGRES_URL"),
            };
            let nd = config::NodeDir::load(&dir)?;
            let opts = export::Options {
                schema,
                once,
                interval: std::time::Duration::from_millis(interval_ms.max(50)),
                page_docs: page_docs.clamp(1, 500),
                refresh: std::time::Duration::from_secs(600),
            };
            export::run(&nd, &url, opts)
        }
        Command::Export {
            command: ExportCommand::Parquet { dir, out },
        } => {
            init_logging("warn");
            let nd = config::NodeDir::load(&dir)?;
            columnar::run(&nd, &out)
        }
        Command::Run { dir, public_http } => run(&dir, public_http, false),
        Command::Restore { dir, public_http } => {
            eprintln!(
                "restoring {} from its parent: it writes nothing until it holds its log again, \
                 then keeps running (Ctrl-C stops it)",
                dir.display()
            );
            run(&dir, public_http, true)
        }
        Command::Demo {
            http,
            data,
            seed,
            districts,
            tiny,
            public_http,
        } => {
            init_logging("warn");
            if !http.ip().is_loopback() && !public_http {
                anyhow::bail!(
                    "--http {http} is not a loopback address, so the department's web UI and \
                     API would be reachable from the network over plain HTTP. Put a reverse \
                     proxy with TLS in front and allow it with --public-http"
                );
            }
            let opts = demo::Options {
                http,
                public_http,
                data,
                seed,
                districts: districts.clamp(1, 30),
                schools: if tiny { 2..=3 } else { 5..=8 },
                size: if tiny {
                    eduioc_synth::Size::Tiny
                } else {
                    eduioc_synth::Size::Realistic
                },
            };
            runtime()?.block_on(demo::run(opts))
        }
    }
}

/// Runs the node of `dir` until SIGINT/SIGTERM (`restore`: restoring its log first).
fn run(dir: &std::path::Path, public_http: bool, restore: bool) -> Result<()> {
    init_logging("info,libp2p=warn");
    let mut nd = config::NodeDir::load(dir)?;
    nd.toml.public_http |= public_http;
    nd.toml.http_addr()?;
    runtime()?.block_on(async move {
        let n = node::start_with(&nd, restore).await?;
        node::shutdown_signal().await;
        n.stop().await;
        Ok(())
    })
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
