//! The lexer: turns pattern text into tokens on demand.
//!
//! Tokens are byte ranges into the source; the lexer never allocates. It follows the token rules
//! of the OASIS ANTLR grammar (`STIXPattern.g4` as shipped in stix2-patterns 2.1.2), including
//! ANTLR's "longest match wins, earlier rule wins ties" behaviour, so that `true-x` is an
//! identifier, `0123` is the two integers `0` and `123`, and `.5` is a float.

use crate::error::Error;

/// The reserved words of the language. They are case-sensitive: `within` is an identifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Keyword {
    And,
    Or,
    Not,
    FollowedBy,
    Like,
    Matches,
    IsSuperset,
    IsSubset,
    Exists,
    /// Reserved by the grammar but used by no rule, so it can never appear in a valid pattern.
    Last,
    In,
    Start,
    Stop,
    Seconds,
    Within,
    Repeats,
    Times,
}

impl Keyword {
    /// The keyword spelled exactly `word`, if any.
    pub(crate) fn from_word(word: &[u8]) -> Option<Keyword> {
        // Dispatching on the length first keeps identifier lexing cheap: most identifiers are
        // compared against at most two keywords.
        let kw = match word.len() {
            2 => match word {
                b"OR" => Keyword::Or,
                b"IN" => Keyword::In,
                _ => return None,
            },
            3 => match word {
                b"AND" => Keyword::And,
                b"NOT" => Keyword::Not,
                _ => return None,
            },
            4 => match word {
                b"LIKE" => Keyword::Like,
                b"LAST" => Keyword::Last,
                b"STOP" => Keyword::Stop,
                _ => return None,
            },
            5 => match word {
                b"START" => Keyword::Start,
                b"TIMES" => Keyword::Times,
                _ => return None,
            },
            6 => match word {
                b"EXISTS" => Keyword::Exists,
                b"WITHIN" => Keyword::Within,
                _ => return None,
            },
            7 => match word {
                b"MATCHES" => Keyword::Matches,
                b"SECONDS" => Keyword::Seconds,
                b"REPEATS" => Keyword::Repeats,
                _ => return None,
            },
            8 if word == b"ISSUBSET" => Keyword::IsSubset,
            10 => match word {
                b"FOLLOWEDBY" => Keyword::FollowedBy,
                b"ISSUPERSET" => Keyword::IsSuperset,
                _ => return None,
            },
            _ => return None,
        };
        Some(kw)
    }

    /// True when `word` is reserved, i.e. cannot be written as a bare identifier.
    pub(crate) fn is_reserved(word: &str) -> bool {
        Keyword::from_word(word.as_bytes()).is_some() || word == "true" || word == "false"
    }
}

/// The kind of a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tok {
    /// `0`, `+12`: `'+'? ('0' | [1-9][0-9]*)`.
    IntPos,
    /// `-12`.
    IntNeg,
    /// `1.5`, `+.5`: `'+'? [0-9]* '.' [0-9]+`.
    FloatPos,
    /// `-1.5`.
    FloatNeg,
    /// `h'00ff'`.
    Hex,
    /// `b'AAE='`.
    Binary,
    /// `'text'`; `escaped` says whether it contains a backslash escape, so that the parser only
    /// allocates when it must.
    Str {
        escaped: bool,
    },
    /// `true` or `false`.
    Bool(bool),
    /// `t'2016-01-01T00:00:00Z'`.
    Timestamp,
    Kw(Keyword),
    /// `[a-zA-Z_][a-zA-Z0-9_]*` that is not a keyword.
    Ident,
    /// `[a-zA-Z_][a-zA-Z0-9_-]*` containing a hyphen: valid only as an object type.
    IdentHyphen,
    Eq,
    Neq,
    Lt,
    Le,
    Gt,
    Ge,
    Colon,
    Dot,
    Comma,
    LParen,
    RParen,
    LBrack,
    RBrack,
    Star,
    /// Any other character, including the grammar's unused `+ - ^ /` tokens. The parser reports
    /// it as unexpected, with what it expected instead.
    Other,
    /// A lexical error (an unterminated string, a malformed `t''` literal…), kept by the lexer.
    /// No rule accepts this token, so the parser stops here and reports the lexer's error.
    Error,
    Eof,
}

