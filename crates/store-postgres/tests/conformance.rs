//! Runs the store conformance suite against the real PostgreSQL, each case in its own fresh
//! schema of the test database, for both the `Store` and the `Accounts` traits.

mod common;

aion_store::conformance_tests!(common::Postgres::default());
