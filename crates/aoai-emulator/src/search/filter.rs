//! The OData `$filter` subset the emulator evaluates.
//!
//! Supported: comparisons `eq ne gt ge lt le` between a field and a literal
//! (either side); `and`, `or`, `not` and parentheses; string (`'it''s'`),
//! number, `true`/`false` and `null` literals; boolean fields on their own;
//! `search.in(field, 'a,b')` with an optional delimiter string (default: space
//! and comma); `field/any()`, `field/any(x: …)` and `field/all(x: …)` over
//! string collections, whose body compares `x` (or uses `search.in(x, …)`).
//! Everything else — other functions, complex fields, `geo.*`, arithmetic —
//! is a parse error, answered with a 400, never a guess.

use std::cmp::Ordering;

use serde_json::{Map, Value};

/// A field's type, as far as filters care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `Edm.String`.
    String,
    /// `Edm.Int32`, `Edm.Int64`, `Edm.Double`.
    Number,
    /// `Edm.Boolean`.
    Boolean,
    /// `Collection(Edm.String)`.
    Strings,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl Op {
    fn parse(word: &str) -> Option<Self> {
        Some(match word {
            "eq" => Self::Eq,
            "ne" => Self::Ne,
            "gt" => Self::Gt,
            "ge" => Self::Ge,
            "lt" => Self::Lt,
            "le" => Self::Le,
            _ => return None,
        })
    }

    fn flipped(self) -> Self {
        match self {
            Self::Gt => Self::Lt,
            Self::Ge => Self::Le,
            Self::Lt => Self::Gt,
            Self::Le => Self::Ge,
            other => other,
        }
    }

    fn holds(self, ordering: Ordering) -> bool {
        match self {
            Self::Eq => ordering == Ordering::Equal,
            Self::Ne => ordering != Ordering::Equal,
            Self::Gt => ordering == Ordering::Greater,
            Self::Ge => ordering != Ordering::Less,
            Self::Lt => ordering == Ordering::Less,
            Self::Le => ordering != Ordering::Greater,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Literal {
    String(String),
    Number(f64),
    Boolean(bool),
    Null,
}

/// Where a comparison reads its value: a document field, or the lambda's range variable.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Target {
    Field(String),
    Item,
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    Or(Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Const(bool),
    BoolField(String),
    Compare(Target, Op, Literal),
    In(Target, Vec<String>),
    Any(String, Option<Box<Expr>>),
    All(String, Box<Expr>),
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,
    Close,
    Comma,
    Colon,
    String(String),
    Number(f64),
    Word(String),
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '(' => tokens.push(Token::Open),
            ')' => tokens.push(Token::Close),
            ',' => tokens.push(Token::Comma),
            ':' => tokens.push(Token::Colon),
            '\'' => {
                let mut value = String::new();
                loop {
                    match chars.next() {
                        Some((_, '\'')) => {
                            if chars.peek().is_some_and(|(_, next)| *next == '\'') {
                                chars.next();
                                value.push('\'');
                            } else {
                                break;
                            }
                        }
                        Some((_, other)) => value.push(other),
                        None => return Err(format!("unterminated string literal at position {start}")),
                    }
                }
                tokens.push(Token::String(value));
            }
            c if c.is_ascii_digit() || c == '-' || c == '.' => {
                let mut end = start + c.len_utf8();
                while let Some((index, next)) = chars.peek().copied() {
                    if next.is_ascii_alphanumeric() || next == '.' || next == '-' || next == '+' {
                        chars.next();
                        end = index + next.len_utf8();
                    } else {
                        break;
                    }
                }
                let number = text.get(start..end).unwrap_or_default();
                let value: f64 = number.parse().map_err(|_| format!("invalid number literal '{number}'"))?;
                if !value.is_finite() {
                    return Err(format!("invalid number literal '{number}'"));
                }
                tokens.push(Token::Number(value));
            }
            c if c.is_alphabetic() || c == '_' => {
                let mut end = start + c.len_utf8();
                while let Some((index, next)) = chars.peek().copied() {
                    if next.is_alphanumeric() || next == '_' || next == '.' || next == '/' {
                        chars.next();
                        end = index + next.len_utf8();
                    } else {
                        break;
                    }
                }
                tokens.push(Token::Word(text.get(start..end).unwrap_or_default().to_owned()));
            }
            other => return Err(format!("unexpected character '{other}' at position {start}")),
        }
    }
    Ok(tokens)
}

struct Parser<'a> {
    tokens: Vec<Token>,
    position: usize,
    kind_of: &'a dyn Fn(&str) -> Result<Kind, String>,
    /// The lambda's range variable, inside a lambda.
    variable: Option<String>,
}

