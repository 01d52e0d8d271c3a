//! The compression cases (client_compressed_unary, server_compressed_unary,
//! client_compressed_streaming, server_compressed_streaming).
//!
//! This build has no compression API yet, so each reports that instead of
//! pretending to pass.

use crate::cases::Ctx;

const UNAVAILABLE: &str = "compression not available in this build";

pub async fn client_compressed_unary(_ctx: &Ctx) -> Result<(), String> {
    Err(UNAVAILABLE.into())
}

pub async fn server_compressed_unary(_ctx: &Ctx) -> Result<(), String> {
    Err(UNAVAILABLE.into())
}

pub async fn client_compressed_streaming(_ctx: &Ctx) -> Result<(), String> {
    Err(UNAVAILABLE.into())
}

pub async fn server_compressed_streaming(_ctx: &Ctx) -> Result<(), String> {
    Err(UNAVAILABLE.into())
}
