//! The visible text of HTML, with a map back to the original bytes.
//!
//! A small hand-written scanner, not a conforming HTML parser: it is enough
//! for documentation pages and exported wiki pages. Unclosed `<script>`,
//! `<style>` or comments hide the rest of the document; a `<` that does not
//! start a tag is text.

use super::{Heading, Prepared};

/// Elements whose start and end tags separate paragraphs.
const BLOCKS: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "body",
    "dd",
    "details",
    "div",
    "dl",
    "dt",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "html",
    "li",
    "main",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "summary",
    "table",
    "tbody",
    "thead",
    "tfoot",
    "ul",
];

/// Elements whose tags end a line.
const LINES: &[&str] = &["br", "tr", "caption"];

/// Elements whose contents are not text.
const HIDDEN: &[&str] = &["script", "style", "noscript", "template"];

struct Builder {
    text: String,
    spans: Vec<(usize, usize)>,
    headings: Vec<Heading>,
    open_heading: Option<(usize, usize)>,
    in_pre: usize,
}

impl Builder {
    fn push(&mut self, value: char, span: (usize, usize)) {
        self.text.push(value);
        for _ in 0..value.len_utf8() {
            self.spans.push(span);
        }
    }

    /// A space for a run of whitespace, unless the text already ends in whitespace.
    fn push_space(&mut self, span: (usize, usize)) {
        if !self.text.is_empty() && !self.text.ends_with(char::is_whitespace) {
            self.push(' ', span);
        }
    }

    /// A break of `newlines` newlines (1 or 2), replacing trailing spaces.
    fn push_break(&mut self, newlines: usize, span: (usize, usize)) {
        while self.text.ends_with(' ') {
            self.text.pop();
            self.spans.pop();
        }
        if self.text.is_empty() {
            return;
        }
        let present = self.text.len() - self.text.trim_end_matches('\n').len();
        for _ in present..newlines {
            self.push('\n', span);
        }
    }
}

/// The visible text of `html`; headings `<h1>`…`<h6>` start sections; the
/// `<title>`, else the first `<h1>`, is the title.
pub(crate) fn prepare(html: &str) -> Prepared {
    let mut builder =
        Builder { text: String::new(), spans: Vec::new(), headings: Vec::new(), open_heading: None, in_pre: 0 };
    let mut title: Option<String> = None;
    let mut position = 0;
    while position < html.len() {
        let Some(rest) = html.get(position..) else { break };
        let Some(first) = rest.chars().next() else { break };
        if first == '<' {
            if let Some(after) = comment_end(rest) {
                position += after;
                continue;
            }
            if let Some(tag) = parse_tag(rest) {
                let tag_span = (position, position + tag.length);
                let name = tag.name.as_str();
                position += tag.length;
                if !tag.closing && name == "title" {
                    let (text, after) = raw_until_close(html, position, "title");
                    title = Some(collapse(&decode_entities(text)));
                    position = after;
                    continue;
                }
                if !tag.closing && HIDDEN.contains(&name) {
                    position = raw_until_close(html, position, name).1;
                    continue;
                }
                builder.tag(&tag, tag_span);
                continue;
            }
        }
        if first == '&'
            && let Some((value, length)) = entity(rest)
        {
            let span = (position, position + length);
            if value.is_whitespace() && builder.in_pre == 0 {
                builder.push_space(span);
            } else {
                builder.push(if value == '\u{a0}' { ' ' } else { value }, span);
            }
            position += length;
            continue;
        }
        let span = (position, position + first.len_utf8());
        if first.is_whitespace() && builder.in_pre == 0 {
            builder.push_space(span);
        } else if first != '\r' {
            builder.push(first, span);
        }
        position += first.len_utf8();
    }
    let first_h1 = builder.headings.iter().find(|heading| heading.level == 1).map(|heading| heading.text.clone());
    let title = title.filter(|title| !title.is_empty()).or(first_h1);
    Prepared { text: builder.text, spans: Some(builder.spans), headings: builder.headings, title }
}

impl Builder {
    fn tag(&mut self, tag: &Tag, span: (usize, usize)) {
        let name = tag.name.as_str();
        let level = heading_level(name);
        if BLOCKS.contains(&name) {
            self.push_break(2, span);
        } else if LINES.contains(&name) {
            self.push_break(1, span);
        } else if matches!(name, "td" | "th") {
            self.push_space(span);
        }
        if name == "pre" {
            self.in_pre = if tag.closing { self.in_pre.saturating_sub(1) } else { self.in_pre + 1 };
        }
        match (level, tag.closing) {
            (Some(level), false) => self.open_heading = Some((self.text.len(), level)),
            (Some(_), true) => {
                if let Some((start, level)) = self.open_heading.take() {
                    let text = collapse(self.text.get(start..).unwrap_or_default());
                    if !text.is_empty() {
                        self.headings.push(Heading { position: start, level, text });
                    }
                }
            }
            (None, _) => {}
        }
    }
}

fn heading_level(name: &str) -> Option<usize> {
    match name {
        "h1" => Some(1),
        "h2" => Some(2),
        "h3" => Some(3),
        "h4" => Some(4),
        "h5" => Some(5),
        "h6" => Some(6),
        _ => None,
    }
}

