//! The server's configuration, read in one place: defaults, then a TOML file, then `AION_*`
//! environment variables, then command-line flags (each later source wins).
//!
//! Every bad value is an error that names its source and key (and, in the file, line and
//! column); an unknown key in the file is an error too, so a typo never silently falls back to
//! a default. An unknown `AION_*` variable is only a warning (other tools share the prefix).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Commit durability of the embedded store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// Crash-safe (`synchronous=NORMAL` in WAL).
    #[default]
    Normal,
    /// Power-loss safe (`synchronous=FULL`).
    Full,
}

/// Everything `aion serve` needs to start.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Where the API listens.
    pub listen: SocketAddr,
    /// The data directory (the SQLite store lives in it).
    pub data_dir: PathBuf,
    /// Commit durability.
    pub durability: Durability,
    /// Let `http.request` reach loopback addresses (tests and single-user installs).
    pub allow_loopback: bool,
    /// The largest step output, in bytes of JSON.
    pub max_output_bytes: usize,
    /// The largest request body, in bytes (webhooks and API).
    pub body_limit_bytes: usize,
    /// How long `POST /flows/{id}/execute?wait=true` waits for the run's end by default, ms.
    pub execute_wait_ms: u64,
    /// How long an `on_finish` webhook waits for the run's end before answering 202, ms.
    pub webhook_timeout_ms: u64,
    /// At most this many runs started by webhooks and `execute` in flight; past it, 503.
    pub max_inflight_runs: usize,
    /// After downtime, the most recent missed cron slot still fires if it is at most this
    /// old, ms; older ones are skipped.
    pub cron_misfire_grace_ms: u64,
    /// The file holding the credential vault's master key (64 hex digits); `None`: the data
    /// directory's `master.key`, created on first start.
    pub master_key_file: Option<PathBuf>,
    /// A PostgreSQL URL (`postgres://user@host:5432/db`): the store lives there instead of the
    /// data directory's SQLite file (several servers and workers can share it). `None`: SQLite.
    pub database_url: Option<String>,
    /// The PostgreSQL schema holding the store (created if missing).
    pub database_schema: String,
    /// Where run and step spans are exported (OTLP over HTTP with JSON, the collector's base
    /// URL such as `http://127.0.0.1:4318`); `None`: no export.
    pub otlp_endpoint: Option<String>,
}

impl Config {
    /// The defaults, with the given data directory.
    pub fn with_data_dir(data_dir: PathBuf) -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir,
            durability: Durability::Normal,
            allow_loopback: false,
            max_output_bytes: 1 << 20,
            body_limit_bytes: 1 << 20,
            execute_wait_ms: 30_000,
            webhook_timeout_ms: 30_000,
            max_inflight_runs: 1024,
            cron_misfire_grace_ms: 3_600_000,
            master_key_file: None,
            database_url: None,
            database_schema: "public".to_owned(),
            otlp_endpoint: None,
        }
    }
}

/// Values given on the command line; `None` leaves the earlier sources' value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Flags {
    /// `--config FILE`.
    pub config_file: Option<PathBuf>,
    /// `--listen ADDR`.
    pub listen: Option<SocketAddr>,
    /// `--data-dir DIR`.
    pub data_dir: Option<PathBuf>,
    /// `--durability normal|full`.
    pub durability: Option<Durability>,
    /// `--allow-loopback` (only ever turns it on).
    pub allow_loopback: bool,
    /// `--max-output-bytes N`.
    pub max_output_bytes: Option<usize>,
    /// `--database URL`.
    pub database: Option<String>,
}

/// A configuration problem: where it is and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}: {message}")]
pub struct ConfigError {
    /// `config file PATH:LINE:COLUMN`, `environment variable AION_X`, `--flag`.
    pub source_name: String,
    /// What is wrong, naming the key.
    pub message: String,
}

/// The file's shape: every key optional, nothing unknown.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    durability: Option<Durability>,
    allow_loopback: Option<bool>,
    max_output_bytes: Option<u64>,
    body_limit_bytes: Option<u64>,
    execute_wait_ms: Option<u64>,
    webhook_timeout_ms: Option<u64>,
    max_inflight_runs: Option<u64>,
    cron_misfire_grace_ms: Option<u64>,
    master_key_file: Option<PathBuf>,
    database: Option<String>,
    database_schema: Option<String>,
    otlp_endpoint: Option<String>,
}

