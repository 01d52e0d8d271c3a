//! Generated code for the order service and the rich error model, shared by the order binaries.

/// `ecommerce`: Order, CombinedShipment, the OrderManagement server trait and client.
#[allow(missing_docs, unreachable_pub, dead_code)]
pub mod ecommerce {
    include!(concat!(env!("OUT_DIR"), "/ecommerce.rs"));
}

/// `google.rpc`: Status and BadRequest.
#[allow(missing_docs, unreachable_pub, dead_code)]
pub mod google_rpc {
    include!(concat!(env!("OUT_DIR"), "/google.rpc.rs"));
}