/// One token: its kind and its byte range in the source.
///
/// Offsets are `u32` (patterns are limited to 4 GiB) so that a token fits in two registers and
/// passing it around costs nothing.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    start: u32,
    end: u32,
}

impl Token {
    pub(crate) fn start(self) -> usize {
        self.start as usize
    }

    pub(crate) fn end(self) -> usize {
        self.end as usize
    }
}

/// An on-demand tokenizer over one pattern.
pub(crate) struct Lexer<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
    /// The error behind a [`Tok::Error`] token.
    error: Option<Error>,
}

/// Byte classes, looked up in one table load instead of a chain of comparisons: the lexer's
/// inner loops run once per byte of every pattern.
const WS: u8 = 1;
/// `[a-zA-Z0-9_]`.
const WORD: u8 = 2;
/// `-`, which continues identifiers that can only be object types.
const HYPHEN: u8 = 4;
const CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        if matches!(b, b' ' | b'\t' | b'\r' | b'\n' | 0x0B | 0x0C) {
            t[i] = WS;
        } else if b.is_ascii_alphanumeric() || b == b'_' {
            t[i] = WORD;
        } else if b == b'-' {
            t[i] = HYPHEN;
        }
        i += 1;
    }
    t
};

fn class(b: u8) -> u8 {
    CLASS[usize::from(b)]
}

/// True for the ASCII members of the grammar's whitespace class.
fn is_ascii_ws(b: u8) -> bool {
    class(b) == WS
}

/// True for the non-ASCII members of the grammar's whitespace class.
fn is_unicode_ws(c: char) -> bool {
    matches!(
        c,
        '\u{0085}' | '\u{00A0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200A}' | '\u{2028}' | '\u{2029}' | '\u{202F}' | '\u{205F}' | '\u{3000}'
    )
}

