//! The CLI as a client of a running `aion serve`: `aion login|logout`, `aion flows
//! push|list|run`, and the remote `aion runs list|show --server` and `aion runs tail`, over the
//! REST API under `/api/v1`.
//!
//! The server and key come from `--server`/`AION_SERVER` and `--api-key`/`AION_API_KEY`, else
//! from the file `aion login` writes (`$XDG_CONFIG_HOME/aion/cli.toml`, else
//! `$HOME/.config/aion/cli.toml`, mode 0600). A saved key is only ever sent to the server it was
//! saved for. Exit codes: 0 success, 1 the operation failed (a failed run, not found, a refused
//! save), 2 bad input or usage, a refused key, or a server that cannot be reached.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::runs;
use crate::store;

/// How long an ordinary request may take (an `execute?wait=true` waits up to the server's
/// `execute_wait_ms`, 30 s by default).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// How many times in a row `runs tail` reconnects to a stream that dropped.
const RECONNECTS: u32 = 30;

/// Where the saved login lives: the user's config folder, found through the environment.
#[derive(Debug, Clone, Args)]
pub(crate) struct ConfigHome {
    #[arg(long = "xdg-config-home", env = "XDG_CONFIG_HOME", hide = true)]
    xdg_config_home: Option<PathBuf>,
    #[arg(long = "user-home", env = "HOME", hide = true)]
    user_home: Option<PathBuf>,
}

impl ConfigHome {
    /// `$XDG_CONFIG_HOME/aion/cli.toml` (when absolute), else `$HOME/.config/aion/cli.toml`.
    fn path(&self) -> Option<PathBuf> {
        if let Some(xdg) = self.xdg_config_home.as_ref().filter(|p| p.is_absolute()) {
            return Some(xdg.join("aion").join("cli.toml"));
        }
        self.user_home
            .as_ref()
            .map(|home| home.join(".config").join("aion").join("cli.toml"))
    }

    /// The saved login, if there is one.
    fn load(&self) -> anyhow::Result<Option<Saved>> {
        let Some(path) = self.path() else {
            return Ok(None);
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => {
                return Err(error).with_context(|| format!("cannot read {}", path.display()));
            }
        };
        let saved: Saved = toml::from_str(&text).map_err(|error| {
            anyhow::anyhow!(
                "{} is not a login saved by `aion login` ({error}); run aion login again",
                path.display()
            )
        })?;
        Ok(Some(saved))
    }
}

/// The server to talk to and the key to use.
#[derive(Debug, Clone, Args)]
pub(crate) struct RemoteArgs {
    /// The server's URL, such as http://127.0.0.1:8080 [default: the one saved by `aion
    /// login`]. With `runs list` and `runs show`, asks the server instead of the data directory.
    #[arg(long, env = "AION_SERVER", value_name = "URL")]
    server: Option<String>,
    /// The API key [default: the one `aion login` saved for that server].
    #[arg(long, env = "AION_API_KEY", value_name = "KEY", hide_env_values = true)]
    api_key: Option<String>,
    #[command(flatten)]
    config: ConfigHome,
}

impl RemoteArgs {
    /// Whether a server was named on the command line or in `AION_SERVER` (`runs list|show`
    /// then ask it instead of the local data directory).
    pub(crate) fn is_remote(&self) -> bool {
        self.server.is_some()
    }

    /// The API client: the named server (else the saved one) and its key.
    fn connect(&self) -> anyhow::Result<Api> {
        let saved = self.config.load()?;
        let server = match (&self.server, &saved) {
            (Some(server), _) => normalize(server)?,
            (None, Some(saved)) => normalize(&saved.server)?,
            (None, None) => {
                return Err(Failure::usage(
                    "no server: pass --server URL, set AION_SERVER, or run aion login",
                ));
            }
        };
        let key = match (&self.api_key, saved) {
            (Some(key), _) => key.trim().to_owned(),
            (None, Some(saved)) if normalize(&saved.server).ok().as_ref() == Some(&server) => {
                saved.api_key
            }
            (None, _) => {
                return Err(Failure::usage(format!(
                    "no API key for {server}: pass --api-key, set AION_API_KEY, or run aion \
                     login --server {server}"
                )));
            }
        };
        Api::new(server, key)
    }
}

