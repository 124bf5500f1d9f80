//! Finding where one SIP message ends in a TCP byte stream (RFC 3261 §18.3): the header
//! section ends at the first empty line and Content-Length gives the body's size.

/// What the bytes at the start of a stream buffer hold.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// A whole message of this many bytes.
    Message(usize),
    /// Keep-alive line ends (RFC 5626 §3.5.1 CRLF pings) to skip.
    KeepAlive(usize),
    /// Not enough bytes yet.
    Incomplete,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("no Content-Length header on a stream transport")]
    NoContentLength,
    #[error("unreadable Content-Length header")]
    BadContentLength,
    #[error("header section larger than {0} bytes")]
    TooLarge(usize),
}

/// Largest header section accepted before the connection is dropped.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Largest body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub fn next_frame(buf: &[u8]) -> Result<Frame, FrameError> {
    let leading = buf
        .iter()
        .take_while(|b| **b == b'\r' || **b == b'\n')
        .count();
    if leading > 0 {
        return Ok(Frame::KeepAlive(leading));
    }
    let Some(head_end) = find(buf, b"\r\n\r\n") else {
        if buf.len() > MAX_HEADER_BYTES {
            return Err(FrameError::TooLarge(MAX_HEADER_BYTES));
        }
        return Ok(Frame::Incomplete);
    };
    let head = &buf[..head_end];
    let length = content_length(head)?.ok_or(FrameError::NoContentLength)?;
    if length > MAX_BODY_BYTES {
        return Err(FrameError::TooLarge(MAX_BODY_BYTES));
    }
    let total = head_end + 4 + length;
    if buf.len() < total {
        return Ok(Frame::Incomplete);
    }
    Ok(Frame::Message(total))
}

fn content_length(head: &[u8]) -> Result<Option<usize>, FrameError> {
    for line in head.split(|b| *b == b'\n') {
        let line = String::from_utf8_lossy(line);
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("l") {
            return value
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| FrameError::BadContentLength);
        }
    }
    Ok(None)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: &[u8] = b"OPTIONS sip:a@b SIP/2.0\r\nl: 3\r\n\r\nabcBYE sip:a@b SIP/2.0\r\nContent-Length: 0\r\n\r\n";

    #[test]
    fn two_messages_in_one_buffer_are_split_by_content_length() {
        assert_eq!(next_frame(TWO), Ok(Frame::Message(36)));
        assert_eq!(next_frame(&TWO[36..]), Ok(Frame::Message(TWO.len() - 36)));
    }

    #[test]
    fn a_partial_body_is_incomplete() {
        assert_eq!(next_frame(&TWO[..34]), Ok(Frame::Incomplete));
    }

    #[test]
    fn keep_alives_are_skipped_and_missing_length_is_an_error() {
        assert_eq!(next_frame(b"\r\n\r\nINV"), Ok(Frame::KeepAlive(4)));
        assert_eq!(
            next_frame(b"BYE sip:a@b SIP/2.0\r\n\r\n"),
            Err(FrameError::NoContentLength)
        );
    }
}
