//! The command line, as clap types. Parsing only: [`crate::cmd`] validates and acts.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Seawall: zero-trust access for microservices on a network assumed compromised.
///
/// One binary: `seawall up` runs the control plane (with its Vault-compatible secrets vault) and
/// the identity-aware gateway together with an embedded store; `seawall server` and `seawall
/// proxy` run them apart. The other commands administer users, sign in, check policies and audit
/// logs, build and scan SBOMs, run commands with short-lived vault credentials and manage leases
/// and the vault's seal.
#[derive(Debug, Parser)]
#[command(name = "seawall", version)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Configuration file (TOML); every key is optional. `SEAWALL_<SECTION>__<KEY>` variables
    /// override it.
    #[arg(long, global = true, env = "SEAWALL_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory (default `./.seawall`, or `data_dir` in the config).
    #[arg(long, global = true, env = "SEAWALL_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Log format: `human` or `json`.
    #[arg(long, global = true, value_name = "FORMAT", value_parser = ["human", "json"])]
    pub log_format: Option<String>,
    /// Log filter, e.g. `info` or `seawall_gateway=debug` (`SEAWALL_LOG` overrides it).
    #[arg(long, global = true, value_name = "FILTER")]
    pub log_level: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run everything in one process: control plane, gateway, embedded store.
    ///
    /// With no configuration it creates the data directory, its root key, a self-signed TLS
    /// certificate and default policies, then serves the API on https://127.0.0.1:8443 and the
    /// gateway on https://127.0.0.1:8000.
    Up(UpArgs),
    /// Run the control plane alone (API, identity provider, secrets vault, audit log).
    Server,
    /// Run the gateway alone; it fetches keys, revocations and policies from `gateway.server_url`.
    Proxy,
    /// Manage users and groups in the local data directory.
    #[command(subcommand)]
    User(UserCommand),
    /// Sign in to a control plane from the terminal (password, then TOTP).
    Login(LoginArgs),
    /// Print a fresh access token for scripts, refreshing the saved sign-in when needed.
    ///
    /// Example: curl -H "Authorization: Bearer $(seawall token)" https://app.example/
    Token(TokenArgs),
    /// Work with Cedar policy files.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Check or export the tamper-evident audit log.
    #[command(subcommand, name = "audit-log")]
    AuditLog(AuditLogCommand),
    /// Write a software bill of materials (CycloneDX or SPDX) for a source tree, or push one
    /// to the control plane (`seawall sbom push`).
    Sbom(SbomCommand),
    /// List the vulnerability findings the control plane holds for pushed SBOMs.
    Findings(FindingsArgs),
    /// Match an SBOM or a source tree against the imported advisories.
    Scan(seawall_supply::cli::scan::ScanArgs),
    /// Manage the local vulnerability advisory index.
    #[command(subcommand)]
    Advisories(AdvisoriesCommand),
    /// Run a command with short-lived credentials from the vault: a database credential (and
    /// KV secrets) handed to it, renewed while it runs and revoked the moment it exits.
    ///
    /// The lease is kept at --ttl (60s) and renewed every third of it; if `seawall exec` is
    /// killed outright, the server revokes the credential when that TTL runs out. Signals sent
    /// to `seawall exec` (INT, TERM, HUP, QUIT, USR1, USR2, WINCH) are forwarded to the command;
    /// the exit code is the command's, or 128 + the signal that killed it. The vault token is
    /// not passed to the command.
    ///
    /// Example: seawall exec --db readonly -- psql -c 'select current_user'
    Exec(ExecArgs),
    /// List, look up, renew and revoke vault leases; reconcile a database connection.
    #[command(subcommand)]
    Leases(LeasesCommand),
    /// Initialise the vault's seal, unseal a server that started sealed, show its seal status.
    #[command(subcommand)]
    Operator(OperatorCommand),
}

