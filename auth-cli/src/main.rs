//! `tower-auth`: check, debug and use the connections of a tower-auth configuration.
//!
//! Exit codes: 0 success, 1 a connection or request failed, 2 the configuration (or the command
//! line) is unusable, 3 `logout` removed the local copy but could not revoke the token at the
//! provider.
#![forbid(unsafe_code)]
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand, ValueEnum};
use tower_auth::config::Config;

mod body;
mod check;
mod client;
mod diagnose;
mod login;
mod logout;
mod request;
mod show;
mod token;

/// Check, debug and use the connections of a tower-auth configuration.
#[derive(Parser, Debug)]
#[command(name = "tower-auth", version)]
struct Cli {
    /// Configuration file [default: $TOWER_AUTH_CONFIG, else ./tower-auth.toml]
    #[arg(short, long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Environment overlay [default: $TOWER_AUTH_ENV, else the file's default_environment]
    #[arg(long, global = true, value_name = "NAME")]
    env: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Obtain credentials and send each connection's check request
    Check {
        /// Connections to check [default: all]
        names: Vec<String>,
        /// Output format
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
        /// Check, wait until the token has been refreshed, and check again; prints how long
        /// the first token lived and how it was refreshed
        #[arg(long, conflicts_with = "format")]
        through_expiry: bool,
        /// With --through-expiry: the longest wait for the refresh (e.g. 30s, 5m)
        #[arg(long, value_name = "DURATION", default_value = "5m",
              value_parser = check::parse_max_wait, requires = "through_expiry")]
        max_wait: std::time::Duration,
        /// Whose sign-in to use when several users signed in (the id `login` printed)
        #[arg(long, value_name = "ID", conflicts_with = "through_expiry")]
        user: Option<String>,
        /// Which tenant's credentials, for a connection with `tenants`
        #[arg(long, value_name = "ID", conflicts_with = "through_expiry")]
        tenant: Option<String>,
    },
    /// Obtain a token and print its type, expiry and scopes
    Token {
        /// Connection name
        name: String,
        /// Print only the raw token, for scripts
        #[arg(long)]
        show: bool,
        /// Whose sign-in to use when several users signed in
        #[arg(long, value_name = "ID")]
        user: Option<String>,
        /// Which tenant's credentials, for a connection with `tenants`
        #[arg(long, value_name = "ID")]
        tenant: Option<String>,
    },
    /// Send an authenticated request relative to the connection's base_url
    Request {
        /// Connection name
        name: String,
        /// HTTP method
        method: String,
        /// Path relative to base_url, e.g. /me
        path: String,
        /// Extra header, `Name: value` (repeatable)
        #[arg(short = 'H', long = "header", value_name = "HEADER")]
        headers: Vec<String>,
        /// Request body
        #[arg(short = 'd', long = "data", value_name = "BODY")]
        data: Option<String>,
        /// Print the status line and response headers too
        #[arg(short = 'i', long = "include")]
        include: bool,
        /// The most response body bytes to write (bytes, or with KiB, MiB, GiB); a larger body
        /// is an error after that many
        #[arg(long, value_name = "BYTES", default_value = body::DEFAULT_MAX_BODY,
              value_parser = body::parse_size)]
        max_body: u64,
        /// Whose sign-in to use when several users signed in
        #[arg(long, value_name = "ID")]
        user: Option<String>,
        /// Which tenant's credentials, for a connection with `tenants`
        #[arg(long, value_name = "ID")]
        tenant: Option<String>,
    },
    /// Sign in (authorization code + PKCE through the browser, or the device flow for a
    /// device_code connection) and store the refresh token
    Login {
        /// Connection name
        name: String,
        /// Only print the URL; do not try to open a browser
        #[arg(long)]
        no_browser: bool,
        /// The user to sign in (sent as `login_hint`); the profile names who actually did
        #[arg(long, value_name = "ID")]
        user: Option<String>,
    },
    /// Revoke the stored refresh token at the provider (RFC 7009) and remove it from the token
    /// store; exits 3 when the provider could not be told (the local copy is removed anyway)
    Logout {
        /// Connection name
        name: String,
        /// Whose sign-in to remove when several users signed in (the others stay)
        #[arg(long, value_name = "ID")]
        user: Option<String>,
    },
    /// Inspect the configuration
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Subcommand, Debug)]
enum ConfigCommand {
    /// Report every problem at once, and warn about literal secrets
    Validate,
    /// Print the resolved configuration with every secret redacted
    Show {
        /// Connections to show [default: all]
        names: Vec<String>,
    },
    /// Print a fresh encryption key for `cache = { encryption_key = … }` (32 random bytes, base64)
    GenKey,
}

/// How `check` prints its results.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
enum OutputFormat {
    /// One line per connection, with a hint under failures
    Text,
    /// A JSON array of results
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Config(ConfigCommand::GenKey) = cli.command {
        return ExitCode::from(show::gen_key());
    }
    let path = cli.config.clone().unwrap_or_else(Config::default_path);
    let config = match Config::load(&path) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {error}");
            eprintln!("hint: fix the configuration values named above");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(2);
        }
    };
    let env = config.environment(cli.env.as_deref());
    let env = env.as_deref();
    let code = runtime.block_on(async {
        match cli.command {
            Command::Check {
                through_expiry: true,
                names,
                max_wait,
                ..
            } => check::run_through_expiry(&config, env, &names, max_wait).await,
            Command::Check {
                names,
                format,
                user,
                tenant,
                ..
            } => {
                let who = diagnose::Who::of(&user, &tenant);
                check::run(&config, env, &names, format, who).await
            }
            Command::Token {
                name,
                show,
                user,
                tenant,
            } => token::run(&config, env, &name, show, diagnose::Who::of(&user, &tenant)).await,
            Command::Request {
                name,
                method,
                path,
                headers,
                data,
                include,
                max_body,
                user,
                tenant,
            } => {
                let args = request::Args {
                    method,
                    path,
                    headers,
                    data,
                    include,
                    max_body,
                    user,
                    tenant,
                };
                request::run(&config, env, &name, args).await
            }
            Command::Login {
                name,
                no_browser,
                user,
            } => login::run(&config, env, &name, no_browser, user.as_deref()).await,
            Command::Logout { name, user } => {
                logout::run(&config, env, &name, user.as_deref()).await
            }
            Command::Config(ConfigCommand::Validate) => show::validate(&config),
            Command::Config(ConfigCommand::Show { names }) => show::show(&config, env, &names),
            // Handled before the configuration is loaded.
            Command::Config(ConfigCommand::GenKey) => 0,
        }
    });
    ExitCode::from(code)
}
