//! A TCP relay that makes a server listening on 127.0.0.1 in the test process reachable from
//! elsewhere (router pods in a real cluster): it listens on all interfaces and pipes every
//! connection to the target. A target that resets or stalls a connection does the same to the
//! relayed one, so upstream faults look the same through it.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::HarnessError;

/// A running relay; stops (with its connections) when dropped.
pub struct Relay {
    port: u16,
    task: JoinHandle<()>,
}

impl Relay {
    /// Relays `0.0.0.0:<free port>` to `target`.
    pub async fn start(target: SocketAddr) -> Result<Self, HarnessError> {
        let listener = TcpListener::bind(("0.0.0.0", 0))
            .await
            .map_err(|e| HarnessError::Io("binding a relay".into(), e))?;
        let port = listener
            .local_addr()
            .map_err(|e| HarnessError::Io("relay address".into(), e))?
            .port();
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                conns.spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(target).await else {
                        return;
                    };
                    let _ = inbound.set_nodelay(true);
                    let _ = outbound.set_nodelay(true);
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                });
                // Reap finished connections so the set does not grow without bound.
                while conns.try_join_next().is_some() {}
            }
        });
        Ok(Self { port, task })
    }

    /// The port it listens on (all interfaces).
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn relays_both_ways() -> Result<(), Box<dyn std::error::Error>> {
        let echo = TcpListener::bind("127.0.0.1:0").await?;
        let target = echo.local_addr()?;
        tokio::spawn(async move {
            if let Ok((mut s, _)) = echo.accept().await {
                let mut buf = [0u8; 5];
                if s.read_exact(&mut buf).await.is_ok() {
                    buf.reverse();
                    let _ = s.write_all(&buf).await;
                }
            }
        });
        let relay = Relay::start(target).await?;
        let mut c = TcpStream::connect(("127.0.0.1", relay.port())).await?;
        c.write_all(b"hello").await?;
        let mut got = [0u8; 5];
        c.read_exact(&mut got).await?;
        assert_eq!(&got, b"olleh");
        Ok(())
    }
}
