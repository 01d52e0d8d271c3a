//! Generated code for the order service, shared by the order binaries (the
//! rich error model is the library's own: `h2grpc::details`).

/// `ecommerce`: Order, CombinedShipment, the OrderManagement server trait and client.
#[allow(missing_docs, unreachable_pub, dead_code)]
pub mod ecommerce {
    include!(concat!(env!("OUT_DIR"), "/ecommerce.rs"));
}