/// True when `c` is whitespace as the grammar defines it.
pub(crate) fn is_ws(c: char) -> bool {
    if c.is_ascii() {
        is_ascii_ws(c as u8)
    } else {
        is_unicode_ws(c)
    }
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

/// The position of the first `'` or `\` at or after `from`.
///
/// String literals are the longest tokens (hash values, URLs), so this looks at eight bytes per
/// step: XOR turns the bytes sought into zero bytes, and the classic "has a zero byte" bit trick
/// finds the first of them. (Bits above the first zero byte can be false positives, but the
/// lowest set bit is exact.)
fn find_quote_or_backslash(bytes: &[u8], from: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let has_zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let mut i = from;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        let hits =
            has_zero(w ^ (ONES * u64::from(b'\''))) | has_zero(w ^ (ONES * u64::from(b'\\')));
        if hits != 0 {
            return Some(i + (hits.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    bytes[i..]
        .iter()
        .position(|&b| b == b'\'' || b == b'\\')
        .map(|off| i + off)
}

fn is_base64(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'+' || b == b'/'
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(src: &'a str) -> Self {
        Lexer {
            src,
            bytes: src.as_bytes(),
            pos: 0,
            error: None,
        }
    }

    /// The error behind the last [`Tok::Error`] token.
    pub(crate) fn error(&self) -> Option<&Error> {
        self.error.as_ref()
    }

    fn peek_at(&self, i: usize) -> u8 {
        self.bytes.get(i).copied().unwrap_or(0)
    }

    /// Skips whitespace and comments. Fails only on an unterminated `/*` comment.
    /// Skips whitespace and comments, the general case: [`Lexer::scan`] handles plain ASCII
    /// whitespace itself and only calls this at a `/` or a non-ASCII byte.
    #[inline(never)]
    fn skip_trivia(&mut self) -> Result<(), Error> {
        loop {
            let Some(&b) = self.bytes.get(self.pos) else {
                return Ok(());
            };
            if is_ascii_ws(b) {
                self.pos += 1;
            } else if b == b'/' && self.peek_at(self.pos + 1) == b'*' {
                let body = &self.bytes[self.pos + 2..];
                match body.windows(2).position(|w| w == b"*/") {
                    Some(i) => self.pos += 2 + i + 2,
                    None => return Err(self.unterminated_comment()),
                }
            } else if b == b'/' && self.peek_at(self.pos + 1) == b'/' {
                let rest = &self.bytes[self.pos..];
                let len = rest
                    .iter()
                    .position(|&c| c == b'\n' || c == b'\r')
                    .unwrap_or(rest.len());
                self.pos += len;
            } else if b >= 0x80 {
                // `pos` is always on a char boundary: every token and skip ends on one.
                let c = self.src[self.pos..].chars().next().unwrap_or('\0');
                if is_unicode_ws(c) {
                    self.pos += c.len_utf8();
                } else {
                    return Ok(());
                }
            } else {
                return Ok(());
            }
        }
    }

    /// Lexes the next token. A lexical error becomes a [`Tok::Error`] token, with the error kept
    /// for [`Lexer::error`]; the parser, which never accepts that token, then reports it.
    pub(crate) fn next_token(&mut self) -> Token {
        match self.scan() {
            Ok((tok, start, len)) => {
                self.pos = start + len;
                Token {
                    tok,
                    start: start as u32,
                    end: (start + len) as u32,
                }
            }
            Err(e) => self.fail(e),
        }
    }

    #[cold]
    #[inline(never)]
    fn fail(&mut self, e: Error) -> Token {
        let at = self.pos as u32;
        self.error = Some(e);
        Token {
            tok: Tok::Error,
            start: at,
            end: at,
        }
    }

    /// Finds the next token: its kind, start and length.
    #[inline]
    fn scan(&mut self) -> Result<(Tok, usize, usize), Error> {
        // Most tokens are followed by one space or directly by the next token, so plain ASCII
        // whitespace is skipped here; comments and Unicode spaces take the general path.
        let bytes = self.bytes;
        let mut start = self.pos;
        while start < bytes.len() && is_ascii_ws(bytes[start]) {
            start += 1;
        }
        self.pos = start;
        if start < bytes.len() && (bytes[start] == b'/' || bytes[start] >= 0x80) {
            self.skip_trivia()?;
            start = self.pos;
        }
        let Some(&b) = bytes.get(start) else {
            return Ok((Tok::Eof, start, 0));
        };
        let (tok, len) = match b {
            b'[' => (Tok::LBrack, 1),
            b']' => (Tok::RBrack, 1),
            b'(' => (Tok::LParen, 1),
            b')' => (Tok::RParen, 1),
            b':' => (Tok::Colon, 1),
            b',' => (Tok::Comma, 1),
            b'*' => (Tok::Star, 1),
            b'=' => {
                if self.peek_at(start + 1) == b'=' {
                    (Tok::Eq, 2)
                } else {
                    (Tok::Eq, 1)
                }
            }
            b'!' if self.peek_at(start + 1) == b'=' => (Tok::Neq, 2),
            b'<' => match self.peek_at(start + 1) {
                b'=' => (Tok::Le, 2),
                b'>' => (Tok::Neq, 2),
                _ => (Tok::Lt, 1),
            },
            b'>' => {
                if self.peek_at(start + 1) == b'=' {
                    (Tok::Ge, 2)
                } else {
                    (Tok::Gt, 1)
                }
            }
            b'.' => {
                if self.peek_at(start + 1).is_ascii_digit() {
                    self.number(start)
                } else {
                    (Tok::Dot, 1)
                }
            }
            b'0'..=b'9' => self.number(start),
            b'+' | b'-' => {
                let next = self.peek_at(start + 1);
                if next.is_ascii_digit()
                    || (next == b'.' && self.peek_at(start + 2).is_ascii_digit())
                {
                    self.number(start)
                } else {
                    (Tok::Other, 1)
                }
            }
            b'\'' => self.string(start)?,
            _ if is_ident_start(b) => {
                // `t'`, `h'` and `b'` start typed literals. When the literal is malformed, ANTLR
                // would fall back to the identifier `t` followed by a string, which no rule
                // accepts; reporting the malformed literal itself is the more useful message.
                if self.peek_at(start + 1) == b'\'' && matches!(b, b't' | b'h' | b'b') {
                    self.typed_literal(start)?
                } else {
                    self.identifier(start)
                }
            }
            _ if b >= 0x80 => {
                let c = self.src[start..].chars().next().unwrap_or('\0');
                (Tok::Other, c.len_utf8())
            }
            _ => (Tok::Other, 1),
        };
        Ok((tok, start, len))
    }

    /// Lexes a number starting at `start` (a digit, `.`, `+` or `-` known to begin one).
    #[inline]
    fn number(&self, start: usize) -> (Tok, usize) {
        let bytes = self.bytes;
        let mut i = start;
        let negative = bytes[i] == b'-';
        if bytes[i] == b'+' || bytes[i] == b'-' {
            i += 1;
        }
        let digits_start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        // A float needs `.` followed by at least one digit; otherwise the `.` is a separate token.
        if i < bytes.len() && bytes[i] == b'.' && self.peek_at(i + 1).is_ascii_digit() {
            i += 1;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            let tok = if negative {
                Tok::FloatNeg
            } else {
                Tok::FloatPos
            };
            return (tok, i - start);
        }
        // Integers have no leading zeros: `0123` is the integer `0` followed by `123`, exactly as
        // the ANTLR lexer splits it (and the parser then rejects it).
        if bytes[digits_start] == b'0' {
            i = digits_start + 1;
        }
        let tok = if negative { Tok::IntNeg } else { Tok::IntPos };
        (tok, i - start)
    }

    /// Lexes a string literal starting at the quote at `start`. Only `\\` and `\'` are escapes.
    #[inline]
    fn string(&self, start: usize) -> Result<(Tok, usize), Error> {
        let bytes = self.bytes;
        let mut i = start + 1;
        let mut escaped = false;
        while let Some(at) = find_quote_or_backslash(bytes, i) {
            i = at;
            if bytes[i] == b'\'' {
                return Ok((Tok::Str { escaped }, i + 1 - start));
            }
            match bytes.get(i + 1) {
                Some(b'\\') | Some(b'\'') => {
                    escaped = true;
                    i += 2;
                }
                Some(_) => return Err(self.invalid_escape(i)),
                None => break,
            }
        }
        Err(self.unterminated_string(start))
    }

    // The error constructors are cold and out of line so that the hot lexing functions stay
    // small: formatting code inlined into them would make every call pay for a bigger frame.

    #[cold]
    #[inline(never)]
    fn unterminated_comment(&self) -> Error {
        Error::at_byte(
            self.src,
            self.pos,
            "unterminated comment: '/*' has no closing '*/'".to_owned(),
        )
    }

    #[cold]
    #[inline(never)]
    fn invalid_escape(&self, backslash: usize) -> Error {
        let c = self.src[backslash + 1..].chars().next().unwrap_or('\0');
        Error::at_byte(
            self.src,
            backslash,
            format!("invalid escape '\\{c}' in string literal: only \\\\ and \\' are allowed"),
        )
    }

    #[cold]
    #[inline(never)]
    fn unterminated_string(&self, start: usize) -> Error {
        Error::at_byte(
            self.src,
            start,
            "unterminated string literal: missing closing quote".to_owned(),
        )
    }

    /// Lexes an identifier, keyword or boolean.
    #[inline]
    fn identifier(&self, start: usize) -> (Tok, usize) {
        let bytes = self.bytes;
        let mut i = start + 1;
        let mut seen = 0;
        while let Some(&b) = bytes.get(i) {
            let c = class(b);
            if c & (WORD | HYPHEN) == 0 {
                break;
            }
            seen |= c;
            i += 1;
        }
        let word = &bytes[start..i];
        let tok = if seen & HYPHEN != 0 {
            Tok::IdentHyphen
        } else if let Some(kw) = Keyword::from_word(word) {
            Tok::Kw(kw)
        } else if word == b"true" {
            Tok::Bool(true)
        } else if word == b"false" {
            Tok::Bool(false)
        } else {
            Tok::Ident
        };
        (tok, i - start)
    }

    /// Lexes a `t''`, `h''` or `b''` literal starting at `start`.
    fn typed_literal(&self, start: usize) -> Result<(Tok, usize), Error> {
        match self.bytes[start] {
            b't' => self.timestamp(start),
            b'h' => self.hex(start),
            _ => self.binary(start),
        }
    }

    /// Where the string literal whose opening quote is at `quote` ends (one past the closing
    /// quote), ignoring escapes; used to show the whole malformed literal in messages.
    fn literal_end(&self, quote: usize) -> usize {
        match self.bytes[quote + 1..].iter().position(|&b| b == b'\'') {
            Some(i) => quote + 1 + i + 1,
            None => self.bytes.len(),
        }
    }

    #[cold]
    #[inline(never)]
    fn malformed(&self, start: usize, what: &str, expected: &str) -> Error {
        let end = self.literal_end(start + 1);
        let text = crate::error::truncate(&self.src[start..end]);
        Error::at_byte(
            self.src,
            start,
            format!("malformed {what} literal {text}: expected {expected}"),
        )
    }

    /// `t'YYYY-MM-DDThh:mm:ss(.f+)?Z'` with the field ranges the grammar enforces.
    fn timestamp(&self, start: usize) -> Result<(Tok, usize), Error> {
        let body = start + 2;
        match memchr::memchr(b'\'', &self.bytes[body..]) {
            Some(n) if crate::timestamp::is_literal_syntax(&self.src[body..body + n]) => {
                Ok((Tok::Timestamp, n + 3))
            }
            _ => Err(self.malformed(start, "timestamp", "t'YYYY-MM-DDThh:mm:ss[.fraction]Z'")),
        }
    }

    /// `h'` followed by pairs of hex digits and `'`.
    fn hex(&self, start: usize) -> Result<(Tok, usize), Error> {
        let body = &self.bytes[start + 2..];
        let n = body.iter().take_while(|b| b.is_ascii_hexdigit()).count();
        if n % 2 == 0 && body.get(n) == Some(&b'\'') {
            Ok((Tok::Hex, n + 3))
        } else {
            Err(self.malformed(start, "hex", "an even number of hexadecimal digits"))
        }
    }

    /// `b'` followed by non-empty, correctly padded base64 and `'`.
    fn binary(&self, start: usize) -> Result<(Tok, usize), Error> {
        let body = &self.bytes[start + 2..];
        let chars = body.iter().take_while(|&&b| is_base64(b)).count();
        let pad = body[chars..].iter().take_while(|&&b| b == b'=').count();
        let ok = chars + pad > 0
            && (chars + pad) % 4 == 0
            && pad <= 2
            && body.get(chars + pad) == Some(&b'\'');
        if ok {
            Ok((Tok::Binary, chars + pad + 3))
        } else {
            Err(self.malformed(start, "binary", "non-empty, padded base64"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every token of `src` with its text, up to the end; a lexing error fails the test.
    fn tokens(src: &str) -> Vec<(Tok, &str)> {
        let mut lx = Lexer::new(src);
        let mut out = Vec::new();
        loop {
            let t = lx.next_token();
            assert_ne!(t.tok, Tok::Error, "{:?}", lx.error());
            if t.tok == Tok::Eof {
                return out;
            }
            out.push((t.tok, &src[t.start()..t.end()]));
        }
    }

    fn kinds(src: &str) -> Vec<Tok> {
        tokens(src).into_iter().map(|(tok, _)| tok).collect()
    }

    fn texts(src: &str) -> Vec<&str> {
        tokens(src).into_iter().map(|(_, text)| text).collect()
    }

    #[test]
    fn numbers_split_like_antlr() {
        assert_eq!(texts("0123"), ["0", "123"]);
        assert_eq!(texts("01.5"), ["01.5"]);
        assert_eq!(texts("1."), ["1", "."]);
        assert_eq!(texts(".5 -.5 +.5"), [".5", "-.5", "+.5"]);
        assert_eq!(texts("- 5"), ["-", "5"]);
        assert_eq!(
            kinds("-0 +7 3.25 -3.25"),
            [Tok::IntNeg, Tok::IntPos, Tok::FloatPos, Tok::FloatNeg]
        );
        assert_eq!(texts("5SECONDS"), ["5", "SECONDS"]);
        assert_eq!(texts("1e5"), ["1", "e5"]);
    }

    #[test]
    fn identifiers_keywords_and_booleans() {
        assert_eq!(
            kinds("AND and true TRUE true-x ipv4-addr x_y FOLLOWEDBY EXISTS LAST"),
            [
                Tok::Kw(Keyword::And),
                Tok::Ident,
                Tok::Bool(true),
                Tok::Ident,
                Tok::IdentHyphen,
                Tok::IdentHyphen,
                Tok::Ident,
                Tok::Kw(Keyword::FollowedBy),
                Tok::Kw(Keyword::Exists),
                Tok::Kw(Keyword::Last),
            ]
        );
        assert_eq!(texts("AND-x"), ["AND-x"]);
    }

    #[test]
    fn operators() {
        assert_eq!(
            kinds("= == != <> < <= > >= ! ^ /"),
            [
                Tok::Eq,
                Tok::Eq,
                Tok::Neq,
                Tok::Neq,
                Tok::Lt,
                Tok::Le,
                Tok::Gt,
                Tok::Ge,
                Tok::Other,
                Tok::Other,
                Tok::Other
            ]
        );
    }

    #[test]
    fn strings_and_typed_literals() {
        assert_eq!(kinds("'a'"), [Tok::Str { escaped: false }]);
        assert_eq!(kinds(r"'a\'b\\'"), [Tok::Str { escaped: true }]);
        assert_eq!(kinds("''"), [Tok::Str { escaped: false }]);
        assert_eq!(kinds("h'' h'00ff'"), [Tok::Hex, Tok::Hex]);
        assert_eq!(kinds("b'AA==' b'AAA=' b'AAAA'"), [Tok::Binary; 3]);
        assert_eq!(
            kinds("t'2016-01-01T00:00:00Z' t'2016-01-01T00:00:60.123Z'"),
            [Tok::Timestamp; 2]
        );
        assert_eq!(kinds("t h b"), [Tok::Ident; 3]);
    }

    #[test]
    fn lexer_errors() {
        let err = |s: &str| {
            let mut lx = Lexer::new(s);
            loop {
                match lx.next_token().tok {
                    Tok::Error => return lx.error().unwrap().to_string(),
                    Tok::Eof => panic!("no error in {s}"),
                    _ => {}
                }
            }
        };
        assert_eq!(
            err("x = 'abc"),
            "at column 4: unterminated string literal: missing closing quote"
        );
        assert_eq!(
            err(r"'a\nb'"),
            r"at column 2: invalid escape '\n' in string literal: only \\ and \' are allowed"
        );
        assert_eq!(
            err("b'===='"),
            "at column 0: malformed binary literal b'====': expected non-empty, padded base64"
        );
        assert_eq!(
            err("b''"),
            "at column 0: malformed binary literal b'': expected non-empty, padded base64"
        );
        assert_eq!(
            err("h'abc'"),
            "at column 0: malformed hex literal h'abc': expected an even number of hexadecimal digits"
        );
        assert_eq!(
            err("t'2016-13-01T00:00:00Z'"),
            "at column 0: malformed timestamp literal t'2016-13-01T00:00:00Z': expected t'YYYY-MM-DDThh:mm:ss[.fraction]Z'"
        );
        assert_eq!(
            err("[ /* x"),
            "at column 2: unterminated comment: '/*' has no closing '*/'"
        );
    }

    #[test]
    fn trivia() {
        assert_eq!(texts("a /* c */ b // d\n c\u{3000}d"), ["a", "b", "c", "d"]);
        assert_eq!(texts("é"), ["é"]);
    }
}
