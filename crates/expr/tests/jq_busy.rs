//! Timed-out jq workers that cannot be interrupted are counted, and once too many are still
//! running, new runs are refused until they finish. This lives in its own test binary because
//! the count is process-wide and would disturb other jq tests.

use std::time::{Duration, Instant};

use aion_expr::{Engine, ErrorKind, Limits, MAX_OVERDUE_JQ_RUNS, overdue_jq_runs};
use serde_json::json;

#[test]
fn stragglers_are_capped_and_drain() {
    let engine = Engine::new(Limits {
        jq_timeout: Duration::from_millis(10),
        jq_fuel: u64::MAX,
        ..Limits::default()
    });
    // Sorting two copies of a value with 2^25 shared leaves compares every leaf inside one
    // built-in call, which the step guard cannot interrupt; it takes a second or more.
    let slow = engine
        .compile_jq("reduce range(25) as $i (0; [., .]) | [., .] | sort | length")
        .unwrap();
    for _ in 0..MAX_OVERDUE_JQ_RUNS {
        let err = engine.run_jq(&slow, json!(null)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::JqTimeout);
    }
    assert_eq!(overdue_jq_runs(), MAX_OVERDUE_JQ_RUNS);
    let quick = engine.compile_jq(".").unwrap();
    let err = engine.run_jq(&quick, json!(1)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::JqBusy);

    let start = Instant::now();
    while overdue_jq_runs() > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "workers never finished"
        );
        std::thread::park_timeout(Duration::from_millis(20));
    }
    assert_eq!(engine.run_jq(&quick, json!(1)).unwrap(), json!(1));
}
