//! Markdown headings: ATX headings outside fenced code blocks.

use super::{Heading, Prepared};

/// The text unchanged, with its headings; the first level-1 heading is the title.
pub(crate) fn prepare(text: &str) -> Prepared {
    let mut headings = Vec::new();
    let mut fence: Option<(u8, usize)> = None;
    let mut position = 0;
    for line in text.split_inclusive('\n') {
        let start = position;
        position += line.len();
        let trimmed = line.trim_start_matches(' ');
        if line.len() - trimmed.len() > 3 {
            continue;
        }
        if let Some(marker) = fence_marker(trimmed) {
            fence = match fence {
                None => Some(marker),
                Some((byte, length)) if marker.0 == byte && marker.1 >= length => None,
                open => open,
            };
            continue;
        }
        if fence.is_some() {
            continue;
        }
        if let Some((level, title)) = atx_heading(trimmed) {
            headings.push(Heading { position: start, level, text: title.to_owned() });
        }
    }
    let title = headings.iter().find(|heading| heading.level == 1).map(|heading| heading.text.clone());
    Prepared { text: text.to_owned(), spans: None, headings, title }
}

/// The fence character and length of a line opening or closing a fenced code block.
fn fence_marker(line: &str) -> Option<(u8, usize)> {
    let byte = *line.as_bytes().first()?;
    if byte != b'`' && byte != b'~' {
        return None;
    }
    let length = line.bytes().take_while(|&b| b == byte).count();
    (length >= 3).then_some((byte, length))
}

/// The level and text of an ATX heading line (`## Title ##`).
fn atx_heading(line: &str) -> Option<(usize, &str)> {
    let level = line.bytes().take_while(|&b| b == b'#').count();
    if !(1..=6).contains(&level) {
        return None;
    }
    let rest = line.get(level..)?;
    let rest = rest.trim_end_matches(['\n', '\r']);
    if !rest.is_empty() && !rest.starts_with([' ', '\t']) {
        return None;
    }
    let mut title = rest.trim();
    // An optional closing sequence of `#`s, preceded by a space.
    let without = title.trim_end_matches('#');
    if without.len() < title.len() && (without.is_empty() || without.ends_with([' ', '\t'])) {
        title = without.trim_end();
    }
    Some((level, title))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headings_outside_fences_with_levels_and_positions() {
        let text = "# Title #\nintro\n```\n# not a heading\n```\n## Part\n#hashtag\n####### seven\n### Deep\n";
        let prepared = prepare(text);
        let found: Vec<(usize, usize, &str)> =
            prepared.headings.iter().map(|h| (h.position, h.level, h.text.as_str())).collect();
        assert_eq!(found, vec![(0, 1, "Title"), (40, 2, "Part"), (71, 3, "Deep")]);
        assert_eq!(prepared.title.as_deref(), Some("Title"));
        assert_eq!(&text[40..47], "## Part");
    }
}
