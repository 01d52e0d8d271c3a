//! The lists of interceptors a call runs, behind object-safe wrappers.
//!
//! The public traits are async traits (`impl Future` returns), which cannot
//! be `dyn`. Each interceptor is stored behind a small object-safe twin
//! whose `intercept` boxes the future: one allocation per interceptor and
//! call, and none for a call with no interceptors (the chain is `None`).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::{
    CallContext, CallEnd, ClientCallContext, ClientCallEnd, ClientInterceptor, Interceptor,
};
use crate::wire::status::Status;

type BoxFuture<'a> = Pin<Box<dyn Future<Output = Result<(), Status>> + Send + 'a>>;

trait DynInterceptor: Send + Sync {
    fn intercept<'a>(&'a self, call: &'a mut CallContext) -> BoxFuture<'a>;
    fn span(&self, call: &CallContext) -> Option<tracing::Span>;
    fn on_end(&self, end: &CallEnd<'_>);
}

impl<T: Interceptor> DynInterceptor for T {
    fn intercept<'a>(&'a self, call: &'a mut CallContext) -> BoxFuture<'a> {
        Box::pin(Interceptor::intercept(self, call))
    }
    fn span(&self, call: &CallContext) -> Option<tracing::Span> {
        Interceptor::span(self, call)
    }
    fn on_end(&self, end: &CallEnd<'_>) {
        Interceptor::on_end(self, end);
    }
}

/// An ordered list of server interceptors, for one service
/// (`server::Builder::add_service_with`).
#[derive(Clone, Default)]
pub struct Interceptors {
    list: Vec<Arc<dyn DynInterceptor>>,
}

impl Interceptors {
    /// An empty list.
    pub fn new() -> Interceptors {
        Interceptors::default()
    }

    /// Appends `interceptor`: it runs after those added before it.
    pub fn with(mut self, interceptor: impl Interceptor) -> Interceptors {
        self.list.push(Arc::new(interceptor));
        self
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// `self`'s interceptors, then `then`'s: what a service's calls run.
    pub(crate) fn chain(&self, then: &Interceptors) -> Option<ServerChain> {
        let all: Vec<_> = self.list.iter().chain(&then.list).cloned().collect();
        (!all.is_empty()).then(|| ServerChain(all.into()))
    }
}

impl fmt::Debug for Interceptors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Interceptors({})", self.list.len())
    }
}

/// What one server call runs: the server's interceptors, then its service's.
#[derive(Clone)]
pub(crate) struct ServerChain(Arc<[Arc<dyn DynInterceptor>]>);

impl ServerChain {
    /// Runs every interceptor in order; the first `Err` stops the call.
    pub(crate) async fn intercept(&self, call: &mut CallContext) -> Result<(), Status> {
        for interceptor in self.0.iter() {
            interceptor.intercept(call).await?;
        }
        Ok(())
    }

    pub(crate) fn span(&self, call: &CallContext) -> Option<tracing::Span> {
        self.0.iter().find_map(|i| i.span(call))
    }

    pub(crate) fn on_end(&self, end: &CallEnd<'_>) {
        for interceptor in self.0.iter() {
            interceptor.on_end(end);
        }
    }
}

impl fmt::Debug for ServerChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ServerChain({})", self.0.len())
    }
}

trait DynClientInterceptor: Send + Sync {
    fn intercept<'a>(&'a self, call: &'a mut ClientCallContext) -> BoxFuture<'a>;
    fn on_end(&self, end: &ClientCallEnd<'_>);
}

impl<T: ClientInterceptor> DynClientInterceptor for T {
    fn intercept<'a>(&'a self, call: &'a mut ClientCallContext) -> BoxFuture<'a> {
        Box::pin(ClientInterceptor::intercept(self, call))
    }
    fn on_end(&self, end: &ClientCallEnd<'_>) {
        ClientInterceptor::on_end(self, end);
    }
}

/// A channel's client interceptors, in order. Shared, not copied: every
/// call that has interceptors keeps a clone until it ends (one reference
/// count, no allocation per call).
#[derive(Clone, Default)]
pub(crate) struct ClientChain(Arc<[Arc<dyn DynClientInterceptor>]>);

impl ClientChain {
    /// Appends `interceptor` (while the channel is built).
    pub(crate) fn push(&mut self, interceptor: impl ClientInterceptor) {
        let mut list = self.0.to_vec();
        list.push(Arc::new(interceptor));
        self.0 = list.into();
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) async fn intercept(&self, call: &mut ClientCallContext) -> Result<(), Status> {
        for interceptor in self.0.iter() {
            interceptor.intercept(call).await?;
        }
        Ok(())
    }

    pub(crate) fn on_end(&self, end: &ClientCallEnd<'_>) {
        for interceptor in self.0.iter() {
            interceptor.on_end(end);
        }
    }
}

impl fmt::Debug for ClientChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClientChain({})", self.0.len())
    }
}
