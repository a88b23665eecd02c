//! A minimal HTTP/1.1 client on `std::net` for the harness's own requests
//! (readiness polling, fetching tokens, creating sessions). The measured
//! load comes from wrk; this only has to be correct, not fast.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// A response: status and body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

/// One keep-alive connection.
pub struct Client {
    reader: BufReader<TcpStream>,
    host: String,
}

impl Client {
    /// Connects to `addr` (with a short timeout, so polling a server that is
    /// not up yet fails fast).
    pub fn connect(addr: SocketAddr) -> Result<Self> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
            .with_context(|| format!("cannot connect to {addr}"))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(Self { reader: BufReader::new(stream), host: addr.to_string() })
    }

    /// `GET path`.
    pub fn get(&mut self, path: &str) -> Result<Response> {
        self.send("GET", path, None)
    }

    /// `POST path` with a JSON body.
    pub fn post_json(&mut self, path: &str, body: &str) -> Result<Response> {
        self.send("POST", path, Some(body))
    }

    fn send(&mut self, method: &str, path: &str, body: Option<&str>) -> Result<Response> {
        let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", self.host);
        if let Some(body) = body {
            request
                .push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()));
        } else {
            request.push_str("\r\n");
        }
        self.reader.get_mut().write_all(request.as_bytes()).context("cannot send the request")?;
        read_response(&mut self.reader)
    }
}

/// Reads one response with a `Content-Length` body (what actix sends for
/// JSON bodies); a response without one is read to the end of the stream.
fn read_response(reader: &mut impl BufRead) -> Result<Response> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        bail!("the server closed the connection");
    }
    let status = parse_status_line(&line)?;
    let mut length = None;
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            bail!("the server closed the connection in the headers");
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = Some(value.parse::<usize>().context("bad Content-Length")?);
            } else if name.eq_ignore_ascii_case("transfer-encoding") && value.eq_ignore_ascii_case("chunked") {
                bail!("chunked responses are not supported by the bench client");
            }
        }
    }
    let mut body = Vec::new();
    match length {
        Some(length) => {
            body.resize(length, 0);
            reader.read_exact(&mut body).context("truncated body")?;
        }
        None => {
            reader.read_to_end(&mut body)?;
        }
    }
    Ok(Response { status, body: String::from_utf8_lossy(&body).into_owned() })
}

fn parse_status_line(line: &str) -> Result<u16> {
    let mut parts = line.split_whitespace();
    match (parts.next(), parts.next()) {
        (Some(version), Some(code)) if version.starts_with("HTTP/1.") => {
            code.parse().with_context(|| format!("bad status line {line:?}"))
        }
        _ => bail!("bad status line {line:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_content_length_responses_back_to_back() {
        let wire = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: application/json\r\n\r\n{}\
                    HTTP/1.1 401 Unauthorized\r\nContent-Length: 5\r\n\r\nnope!";
        let mut reader = BufReader::new(wire.as_bytes());
        let first = read_response(&mut reader).unwrap();
        assert_eq!((first.status, first.body.as_str()), (200, "{}"));
        let second = read_response(&mut reader).unwrap();
        assert_eq!((second.status, second.body.as_str()), (401, "nope!"));
    }

    #[test]
    fn refuses_garbage_and_chunked_bodies() {
        assert!(read_response(&mut BufReader::new("SSH-2.0-OpenSSH\r\n".as_bytes())).is_err());
        let chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n";
        assert!(read_response(&mut BufReader::new(chunked.as_bytes())).is_err());
    }
}
