//! `aion bench http`: a small HTTP load generator for the end-to-end figures in
//! docs/benchmarks.md. Each client keeps one HTTP/1.1 connection open and sends the same POST
//! again as soon as the previous answer is read; the generator reports throughput and latency
//! percentiles, and (with `--pid`) the server's resident memory before and under load.
//!
//! The HTTP client is deliberately minimal (one request shape, `Content-Length` bodies) so that
//! the generator, which shares the machine's cores with the server, costs as little as possible.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;

/// The options of `aion bench http`.
#[derive(Debug, Clone, Args)]
pub(crate) struct HttpBenchArgs {
    /// The URL to POST to (`http://HOST:PORT/PATH`; no TLS).
    #[arg(long)]
    url: String,
    /// The JSON body of every request.
    #[arg(long, default_value = "{}")]
    body: String,
    /// Concurrent clients, each with its own connection.
    #[arg(long, default_value_t = 1)]
    clients: usize,
    /// How long to send requests, in seconds (after the warm-up).
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Warm-up before measuring, in seconds.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// `Authorization: Bearer` token to send, if any.
    #[arg(long)]
    token: Option<String>,
    /// The server's process id, to report its resident memory (Linux).
    #[arg(long)]
    pid: Option<u32>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

/// `aion bench http`.
pub(crate) fn http(args: &HttpBenchArgs) -> anyhow::Result<ExitCode> {
    let target = Target::parse(&args.url, &args.body, args.token.as_deref())?;
    let seconds_ok = args.seconds.is_finite() && args.seconds > 0.0;
    let warmup_ok = args.warmup.is_finite() && args.warmup >= 0.0;
    if args.clients == 0 || !seconds_ok || !warmup_ok {
        anyhow::bail!("--clients must be at least 1, --seconds above 0 and --warmup at least 0");
    }
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let idle_rss = args.pid.and_then(rss_kib);
    let target = Arc::new(target);
    let stop = Arc::new(AtomicBool::new(false));
    let (latencies, failures, peak_rss, elapsed) = tokio.block_on(async {
        let mut clients = Vec::with_capacity(args.clients);
        let measure_from = Instant::now() + Duration::from_secs_f64(args.warmup);
        for _ in 0..args.clients {
            let target = Arc::clone(&target);
            let stop = Arc::clone(&stop);
            clients.push(tokio::spawn(async move {
                client(&target, &stop, measure_from).await
            }));
        }
        let mut peak = 0_u64;
        let end = measure_from + Duration::from_secs_f64(args.seconds);
        while Instant::now() < end {
            if let Some(rss) = args.pid.and_then(rss_kib) {
                peak = peak.max(rss);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        stop.store(true, Ordering::Relaxed);
        let mut latencies = Vec::new();
        let mut failures = Vec::new();
        for client in clients {
            let (mut measured, failed) = client.await.context("a client task failed")??;
            latencies.append(&mut measured);
            failures.extend(failed);
        }
        anyhow::Ok((latencies, failures, peak, args.seconds))
    })?;
    let report = Report::new(latencies, failures, elapsed, idle_rss, peak_rss);
    if args.json {
        crate::runs::emit(&format!("{}\n", serde_json::to_string(&report.json())?));
    } else {
        crate::runs::emit(&report.human(args.clients));
    }
    Ok(if report.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Where and what to send.
#[derive(Debug)]
struct Target {
    addr: String,
    request: Vec<u8>,
}

impl Target {
    fn parse(url: &str, body: &str, token: Option<&str>) -> anyhow::Result<Target> {
        let rest = url
            .strip_prefix("http://")
            .context("--url must start with http:// (TLS is not supported)")?;
        let (addr, path) = match rest.find('/') {
            Some(at) => (&rest[..at], &rest[at..]),
            None => (rest, "/"),
        };
        if addr.is_empty() {
            anyhow::bail!("--url has no host");
        }
        serde_json::from_str::<serde_json::Value>(body).context("--body is not JSON")?;
        let auth = token.map_or_else(String::new, |t| format!("Authorization: Bearer {t}\r\n"));
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             {auth}Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        Ok(Target {
            addr: addr.to_owned(),
            request: request.into_bytes(),
        })
    }
}

/// One client: sends until `stop`, keeps the latencies of requests sent after `measure_from`.
async fn client(
    target: &Target,
    stop: &AtomicBool,
    measure_from: Instant,
) -> anyhow::Result<(Vec<Duration>, Vec<String>)> {
    let mut latencies = Vec::new();
    let mut failures = Vec::new();
    let mut connection: Option<BufReader<TcpStream>> = None;
    while !stop.load(Ordering::Relaxed) {
        let stream = match connection.as_mut() {
            Some(stream) => stream,
            None => {
                let stream = TcpStream::connect(&target.addr)
                    .await
                    .with_context(|| format!("cannot connect to {}", target.addr))?;
                stream.set_nodelay(true)?;
                connection.insert(BufReader::new(stream))
            }
        };
        let began = Instant::now();
        let answer = exchange(stream, &target.request).await;
        let took = began.elapsed();
        match answer {
            Ok((200, _)) => {
                if began >= measure_from {
                    latencies.push(took);
                }
            }
            Ok((status, body)) => {
                failures.push(format!("HTTP {status}: {}", String::from_utf8_lossy(&body)));
                if failures.len() > 20 {
                    break;
                }
            }
            Err(error) => {
                failures.push(format!("{error:#}"));
                connection = None;
                if failures.len() > 20 {
                    break;
                }
            }
        }
    }
    Ok((latencies, failures))
}

/// Writes the request and reads one response: (status, body).
async fn exchange(
    stream: &mut BufReader<TcpStream>,
    request: &[u8],
) -> anyhow::Result<(u16, Vec<u8>)> {
    stream.get_mut().write_all(request).await?;
    let mut line = String::new();
    stream.read_line(&mut line).await?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("not an HTTP status line: {line:?}"))?;
    let mut length = 0_usize;
    loop {
        line.clear();
        if stream.read_line(&mut line).await? == 0 {
            anyhow::bail!("the connection closed mid-response");
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().context("a bad Content-Length")?;
        }
    }
    let mut body = vec![0; length];
    stream.read_exact(&mut body).await?;
    Ok((status, body))
}

/// The resident memory of a process in KiB (`VmRSS` of `/proc/PID/status`).
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

struct Report {
    count: usize,
    seconds: f64,
    p50: Duration,
    p99: Duration,
    max: Duration,
    failures: Vec<String>,
    idle_rss_kib: Option<u64>,
    peak_rss_kib: Option<u64>,
}

impl Report {
    fn new(
        mut latencies: Vec<Duration>,
        failures: Vec<String>,
        seconds: f64,
        idle_rss_kib: Option<u64>,
        peak_rss_kib: u64,
    ) -> Self {
        latencies.sort();
        let at = |q: f64| {
            latencies
                .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
                .copied()
                .unwrap_or_default()
        };
        Report {
            count: latencies.len(),
            seconds,
            p50: at(0.50),
            p99: at(0.99),
            max: latencies.last().copied().unwrap_or_default(),
            failures,
            idle_rss_kib,
            peak_rss_kib: (peak_rss_kib > 0).then_some(peak_rss_kib),
        }
    }

    fn per_second(&self) -> f64 {
        self.count as f64 / self.seconds
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "requests": self.count,
            "per_second": self.per_second(),
            "p50_ms": self.p50.as_secs_f64() * 1e3,
            "p99_ms": self.p99.as_secs_f64() * 1e3,
            "max_ms": self.max.as_secs_f64() * 1e3,
            "failures": self.failures.len(),
            "first_failures": self.failures.iter().take(3).collect::<Vec<_>>(),
            "idle_rss_mib": self.idle_rss_kib.map(|k| k as f64 / 1024.0),
            "peak_rss_mib": self.peak_rss_kib.map(|k| k as f64 / 1024.0),
        })
    }

    fn human(&self, clients: usize) -> String {
        let mut out = format!(
            "{clients} client(s), {:.1} s: {} requests, {:.0}/s, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms\n",
            self.seconds,
            self.count,
            self.per_second(),
            self.p50.as_secs_f64() * 1e3,
            self.p99.as_secs_f64() * 1e3,
            self.max.as_secs_f64() * 1e3,
        );
        if let (Some(idle), Some(peak)) = (self.idle_rss_kib, self.peak_rss_kib) {
            out.push_str(&format!(
                "server memory: {:.1} MiB before, {:.1} MiB at most under load\n",
                idle as f64 / 1024.0,
                peak as f64 / 1024.0
            ));
        }
        if !self.failures.is_empty() {
            out.push_str(&format!("{} failed requests, e.g.:\n", self.failures.len()));
            for failure in self.failures.iter().take(3) {
                out.push_str(&format!("  {failure}\n"));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_and_refuse_what_they_cannot_send() {
        let target =
            Target::parse("http://127.0.0.1:8080/hooks/default/x", "{\"n\":1}", None).unwrap();
        assert_eq!(target.addr, "127.0.0.1:8080");
        let request = String::from_utf8(target.request).unwrap();
        assert!(
            request.starts_with("POST /hooks/default/x HTTP/1.1\r\n"),
            "{request}"
        );
        assert!(
            request.ends_with("Content-Length: 7\r\n\r\n{\"n\":1}"),
            "{request}"
        );
        assert!(Target::parse("https://example.com/", "{}", None).is_err());
        assert!(Target::parse("http:///x", "{}", None).is_err());
        assert!(Target::parse("http://h:1/", "{not json", None).is_err());
    }
}