/// The file `aion login` writes.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Saved {
    /// The server's URL.
    server: String,
    /// The API key.
    api_key: String,
}

/// An error with its exit code, printed as `error: MESSAGE`.
#[derive(Debug)]
struct Failure {
    exit: u8,
    message: String,
}

impl Failure {
    /// Exit 1: the operation failed.
    fn failed(message: impl Into<String>) -> anyhow::Error {
        Failure {
            exit: 1,
            message: message.into(),
        }
        .into()
    }

    /// Exit 2: bad input or usage, a refused key, an unreachable server.
    fn usage(message: impl Into<String>) -> anyhow::Error {
        Failure {
            exit: 2,
            message: message.into(),
        }
        .into()
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// Runs a command's future on the CLI's runtime; a [`Failure`] is printed and becomes its exit
/// code, any other error is left to `main` (exit 2).
fn block(
    future: impl std::future::Future<Output = anyhow::Result<ExitCode>>,
) -> anyhow::Result<ExitCode> {
    match store::tokio()?.block_on(future) {
        Ok(code) => Ok(code),
        Err(error) => match error.downcast_ref::<Failure>() {
            Some(failure) => {
                say(&format!("error: {}", failure.message));
                Ok(ExitCode::from(failure.exit))
            }
            None => Err(error),
        },
    }
}

/// Writes one line on stderr, ignoring a closed stderr.
fn say(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// A server URL without its trailing slash; `http://` is assumed without a scheme.
fn normalize(server: &str) -> anyhow::Result<String> {
    let server = server.trim().trim_end_matches('/');
    let server = if server.contains("://") {
        server.to_owned()
    } else {
        format!("http://{server}")
    };
    match Url::parse(&server) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Ok(server),
        _ => Err(Failure::usage(format!(
            "`{server}` is not a server URL such as http://127.0.0.1:8080"
        ))),
    }
}

/// A client of one server with one key.
#[derive(Debug)]
struct Api {
    client: reqwest::Client,
    server: String,
    key: String,
}

impl Api {
    fn new(server: String, key: String) -> anyhow::Result<Api> {
        // reqwest is built without a default TLS provider: install rustls' `ring` unless one is
        // installed already (the other installer, aion-http, does the same).
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let client = reqwest::Client::builder()
            .user_agent(concat!("aion-cli/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Api {
            client,
            server,
            key,
        })
    }

    /// The URL of an API path such as `/api/v1/flows`.
    fn url(&self, path: &str) -> anyhow::Result<Url> {
        Url::parse(&format!("{}{path}", self.server))
            .map_err(|error| Failure::usage(format!("bad URL {}{path}: {error}", self.server)))
    }

    /// A request with the key.
    fn request(&self, method: Method, url: Url) -> RequestBuilder {
        self.client
            .request(method, url)
            .bearer_auth(&self.key)
            .header(reqwest::header::ACCEPT, "application/json")
    }

    /// Sends a request: an unreachable server and a refused key are failures (exit 2); any
    /// other answer is the caller's to read.
    async fn send(&self, request: RequestBuilder) -> anyhow::Result<Response> {
        let response = request
            .send()
            .await
            .map_err(|error| self.unreachable(&error))?;
        if response.status() == StatusCode::UNAUTHORIZED {
            return Err(Failure::usage(format!(
                "the API key was refused by {}; run aion login",
                self.server
            )));
        }
        Ok(response)
    }

    /// The failure for a request that got no answer.
    fn unreachable(&self, error: &reqwest::Error) -> anyhow::Error {
        let mut cause = String::new();
        let mut source: Option<&dyn std::error::Error> = Some(error);
        while let Some(e) = source {
            cause = e.to_string();
            source = e.source();
        }
        let what = if error.is_timeout() {
            "did not answer in time"
        } else {
            "cannot be reached"
        };
        Failure::usage(format!("the server {} {what} ({cause})", self.server))
    }

    /// `GET path` answered 200, as JSON.
    async fn get_json(&self, path: &str) -> anyhow::Result<Value> {
        let url = self.url(path)?;
        let response = self
            .send(self.request(Method::GET, url).timeout(REQUEST_TIMEOUT))
            .await?;
        ok_json(response).await
    }
}

/// An error answer's body (`application/problem+json`).
#[derive(Debug, Default, Deserialize)]
struct Problem {
    #[serde(default)]
    code: String,
    #[serde(default)]
    detail: String,
    #[serde(default)]
    errors: Vec<Value>,
}

/// Reads an error answer; a body that is not a problem gives one made of the status.
async fn problem(response: Response) -> (StatusCode, Problem) {
    let status = response.status();
    let mut problem = match response.bytes().await {
        Ok(body) => serde_json::from_slice::<Problem>(&body).unwrap_or_default(),
        Err(_) => Problem::default(),
    };
    if problem.detail.is_empty() {
        problem.detail = format!("the server answered {status}");
    }
    (status, problem)
}

/// The failure for an error answer: the problem's `detail`; exit 2 for a bad request, 1 for
/// anything else (not found, conflicts, server errors).
async fn fail(response: Response) -> anyhow::Error {
    let (status, problem) = problem(response).await;
    let message = if problem.code.is_empty() {
        problem.detail
    } else {
        format!("{} ({})", problem.detail, problem.code)
    };
    match status {
        StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => Failure::usage(message),
        _ => Failure::failed(message),
    }
}

/// A 2xx answer's JSON body, or the failure of an error answer.
async fn ok_json(response: Response) -> anyhow::Result<Value> {
    if !response.status().is_success() {
        return Err(fail(response).await);
    }
    response
        .json::<Value>()
        .await
        .context("the server's answer is not JSON")
}

/// The API's usage (`cost_usd`) as the store keeps it (`cost_micro_usd`).
fn usage_of(map: &mut serde_json::Map<String, Value>) {
    if let Some(Value::Object(usage)) = map.get_mut("usage")
        && let Some(cost) = usage.remove("cost_usd").and_then(|c| c.as_f64())
    {
        let micro = (cost * 1_000_000.0).round();
        usage.insert(
            "cost_micro_usd".to_owned(),
            Value::from(if micro.is_finite() && micro >= 0.0 {
                micro as u64
            } else {
                0
            }),
        );
    }
}

/// A run as the API shows it, as the store's row (for the local commands' rendering).
fn run_of(value: &Value) -> anyhow::Result<aion_store::Run> {
    let mut row = value.clone();
    if let Value::Object(map) = &mut row {
        map.remove("steps");
        usage_of(map);
        for (name, default) in [
            ("workspace", Value::from("")),
            ("plan_hash", Value::from("")),
            ("epoch", Value::from(0)),
            ("last_seq", Value::from(0)),
        ] {
            map.entry(name).or_insert(default);
        }
    }
    serde_json::from_value(row).context("the server's run is not in the expected shape")
}

/// A step as the API shows it, as the store's row.
fn step_of(value: &Value) -> anyhow::Result<aion_store::StepRecord> {
    let mut row = value.clone();
    if let Value::Object(map) = &mut row {
        if let Some(key) = map.remove("key") {
            map.insert("step_key".to_owned(), key);
        }
        usage_of(map);
    }
    serde_json::from_value(row).context("the server's step is not in the expected shape")
}

/// Percent-encodes one path segment (flow and run ids).
fn segment(text: &str) -> String {
    let mut url = match Url::parse("http://x/") {
        Ok(url) => url,
        Err(_) => return text.to_owned(),
    };
    if let Ok(mut segments) = url.path_segments_mut() {
        segments.push(text);
    }
    url.path().trim_start_matches('/').to_owned()
}

/// `aion login`: checks the key with `GET /api/v1/me` and saves the server and key.
pub(crate) fn login(args: &RemoteArgs) -> anyhow::Result<ExitCode> {
    block(async {
        let Some(path) = args.config.path() else {
            return Err(Failure::usage(
                "no config folder: set HOME or XDG_CONFIG_HOME",
            ));
        };
        let saved = args.config.load().ok().flatten();
        let server = match (&args.server, &saved) {
            (Some(server), _) => normalize(server)?,
            (None, Some(saved)) => normalize(&saved.server)?,
            (None, None) => {
                return Err(Failure::usage(
                    "no server: pass --server URL or set AION_SERVER",
                ));
            }
        };
        let key = match &args.api_key {
            Some(key) => key.trim().to_owned(),
            None => read_key()?,
        };
        if key.is_empty() {
            return Err(Failure::usage("no API key given"));
        }
        let api = Api::new(server.clone(), key.clone())?;
        let me = api.get_json("/api/v1/me").await?;
        let text = |name: &str| {
            me.get(name)
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_owned()
        };
        save(
            &path,
            &Saved {
                server: server.clone(),
                api_key: key,
            },
        )?;
        say(&format!(
            "signed in to {server} as {} in workspace {} (role {})",
            text("email"),
            text("workspace"),
            text("role")
        ));
        Ok(ExitCode::SUCCESS)
    })
}

/// Reads the key from stdin (one line), prompting on a terminal without echoing what is typed.
fn read_key() -> anyhow::Result<String> {
    use std::io::IsTerminal as _;
    let stdin = std::io::stdin();
    let terminal = stdin.is_terminal();
    // `stty` is the portable way to stop a Unix terminal echoing; without it the key is typed
    // visibly, which is the user's own screen.
    let stty = |mode: &str| {
        std::process::Command::new("stty")
            .arg(mode)
            .stdin(std::process::Stdio::inherit())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let mut line = String::new();
    if terminal {
        let _ = write!(std::io::stderr().lock(), "API key: ");
        let silenced = stty("-echo");
        let read = stdin.read_line(&mut line);
        if silenced {
            stty("echo");
        }
        say("");
        read.context("cannot read the API key from stdin")?;
    } else {
        stdin
            .read_line(&mut line)
            .context("cannot read the API key from stdin")?;
    }
    Ok(line.trim().to_owned())
}

/// Writes the login file: the directory 0700, the file 0600, replaced atomically.
fn save(path: &Path, saved: &Saved) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
    let dir = path.parent().context("the login file has no folder")?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot restrict {}", dir.display()))?;
    // TOML basic strings accept JSON's string escapes.
    let text = format!(
        "# Written by `aion login`; `aion logout` deletes it.\nserver = {}\napi_key = {}\n",
        serde_json::to_string(&saved.server)?,
        serde_json::to_string(&saved.api_key)?
    );
    let temp = path.with_extension("toml.tmp");
    let _ = std::fs::remove_file(&temp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp)
        .with_context(|| format!("cannot create {}", temp.display()))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", temp.display()))?;
    std::fs::rename(&temp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// `aion logout`: deletes the saved login.
pub(crate) fn logout(config: &ConfigHome) -> anyhow::Result<ExitCode> {
    let Some(path) = config.path() else {
        say("not signed in");
        return Ok(ExitCode::SUCCESS);
    };
    match std::fs::remove_file(&path) {
        Ok(()) => {
            say(&format!(
                "signed out: deleted {} (the key itself stays valid on the server)",
                path.display()
            ));
            Ok(ExitCode::SUCCESS)
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            say("not signed in");
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => Err(error).with_context(|| format!("cannot delete {}", path.display())),
    }
}

/// `aion flows push FILE`: saves the document as a new flow or a new version of its flow.
pub(crate) fn push(args: &RemoteArgs, file: &Path) -> anyhow::Result<ExitCode> {
    block(async {
        let bytes =
            std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
        let document = String::from_utf8(bytes)
            .map_err(|_| Failure::usage(format!("{} is not UTF-8 text", file.display())))?;
        let format = match aion_dsl::source::Format::from_path(file) {
            aion_dsl::source::Format::Json => "json",
            aion_dsl::source::Format::Yaml => "yaml",
        };
        let api = args.connect()?;
        let body = serde_json::json!({ "document": document, "format": format });
        // The id, when the document compiles here; otherwise the server's answer explains.
        let id = aion_compiler::Compiler::new(aion_nodes::catalog())
            .compile(
                document.as_bytes(),
                aion_dsl::source::Format::from_path(file),
            )
            .plan
            .map(|plan| plan.flow.id);
        let latest = match &id {
            Some(id) => {
                let url = api.url(&format!("/api/v1/flows/{}", segment(id)))?;
                let response = api
                    .send(api.request(Method::GET, url).timeout(REQUEST_TIMEOUT))
                    .await?;
                match response.status() {
                    StatusCode::NOT_FOUND => None,
                    _ => Some(etag_and(response).await?),
                }
            }
            None => None,
        };
        let response = match (&id, latest) {
            (Some(_), Some((_, remote))) if remote.get("document") == body.get("document") => {
                say("unchanged");
                return Ok(ExitCode::SUCCESS);
            }
            (Some(id), Some((etag, _))) => {
                let url = api.url(&format!("/api/v1/flows/{}", segment(id)))?;
                api.send(
                    api.request(Method::PUT, url)
                        .header(reqwest::header::IF_MATCH, etag)
                        .json(&body)
                        .timeout(REQUEST_TIMEOUT),
                )
                .await?
            }
            _ => {
                let url = api.url("/api/v1/flows")?;
                api.send(
                    api.request(Method::POST, url)
                        .json(&body)
                        .timeout(REQUEST_TIMEOUT),
                )
                .await?
            }
        };
        let status = response.status();
        if status == StatusCode::UNPROCESSABLE_ENTITY {
            let (_, problem) = problem(response).await;
            print_diagnostics(file, &problem);
            say(&format!("error: {}", problem.detail));
            return Ok(ExitCode::from(1));
        }
        let flow = ok_json(response).await?;
        let flow_id = flow.get("id").and_then(Value::as_str).unwrap_or("?");
        let version = flow.get("version").and_then(Value::as_u64).unwrap_or(0);
        if status == StatusCode::CREATED {
            say(&format!("created flow {flow_id} v{version}"));
        } else {
            say(&format!("saved flow {flow_id} v{version}"));
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// A flow answer's `ETag` and body, or the failure of an error answer.
async fn etag_and(response: Response) -> anyhow::Result<(String, Value)> {
    let etag = response
        .headers()
        .get(reqwest::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = ok_json(response).await?;
    let etag = match etag {
        Some(etag) => etag,
        None => format!(
            "\"{}\"",
            body.get("version").and_then(Value::as_u64).unwrap_or(0)
        ),
    };
    Ok((etag, body))
}

/// Prints a 422's diagnostics: `severity[code]: FILE:LINE:COLUMN: message`, and the hint.
fn print_diagnostics(file: &Path, problem: &Problem) {
    for error in &problem.errors {
        let text = |name: &str| error.get(name).and_then(Value::as_str);
        let number = |name: &str| error.get(name).and_then(Value::as_u64);
        let severity = text("severity").unwrap_or("error");
        let code = text("code").map_or_else(String::new, |c| format!("[{c}]"));
        let place = match (number("line"), number("column")) {
            (Some(line), Some(column)) => format!("{}:{line}:{column}", file.display()),
            _ => match text("pointer") {
                Some(pointer) if !pointer.is_empty() => format!("{} at {pointer}", file.display()),
                _ => file.display().to_string(),
            },
        };
        say(&format!(
            "{severity}{code}: {place}: {}",
            text("message").unwrap_or("")
        ));
        if let Some(hint) = text("hint") {
            say(&format!("  = help: {hint}"));
        }
    }
}

/// `aion flows list`.
pub(crate) fn list_flows(args: &RemoteArgs, json: bool) -> anyhow::Result<ExitCode> {
    block(async {
        let api = args.connect()?;
        let list = api.get_json("/api/v1/flows").await?;
        if json {
            let mut text = serde_json::to_string_pretty(&list)?;
            text.push('\n');
            runs::emit(&text);
            return Ok(ExitCode::SUCCESS);
        }
        let mut out = format!("{:<32}  {:>7}  PLAN HASH\n", "FLOW", "VERSION");
        for flow in list
            .get("flows")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            out.push_str(&format!(
                "{:<32}  {:>7}  {}\n",
                flow.get("id").and_then(Value::as_str).unwrap_or("?"),
                flow.get("latest_version")
                    .and_then(Value::as_u64)
                    .unwrap_or(0),
                flow.get("plan_hash").and_then(Value::as_str).unwrap_or("-"),
            ));
        }
        runs::emit(&out);
        Ok(ExitCode::SUCCESS)
    })
}

/// `aion flows run ID`: executes the flow's latest version and waits for its output (or, with
/// `no_wait`, prints the new run's id).
pub(crate) fn run_flow(
    args: &RemoteArgs,
    id: &str,
    input: Option<&str>,
    input_file: Option<&Path>,
    no_wait: bool,
) -> anyhow::Result<ExitCode> {
    block(async {
        let input = crate::run::read_input(input, input_file)
            .map_err(|error| Failure::usage(format!("{error:#}")))?;
        let api = args.connect()?;
        let mut url = api.url(&format!("/api/v1/flows/{}/execute", segment(id)))?;
        if !no_wait {
            url.query_pairs_mut().append_pair("wait", "true");
        }
        let response = api
            .send(
                api.request(Method::POST, url)
                    .json(&input)
                    .timeout(REQUEST_TIMEOUT),
            )
            .await?;
        let status = response.status();
        if status == StatusCode::UNPROCESSABLE_ENTITY {
            let (_, problem) = problem(response).await;
            if problem.errors.is_empty() {
                say(&format!("error: invalid input: {}", problem.detail));
            }
            for error in &problem.errors {
                let pointer = error.get("pointer").and_then(Value::as_str).unwrap_or("");
                let message = error.get("message").and_then(Value::as_str).unwrap_or("");
                let at = if pointer.is_empty() { "/" } else { pointer };
                say(&format!("error: invalid input: at {at}: {message}"));
            }
            return Ok(ExitCode::from(2));
        }
        let run = ok_json(response).await?;
        let run = run_of(&run)?;
        if status == StatusCode::ACCEPTED {
            say(&format!(
                "run {} of flow {} v{}",
                run.id, run.flow_id, run.flow_version
            ));
            if no_wait {
                runs::emit(&format!("{}\n", run.id));
                return Ok(ExitCode::SUCCESS);
            }
            // Still going after the server's wait: follow it to the end.
            return follow(&api, &run.id).await;
        }
        Ok(crate::run::report(&run))
    })
}

/// `aion runs list --server`.
pub(crate) fn list_runs(
    args: &RemoteArgs,
    flow: Option<&str>,
    status: Option<&str>,
    limit: u32,
    json: bool,
) -> anyhow::Result<ExitCode> {
    block(async {
        let api = args.connect()?;
        let mut url = api.url("/api/v1/runs")?;
        {
            let mut query = url.query_pairs_mut();
            if let Some(flow) = flow {
                query.append_pair("flow", flow);
            }
            if let Some(status) = status {
                query.append_pair("status", status);
            }
            query.append_pair("limit", &limit.to_string());
        }
        let response = api
            .send(api.request(Method::GET, url).timeout(REQUEST_TIMEOUT))
            .await?;
        let page = ok_json(response).await?;
        let rows = page
            .get("runs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(run_of)
            .collect::<anyhow::Result<Vec<_>>>()?;
        runs::print_list(&rows, json);
        Ok(ExitCode::SUCCESS)
    })
}

/// `aion runs show RUN_ID --server`.
pub(crate) fn show_run(args: &RemoteArgs, run_id: &str, json: bool) -> anyhow::Result<ExitCode> {
    block(async {
        let api = args.connect()?;
        let detail = api
            .get_json(&format!("/api/v1/runs/{}", segment(run_id)))
            .await?;
        let run = run_of(&detail)?;
        let mut steps = detail
            .get("steps")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(step_of)
            .collect::<anyhow::Result<Vec<_>>>()?;
        // The API does not give the plan: steps go by start time, then by key.
        runs::order_steps(&mut steps, &Value::Null);
        runs::print_show(&run, &steps, json);
        Ok(ExitCode::SUCCESS)
    })
}

/// `aion runs tail RUN_ID`: follows the run's events to its end.
pub(crate) fn tail(args: &RemoteArgs, run_id: &str) -> anyhow::Result<ExitCode> {
    block(async {
        let api = args.connect()?;
        follow(&api, run_id).await
    })
}

/// Follows `GET /api/v1/runs/{id}/events`, printing one line per event on stderr, until
/// `run_finished`; then prints the output (stdout) or the error and returns the exit code.
/// A dropped stream is resumed with `Last-Event-ID`.
async fn follow(api: &Api, run_id: &str) -> anyhow::Result<ExitCode> {
    let url = api.url(&format!("/api/v1/runs/{}/events", segment(run_id)))?;
    let mut printer = Printer::new(run_id);
    let mut last_id: Option<String> = None;
    let mut failures = 0u32;
    loop {
        let mut request = api
            .request(Method::GET, url.clone())
            .header(reqwest::header::ACCEPT, "text/event-stream");
        if let Some(id) = &last_id {
            request = request.header("last-event-id", id);
        }
        let response = match api.send(request).await {
            Ok(response) => response,
            // The first connection must work; later ones are retried.
            Err(error) if last_id.is_none() || failures >= RECONNECTS => return Err(error),
            Err(_) => {
                failures += 1;
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if !response.status().is_success() {
            return Err(fail(response).await);
        }
        let mut stream = Sse::default();
        let mut response = response;
        loop {
            let chunk = match response.chunk().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) | Err(_) => break,
            };
            for message in stream.feed(&chunk) {
                failures = 0;
                if let Some(id) = &message.id {
                    last_id = Some(id.clone());
                }
                if let Some(code) = printer.event(&message)? {
                    return Ok(code);
                }
            }
        }
        // The stream ended before `run_finished`: resume after the last event received.
        failures += 1;
        if failures > RECONNECTS {
            return Err(Failure::failed(format!(
                "the event stream of run {run_id} kept dropping; see `aion runs show {run_id}`"
            )));
        }
        last_id.get_or_insert_with(|| "0".to_owned());
        say(&format!(
            "warning: the event stream dropped; reconnecting (attempt {failures})"
        ));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// One Server-Sent Event.
#[derive(Debug, Default, PartialEq)]
struct Message {
    event: String,
    data: String,
    id: Option<String>,
}

/// An incremental `text/event-stream` parser.
#[derive(Debug, Default)]
struct Sse {
    buffer: Vec<u8>,
    current: Message,
    has_data: bool,
}

impl Sse {
    /// Feeds bytes; returns the events they complete.
    fn feed(&mut self, bytes: &[u8]) -> Vec<Message> {
        self.buffer.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.buffer.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                let message = std::mem::take(&mut self.current);
                if std::mem::take(&mut self.has_data) || message.id.is_some() {
                    out.push(message);
                }
                continue;
            }
            if line.starts_with(':') {
                continue; // a comment (keep-alive)
            }
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => value.clone_into(&mut self.current.event),
                "data" => {
                    if self.has_data {
                        self.current.data.push('\n');
                    }
                    self.current.data.push_str(value);
                    self.has_data = true;
                }
                "id" => self.current.id = Some(value.to_owned()),
                _ => {}
            }
        }
        out
    }
}

/// Prints events the way `aion run` prints progress.
#[derive(Debug)]
struct Printer {
    run_id: String,
    /// The last 8 characters of the run id.
    short: String,
    /// When each running step started (for durations).
    started: BTreeMap<String, i64>,
}

impl Printer {
    fn new(run_id: &str) -> Printer {
        let chars: Vec<char> = run_id.chars().collect();
        let short = chars[chars.len().saturating_sub(8)..].iter().collect();
        Printer {
            run_id: run_id.to_owned(),
            short,
            started: BTreeMap::new(),
        }
    }

    /// Prints one event; at `run_finished`, reports the run and returns its exit code.
    fn event(&mut self, message: &Message) -> anyhow::Result<Option<ExitCode>> {
        let data: Value = serde_json::from_str(&message.data).unwrap_or(Value::Null);
        let text = |name: &str| data.get(name).and_then(Value::as_str).unwrap_or("");
        let number = |name: &str| data.get(name).and_then(Value::as_i64);
        let short = &self.short;
        match message.event.as_str() {
            "run_started" => say(&format!(
                "run {} of flow {} v{}",
                text("run_id"),
                text("flow_id"),
                number("flow_version").unwrap_or(0)
            )),
            "step_started" => {
                let step = text("step");
                if let Some(at) = number("at_ms") {
                    self.started.insert(step.to_owned(), at);
                }
                say(&format!(
                    "[{short}] {step}: started (attempt {})",
                    number("attempt").unwrap_or(1)
                ));
            }
            "step_finished" => {
                let step = text("step");
                let mut line = format!(
                    "[{short}] {step}: {} (attempt {}",
                    text("status"),
                    number("attempt").unwrap_or(1)
                );
                if let (Some(start), Some(end)) = (self.started.remove(step), number("at_ms")) {
                    line.push_str(&format!(", {} ms", end - start));
                }
                if data.get("cache_hit").and_then(Value::as_bool) == Some(true) {
                    line.push_str(", cache hit");
                }
                line.push(')');
                if let Some(error) = data.get("error") {
                    let kind = error.get("kind").and_then(Value::as_str).unwrap_or("error");
                    let text = error.get("message").and_then(Value::as_str).unwrap_or("");
                    line.push_str(&format!(": {kind}: {text}"));
                }
                say(&line);
            }
            "log" => say(&format!(
                "[{short}] {}: {}: {}",
                text("step"),
                text("level"),
                text("message")
            )),
            "timer_fired" => say(&format!("[{short}] timer fired")),
            "signal_received" => say(&format!("[{short}] signal `{}` received", text("name"))),
            "child_finished" => {
                let outcome = if data.get("succeeded").and_then(Value::as_bool) == Some(true) {
                    "succeeded"
                } else {
                    "failed"
                };
                say(&format!("[{short}] {}: child run {outcome}", text("step")));
            }
            "cancel_requested" => say(&format!(
                "[{short}] cancel requested: {}",
                data.get("reason").and_then(Value::as_str).unwrap_or("-")
            )),
            "run_finished" => {
                let run = run_of(&serde_json::json!({
                    "id": self.run_id,
                    "flow_id": "",
                    "flow_version": 0,
                    "status": data.get("status").cloned().unwrap_or(Value::Null),
                    "input": Value::Null,
                    "trigger": Value::Null,
                    "output": data.get("output").cloned().unwrap_or(Value::Null),
                    "error": data.get("error").cloned().unwrap_or(Value::Null),
                    "created_ms": 0,
                }))?;
                return Ok(Some(crate::run::report(&run)));
            }
            _ => {}
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_parsed_across_chunks() {
        let mut sse = Sse::default();
        assert!(
            sse.feed(b"event: step_started\r\ndata: {\"step\"")
                .is_empty()
        );
        let out = sse.feed(b": 1}\nid: 7\n\n:keep-alive\n\nevent: x\ndata: a\ndata: b\n\n");
        assert_eq!(
            out,
            vec![
                Message {
                    event: "step_started".to_owned(),
                    data: "{\"step\": 1}".to_owned(),
                    id: Some("7".to_owned()),
                },
                Message {
                    event: "x".to_owned(),
                    data: "a\nb".to_owned(),
                    id: None,
                },
            ]
        );
    }

    #[test]
    fn servers_are_normalized_and_checked() {
        assert_eq!(
            normalize("127.0.0.1:8080/").ok().as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(
            normalize("https://aion.example.com").ok().as_deref(),
            Some("https://aion.example.com")
        );
        assert!(normalize("ftp://x").is_err());
    }

    #[test]
    fn ids_are_one_path_segment() {
        assert_eq!(segment("a/b c"), "a%2Fb%20c");
        assert_eq!(segment("hello"), "hello");
    }
}