#[derive(Debug, Subcommand)]
pub enum OperatorCommand {
    /// Initialise the vault on the local data directory and print its initial root token.
    ///
    /// Works offline on the data directory (like `seawall user add`), creating it when needed,
    /// and refuses one that was initialised before (`seal.json` exists). With --key-shares and
    /// --key-threshold the root key is split into key shares (Shamir's secret sharing): the
    /// shares are printed once, `seal.json` records the split, and `root.key` is overwritten
    /// and deleted. From then on the server starts sealed and needs THRESHOLD of the shares
    /// (`seawall operator unseal`) at every start, and the offline commands that need the root
    /// key (`seawall user ...`) no longer work. Without them the root key stays in `root.key`.
    Init {
        /// Split the root key into N key shares (1 to 255).
        #[arg(long, value_name = "N", requires = "key_threshold")]
        key_shares: Option<u32>,
        /// Key shares needed to rebuild the root key (2 to N; 1 only when N is 1).
        #[arg(long, value_name = "THRESHOLD", requires = "key_shares")]
        key_threshold: Option<u32>,
    },
    /// Submit one key share to a server that started sealed.
    ///
    /// KEY is a share as `seawall operator init` printed it (base64; hex also works). Without
    /// KEY the share is prompted for with hidden input; `-` reads it from standard input. A KEY
    /// argument is visible to other users in the process list and stays in shell history.
    Unseal {
        /// The key share (prompted for when absent; `-` reads standard input).
        #[arg(conflicts_with = "reset")]
        key: Option<String>,
        /// Discard the key shares submitted so far.
        #[arg(long)]
        reset: bool,
        #[command(flatten)]
        server: OperatorServerArgs,
    },
    /// Show whether the server is sealed, and the unseal progress.
    ///
    /// Exit code 0 when unsealed, 1 when sealed, 2 when the server cannot be asked.
    SealStatus {
        #[command(flatten)]
        server: OperatorServerArgs,
    },
}

/// Where the vault API of `seawall operator unseal` and `seal-status` is.
#[derive(Debug, Args)]
pub struct OperatorServerArgs {
    /// Address of the vault API (https only: key shares never cross the network in clear).
    #[arg(
        long,
        env = "VAULT_ADDR",
        default_value = "https://127.0.0.1:8443",
        value_name = "URL"
    )]
    pub addr: String,
    /// CA certificate (PEM) to trust for the vault API (default: the data directory's
    /// `tls/ca.pem` when there is one, else the public web roots).
    #[arg(long, env = "VAULT_CACERT", value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum AdvisoriesCommand {
    /// Import OSV records (JSON or YAML files, directories, osv.dev `all.zip` exports) into a
    /// local advisory index, for `seawall scan`.
    Import(seawall_supply::cli::advisories::ImportArgs),
    /// Send OSV records to the control plane (signed in with `seawall login`, as an admin); the
    /// SBOMs it stores are re-matched against the advisories that changed.
    Push(AdvisoriesPushArgs),
}

