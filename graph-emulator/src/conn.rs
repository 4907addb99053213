//! Connection-level faults. Every accepted TCP stream is wrapped so that a handler can ask for
//! the connection to be reset (nothing of the response is sent) or for the response to be cut
//! off after its headers and part of its body.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// What happens to the bytes of the next response on a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum ConnMode {
    #[default]
    Normal,
    /// Send nothing; close the connection (RST).
    Reset,
    /// Send the head and this many body bytes, then close the connection.
    Truncate(usize),
}

#[derive(Debug, Default)]
struct Ctl {
    mode: ConnMode,
    /// Consecutive bytes of `\r\n\r\n` matched so far (4 = head complete).
    head_match: u8,
    body_sent: usize,
}

/// A per-connection switch, reachable from handlers as `ConnectInfo<ConnHandle>`.
#[derive(Debug, Clone, Default)]
pub(crate) struct ConnHandle(Arc<Mutex<Ctl>>);

impl ConnHandle {
    pub fn set(&self, mode: ConnMode) {
        let mut ctl = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *ctl = Ctl {
            mode,
            ..Ctl::default()
        };
    }
}

impl Connected<IncomingStream<'_, FaultListener>> for ConnHandle {
    fn connect_info(stream: IncomingStream<'_, FaultListener>) -> Self {
        stream.remote_addr().clone()
    }
}

pub(crate) struct FaultListener(pub TcpListener);

impl Listener for FaultListener {
    type Io = FaultIo;
    type Addr = ConnHandle;

    async fn accept(&mut self) -> (FaultIo, ConnHandle) {
        loop {
            match self.0.accept().await {
                Ok((tcp, _)) => {
                    let _ = tcp.set_nodelay(true);
                    let handle = ConnHandle::default();
                    return (
                        FaultIo {
                            tcp,
                            ctl: handle.clone(),
                            closing: false,
                        },
                        handle,
                    );
                }
                Err(e) => {
                    tracing::debug!("accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<ConnHandle> {
        Ok(ConnHandle::default())
    }
}

pub(crate) struct FaultIo {
    tcp: TcpStream,
    ctl: ConnHandle,
    closing: bool,
}

fn aborted() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "fault injected by the emulator",
    )
}

impl AsyncRead for FaultIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for FaultIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.closing {
            return Poll::Ready(Err(aborted()));
        }
        let mut ctl = this.ctl.0.lock().unwrap_or_else(|e| e.into_inner());
        let keep = match ctl.mode {
            ConnMode::Normal => {
                drop(ctl);
                return Pin::new(&mut this.tcp).poll_write(cx, buf);
            }
            ConnMode::Reset => {
                // Linger 0 makes the close an RST; it does not block with a zero timeout.
                #[allow(deprecated)]
                let _ = this.tcp.set_linger(Some(std::time::Duration::ZERO));
                this.closing = true;
                return Poll::Ready(Err(aborted()));
            }
            ConnMode::Truncate(keep) => keep,
        };
        // How much of `buf` may still go out: the rest of the head plus `keep` body bytes.
        let mut allowed = 0;
        let (mut matched, mut body) = (ctl.head_match, ctl.body_sent);
        for &b in buf {
            if matched < 4 {
                matched = match (matched, b) {
                    (0 | 2, b'\r') => matched + 1,
                    (1 | 3, b'\n') => matched + 1,
                    (_, b'\r') => 1,
                    _ => 0,
                };
            } else if body < keep {
                body += 1;
            } else {
                break;
            }
            allowed += 1;
        }
        if allowed == 0 {
            this.closing = true;
            return Poll::Ready(Err(aborted()));
        }
        let written = match Pin::new(&mut this.tcp).poll_write(cx, &buf[..allowed]) {
            Poll::Ready(Ok(n)) => n,
            other => return other,
        };
        // Advance the state by what was really written.
        for &b in &buf[..written] {
            if ctl.head_match < 4 {
                ctl.head_match = match (ctl.head_match, b) {
                    (0 | 2, b'\r') => ctl.head_match + 1,
                    (1 | 3, b'\n') => ctl.head_match + 1,
                    (_, b'\r') => 1,
                    _ => 0,
                };
            } else {
                ctl.body_sent += 1;
            }
        }
        Poll::Ready(Ok(written))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}
