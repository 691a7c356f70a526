//! Strings that match a JSON-schema `pattern`, for a small, safe subset of
//! ECMA-262 regular expressions.
//!
//! Supported: literals and escaped metacharacters; `.`; character classes
//! with ranges and negation (`[a-z0-9_-]`, `[^,]`); the shorthands `\d`,
//! `\w`, `\s` and their negations, also inside classes; `\n`, `\t`, `\r`,
//! `\xHH` and `\uHHHH`; groups `( )`, `(?: )` and `(?<name> )`;
//! alternation `|`; the quantifiers `?`, `*`, `+`, `{n}`, `{n,}`, `{n,m}`
//! (lazy forms too); and the anchors `^` and `$`.
//!
//! Anything else (look-around, back-references, `\b`, Unicode property
//! escapes) makes [`parse`] return `None`; the generator then falls back to
//! a fixed string, which may not match. Unbounded repetitions produce at most
//! a few extra items, so strings stay short.

use fastrand::Rng;

use super::util::{between_usize, index};

/// How many extra repetitions `*`, `+` and `{n,}` produce at most.
const OPEN_REPEAT: usize = 3;
/// How many repetitions beyond the minimum `{n,m}` produces at most.
const MAX_REPEAT: usize = 64;
/// The largest minimum repetition count honoured (`{n}` beyond it is cut).
const MAX_REPEAT_TOTAL: usize = 10_000;

/// A parsed pattern.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    /// Matches the empty string.
    Empty,
    /// `^`.
    Start,
    /// `$`.
    End,
    /// One literal character.
    Literal(char),
    /// A character class (`.` is the negated empty class without newlines).
    Class { ranges: Vec<(char, char)>, negated: bool },
    /// Items one after the other.
    Concat(Vec<Node>),
    /// One of the alternatives.
    Alternation(Vec<Node>),
    /// `node` repeated `min..=max` times (`max` `None`: unbounded).
    Repeat { node: Box<Node>, min: usize, max: Option<usize> },
}

/// Parses `source`, or `None` when it uses syntax outside the subset.
pub(crate) fn parse(source: &str) -> Option<Node> {
    let mut parser = Parser { chars: source.chars().collect(), position: 0 };
    let node = parser.alternation()?;
    if parser.position == parser.chars.len() { Some(node) } else { None }
}

/// A string matching `node` (a full match, which is also a search match).
pub(crate) fn generate(node: &Node, rng: &mut Rng) -> String {
    let mut out = String::new();
    generate_into(node, rng, &mut out);
    out
}

/// Whether `text` contains a match of `source`; `true` when the pattern is
/// outside the supported subset (we cannot tell).
pub(crate) fn might_match(source: &str, text: &str) -> bool {
    match parse(source) {
        Some(node) => is_match(&node, text),
        None => true,
    }
}

/// Whether `text` contains a match of `node` (search semantics, as JSON
/// schema's `pattern` uses).
pub(crate) fn is_match(node: &Node, text: &str) -> bool {
    let chars: Vec<char> = text.chars().collect();
    (0..=chars.len()).any(|start| !ends(node, &chars, start).is_empty())
}