#[derive(Debug, Args)]
pub struct AdvisoriesPushArgs {
    /// OSV files (.json, .yaml), directories of them, or osv.dev `all.zip` exports.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Also start a demo upstream (an echo service showing the identity headers it receives)
    /// behind the route `demo`.
    #[arg(long)]
    pub demo: bool,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user. The password is prompted for, or read from stdin.
    Add {
        name: String,
        /// Add the user to this group (repeatable); `admins` may administer Seawall.
        #[arg(long = "group", short = 'g')]
        groups: Vec<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users with their groups and state.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Disable a user: sign-in is refused and every token is revoked within a second.
    Disable { name: String },
    /// Enable a disabled user.
    Enable { name: String },
    /// Set a user's password.
    Passwd {
        name: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Remove a user's second factors so they must enroll again at the next sign-in.
    ResetMfa { name: String },
    /// Add a user to a group, or remove them from it.
    #[command(subcommand)]
    Group(GroupCommand),
    /// List sign-in lockouts, or clear one.
    Lockouts {
        /// Clear the lockout of this user name or address.
        #[arg(long, value_name = "SUBJECT")]
        clear: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// Add USER to GROUP.
    Add { user: String, group: String },
    /// Remove USER from GROUP.
    Remove { user: String, group: String },
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Control-plane URL.
    #[arg(long, env = "SEAWALL_SERVER", default_value = "https://127.0.0.1:8443")]
    pub server: String,
    /// Trust this PEM certificate for the server (default: the data directory's own).
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// User name (prompted for when absent).
    #[arg(long)]
    pub user: Option<String>,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    pub password_stdin: bool,
    /// The TOTP code (prompted for when absent).
    #[arg(long, value_name = "CODE")]
    pub code: Option<String>,
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// Print the whole token response as JSON rather than the bare access token.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Validate policy files against Seawall's schema; errors name file, line and column.
    Check {
        /// Files or directories of `*.cedar` files (default: the data directory's policies).
        paths: Vec<PathBuf>,
    },
    /// Print the Cedar schema policies are checked against.
    Schema,
}

#[derive(Debug, Subcommand)]
pub enum AuditLogCommand {
    /// Check the hash chain; names the first record edited, removed, inserted or reordered.
    ///
    /// Exit code 0 when the chain is intact, 1 when it is broken.
    Verify {
        /// Check an export (JSON lines) instead of the data directory's store.
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
    },
    /// Write the log as JSON lines, for a SIEM.
    Export {
        /// Output file (default: standard output).
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Only records after this sequence number.
        #[arg(long, default_value_t = 0)]
        after: i64,
    },
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct SbomCommand {
    #[command(subcommand)]
    pub push: Option<SbomSubcommand>,
    #[command(flatten)]
    pub generate: Option<seawall_supply::cli::sbom::SbomArgs>,
}

#[derive(Debug, Subcommand)]
pub enum SbomSubcommand {
    /// Store an SBOM on the control plane (signed in with `seawall login`, as an admin); it is
    /// matched against the advisories now and again whenever advisories change.
    Push(SbomPushArgs),
}

#[derive(Debug, Args)]
pub struct SbomPushArgs {
    /// The CycloneDX or SPDX JSON file (`-` for standard input).
    pub file: PathBuf,
    /// The project the SBOM belongs to.
    #[arg(long)]
    pub project: String,
    /// The version (or build) of the project.
    #[arg(long = "project-version", value_name = "VERSION")]
    pub version: String,
}

#[derive(Debug, Args)]
pub struct FindingsArgs {
    /// Only this project.
    #[arg(long)]
    pub project: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// How to reach the vault API (`/v1/...`), as Vault's own CLI takes it.
#[derive(Debug, Args)]
pub struct VaultArgs {
    /// Address of the vault API.
    #[arg(
        long,
        env = "VAULT_ADDR",
        default_value = "https://127.0.0.1:8443",
        value_name = "URL"
    )]
    pub addr: String,
    /// Vault token (else `--token-file`, else `VAULT_TOKEN`). Prefer those two: any user on the
    /// machine can read a command's arguments.
    #[arg(long, value_name = "TOKEN", value_parser = secret_value, conflicts_with = "token_file")]
    pub token: Option<seawall_core::auth::SecretString>,
    /// Read the vault token from the first line of this file.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// CA certificate (PEM) to trust for the vault API (default: the data directory's
    /// `tls/ca.pem` when there is one).
    #[arg(long, env = "VAULT_CACERT", value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
}

fn secret_value(s: &str) -> Result<seawall_core::auth::SecretString, String> {
    Ok(seawall_core::auth::SecretString::new(s))
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    #[command(flatten)]
    pub vault: VaultArgs,
    /// Database credential from `creds/ROLE` of the mount (`database` unless given as
    /// `MOUNT/ROLE`), handed to the command as PGUSER, PGPASSWORD and DATABASE_URL (and PGHOST,
    /// PGPORT, PGDATABASE when known).
    #[arg(long, value_name = "[MOUNT/]ROLE")]
    pub db: Option<String>,
    /// Lease TTL while the command runs (`90s`, `5m`, `1h`): renewed every third of it, so if
    /// `seawall exec` itself dies the credential is revoked by the server within this time.
    #[arg(long, value_name = "DURATION", requires = "db")]
    pub ttl: Option<String>,
    /// Hand the database credential over as a JSON file of mode 0600 at PATH (created, must not
    /// exist; removed at exit) named by SEAWALL_DB_FILE, instead of environment variables.
    #[arg(long, value_name = "PATH", requires = "db")]
    pub db_file: Option<PathBuf>,
    /// A field of a KV version 2 secret as an environment variable (repeatable):
    /// `secret/app/config#password=APP_PASSWORD` reads `secret/data/app/config`.
    #[arg(long = "secret", value_name = "MOUNT/PATH#FIELD=ENV")]
    pub secrets: Vec<String>,
    /// The command and its arguments, after `--`.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<std::ffi::OsString>,
}

#[derive(Debug, Subcommand)]
pub enum LeasesCommand {
    /// List leases with their expiry; `--failing` lists revocations that keep failing.
    List {
        #[command(flatten)]
        vault: VaultArgs,
        /// Only leases whose id starts with this (`database/creds/readonly/`).
        #[arg(long, value_name = "PREFIX")]
        prefix: Option<String>,
        /// Only leases whose revocation keeps failing, with the last error (exit code 1 when
        /// there are any).
        #[arg(long)]
        failing: bool,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke one lease, or every lease below a prefix.
    Revoke {
        #[command(flatten)]
        vault: VaultArgs,
        /// The lease id.
        #[arg(required_unless_present = "prefix", conflicts_with = "prefix")]
        id: Option<String>,
        /// Revoke every lease whose id starts with this.
        #[arg(long, value_name = "PREFIX")]
        prefix: Option<String>,
    },
    /// Renew a lease.
    Renew {
        #[command(flatten)]
        vault: VaultArgs,
        /// The lease id.
        id: String,
        /// Requested TTL from now (`30s`, `10m`); the role's default when absent.
        #[arg(long, value_name = "DURATION")]
        increment: Option<String>,
    },
    /// Drop the database roles carrying Seawall's prefix that no live lease accounts for.
    Reconcile {
        #[command(flatten)]
        vault: VaultArgs,
        /// The connection (`config/NAME`) to reconcile.
        connection: String,
        /// The database engine's mount.
        #[arg(long, default_value = "database", value_name = "MOUNT")]
        mount: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn operator_init_takes_shares_and_threshold_together() {
        let c = Cli::try_parse_from([
            "seawall",
            "operator",
            "init",
            "--key-shares",
            "5",
            "--key-threshold",
            "3",
        ])
        .unwrap();
        assert!(matches!(
            c.command,
            Command::Operator(OperatorCommand::Init {
                key_shares: Some(5),
                key_threshold: Some(3)
            })
        ));
        assert!(Cli::try_parse_from(["seawall", "operator", "init", "--key-shares", "5"]).is_err());
        assert!(Cli::try_parse_from(["seawall", "operator", "unseal", "KEY", "--reset"]).is_err());
        let c = Cli::try_parse_from([
            "seawall",
            "operator",
            "seal-status",
            "--addr",
            "https://v:1",
        ])
        .unwrap();
        assert!(matches!(
            c.command,
            Command::Operator(OperatorCommand::SealStatus { server }) if server.addr == "https://v:1"
        ));
    }

    #[test]
    fn sbom_takes_a_path_or_push() {
        let c = Cli::try_parse_from(["seawall", "sbom", "."]).unwrap();
        assert!(matches!(
            c.command,
            Command::Sbom(SbomCommand {
                push: None,
                generate: Some(_)
            })
        ));
        let c = Cli::try_parse_from([
            "seawall",
            "sbom",
            "push",
            "x.json",
            "--project",
            "p",
            "--project-version",
            "1",
        ])
        .unwrap();
        assert!(matches!(
            c.command,
            Command::Sbom(SbomCommand { push: Some(_), .. })
        ));
    }
}
