//! A codec that carries settings: each call uses the codec instance it was
//! given (not a fresh `Default`), on both sides and in every direction a
//! message travels (unary, server-streaming sink, bidi handle).

mod support;

use std::fmt;
use std::marker::PhantomData;

use bytes::{Bytes, BytesMut};
use h2grpc::client::Channel;
use h2grpc::codec::{Codec, ProstCodec};
use h2grpc::server::{Call, Server, Service};
use h2grpc::{Code, Request, Response, Status};
use support::echo::pb::{EchoRequest, EchoResponse};

/// Protobuf, with every payload byte XORed with `key`: a codec whose
/// behaviour depends on a value only the instance knows (no `Default`).
struct Xor<E, D> {
    key: u8,
    inner: ProstCodec<E, D>,
    _types: PhantomData<fn(E) -> D>,
}

fn xor<E, D>(key: u8) -> Xor<E, D> {
    Xor {
        key,
        inner: ProstCodec::default(),
        _types: PhantomData,
    }
}

// By hand: a derive would ask `E: Clone, D: Clone` of the message types.
impl<E, D> Clone for Xor<E, D> {
    fn clone(&self) -> Self {
        xor(self.key)
    }
}

impl<E, D> fmt::Debug for Xor<E, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Xor({})", self.key)
    }
}

impl<E, D> Codec for Xor<E, D>
where
    E: prost::Message + fmt::Debug + Send + 'static,
    D: prost::Message + fmt::Debug + Default + Send + 'static,
{
    type Encode = E;
    type Decode = D;

    fn encode(&self, item: &E, dst: &mut BytesMut) -> Result<(), Status> {
        let start = dst.len();
        self.inner.encode(item, dst)?;
        dst[start..].iter_mut().for_each(|b| *b ^= self.key);
        Ok(())
    }

    fn decode(&self, src: Bytes) -> Result<D, Status> {
        let plain: Vec<u8> = src.iter().map(|b| b ^ self.key).collect();
        self.inner.decode(Bytes::from(plain))
    }
}

/// Echoes with the server's key: unary, server streaming, bidi.
struct XorEcho {
    key: u8,
}

impl Service for XorEcho {
    fn name(&self) -> &'static str {
        "test.Xor"
    }

    fn call(&self, method: &str, call: Call) {
        let codec = xor::<EchoResponse, EchoRequest>(self.key);
        let reply = |r: &EchoRequest, index| EchoResponse {
            message: r.message.clone(),
            index,
            ..Default::default()
        };
        match method {
            "Unary" => call.unary(codec, move |request: Request<EchoRequest>| async move {
                Ok(Response::new(reply(request.get_ref(), 0)))
            }),
            "Stream" => call.server_streaming_sink(codec, move |request, mut sink| async move {
                for i in 0..3 {
                    sink.send(&reply(request.get_ref(), i)).await?;
                }
                Ok(())
            }),
            "Bidi" => call.streaming_sink(codec, move |request, mut sink| async move {
                let mut stream = request.into_inner();
                while let Some(message) = stream.message().await? {
                    sink.send(&reply(&message, 7)).await?;
                }
                Ok(())
            }),
            _ => call.unimplemented(),
        }
    }
}

async fn server(key: u8) -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let builder = Server::builder().add_service(XorEcho { key });
    tokio::spawn(builder.serve_with_listener(listener, async {
        let _ = stopped.await;
    }));
    (format!("http://{addr}"), stop)
}

fn hello() -> EchoRequest {
    EchoRequest {
        message: "hello".into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn every_direction_uses_the_codec_instance_it_was_given() {
    let (uri, _stop) = server(0x5a).await;
    let channel = Channel::connect(&uri).await.unwrap();
    let codec = || xor::<EchoRequest, EchoResponse>(0x5a);

    let unary = channel
        .unary("/test.Xor/Unary", Request::new(hello()), codec())
        .await;
    assert_eq!(unary.unwrap().into_inner().message, "hello");

    let mut stream = channel
        .server_streaming("/test.Xor/Stream", Request::new(hello()), codec())
        .await
        .unwrap()
        .into_inner();
    let mut indexes = Vec::new();
    while let Some(reply) = stream.message().await.unwrap() {
        assert_eq!(reply.message, "hello");
        indexes.push(reply.index);
    }
    assert_eq!(indexes, [0, 1, 2]);

    let mut call = channel
        .streaming_call("/test.Xor/Bidi", Request::new(()), codec())
        .await
        .unwrap();
    call.send(&hello()).await.unwrap();
    let reply = call.recv().await.unwrap().expect("a reply");
    assert_eq!((reply.message.as_str(), reply.index), ("hello", 7));
    call.close_send().await.unwrap();
    assert!(call.recv().await.unwrap().is_none());
}

#[tokio::test]
async fn a_codec_with_the_wrong_setting_fails_to_decode() {
    let (uri, _stop) = server(0x5a).await;
    let channel = Channel::connect(&uri).await.unwrap();
    // The server decodes our request with its own key: garbage to prost.
    let status = channel
        .unary(
            "/test.Xor/Unary",
            Request::new(hello()),
            xor::<EchoRequest, EchoResponse>(0x33),
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Internal, "{status:?}");
    assert!(status.message().contains("decode"), "{status:?}");
}