struct Parser {
    chars: Vec<char>,
    position: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.position).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<char> {
        self.chars.get(self.position + offset).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.position += 1;
        Some(c)
    }

    fn alternation(&mut self) -> Option<Node> {
        let mut branches = vec![self.concat()?];
        while self.peek() == Some('|') {
            self.position += 1;
            branches.push(self.concat()?);
        }
        Some(if branches.len() == 1 { branches.pop().unwrap_or(Node::Empty) } else { Node::Alternation(branches) })
    }

    fn concat(&mut self) -> Option<Node> {
        let mut items = Vec::new();
        while let Some(c) = self.peek() {
            if c == '|' || c == ')' {
                break;
            }
            let atom = self.atom()?;
            let atom = self.quantified(atom)?;
            items.push(atom);
        }
        Some(match items.len() {
            0 => Node::Empty,
            1 => items.pop().unwrap_or(Node::Empty),
            _ => Node::Concat(items),
        })
    }

    fn atom(&mut self) -> Option<Node> {
        let c = self.next()?;
        Some(match c {
            '^' => Node::Start,
            '$' => Node::End,
            '.' => Node::Class { ranges: vec![('\n', '\n'), ('\r', '\r')], negated: true },
            '(' => {
                if self.peek() == Some('?') {
                    match (self.peek_at(1), self.peek_at(2)) {
                        (Some(':'), _) => self.position += 2,
                        (Some('<'), Some(next)) if next != '=' && next != '!' => {
                            self.position += 2;
                            while self.next()? != '>' {}
                        }
                        _ => return None,
                    }
                }
                let inner = self.alternation()?;
                if self.next()? != ')' {
                    return None;
                }
                inner
            }
            '[' => self.class()?,
            '\\' => self.escape()?,
            '*' | '+' | '?' | ')' => return None,
            '{' if self.looks_like_quantifier(0) => return None,
            other => Node::Literal(other),
        })
    }

    /// Whether the text from `offset` on reads `digits[,digits]}`.
    fn looks_like_quantifier(&self, mut offset: usize) -> bool {
        let mut digits = 0;
        while let Some(c) = self.peek_at(offset) {
            match c {
                '0'..='9' => digits += 1,
                ',' => {}
                '}' => return digits > 0,
                _ => return false,
            }
            offset += 1;
        }
        false
    }

    fn quantified(&mut self, atom: Node) -> Option<Node> {
        let (min, max) = match self.peek() {
            Some('?') => (0, Some(1)),
            Some('*') => (0, None),
            Some('+') => (1, None),
            Some('{') if self.looks_like_quantifier(1) => {
                self.position += 1;
                let min = self.number()?;
                let max = match self.next()? {
                    '}' => Some(min),
                    ',' => match self.peek() {
                        Some('}') => {
                            self.position += 1;
                            None
                        }
                        _ => {
                            let max = self.number()?;
                            if self.next()? != '}' || max < min {
                                return None;
                            }
                            Some(max)
                        }
                    },
                    _ => return None,
                };
                if self.peek() == Some('?') {
                    self.position += 1;
                }
                return Some(Node::Repeat { node: Box::new(atom), min, max });
            }
            _ => return Some(atom),
        };
        self.position += 1;
        if self.peek() == Some('?') {
            self.position += 1;
        }
        if matches!(atom, Node::Start | Node::End) {
            return None;
        }
        Some(Node::Repeat { node: Box::new(atom), min, max })
    }

    fn number(&mut self) -> Option<usize> {
        let mut value: usize = 0;
        let mut digits = 0;
        while let Some(digit) = self.peek().and_then(|c| c.to_digit(10)) {
            value = value.checked_mul(10)?.checked_add(digit as usize)?;
            self.position += 1;
            digits += 1;
        }
        if digits == 0 { None } else { Some(value) }
    }

    fn escape(&mut self) -> Option<Node> {
        let c = self.next()?;
        if let Some(class) = shorthand_class(c) {
            return Some(class);
        }
        Some(Node::Literal(self.escaped_char(c)?))
    }

    /// The character an escape outside the shorthands stands for.
    fn escaped_char(&mut self, c: char) -> Option<char> {
        Some(match c {
            'n' => '\n',
            't' => '\t',
            'r' => '\r',
            'f' => '\u{c}',
            'v' => '\u{b}',
            '0' => '\0',
            'x' => self.hex(2)?,
            'u' => self.hex(4)?,
            c if c.is_ascii_alphanumeric() => return None,
            c => c,
        })
    }

    fn hex(&mut self, digits: usize) -> Option<char> {
        let mut value = 0_u32;
        for _ in 0..digits {
            value = value * 16 + self.next()?.to_digit(16)?;
        }
        char::from_u32(value)
    }

    fn class(&mut self) -> Option<Node> {
        let negated = self.peek() == Some('^');
        if negated {
            self.position += 1;
        }
        let mut ranges = Vec::new();
        let mut first = true;
        loop {
            let c = self.next()?;
            if c == ']' && !first {
                break;
            }
            first = false;
            let low = match c {
                '\\' => {
                    let escaped = self.next()?;
                    match shorthand_class(escaped) {
                        Some(Node::Class { ranges: shorthand, negated: false }) => {
                            ranges.extend(shorthand);
                            continue;
                        }
                        Some(_) => return None,
                        None if escaped == 'b' => '\u{8}',
                        None => self.escaped_char(escaped)?,
                    }
                }
                '[' if self.peek() == Some(':') => return None,
                c => c,
            };
            if self.peek() == Some('-') && self.peek_at(1).is_some_and(|next| next != ']') {
                self.position += 1;
                let high = match self.next()? {
                    '\\' => {
                        let escaped = self.next()?;
                        if shorthand_class(escaped).is_some() {
                            return None;
                        }
                        self.escaped_char(escaped)?
                    }
                    high => high,
                };
                if high < low {
                    return None;
                }
                ranges.push((low, high));
            } else {
                ranges.push((low, low));
            }
        }
        Some(Node::Class { ranges, negated })
    }
}

