//! The integration suite: one test binary, a server on port 0 and a fresh database per test,
//! every test on SQLite and (with TRUSTD_TEST_POSTGRES_URL) on PostgreSQL.

mod helpers;

mod api_keys;
mod attacks;
mod authz;
mod crash;
mod departments;
mod errors;
mod foreign;
mod leaks;
mod licences;
mod limits;
mod log;
mod ofd;
mod ops;
mod privacy;
mod restart;
mod revocation;
mod rollover;
mod seals;
mod spec;
mod stamp;
mod tsa;
mod verify;
mod witness;
