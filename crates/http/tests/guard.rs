//! The client against real servers on loopback: the SSRF guard (literal addresses, names,
//! redirects), body caps, timeouts and the user agent. No test sends traffic anywhere but
//! 127.0.0.1: every other address must be refused before a connection is attempted.

use std::time::Duration;

use aion_http::test_server::{Reply, TestServer, response};
use aion_http::{BlockReason, Error, HttpClient, Policy};

fn ok_server() -> impl Fn(&aion_http::test_server::RecordedRequest) -> Reply {
    |_| response(200, &[("content-type", "text/plain")], b"hello")
}

async fn settle() {
    tokio::time::sleep(Duration::from_millis(50)).await;
}

#[tokio::test]
async fn loopback_is_refused_by_default_without_connecting() {
    let server = TestServer::start(ok_server()).await.unwrap();
    let client = HttpClient::new(Policy::default()).unwrap();
    let port = server.addr.port();
    for url in [
        format!("http://127.0.0.1:{port}/"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
        format!("http://2130706433:{port}/"),
        format!("http://0x7f.1:{port}/"),
        format!("http://0177.0.0.1:{port}/"),
        format!("http://0.0.0.0:{port}/"),
        format!("http://[::1]:{port}/"),
        format!("http://[::]:{port}/"),
    ] {
        // Refused while building the request: no I/O has happened yet.
        let error = client.get(&url).unwrap_err();
        assert_eq!(error.kind(), "blocked_address", "{url}: {error}");
        assert!(!error.is_retryable());
    }
    settle().await;
    assert_eq!(server.connections(), 0);
}

#[tokio::test]
async fn names_resolving_to_loopback_are_refused_by_the_resolver() {
    let server = TestServer::start(ok_server()).await.unwrap();
    let client = HttpClient::new(Policy::default()).unwrap();
    let url = format!("http://localhost:{}/", server.addr.port());
    let request = client.get(&url).unwrap();
    let error = client.send(request).await.unwrap_err();
    match &error {
        Error::BlockedAddress { host, addr, reason } => {
            assert_eq!(host, "localhost");
            assert!(addr.is_loopback(), "{addr}");
            assert_eq!(*reason, BlockReason::Loopback);
        }
        other => panic!("expected blocked_address, got {other:?}"),
    }
    assert!(error.to_string().contains("localhost"), "{error}");
    assert!(error.to_string().contains("loopback"), "{error}");
    settle().await;
    assert_eq!(server.connections(), 0);
}

#[tokio::test]
async fn internal_literals_are_refused_before_any_connection() {
    // Even a policy allowing loopback refuses these; `get` fails without any I/O, so no packet
    // leaves for these addresses.
    let client = HttpClient::new(Policy::allowing_loopback()).unwrap();
    for (url, reason) in [
        (
            "http://169.254.169.254/latest/meta-data/",
            BlockReason::Metadata,
        ),
        ("http://[fd00:ec2::254]/", BlockReason::Metadata),
        ("http://100.100.100.200/", BlockReason::Metadata),
        ("http://10.0.0.1/", BlockReason::Private),
        ("http://192.168.0.1:8080/", BlockReason::Private),
        ("http://172.16.0.1/", BlockReason::Private),
        ("http://100.64.0.1/", BlockReason::Shared),
        ("http://169.254.1.1/", BlockReason::LinkLocal),
        ("http://[fe80::1]/", BlockReason::LinkLocal),
        ("http://[fc00::1]/", BlockReason::Private),
        ("http://[::ffff:10.0.0.1]/", BlockReason::Private),
        ("http://[::ffff:169.254.169.254]/", BlockReason::Metadata),
        ("http://167772161/", BlockReason::Private),
        ("http://0.0.0.0/", BlockReason::Unspecified),
        ("http://255.255.255.255/", BlockReason::Broadcast),
        ("http://224.0.0.1/", BlockReason::Multicast),
        ("https://10.0.0.1/", BlockReason::Private),
    ] {
        match client.get(url) {
            Err(Error::BlockedAddress { reason: got, .. }) => assert_eq!(got, reason, "{url}"),
            other => panic!("{url}: expected blocked_address, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn only_http_and_https_urls() {
    let client = HttpClient::new(Policy::default()).unwrap();
    for url in [
        "ftp://example.com/",
        "file:///etc/passwd",
        "gopher://example.com/",
        "not a url",
        "/relative",
        "data:text/plain,hi",
    ] {
        let error = client.get(url).unwrap_err();
        assert_eq!(error.kind(), "invalid_url", "{url}: {error}");
    }
}

#[tokio::test]
async fn loopback_is_reachable_when_allowed() {
    let server = TestServer::start(ok_server()).await.unwrap();
    let client = HttpClient::new(Policy::allowing_loopback()).unwrap();
    let response = client
        .send(client.get(&server.url("/hi?x=1")).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), "hello");
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].method, "GET");
    assert_eq!(requests[0].target, "/hi?x=1");
    assert_eq!(
        requests[0].header("user-agent"),
        Some(concat!("aion/", env!("CARGO_PKG_VERSION")))
    );
    // By name as well, through the resolver.
    let by_name = format!("http://localhost:{}/named", server.addr.port());
    let response = client.send(client.get(&by_name).unwrap()).await.unwrap();
    assert_eq!(response.status, 200);
}

#[tokio::test]
async fn allow_and_deny_lists() {
    let server = TestServer::start(ok_server()).await.unwrap();
    let allowed = HttpClient::new(Policy {
        allow: vec!["127.0.0.1/32".parse().unwrap()],
        ..Policy::default()
    })
    .unwrap();
    let response = allowed
        .send(allowed.get(&server.url("/")).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status, 200);

    let denied = HttpClient::new(Policy {
        allow_loopback: true,
        deny: vec!["127.0.0.0/8".parse().unwrap()],
        ..Policy::default()
    })
    .unwrap();
    match denied.get(&server.url("/")) {
        Err(Error::BlockedAddress { reason, .. }) => assert_eq!(reason, BlockReason::Denied),
        other => panic!("expected blocked_address, got {other:?}"),
    }
    assert_eq!(server.connections(), 1);
}

#[tokio::test]
async fn redirects_to_blocked_addresses_are_refused() {
    for (location, kind) in [
        (
            "http://169.254.169.254/latest/meta-data/",
            "blocked_address",
        ),
        ("http://10.0.0.1/admin", "blocked_address"),
        ("http://[::ffff:10.0.0.1]/", "blocked_address"),
        ("http://167772161/", "blocked_address"),
        ("ftp://example.com/file", "invalid_url"),
    ] {
        let target = location.to_owned();
        let server = TestServer::start(move |_| response(302, &[("location", &target)], b""))
            .await
            .unwrap();
        let client = HttpClient::new(Policy::allowing_loopback()).unwrap();
        let error = client
            .send(client.get(&server.url("/start")).unwrap())
            .await
            .unwrap_err();
        assert_eq!(error.kind(), kind, "{location}: {error:?}");
        assert_eq!(server.requests().len(), 1);
    }
}

#[tokio::test]
async fn redirect_from_an_allow_listed_host_to_loopback_elsewhere_is_refused() {
    // 127.0.0.1 is allowed by the list, loopback in general is not: a redirect to `[::1]` is
    // refused.
    for host in ["[::1]"] {
        let server = TestServer::start({
            let host = host.to_owned();
            move |request: &aion_http::test_server::RecordedRequest| {
                let port = request
                    .header("host")
                    .and_then(|h| h.rsplit(':').next())
                    .unwrap_or("80")
                    .to_owned();
                response(
                    302,
                    &[("location", &format!("http://{host}:{port}/x"))],
                    b"",
                )
            }
        })
        .await
        .unwrap();
        let client = HttpClient::new(Policy {
            allow: vec!["127.0.0.1/32".parse().unwrap()],
            ..Policy::default()
        })
        .unwrap();
        let error = client
            .send(client.get(&server.url("/")).unwrap())
            .await
            .unwrap_err();
        assert_eq!(error.kind(), "blocked_address", "{host}: {error:?}");
        assert_eq!(server.requests().len(), 1, "{host}");
    }
}

#[tokio::test]
async fn redirects_to_other_schemes_are_not_followed() {
    // reqwest hands non-http(s) locations back as the final response instead of following.
    let server = TestServer::start(|_| response(302, &[("location", "file:///etc/passwd")], b""))
        .await
        .unwrap();
    let client = HttpClient::new(Policy::allowing_loopback()).unwrap();
    let response = client
        .send(client.get(&server.url("/")).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status, 302);
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn allowed_redirects_are_followed_up_to_the_limit() {
    let server = TestServer::start(|request| match request.target.as_str() {
        "/start" => response(302, &[("location", "/final")], b""),
        "/final" => response(200, &[], b"done"),
        _ => response(302, &[("location", "/loop")], b""),
    })
    .await
    .unwrap();
    let client = HttpClient::new(Policy {
        max_redirects: 3,
        ..Policy::allowing_loopback()
    })
    .unwrap();
    let response = client
        .send(client.get(&server.url("/start")).unwrap())
        .await
        .unwrap();
    assert_eq!(response.text(), "done");
    assert!(response.url.path().ends_with("/final"));

    let before = server.requests().len();
    let error = client
        .send(client.get(&server.url("/loop")).unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::TooManyRedirects { max: 3 }),
        "{error:?}"
    );
    assert_eq!(error.kind(), "too_many_redirects");
    // The first request and three redirects.
    assert_eq!(server.requests().len() - before, 4);
}

#[tokio::test]
async fn bodies_over_the_cap_fail() {
    let big = vec![b'a'; 4096];
    let server = TestServer::start(move |request| match request.target.as_str() {
        // No content-length: the body ends when the connection closes, so the cap is enforced
        // while streaming.
        "/stream" => {
            let mut raw = b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n".to_vec();
            raw.extend_from_slice(&big);
            Reply::Raw(raw)
        }
        _ => response(200, &[], &big),
    })
    .await
    .unwrap();
    let client = HttpClient::new(Policy {
        max_body_bytes: 1024,
        ..Policy::allowing_loopback()
    })
    .unwrap();
    for path in ["/sized", "/stream"] {
        let error = client
            .send(client.get(&server.url(path)).unwrap())
            .await
            .unwrap_err();
        assert!(
            matches!(error, Error::TooLarge { limit: 1024 }),
            "{path}: {error:?}"
        );
        assert_eq!(error.kind(), "too_large");
        assert!(error.to_string().contains("1024"));
    }
    let response = client
        .send_with_limit(client.get(&server.url("/stream")).unwrap(), 4096)
        .await
        .unwrap();
    assert_eq!(response.body.len(), 4096);
}

#[tokio::test]
async fn slow_servers_time_out() {
    let server = TestServer::start(|_| Reply::Hang).await.unwrap();
    let client = HttpClient::new(Policy {
        timeout: Duration::from_millis(300),
        ..Policy::allowing_loopback()
    })
    .unwrap();
    let error = client
        .send(client.get(&server.url("/")).unwrap())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), "timeout", "{error:?}");
    assert!(error.is_retryable());

    // A per-request timeout shorter than the policy's.
    let client = HttpClient::new(Policy::allowing_loopback()).unwrap();
    let request = client
        .get(&server.url("/"))
        .unwrap()
        .timeout(Duration::from_millis(200));
    let error = client.send(request).await.unwrap_err();
    assert_eq!(error.kind(), "timeout", "{error:?}");
}

#[tokio::test]
async fn status_errors_keep_an_excerpt() {
    let server = TestServer::start(|request| match request.target.as_str() {
        "/busy" => response(503, &[], b"try later"),
        _ => response(404, &[], b"no such thing"),
    })
    .await
    .unwrap();
    let client = HttpClient::new(Policy::allowing_loopback()).unwrap();
    let response = client
        .send(client.get(&server.url("/missing")).unwrap())
        .await
        .unwrap();
    let error = response.error_for_status().unwrap_err();
    assert_eq!(error.kind(), "status");
    assert!(!error.is_retryable());
    assert!(
        matches!(error, Error::Status { status: 404, ref body_excerpt } if body_excerpt == "no such thing")
    );
    let response = client
        .send(client.get(&server.url("/busy")).unwrap())
        .await
        .unwrap();
    assert!(response.error_for_status().unwrap_err().is_retryable());
}

#[tokio::test]
async fn refused_connections_are_retryable_connect_errors() {
    // Bind then drop a listener so the port is (very likely) closed.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = HttpClient::new(Policy::allowing_loopback()).unwrap();
    let error = client
        .send(client.get(&format!("http://{addr}/")).unwrap())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), "connect", "{error:?}");
    assert!(error.is_retryable());
}
