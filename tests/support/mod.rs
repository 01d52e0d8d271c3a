//! Shared fixtures for the integration tests.
#![allow(dead_code)]

pub mod certs;
pub mod echo;