/// A PostgreSQL URL; the message never repeats it (it may hold a password).
fn database(text: &str) -> Result<String, String> {
    let text = text.trim();
    let scheme_ok = text.starts_with("postgres://") || text.starts_with("postgresql://");
    let parsed = reqwest::Url::parse(text);
    match parsed {
        Ok(url) if scheme_ok && url.host_str().is_some_and(|h| !h.is_empty()) => {
            Ok(text.to_owned())
        }
        Ok(_) if !scheme_ok => {
            Err("is not a PostgreSQL URL (expected postgres://user@host:5432/database)".to_owned())
        }
        _ => Err("is not a valid URL (expected postgres://user@host:5432/database)".to_owned()),
    }
}

/// A PostgreSQL schema name as the store accepts it.
fn schema_name(text: &str) -> Result<String, String> {
    let name = text.trim();
    aion_store_postgres::check_schema_name(name)
        .map(|()| name.to_owned())
        .map_err(|e| e.to_string())
}

/// An OTLP collector's base URL: `http` or `https`, a host, no query; a trailing `/` is
/// dropped (the exporter appends `/v1/traces`).
fn endpoint(text: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(text.trim())
        .map_err(|e| format!("`{text}` is not a URL ({e}); expected e.g. http://127.0.0.1:4318"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!(
            "`{text}` is not an http(s) URL with a host; expected e.g. http://127.0.0.1:4318"
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "`{text}` has a query or fragment; give the collector's base URL"
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// A configuration and the warnings met while reading it.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    /// The configuration.
    pub config: Config,
    /// Things worth telling the operator (unknown `AION_*` variables).
    pub warnings: Vec<String>,
}

/// The `AION_*` variables the server reads.
const ENV_KEYS: &[&str] = &[
    "AION_CONFIG",
    "AION_LISTEN",
    "AION_DATA_DIR",
    "AION_DURABILITY",
    "AION_ALLOW_LOOPBACK",
    "AION_MAX_OUTPUT_BYTES",
    "AION_BODY_LIMIT_BYTES",
    "AION_EXECUTE_WAIT_MS",
    "AION_WEBHOOK_TIMEOUT_MS",
    "AION_MAX_INFLIGHT_RUNS",
    "AION_CRON_MISFIRE_GRACE_MS",
    "AION_MASTER_KEY_FILE",
    "AION_OTLP_ENDPOINT",
    "AION_DATABASE_URL",
    "AION_DATABASE_SCHEMA",
    // Read by other parts of the binary.
    "AION_FAILPOINTS",
];

/// Loads the configuration from the process environment and the flags. `default_data_dir` is
/// used when no source names one (the CLI passes the per-user data folder).
pub fn load(flags: &Flags, default_data_dir: Option<PathBuf>) -> Result<Loaded, ConfigError> {
    let env: Vec<(String, String)> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .filter(|(k, _)| k.starts_with("AION_"))
        .collect();
    resolve(flags, &env, default_data_dir, |path| {
        std::fs::read_to_string(path).map_err(|e| e.to_string())
    })
}

/// [`load`] with the environment and the file reader given: what the tests call.
pub fn resolve(
    flags: &Flags,
    env: &[(String, String)],
    default_data_dir: Option<PathBuf>,
    read: impl Fn(&Path) -> Result<String, String>,
) -> Result<Loaded, ConfigError> {
    let warnings = env
        .iter()
        .filter(|(key, _)| !ENV_KEYS.contains(&key.as_str()))
        .map(|(key, _)| {
            format!(
                "environment variable {key} is not a server setting and is ignored (known: {})",
                ENV_KEYS[..ENV_KEYS.len() - 1].join(", ")
            )
        })
        .collect();
    let env_value = |key: &str| env.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    let file_path = flags
        .config_file
        .clone()
        .or_else(|| env_value("AION_CONFIG").map(PathBuf::from));
    let file = match &file_path {
        Some(path) => parse_file(
            path,
            &read(path).map_err(|e| ConfigError {
                source_name: format!("config file {}", path.display()),
                message: format!("cannot read it: {e}"),
            })?,
        )?,
        None => FileConfig::default(),
    };
    let file_source = |key: &str| match &file_path {
        Some(path) => format!("config file {} (key `{key}`)", path.display()),
        None => String::new(),
    };

    let data_dir = flags
        .data_dir
        .clone()
        .or_else(|| env_value("AION_DATA_DIR").map(PathBuf::from))
        .or(file.data_dir.clone())
        .or(default_data_dir)
        .ok_or_else(|| ConfigError {
            source_name: "configuration".to_owned(),
            message: "no data directory: pass --data-dir, set AION_DATA_DIR or `data_dir` in the \
                      config file"
                .to_owned(),
        })?;
    let mut config = Config::with_data_dir(data_dir);

    if let Some(listen) = &file.listen {
        config.listen = parse_addr(listen).map_err(|m| err(file_source("listen"), m))?;
    }
    if let Some(d) = file.durability {
        config.durability = d;
    }
    if let Some(b) = file.allow_loopback {
        config.allow_loopback = b;
    }
    if let Some(n) = file.max_output_bytes {
        config.max_output_bytes =
            positive(n).map_err(|m| err(file_source("max_output_bytes"), m))?;
    }
    if let Some(n) = file.body_limit_bytes {
        config.body_limit_bytes =
            positive(n).map_err(|m| err(file_source("body_limit_bytes"), m))?;
    }
    if let Some(n) = file.execute_wait_ms {
        config.execute_wait_ms = n;
    }
    if let Some(n) = file.webhook_timeout_ms {
        config.webhook_timeout_ms = n;
    }
    if let Some(n) = file.max_inflight_runs {
        config.max_inflight_runs =
            positive(n).map_err(|m| err(file_source("max_inflight_runs"), m))?;
    }
    if let Some(n) = file.cron_misfire_grace_ms {
        config.cron_misfire_grace_ms = n;
    }

    if let Some(path) = file.master_key_file.clone() {
        config.master_key_file = Some(path);
    }
    if let Some(url) = &file.database {
        config.database_url = Some(database(url).map_err(|m| err(file_source("database"), m))?);
    }
    if let Some(schema) = &file.database_schema {
        config.database_schema =
            schema_name(schema).map_err(|m| err(file_source("database_schema"), m))?;
    }
    if let Some(url) = &file.otlp_endpoint {
        config.otlp_endpoint =
            Some(endpoint(url).map_err(|m| err(file_source("otlp_endpoint"), m))?);
    }

    let from_env = |key: &str| format!("environment variable {key}");
    if let Some(v) = env_value("AION_MASTER_KEY_FILE") {
        if v.trim().is_empty() {
            return Err(err(
                from_env("AION_MASTER_KEY_FILE"),
                "is empty (unset it to use the data directory's master.key)".to_owned(),
            ));
        }
        config.master_key_file = Some(PathBuf::from(v));
    }
    if let Some(v) = env_value("AION_DATABASE_URL") {
        config.database_url = if v.trim().is_empty() {
            None
        } else {
            // The value may hold a password: errors never repeat it.
            Some(database(v).map_err(|m| err(from_env("AION_DATABASE_URL"), m))?)
        };
    }
    if let Some(v) = env_value("AION_DATABASE_SCHEMA") {
        config.database_schema =
            schema_name(v).map_err(|m| err(from_env("AION_DATABASE_SCHEMA"), m))?;
    }
    if let Some(v) = env_value("AION_OTLP_ENDPOINT") {
        config.otlp_endpoint = if v.trim().is_empty() {
            None
        } else {
            Some(endpoint(v).map_err(|m| err(from_env("AION_OTLP_ENDPOINT"), m))?)
        };
    }
    if let Some(v) = env_value("AION_LISTEN") {
        config.listen = parse_addr(v).map_err(|m| err(from_env("AION_LISTEN"), m))?;
    }
    if let Some(v) = env_value("AION_DURABILITY") {
        config.durability = match v {
            "normal" => Durability::Normal,
            "full" => Durability::Full,
            other => {
                return Err(err(
                    from_env("AION_DURABILITY"),
                    format!("`{other}` is not a durability (expected normal or full)"),
                ));
            }
        };
    }
    if let Some(v) = env_value("AION_ALLOW_LOOPBACK") {
        config.allow_loopback = match v {
            "1" | "true" => true,
            "0" | "false" => false,
            other => {
                return Err(err(
                    from_env("AION_ALLOW_LOOPBACK"),
                    format!("`{other}` is not a boolean (expected true, false, 1 or 0)"),
                ));
            }
        };
    }
    for (key, slot) in [
        ("AION_MAX_OUTPUT_BYTES", &mut config.max_output_bytes),
        ("AION_BODY_LIMIT_BYTES", &mut config.body_limit_bytes),
    ] {
        if let Some(v) = env_value(key) {
            let n = v.trim().parse::<u64>().map_err(|_| {
                err(
                    from_env(key),
                    format!("`{v}` is not a whole number of bytes"),
                )
            })?;
            *slot = positive(n).map_err(|m| err(from_env(key), m))?;
        }
    }
    for (key, slot) in [
        ("AION_EXECUTE_WAIT_MS", &mut config.execute_wait_ms),
        ("AION_WEBHOOK_TIMEOUT_MS", &mut config.webhook_timeout_ms),
        (
            "AION_CRON_MISFIRE_GRACE_MS",
            &mut config.cron_misfire_grace_ms,
        ),
    ] {
        if let Some(v) = env_value(key) {
            *slot = v.trim().parse::<u64>().map_err(|_| {
                err(
                    from_env(key),
                    format!("`{v}` is not a whole number of milliseconds"),
                )
            })?;
        }
    }
    if let Some(v) = env_value("AION_MAX_INFLIGHT_RUNS") {
        let n = v.trim().parse::<u64>().map_err(|_| {
            err(
                from_env("AION_MAX_INFLIGHT_RUNS"),
                format!("`{v}` is not a whole number"),
            )
        })?;
        config.max_inflight_runs =
            positive(n).map_err(|m| err(from_env("AION_MAX_INFLIGHT_RUNS"), m))?;
    }

    if let Some(listen) = flags.listen {
        config.listen = listen;
    }
    if let Some(d) = flags.durability {
        config.durability = d;
    }
    if flags.allow_loopback {
        config.allow_loopback = true;
    }
    if let Some(n) = flags.max_output_bytes {
        config.max_output_bytes = n;
    }
    if let Some(url) = &flags.database {
        config.database_url = Some(database(url).map_err(|m| err("--database".to_owned(), m))?);
    }
    Ok(Loaded { config, warnings })
}

fn err(source_name: String, message: String) -> ConfigError {
    ConfigError {
        source_name,
        message,
    }
}

fn parse_file(path: &Path, text: &str) -> Result<FileConfig, ConfigError> {
    toml::from_str::<FileConfig>(text).map_err(|error| {
        let (line, column) = error
            .span()
            .map(|span| line_column(text, span.start))
            .unwrap_or((1, 1));
        ConfigError {
            source_name: format!("config file {}:{line}:{column}", path.display()),
            message: error.message().to_owned(),
        }
    })
}

/// The 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map_or(0, |last| last.chars().count())
        + 1;
    (line, column)
}

fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("`{text}` is not an address such as 127.0.0.1:8080"))
}