#[derive(Debug)]
struct Tag {
    name: String,
    closing: bool,
    length: usize,
}

/// The tag at the start of `rest` (`<name …>` or `</name>`), if it is one.
fn parse_tag(rest: &str) -> Option<Tag> {
    let bytes = rest.as_bytes();
    let mut index = 1;
    let closing = bytes.get(1) == Some(&b'/');
    if closing {
        index += 1;
    }
    if bytes.get(1) == Some(&b'!') || bytes.get(1) == Some(&b'?') {
        // A doctype or processing instruction: skip it whole.
        let end = rest.find('>')?;
        return Some(Tag { name: String::new(), closing: false, length: end + 1 });
    }
    let name_start = index;
    while bytes.get(index).is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'-') {
        index += 1;
    }
    if index == name_start || !bytes.get(name_start).is_some_and(u8::is_ascii_alphabetic) {
        return None;
    }
    let name = rest.get(name_start..index)?.to_ascii_lowercase();
    // Find the closing `>`, skipping quoted attribute values.
    let mut quote: Option<u8> = None;
    while let Some(&byte) = bytes.get(index) {
        match quote {
            Some(open) if byte == open => quote = None,
            Some(_) => {}
            None if byte == b'"' || byte == b'\'' => quote = Some(byte),
            None if byte == b'>' => return Some(Tag { name, closing, length: index + 1 }),
            None => {}
        }
        index += 1;
    }
    None
}

/// The length of a comment at the start of `rest` (to the end if unclosed).
fn comment_end(rest: &str) -> Option<usize> {
    if !rest.starts_with("<!--") {
        return None;
    }
    Some(rest.get(4..).and_then(|body| body.find("-->")).map_or(rest.len(), |end| 4 + end + 3))
}

/// The raw text up to `</name>` (case-insensitive) and the position after it.
fn raw_until_close<'a>(html: &'a str, from: usize, name: &str) -> (&'a str, usize) {
    let rest = html.get(from..).unwrap_or_default();
    let lower = rest.to_ascii_lowercase();
    let close = format!("</{name}");
    match lower.find(&close) {
        Some(offset) => {
            let text = rest.get(..offset).unwrap_or_default();
            let after_name = from + offset + close.len();
            let end =
                html.get(after_name..).and_then(|tail| tail.find('>')).map_or(html.len(), |gt| after_name + gt + 1);
            (text, end)
        }
        None => (rest, html.len()),
    }
}

/// The character and length of an entity at the start of `rest`.
fn entity(rest: &str) -> Option<(char, usize)> {
    let end = rest.get(..rest.len().min(12))?.find(';')?;
    let name = rest.get(1..end)?;
    let value = match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => '\u{a0}',
        "ndash" => '–',
        "mdash" => '—',
        "hellip" => '…',
        "copy" => '©',
        _ => {
            let number = name.strip_prefix('#')?;
            let code = match number.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => number.parse().ok()?,
            };
            char::from_u32(code).filter(|c| *c != '\0')?
        }
    };
    Some((value, end + 1))
}

fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut position = 0;
    while let Some(rest) = text.get(position..) {
        let Some(first) = rest.chars().next() else { break };
        if first == '&'
            && let Some((value, length)) = entity(rest)
        {
            out.push(value);
            position += length;
            continue;
        }
        out.push(first);
        position += first.len_utf8();
    }
    out
}

fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_tags_scripts_and_styles_and_decodes_entities() {
        let html = "<!DOCTYPE html><html><head><title>The &amp; Title</title><style>p{color:red}</style></head>\
            <body><h1>Main</h1><p>Fish &amp; chips &lt;3&#33;</p><script>var x = '<p>no</p>';</script>\
            <!-- hidden --><div>Second<br>line</div><h2>Sub</h2><ul><li>one</li><li>two</li></ul></body></html>";
        let prepared = prepare(html);
        assert_eq!(prepared.text, "Main\n\nFish & chips <3!\n\nSecond\nline\n\nSub\n\none\n\ntwo\n\n");
        assert_eq!(prepared.title.as_deref(), Some("The & Title"));
        let headings: Vec<(usize, &str)> = prepared.headings.iter().map(|h| (h.level, h.text.as_str())).collect();
        assert_eq!(headings, vec![(1, "Main"), (2, "Sub")]);
        let spans = prepared.spans.unwrap();
        assert_eq!(spans.len(), prepared.text.len());
        // "&amp;" maps back to the entity.
        let amp = prepared.text.find('&').unwrap();
        assert_eq!(&html[spans[amp].0..spans[amp].1], "&amp;");
    }

    #[test]
    fn h1_is_the_title_without_title_and_stray_angle_brackets_are_text() {
        let prepared = prepare("<h1>Only  <em>heading</em></h1>\n<p>a < b and 3<4</p>");
        assert_eq!(prepared.title.as_deref(), Some("Only heading"));
        assert_eq!(prepared.text, "Only heading\n\na < b and 3<4\n\n");
    }

    #[test]
    fn pre_keeps_whitespace() {
        let prepared = prepare("<pre>a\n  b</pre><p>x   y</p>");
        assert_eq!(prepared.text, "a\n  b\n\nx y\n\n");
    }
}