fn shorthand_class(c: char) -> Option<Node> {
    let digits = vec![('0', '9')];
    let word = vec![('a', 'z'), ('A', 'Z'), ('0', '9'), ('_', '_')];
    let space = vec![(' ', ' '), ('\t', '\r')];
    Some(match c {
        'd' => Node::Class { ranges: digits, negated: false },
        'D' => Node::Class { ranges: digits, negated: true },
        'w' => Node::Class { ranges: word, negated: false },
        'W' => Node::Class { ranges: word, negated: true },
        's' => Node::Class { ranges: space, negated: false },
        'S' => Node::Class { ranges: space, negated: true },
        _ => return None,
    })
}

fn class_contains(ranges: &[(char, char)], negated: bool, c: char) -> bool {
    ranges.iter().any(|&(low, high)| low <= c && c <= high) != negated
}

fn generate_into(node: &Node, rng: &mut Rng, out: &mut String) {
    match node {
        Node::Empty | Node::Start | Node::End => {}
        Node::Literal(c) => out.push(*c),
        Node::Class { ranges, negated } => out.push(class_char(ranges, *negated, rng)),
        Node::Concat(items) => {
            for item in items {
                generate_into(item, rng, out);
            }
        }
        Node::Alternation(branches) => {
            if let Some(branch) = index(rng, branches.len()).and_then(|position| branches.get(position)) {
                generate_into(branch, rng, out);
            }
        }
        Node::Repeat { node, min, max } => {
            let min = (*min).min(MAX_REPEAT_TOTAL);
            let max = max.unwrap_or(min + OPEN_REPEAT).min(min + MAX_REPEAT).max(min);
            for _ in 0..between_usize(rng, min, max) {
                generate_into(node, rng, out);
            }
        }
    }
}

/// A character of the class: printable ASCII when the class allows some
/// (letters and digits first), else any member.
fn class_char(ranges: &[(char, char)], negated: bool, rng: &mut Rng) -> char {
    let printable: Vec<char> = (' '..='~').filter(|c| class_contains(ranges, negated, *c)).collect();
    let preferred: Vec<char> = printable.iter().copied().filter(char::is_ascii_alphanumeric).collect();
    for candidates in [&preferred, &printable] {
        if let Some(c) = index(rng, candidates.len()).and_then(|position| candidates.get(position)) {
            return *c;
        }
    }
    if negated {
        // Everything printable is excluded: look above ASCII.
        return ('\u{a1}'..='\u{2fff}').find(|c| class_contains(ranges, true, *c)).unwrap_or('\u{a1}');
    }
    let Some(&(low, high)) = ranges.first() else { return 'a' };
    let offset = between_usize(rng, 0, (high as usize).saturating_sub(low as usize));
    char::from_u32(low as u32 + offset as u32).unwrap_or(low)
}

