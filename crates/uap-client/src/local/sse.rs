//! A small incremental parser of the server-sent events framing (the
//! `text/event-stream` format of the HTML standard): `field: value` lines, a
//! blank line ends an event, lines starting with `:` are comments.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field (`message` when absent).
    pub event: String,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
    /// The `id:` field of this event, when it had one.
    pub id: Option<String>,
}

/// A line longer than the parser accepts (a broken or hostile stream).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("server-sent event line longer than {0} bytes")]
pub struct LineTooLong(pub usize);

/// Feeds bytes in, gets whole events out. Lines may be split anywhere
/// across chunks, and end in `\n`, `\r\n` or `\r`.
#[derive(Debug)]
pub struct SseParser {
    line: Vec<u8>,
    after_cr: bool,
    event: Option<String>,
    data: Option<String>,
    id: Option<String>,
    max_line: usize,
}

impl Default for SseParser {
    fn default() -> Self {
        Self::new(1024 * 1024)
    }
}

impl SseParser {
    /// A parser refusing lines longer than `max_line` bytes.
    #[must_use]
    pub fn new(max_line: usize) -> Self {
        Self { line: Vec::new(), after_cr: false, event: None, data: None, id: None, max_line }
    }

    /// The events completed by `chunk`.
    ///
    /// # Errors
    /// [`LineTooLong`] when a line exceeds the limit; the stream should be dropped.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<SseEvent>, LineTooLong> {
        let mut events = Vec::new();
        for &byte in chunk {
            if byte == b'\n' && self.after_cr {
                self.after_cr = false;
                continue;
            }
            self.after_cr = byte == b'\r';
            if byte == b'\r' || byte == b'\n' {
                let line = std::mem::take(&mut self.line);
                if let Some(event) = self.line_done(&line) {
                    events.push(event);
                }
            } else {
                if self.line.len() >= self.max_line {
                    return Err(LineTooLong(self.max_line));
                }
                self.line.push(byte);
            }
        }
        Ok(events)
    }

    fn line_done(&mut self, line: &[u8]) -> Option<SseEvent> {
        if line.is_empty() {
            return self.dispatch();
        }
        if line.first() == Some(&b':') {
            return None;
        }
        let text = String::from_utf8_lossy(line);
        let (field, value) = match text.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (text.as_ref(), ""),
        };
        match field {
            "event" => self.event = Some(value.to_owned()),
            "data" => {
                let data = self.data.get_or_insert_with(String::new);
                data.push_str(value);
                data.push('\n');
            }
            "id" if !value.contains('\0') => self.id = Some(value.to_owned()),
            _ => {}
        }
        None
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let event = self.event.take();
        let data = self.data.take().map(|mut data| {
            data.pop(); // the newline after the last data line
            data
        });
        let id = self.id.take();
        if event.is_none() && data.is_none() && id.is_none() {
            return None;
        }
        Some(SseEvent { event: event.unwrap_or_else(|| "message".into()), data: data.unwrap_or_default(), id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: &str, data: &str, id: Option<&str>) -> SseEvent {
        SseEvent { event: name.into(), data: data.into(), id: id.map(Into::into) }
    }

    #[test]
    fn parses_fields_comments_and_blank_lines() {
        let mut parser = SseParser::default();
        let stream = b": hello\nid: 7\nevent: session_ended\ndata: {\"session_id\":\"s\"}\n\n\
                       event: heartbeat\ndata:{\"time\":\"t\"}\n\n";
        assert_eq!(
            parser.push(stream).unwrap(),
            vec![
                event("session_ended", "{\"session_id\":\"s\"}", Some("7")),
                event("heartbeat", "{\"time\":\"t\"}", None),
            ]
        );
    }

    #[test]
    fn lines_may_be_split_anywhere_and_end_in_crlf_or_cr() {
        let stream = b"event: ready\r\ndata: {}\r\n\r\nevent: resync\rdata: {}\r\r";
        for split in 0..stream.len() {
            let mut parser = SseParser::default();
            let mut events = parser.push(&stream[..split]).unwrap();
            events.extend(parser.push(&stream[split..]).unwrap());
            assert_eq!(events, vec![event("ready", "{}", None), event("resync", "{}", None)], "split at {split}");
        }
    }

    #[test]
    fn multiple_data_lines_join_with_newlines_and_no_event_defaults_to_message() {
        let mut parser = SseParser::default();
        assert_eq!(parser.push(b"data: a\ndata: b\n\n").unwrap(), vec![event("message", "a\nb", None)]);
        // A comment-only block dispatches nothing.
        assert_eq!(parser.push(b": keep-alive\n\n").unwrap(), vec![]);
    }

    #[test]
    fn a_line_over_the_limit_is_an_error() {
        let mut parser = SseParser::new(8);
        assert_eq!(parser.push(b"data: 12345678\n"), Err(LineTooLong(8)));
    }
}