/// Parses `text`; `kind_of` says a field's filter kind, or why it cannot be filtered.
pub(crate) fn parse(text: &str, kind_of: &dyn Fn(&str) -> Result<Kind, String>) -> Result<Expr, String> {
    let mut parser = Parser { tokens: tokenize(text)?, position: 0, kind_of, variable: None };
    let expr = parser.or()?;
    match parser.peek() {
        None => Ok(expr),
        Some(token) => Err(format!("unexpected {} after a complete expression", describe(token))),
    }
}

fn describe(token: &Token) -> String {
    match token {
        Token::Open => "'('".to_owned(),
        Token::Close => "')'".to_owned(),
        Token::Comma => "','".to_owned(),
        Token::Colon => "':'".to_owned(),
        Token::String(value) => format!("string '{value}'"),
        Token::Number(value) => format!("number {value}"),
        Token::Word(word) => format!("'{word}'"),
    }
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.position)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.position).cloned();
        self.position += 1;
        token
    }

    fn expect(&mut self, expected: &Token) -> Result<(), String> {
        match self.next() {
            Some(token) if &token == expected => Ok(()),
            Some(token) => Err(format!("expected {}, found {}", describe(expected), describe(&token))),
            None => Err(format!("expected {}, found the end of the filter", describe(expected))),
        }
    }

    fn is_word(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(found)) if found == word)
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut left = self.and()?;
        while self.is_word("or") {
            self.position += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        while self.is_word("and") {
            self.position += 1;
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.is_word("not") {
            self.position += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, String> {
        match self.next() {
            Some(Token::Open) => {
                let expr = self.or()?;
                self.expect(&Token::Close)?;
                Ok(expr)
            }
            Some(Token::Word(word)) if word == "search.in" => self.search_in(),
            Some(Token::Word(word)) if word == "true" || word == "false" || word == "null" => {
                let literal = literal_word(&word);
                self.comparison_from_literal(literal, Some(word == "true"))
            }
            Some(Token::Word(word)) => {
                if let Some((field, function)) = word.rsplit_once('/') {
                    return self.lambda(field, function);
                }
                self.comparison_from_word(word)
            }
            Some(Token::String(value)) => self.comparison_from_literal(Literal::String(value), None),
            Some(Token::Number(value)) => self.comparison_from_literal(Literal::Number(value), None),
            Some(token) => Err(format!("unexpected {}", describe(&token))),
            None => Err("the filter ends where an expression was expected".to_owned()),
        }
    }

    fn target(&self, word: &str) -> Result<(Target, Kind), String> {
        if self.variable.as_deref() == Some(word) {
            return Ok((Target::Item, Kind::String));
        }
        if word.contains('/') || word.contains('.') {
            return Err(format!("'{word}': only top-level fields are supported by the emulator"));
        }
        Ok((Target::Field(word.to_owned()), (self.kind_of)(word)?))
    }

    fn operator(&mut self) -> Option<Op> {
        let op = match self.peek() {
            Some(Token::Word(word)) => Op::parse(word),
            _ => None,
        }?;
        self.position += 1;
        Some(op)
    }

    fn comparison_from_word(&mut self, word: String) -> Result<Expr, String> {
        let (target, kind) = self.target(&word)?;
        match self.operator() {
            Some(op) => {
                let literal = self.literal()?;
                compare(target, kind, op, literal, &word)
            }
            None if kind == Kind::Boolean => match target {
                Target::Field(field) => Ok(Expr::BoolField(field)),
                Target::Item => Err("a range variable is not a boolean".to_owned()),
            },
            None => Err(format!("'{word}' must be compared with eq, ne, gt, ge, lt or le")),
        }
    }

    fn comparison_from_literal(&mut self, literal: Literal, constant: Option<bool>) -> Result<Expr, String> {
        let Some(op) = self.operator() else {
            return match constant {
                Some(value) => Ok(Expr::Const(value)),
                None => Err(format!("a literal ({literal:?}) must be compared with a field")),
            };
        };
        match self.next() {
            Some(Token::Word(word)) if !matches!(word.as_str(), "true" | "false" | "null") => {
                let (target, kind) = self.target(&word)?;
                compare(target, kind, op.flipped(), literal, &word)
            }
            _ => Err("a comparison needs a field on one side".to_owned()),
        }
    }

    fn literal(&mut self) -> Result<Literal, String> {
        match self.next() {
            Some(Token::String(value)) => Ok(Literal::String(value)),
            Some(Token::Number(value)) => Ok(Literal::Number(value)),
            Some(Token::Word(word)) if matches!(word.as_str(), "true" | "false" | "null") => Ok(literal_word(&word)),
            Some(token) => Err(format!("expected a literal, found {}", describe(&token))),
            None => Err("expected a literal, found the end of the filter".to_owned()),
        }
    }

    fn search_in(&mut self) -> Result<Expr, String> {
        self.expect(&Token::Open)?;
        let Some(Token::Word(word)) = self.next() else {
            return Err("search.in needs a field as its first argument".to_owned());
        };
        let (target, kind) = self.target(&word)?;
        if kind != Kind::String {
            return Err(format!("search.in applies to string fields; '{word}' is not one"));
        }
        self.expect(&Token::Comma)?;
        let Some(Token::String(values)) = self.next() else {
            return Err("search.in needs a string of values as its second argument".to_owned());
        };
        let delimiters = if self.peek() == Some(&Token::Comma) {
            self.position += 1;
            match self.next() {
                Some(Token::String(delimiters)) if !delimiters.is_empty() => delimiters,
                _ => return Err("search.in's third argument must be a non-empty string of delimiters".to_owned()),
            }
        } else {
            " ,".to_owned()
        };
        self.expect(&Token::Close)?;
        let values = values
            .split(|c: char| delimiters.contains(c))
            .filter(|value| !value.is_empty())
            .map(str::to_owned)
            .collect();
        Ok(Expr::In(target, values))
    }

    fn lambda(&mut self, field: &str, function: &str) -> Result<Expr, String> {
        if self.variable.is_some() {
            return Err("nested lambda expressions are not supported by the emulator".to_owned());
        }
        if field.contains('/') || (self.kind_of)(field)? != Kind::Strings {
            return Err(format!("'{field}/{function}' applies only to string collections here"));
        }
        if function != "any" && function != "all" {
            return Err(format!("unknown function '{function}'"));
        }
        self.expect(&Token::Open)?;
        if self.peek() == Some(&Token::Close) {
            self.position += 1;
            return if function == "any" {
                Ok(Expr::Any(field.to_owned(), None))
            } else {
                Err("all() needs a lambda expression".to_owned())
            };
        }
        let Some(Token::Word(variable)) = self.next() else {
            return Err(format!("{function}() needs a range variable, as in {function}(t: t eq 'x')"));
        };
        self.expect(&Token::Colon)?;
        self.variable = Some(variable);
        let body = self.or();
        self.variable = None;
        let body = body?;
        self.expect(&Token::Close)?;
        if function == "any" {
            Ok(Expr::Any(field.to_owned(), Some(Box::new(body))))
        } else {
            Ok(Expr::All(field.to_owned(), Box::new(body)))
        }
    }
}

fn literal_word(word: &str) -> Literal {
    match word {
        "true" => Literal::Boolean(true),
        "false" => Literal::Boolean(false),
        _ => Literal::Null,
    }
}

fn compare(target: Target, kind: Kind, op: Op, literal: Literal, name: &str) -> Result<Expr, String> {
    let fits = match (&literal, kind) {
        (Literal::Null, Kind::String | Kind::Number | Kind::Boolean) => matches!(op, Op::Eq | Op::Ne),
        (Literal::String(_), Kind::String) | (Literal::Number(_), Kind::Number) => true,
        (Literal::Boolean(_), Kind::Boolean) => matches!(op, Op::Eq | Op::Ne),
        _ => false,
    };
    if !fits {
        let hint = if kind == Kind::Strings { " (use any() or all() for a collection)" } else { "" };
        return Err(format!("'{name}' cannot be compared with {literal:?} using {op:?}{hint}"));
    }
    if target == Target::Item && literal == Literal::Null {
        return Err("a range variable cannot be compared with null".to_owned());
    }
    Ok(Expr::Compare(target, op, literal))
}

impl Expr {
    /// Whether `document` passes.
    pub(crate) fn matches(&self, document: &Map<String, Value>) -> bool {
        self.eval(document, None)
    }

    fn eval(&self, document: &Map<String, Value>, item: Option<&Value>) -> bool {
        let resolve = |target: &Target| -> Option<&Value> {
            match target {
                Target::Field(field) => document.get(field),
                Target::Item => item,
            }
        };
        match self {
            Self::Or(left, right) => left.eval(document, item) || right.eval(document, item),
            Self::And(left, right) => left.eval(document, item) && right.eval(document, item),
            Self::Not(inner) => !inner.eval(document, item),
            Self::Const(value) => *value,
            Self::BoolField(field) => document.get(field) == Some(&Value::Bool(true)),
            Self::Compare(target, op, literal) => {
                let value = resolve(target).filter(|value| !value.is_null());
                match (value, literal) {
                    (None, Literal::Null) => *op == Op::Eq,
                    (Some(_), Literal::Null) | (None, _) => *op == Op::Ne,
                    (Some(Value::String(value)), Literal::String(literal)) => {
                        op.holds(value.as_str().cmp(literal.as_str()))
                    }
                    (Some(Value::Number(value)), Literal::Number(literal)) => value
                        .as_f64()
                        .and_then(|value| value.partial_cmp(literal))
                        .is_some_and(|ordering| op.holds(ordering)),
                    (Some(Value::Bool(value)), Literal::Boolean(literal)) => op.holds(value.cmp(literal)),
                    _ => false,
                }
            }
            Self::In(target, values) => {
                resolve(target).and_then(Value::as_str).is_some_and(|value| values.iter().any(|item| item == value))
            }
            Self::Any(field, body) => {
                let items = document.get(field).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
                match body {
                    None => !items.is_empty(),
                    Some(body) => items.iter().any(|value| body.eval(document, Some(value))),
                }
            }
            Self::All(field, body) => {
                let items = document.get(field).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
                items.iter().all(|value| body.eval(document, Some(value)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn kinds(field: &str) -> Result<Kind, String> {
        match field {
            "title" | "source" => Ok(Kind::String),
            "n" | "x" => Ok(Kind::Number),
            "ok" => Ok(Kind::Boolean),
            "tags" => Ok(Kind::Strings),
            "vector" => Err("'vector' is not filterable".to_owned()),
            other => Err(format!("no field '{other}'")),
        }
    }

    fn check(filter: &str, document: &Value) -> bool {
        let Value::Object(document) = document else { panic!() };
        parse(filter, &kinds).unwrap_or_else(|error| panic!("{filter}: {error}")).matches(document)
    }

    #[test]
    fn evaluates_the_supported_subset() {
        let doc =
            json!({"title": "it's", "source": "docs/a.md", "n": 3, "ok": true, "tags": ["en", "cache"], "x": null});
        for (filter, expected) in [
            ("title eq 'it''s'", true),
            ("n gt 2 and n le 3", true),
            ("2 lt n", true),
            ("n ge 3.5 or ok", true),
            ("not ok", false),
            ("not (n eq 3) or source eq 'x'", false),
            ("x eq null", true),
            ("x ne null", false),
            ("title ne null", true),
            ("x lt 4", false),
            ("search.in(source, 'docs/a.md, docs/b.md')", true),
            ("search.in(source, 'docs/a.md|b', '|')", true),
            ("search.in(source, 'docs/b.md')", false),
            ("tags/any(t: t eq 'cache')", true),
            ("tags/any(t: search.in(t, 'fr,de'))", false),
            ("tags/any()", true),
            ("tags/all(t: t ne 'fr')", true),
            ("tags/all(t: t eq 'en')", false),
            ("ok eq true and true", true),
            ("(((n eq 3)))", true),
            ("title gt 'a' and title lt 'j'", true),
        ] {
            assert_eq!(check(filter, &doc), expected, "{filter}");
        }
        let empty = json!({});
        assert!(!check("tags/any()", &empty));
        assert!(check("tags/all(t: t eq 'x')", &empty));
        assert!(check("n ne 1", &empty));
    }

    #[test]
    fn rejects_what_it_does_not_support() {
        for filter in [
            "",
            "n eq",
            "n eq 'three'",
            "title eq 3",
            "ok gt true",
            "tags eq 'x'",
            "vector eq 1",
            "missing eq 1",
            "geo.distance(location, geography'POINT(0 0)') le 10",
            "n add 1 eq 2",
            "title eq 'unterminated",
            "(n eq 1",
            "n eq 1)",
            "tags/any(t: tags/any(u: u eq 'x'))",
            "title/any(t: t eq 'x')",
            "address/city eq 'x'",
            "search.ismatch('x')",
            "n eq 1 n eq 2",
            "1 eq 1",
            "x lt null",
        ] {
            assert!(parse(filter, &kinds).is_err(), "{filter} parsed");
        }
    }

    #[derive(Debug, Clone)]
    enum Leaf {
        Compare(usize, i64),
        Ok(bool),
    }

    impl Leaf {
        fn text(&self) -> String {
            match self {
                Self::Compare(op, value) => {
                    format!("n {} {value}", ["eq", "ne", "gt", "ge", "lt", "le"].get(*op).copied().unwrap_or("eq"))
                }
                Self::Ok(true) => "not ok".to_owned(),
                Self::Ok(false) => "ok".to_owned(),
            }
        }

        fn eval(&self, n: i64, ok: bool) -> bool {
            match self {
                Self::Compare(0, value) => n == *value,
                Self::Compare(1, value) => n != *value,
                Self::Compare(2, value) => n > *value,
                Self::Compare(3, value) => n >= *value,
                Self::Compare(4, value) => n < *value,
                Self::Compare(_, value) => n <= *value,
                Self::Ok(negate) => ok != *negate,
            }
        }
    }

    fn leaf() -> impl Strategy<Value = Leaf> {
        prop_oneof![
            (0_usize..6, -5_i64..5).prop_map(|(op, value)| Leaf::Compare(op, value)),
            any::<bool>().prop_map(Leaf::Ok),
        ]
    }

    proptest! {
        /// Random and/or/not trees over comparisons evaluate as Rust does.
        #[test]
        fn boolean_structure_matches_rust(
            leaves in proptest::collection::vec(leaf(), 1..5),
            ors in proptest::collection::vec(any::<bool>(), 4),
            n in -6_i64..6,
            ok in any::<bool>(),
        ) {
            // Build a left-leaning tree with explicit parentheses.
            let mut text = String::new();
            let mut value = false;
            for (index, leaf) in leaves.iter().enumerate() {
                let leaf_value = leaf.eval(n, ok);
                let leaf = leaf.text();
                if index == 0 {
                    text = format!("({leaf})");
                    value = leaf_value;
                } else if ors.get(index - 1).copied().unwrap_or(false) {
                    text = format!("({text} or {leaf})");
                    value = value || leaf_value;
                } else {
                    text = format!("({text} and {leaf})");
                    value = value && leaf_value;
                }
            }
            prop_assert_eq!(check(&text, &json!({"n": n, "ok": ok})), value, "{}", text);
            prop_assert_eq!(check(&format!("not {text}"), &json!({"n": n, "ok": ok})), !value);
        }

        /// The parser never panics on arbitrary input.
        #[test]
        fn arbitrary_text_never_panics(text in "[a-z0-9 ()',:/.-]{0,40}") {
            let _ = parse(&text, &kinds);
        }
    }
}