fn positive(n: u64) -> Result<usize, String> {
    if n == 0 {
        return Err("must be at least 1".to_owned());
    }
    usize::try_from(n).map_err(|_| format!("{n} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn with_file(text: &'static str) -> impl Fn(&Path) -> Result<String, String> {
        move |_| Ok(text.to_owned())
    }

    fn flags_with_file() -> Flags {
        Flags {
            config_file: Some(PathBuf::from("aion.toml")),
            ..Flags::default()
        }
    }

    #[test]
    fn the_master_key_file_comes_from_the_file_or_the_environment() {
        let read = |env_pairs: &[(&str, &str)]| {
            resolve(
                &flags_with_file(),
                &env(env_pairs),
                Some(PathBuf::from("/data")),
                with_file("master_key_file = \"/etc/aion/master.key\"\n"),
            )
        };
        assert_eq!(
            read(&[]).unwrap().config.master_key_file,
            Some(PathBuf::from("/etc/aion/master.key"))
        );
        let loaded = read(&[("AION_MASTER_KEY_FILE", "/run/key")]).unwrap();
        assert_eq!(
            loaded.config.master_key_file,
            Some(PathBuf::from("/run/key"))
        );
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        let error = read(&[("AION_MASTER_KEY_FILE", " ")]).unwrap_err();
        assert!(
            error.source_name.contains("AION_MASTER_KEY_FILE"),
            "{error}"
        );
        let defaults = resolve(&Flags::default(), &[], Some(PathBuf::from("/data")), |_| {
            Ok(String::new())
        })
        .unwrap();
        assert_eq!(defaults.config.master_key_file, None);
    }

    #[test]
    fn the_database_is_a_postgres_url_never_echoed() {
        let read = |file: &'static str, env_pairs: &[(&str, &str)], flags: Flags| {
            resolve(
                &Flags {
                    config_file: Some(PathBuf::from("aion.toml")),
                    ..flags
                },
                &env(env_pairs),
                Some(PathBuf::from("/data")),
                with_file(file),
            )
        };
        let loaded = read(
            "database = \"postgres://aion@db:5432/aion\"\n",
            &[],
            Flags::default(),
        )
        .unwrap();
        assert_eq!(
            loaded.config.database_url.as_deref(),
            Some("postgres://aion@db:5432/aion")
        );
        assert_eq!(loaded.config.database_schema, "public");
        let loaded = read(
            "",
            &[
                ("AION_DATABASE_URL", "postgresql://a:secret@h/db"),
                ("AION_DATABASE_SCHEMA", "tenant_1"),
            ],
            Flags::default(),
        )
        .unwrap();
        assert_eq!(loaded.config.database_schema, "tenant_1");
        let flag = Flags {
            database: Some("postgres://flag@h/db".to_owned()),
            ..Flags::default()
        };
        let loaded = read("", &[("AION_DATABASE_URL", "postgres://env@h/db")], flag).unwrap();
        assert_eq!(
            loaded.config.database_url.as_deref(),
            Some("postgres://flag@h/db")
        );
        let error = read(
            "",
            &[("AION_DATABASE_URL", "mysql://u:hunter2@h/db")],
            Flags::default(),
        )
        .unwrap_err();
        assert!(error.source_name.contains("AION_DATABASE_URL"), "{error}");
        assert!(!error.to_string().contains("hunter2"), "{error}");
        let error = read("database_schema = \"Bad-Name\"\n", &[], Flags::default()).unwrap_err();
        assert!(error.source_name.contains("database_schema"), "{error}");
    }

    #[test]
    fn the_otlp_endpoint_is_a_base_url() {
        let read = |file: &'static str, env_pairs: &[(&str, &str)]| {
            resolve(
                &flags_with_file(),
                &env(env_pairs),
                Some(PathBuf::from("/data")),
                with_file(file),
            )
        };
        let loaded = read("otlp_endpoint = \"http://127.0.0.1:4318/\"\n", &[]).unwrap();
        assert_eq!(
            loaded.config.otlp_endpoint.as_deref(),
            Some("http://127.0.0.1:4318")
        );
        let loaded = read(
            "",
            &[("AION_OTLP_ENDPOINT", "https://otel.example.com/otlp")],
        )
        .unwrap();
        assert_eq!(
            loaded.config.otlp_endpoint.as_deref(),
            Some("https://otel.example.com/otlp")
        );
        assert_eq!(read("", &[]).unwrap().config.otlp_endpoint, None);
        let error = read("otlp_endpoint = \"ftp://x\"\n", &[]).unwrap_err();
        assert!(error.source_name.contains("otlp_endpoint"), "{error}");
        let error = read("", &[("AION_OTLP_ENDPOINT", "not a url")]).unwrap_err();
        assert!(error.source_name.contains("AION_OTLP_ENDPOINT"), "{error}");
        assert!(error.message.contains("not a URL"), "{error}");
        let error = read("", &[("AION_OTLP_ENDPOINT", "http://h:4318/?a=1")]).unwrap_err();
        assert!(error.message.contains("query"), "{error}");
    }

    #[test]
    fn later_sources_win() {
        let file =
            "listen = \"127.0.0.1:9000\"\ndata_dir = \"/from-file\"\nmax_output_bytes = 10\n";
        let config = resolve(
            &flags_with_file(),
            &env(&[("AION_LISTEN", "127.0.0.1:9100")]),
            None,
            with_file(file),
        )
        .unwrap()
        .config;
        assert_eq!(config.listen, "127.0.0.1:9100".parse().unwrap());
        assert_eq!(config.data_dir, PathBuf::from("/from-file"));
        assert_eq!(config.max_output_bytes, 10);
        let flags = Flags {
            listen: Some("127.0.0.1:9200".parse().unwrap()),
            data_dir: Some(PathBuf::from("/flag")),
            ..flags_with_file()
        };
        let config = resolve(
            &flags,
            &env(&[("AION_LISTEN", "127.0.0.1:9100"), ("AION_DATA_DIR", "/env")]),
            None,
            with_file(file),
        )
        .unwrap()
        .config;
        assert_eq!(config.listen, "127.0.0.1:9200".parse().unwrap());
        assert_eq!(config.data_dir, PathBuf::from("/flag"));
    }

    #[test]
    fn defaults_need_only_a_data_dir() {
        let loaded = resolve(&Flags::default(), &[], Some("/d".into()), |_| {
            Err("unused".into())
        })
        .unwrap();
        assert_eq!(loaded.config, Config::with_data_dir("/d".into()));
        assert!(loaded.warnings.is_empty());
        let missing = resolve(&Flags::default(), &[], None, |_| Err("unused".into())).unwrap_err();
        assert!(missing.message.contains("no data directory"), "{missing}");
    }

    #[test]
    fn file_errors_have_line_and_column() {
        let error = resolve(
            &flags_with_file(),
            &[],
            Some("/d".into()),
            with_file("data_dir = \"/x\"\nlisten = 8080\n"),
        )
        .unwrap_err();
        assert_eq!(error.source_name, "config file aion.toml:2:10", "{error}");
        let unknown = resolve(
            &flags_with_file(),
            &[],
            Some("/d".into()),
            with_file("\n  listne = \"127.0.0.1:1\"\n"),
        )
        .unwrap_err();
        assert_eq!(
            unknown.source_name, "config file aion.toml:2:3",
            "{unknown}"
        );
        assert!(unknown.message.contains("listne"), "{unknown}");
        let bad_addr = resolve(
            &flags_with_file(),
            &[],
            Some("/d".into()),
            with_file("listen = \"localhost\"\n"),
        )
        .unwrap_err();
        assert!(bad_addr.source_name.contains("key `listen`"), "{bad_addr}");
        let unreadable = resolve(&flags_with_file(), &[], Some("/d".into()), |_| {
            Err("No such file or directory".into())
        })
        .unwrap_err();
        assert!(
            unreadable.message.contains("cannot read it"),
            "{unreadable}"
        );
    }

    #[test]
    fn environment_errors_name_the_variable() {
        for (key, value, expected) in [
            ("AION_LISTEN", "nope", "not an address"),
            ("AION_DURABILITY", "fast", "not a durability"),
            ("AION_ALLOW_LOOPBACK", "yes", "not a boolean"),
            ("AION_MAX_OUTPUT_BYTES", "0", "at least 1"),
            ("AION_BODY_LIMIT_BYTES", "1MB", "whole number"),
        ] {
            let error = resolve(
                &Flags::default(),
                &env(&[(key, value)]),
                Some("/d".into()),
                |_| Err("unused".into()),
            )
            .unwrap_err();
            assert_eq!(error.source_name, format!("environment variable {key}"));
            assert!(error.message.contains(expected), "{error}");
        }
        let loaded = resolve(
            &Flags::default(),
            &env(&[("AION_LISTN", "127.0.0.1:1")]),
            Some("/d".into()),
            |_| Err("unused".into()),
        )
        .unwrap();
        assert_eq!(loaded.warnings.len(), 1);
        assert!(loaded.warnings[0].contains("AION_LISTN"), "{loaded:?}");
    }
}