/// The positions where a match of `node` starting at `start` can end.
fn ends(node: &Node, text: &[char], start: usize) -> Vec<usize> {
    match node {
        Node::Empty => vec![start],
        Node::Start => {
            if start == 0 {
                vec![start]
            } else {
                vec![]
            }
        }
        Node::End => {
            if start == text.len() {
                vec![start]
            } else {
                vec![]
            }
        }
        Node::Literal(c) => match text.get(start) {
            Some(found) if found == c => vec![start + 1],
            _ => vec![],
        },
        Node::Class { ranges, negated } => match text.get(start) {
            Some(found) if class_contains(ranges, *negated, *found) => vec![start + 1],
            _ => vec![],
        },
        Node::Concat(items) => {
            let mut positions = vec![start];
            for item in items {
                let mut next: Vec<usize> = positions.iter().flat_map(|&position| ends(item, text, position)).collect();
                next.sort_unstable();
                next.dedup();
                if next.is_empty() {
                    return next;
                }
                positions = next;
            }
            positions
        }
        Node::Alternation(branches) => {
            let mut positions: Vec<usize> = branches.iter().flat_map(|branch| ends(branch, text, start)).collect();
            positions.sort_unstable();
            positions.dedup();
            positions
        }
        Node::Repeat { node, min, max } => {
            let mut out = Vec::new();
            let mut frontier = vec![start];
            let limit = max.unwrap_or(text.len() + 1).min(text.len() + *min + 1);
            for count in 0..=limit {
                if count >= *min {
                    out.extend(frontier.iter().copied());
                }
                if count == limit {
                    break;
                }
                let mut next: Vec<usize> = frontier.iter().flat_map(|&position| ends(node, text, position)).collect();
                next.sort_unstable();
                next.dedup();
                // Past the minimum, an iteration that consumes nothing adds nothing new.
                if count >= *min {
                    next.retain(|position| !out.contains(position));
                }
                if next.is_empty() {
                    break;
                }
                frontier = next;
            }
            out.sort_unstable();
            out.dedup();
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(source: &str) {
        let node = parse(source).unwrap_or_else(|| panic!("{source} should parse"));
        for seed in 0..40 {
            let text = generate(&node, &mut Rng::with_seed(seed));
            assert!(is_match(&node, &text), "{source} generated {text:?}");
        }
    }

    #[test]
    fn generated_strings_match() {
        for source in [
            "^[A-Z]{3}-\\d{4}$",
            "^(?:foo|bar)+baz?$",
            "^[^@\\s]+@[a-z]+\\.com$",
            "^\\+?[0-9 ()-]{7,15}$",
            "^#[0-9a-fA-F]{6}$",
            "ab*c",
            "^(?<year>\\d{4})-(0[1-9]|1[0-2])$",
            "^.{2,5}$",
            "^\\w+(\\.\\w+)*$",
        ] {
            check(source);
        }
    }

    #[test]
    fn unsupported_syntax_is_refused() {
        for source in ["(?=a)b", "(a)\\1", "\\bword\\b", "\\p{L}+", "a{2,1}", "[a", "(a", "*a"] {
            assert_eq!(parse(source), None, "{source}");
        }
    }

    #[test]
    fn search_semantics() {
        assert!(might_match("b+", "abbc"));
        assert!(!might_match("^b+$", "abbc"));
        assert!(might_match("(?=x)", "anything"), "unsupported patterns pass");
        assert!(might_match("^$", ""));
        assert!(!might_match("^a{2}$", "aaa"));
    }
}
