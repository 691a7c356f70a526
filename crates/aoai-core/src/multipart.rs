//! `multipart/form-data` bodies for file uploads (RFC 7578).
//!
//! The body is encoded once into [`Bytes`], so a retry resends exactly the
//! same bytes without rebuilding anything. The boundary is random and checked
//! not to occur in the content.

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::InvalidRequestError;

/// An encoded form: its `Content-Type` header value and its body.
#[derive(Debug, Clone)]
pub(crate) struct Form {
    pub(crate) content_type: String,
    pub(crate) body: Bytes,
}

/// Encodes the text fields, then one file field named `file_field`.
pub(crate) fn encode(
    fields: &[(&str, &str)],
    file_field: &str,
    filename: &str,
    content: &[u8],
) -> Result<Form, InvalidRequestError> {
    for (name, value) in fields {
        check_text("field name", name)?;
        check_text("field value", value)?;
    }
    check_text("field name", file_field)?;
    let boundary = boundary_for(fields, content);
    let mut body = BytesMut::with_capacity(content.len() + 256 + fields.len() * 128);
    for (name, value) in fields {
        body.put_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes());
        body.put_slice(value.as_bytes());
        body.put_slice(b"\r\n");
    }
    body.put_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{file_field}\"; filename=\"{}\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n",
            escape_quoted(filename)
        )
        .as_bytes(),
    );
    body.put_slice(content);
    body.put_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    Ok(Form { content_type: format!("multipart/form-data; boundary={boundary}"), body: body.freeze() })
}

/// A random boundary that occurs in no part.
fn boundary_for(fields: &[(&str, &str)], content: &[u8]) -> String {
    loop {
        let random: String = std::iter::repeat_with(fastrand::alphanumeric).take(32).collect();
        let boundary = format!("aoai-boundary-{random}");
        let clashes = memchr::memmem::find(content, boundary.as_bytes()).is_some()
            || fields.iter().any(|(_, value)| value.contains(&boundary));
        if !clashes {
            return boundary;
        }
    }
}

/// Field names and values travel in headers or as short text: no control characters.
fn check_text(what: &str, text: &str) -> Result<(), InvalidRequestError> {
    if text.chars().any(char::is_control) {
        return Err(InvalidRequestError::new(format!("multipart {what} {text:?} contains a control character")));
    }
    Ok(())
}

/// A file name inside a quoted header parameter, escaped as browsers do
/// (WHATWG HTML: `"`, CR and LF percent-encoded).
fn escape_quoted(name: &str) -> String {
    name.replace('"', "%22").replace('\r', "%0D").replace('\n', "%0A")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_fields_then_file() {
        let form = encode(&[("purpose", "batch")], "file", "in\"put.jsonl", b"{\"a\":1}\n").unwrap();
        let boundary = form.content_type.strip_prefix("multipart/form-data; boundary=").unwrap();
        let text = String::from_utf8(form.body.to_vec()).unwrap();
        let expected = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"in%22put.jsonl\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n{{\"a\":1}}\n\r\n--{boundary}--\r\n"
        );
        assert_eq!(text, expected);
    }

    #[test]
    fn boundary_never_in_content() {
        let form = encode(&[], "file", "a", b"--aoai-boundary-").unwrap();
        let boundary = form.content_type.rsplit('=').next().unwrap();
        assert_eq!(boundary.len(), "aoai-boundary-".len() + 32);
        assert_eq!(memchr::memmem::find_iter(&form.body, boundary.as_bytes()).count(), 2);
    }

    #[test]
    fn rejects_control_characters() {
        assert!(encode(&[("purpose", "batch\r\nX: y")], "file", "a", b"").is_err());
    }
}
