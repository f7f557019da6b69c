//! The recursive-descent parser: one function per grammar rule (see the crate documentation for
//! the grammar).
//!
//! The parser pulls tokens from the lexer one at a time with one token of lookahead, which is
//! all the grammar needs. It stops at the first error: a pattern is a short, single-line thing,
//! and one precise message ("expected ']' but found end of pattern") serves better than a
//! cascade of guesses after it.

use std::borrow::Cow;

use crate::ast::{
    Comparison, ComparisonExpression, ComparisonOperator, Literal, ObjectPath,
    ObservationExpression, Operand, PathComponent, Qualifier, Span,
};
use crate::error::{truncate, Error};
use crate::lexer::{is_ws, Keyword, Lexer, Tok, Token};

/// How deeply parentheses may nest (observation and comparison parentheses together), and how
/// tall the observation tree may grow through parentheses and qualifiers. The limit keeps
/// recursion (here, in `Display`, in the checks and in `Drop`) far from the stack's end; real
/// patterns nest a handful of levels.
pub const MAX_DEPTH: usize = 256;

/// The text of the depth error, shared by both limits.
fn too_deep() -> String {
    format!("the pattern nests more than {MAX_DEPTH} levels deep (parentheses and qualifiers)")
}

pub(crate) struct Parser<'a> {
    src: &'a str,
    lexer: Lexer<'a>,
    /// The lookahead token.
    tok: Token,
    /// Current parenthesis nesting.
    depth: usize,
    /// The end of the last consumed token, for spans.
    prev_end: usize,
}

/// What an observation-level rule returns: the expression and the height of its tree, which
/// grows with parentheses and with qualifiers.
type Observed<'a> = (ObservationExpression<'a>, usize);

impl<'a> Parser<'a> {
    pub(crate) fn new(src: &'a str) -> Self {
        let mut lexer = Lexer::new(src);
        let tok = lexer.next_token();
        Parser {
            src,
            lexer,
            tok,
            depth: 0,
            prev_end: 0,
        }
    }

    // ----- token helpers -------------------------------------------------------------------

    fn text(&self, t: Token) -> &'a str {
        &self.src[t.start()..t.end()]
    }

    /// Consumes the lookahead token and returns it. Never called on [`Tok::Error`], which no
    /// rule accepts.
    fn bump(&mut self) -> Token {
        let t = self.tok;
        self.prev_end = t.end();
        self.tok = self.lexer.next_token();
        t
    }

    fn at(&self, tok: Tok) -> bool {
        self.tok.tok == tok
    }

    fn at_kw(&self, kw: Keyword) -> bool {
        self.tok.tok == Tok::Kw(kw)
    }

    /// Consumes a token of kind `tok`, or fails with "expected {what} but found …".
    fn expect(&mut self, tok: Tok, what: &str) -> Result<Token, Error> {
        if self.at(tok) {
            Ok(self.bump())
        } else {
            Err(self.unexpected(what))
        }
    }

    fn expect_kw(&mut self, kw: Keyword, what: &str) -> Result<Token, Error> {
        self.expect(Tok::Kw(kw), what)
    }

    /// "expected {what} but found {the lookahead}", at the lookahead.
    #[cold]
    #[inline(never)]
    fn unexpected(&self, what: &str) -> Error {
        let t = self.tok;
        if let (Tok::Error, Some(e)) = (t.tok, self.lexer.error()) {
            return e.clone();
        }
        let text = self.text(t);
        let found = match t.tok {
            Tok::Eof => "end of pattern".to_owned(),
            Tok::Str { .. } => format!("string {}", truncate(text)),
            Tok::Timestamp | Tok::Hex | Tok::Binary => truncate(text),
            _ => format!("'{}'", truncate(text)),
        };
        let mut msg = format!("expected {what} but found {found}");
        if matches!(t.tok, Tok::Ident | Tok::IdentHyphen) {
            let upper = text.to_ascii_uppercase();
            if Keyword::from_word(upper.as_bytes()).is_some() {
                msg.push_str(" (keywords are upper case)");
            } else if t.tok == Tok::IdentHyphen && what.contains("property") {
                msg.push_str(&format!(
                    " (a name with hyphens must be quoted: '{}')",
                    truncate(text)
                ));
            }
        }
        self.error_at(t.start(), msg)
    }

    #[cold]
    #[inline(never)]
    fn error_at(&self, byte: usize, msg: String) -> Error {
        Error::at_byte(self.src, byte, msg)
    }

    /// "{what} {the number} is out of range{limit}", at the number: one the grammar accepts but
    /// whose value does not fit what it stands for.
    #[cold]
    #[inline(never)]
    fn out_of_range(&self, number: Token, what: &str, limit: &str) -> Error {
        let text = truncate(self.text(number));
        self.error_at(
            number.start(),
            format!("{what} {text} is out of range{limit}"),
        )
    }

    /// Enters one level of parentheses, failing when that would exceed [`MAX_DEPTH`].
    fn enter(&mut self) -> Result<(), Error> {
        if self.depth >= MAX_DEPTH {
            return Err(self.error_at(self.tok.start(), too_deep()));
        }
        self.depth += 1;
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    /// Fails when an observation tree of `height` would be too tall.
    fn check_height(&self, height: usize, at: usize) -> Result<(), Error> {
        if height > MAX_DEPTH {
            Err(self.error_at(at, too_deep()))
        } else {
            Ok(())
        }
    }

    // ----- pattern and observation expressions ----------------------------------------------

    /// `pattern := observation-expressions EOF`
    pub(crate) fn pattern(&mut self) -> Result<ObservationExpression<'a>, Error> {
        self.leading_comment()?;
        let (expr, _) = self.observation_expressions()?;
        if !self.at(Tok::Eof) {
            return Err(self.unexpected(
                "'AND', 'OR', 'FOLLOWEDBY', 'WITHIN', 'REPEATS', 'START' or end of pattern",
            ));
        }
        Ok(expr)
    }

    /// The reference validator insists that a pattern's first character other than `(` and
    /// whitespace is `[`. The grammar would accept a comment there; nothing else that the
    /// grammar accepts can come first, so this only rejects leading comments.
    fn leading_comment(&self) -> Result<(), Error> {
        let mut chars = self.src.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c == '(' || is_ws(c) {
                continue;
            }
            if c == '/' && matches!(chars.peek(), Some((_, '*' | '/'))) {
                return Err(self.error_at(
                    i,
                    "expected '[' or '(' but found a comment (a pattern must begin with an observation)"
                        .to_owned(),
                ));
            }
            break;
        }
        Ok(())
    }

    /// `observation-expressions := observation-or (FOLLOWEDBY observation-or)*`
    ///
    /// The three binary levels below take their first operand already parsed: most patterns are
    /// a single observation, which then passes through them as three inlined checks instead of
    /// three nested calls that each move the tree.
    fn observation_expressions(&mut self) -> Result<Observed<'a>, Error> {
        let first = self.qualified_observation()?;
        let first = self.observation_or(first)?;
        if !self.at_kw(Keyword::FollowedBy) {
            return Ok(first);
        }
        self.observation_list(
            first,
            Keyword::FollowedBy,
            ObservationExpression::FollowedBy,
        )
    }

    /// `observation-or := observation-and (OR observation-and)*`, given the first
    /// qualified observation.
    #[inline]
    fn observation_or(&mut self, first: Observed<'a>) -> Result<Observed<'a>, Error> {
        let first = self.observation_and(first)?;
        if !self.at_kw(Keyword::Or) {
            return Ok(first);
        }
        self.observation_list(first, Keyword::Or, ObservationExpression::Or)
    }

    /// `observation-and := qualified-observation (AND qualified-observation)*`, given the
    /// first qualified observation.
    #[inline]
    fn observation_and(&mut self, first: Observed<'a>) -> Result<Observed<'a>, Error> {
        if !self.at_kw(Keyword::And) {
            return Ok(first);
        }
        self.observation_list(first, Keyword::And, ObservationExpression::And)
    }

    /// Parses the rest of `first (kw operand)+` into one n-ary node, where each operand is the
    /// next tighter level.
    fn observation_list(
        &mut self,
        first: Observed<'a>,
        kw: Keyword,
        node: fn(Vec<ObservationExpression<'a>>) -> ObservationExpression<'a>,
    ) -> Result<Observed<'a>, Error> {
        let at = self.tok.start();
        let (first, mut height) = first;
        let items = self.operands(first, kw, |p| {
            let next = p.qualified_observation()?;
            let (next, h) = match kw {
                Keyword::FollowedBy => {
                    let next = p.observation_and(next)?;
                    p.observation_or(next)?
                }
                Keyword::Or => p.observation_and(next)?,
                _ => next,
            };
            height = height.max(h);
            Ok(next)
        })?;
        self.check_height(height + 1, at)?;
        Ok((node(items), height + 1))
    }

    /// The operands of `first (kw operand)+`, `first` included, where `operand` parses each
    /// one after a `kw`. Inlined, so that each level's loop is as if written out.
    #[inline(always)]
    fn operands<T>(
        &mut self,
        first: T,
        kw: Keyword,
        mut operand: impl FnMut(&mut Self) -> Result<T, Error>,
    ) -> Result<Vec<T>, Error> {
        let mut items = Vec::with_capacity(4);
        items.push(first);
        while self.at_kw(kw) {
            self.bump();
            items.push(operand(self)?);
        }
        Ok(items)
    }

    /// `qualified-observation := observation-primary qualifier*`
    fn qualified_observation(&mut self) -> Result<Observed<'a>, Error> {
        let grouped_start = self.at(Tok::LParen);
        let (mut expr, mut height) = self.observation_primary()?;
        // Only the first qualifier can apply to a parenthesised primary; later ones apply to
        // the qualified expression before them.
        let mut grouped = grouped_start;
        loop {
            let qualifier = match self.tok.tok {
                Tok::Kw(Keyword::Within) => self.within_qualifier()?,
                Tok::Kw(Keyword::Repeats) => self.repeats_qualifier()?,
                Tok::Kw(Keyword::Start) => self.start_stop_qualifier()?,
                _ => return Ok((expr, height)),
            };
            height += 1;
            self.check_height(height, qualifier.span().start)?;
            expr = ObservationExpression::Qualified {
                expression: Box::new(expr),
                qualifier,
                grouped,
            };
            grouped = false;
        }
    }

    /// `observation-primary := '[' comparison-expression ']' | '(' observation-expressions ')'`
    fn observation_primary(&mut self) -> Result<Observed<'a>, Error> {
        match self.tok.tok {
            Tok::LBrack => {
                self.bump();
                let cmp = self.comparison_expression()?;
                self.expect(Tok::RBrack, "'AND', 'OR' or ']'")?;
                Ok((ObservationExpression::Observation(cmp), 1))
            }
            Tok::LParen => {
                self.enter()?;
                self.bump();
                let inner = self.observation_expressions()?;
                self.expect(
                    Tok::RParen,
                    "'AND', 'OR', 'FOLLOWEDBY', 'WITHIN', 'REPEATS', 'START' or ')'",
                )?;
                self.leave();
                Ok(inner)
            }
            _ => Err(self.unexpected("'[' or '('")),
        }
    }

    /// `within-qualifier := WITHIN (IntPosLiteral | FloatPosLiteral) SECONDS`
    fn within_qualifier(&mut self) -> Result<Qualifier<'a>, Error> {
        let kw = self.bump();
        if !matches!(self.tok.tok, Tok::IntPos | Tok::FloatPos) {
            return Err(self.unexpected("a positive number of seconds after 'WITHIN'"));
        }
        let num = self.bump();
        // Integers parse as floats too, and an integer too long for i64 is still a valid
        // (if silly) number of seconds, so both go through f64.
        let seconds: f64 = self
            .text(num)
            .trim_start_matches('+')
            .parse()
            .unwrap_or(f64::NAN);
        if !seconds.is_finite() {
            return Err(self.out_of_range(num, "number of seconds", ""));
        }
        let span = self.qualifier_span(kw, Keyword::Seconds, "'SECONDS'")?;
        Ok(Qualifier::Within { seconds, span })
    }

    /// `repeats-qualifier := REPEATS IntPosLiteral TIMES`
    fn repeats_qualifier(&mut self) -> Result<Qualifier<'a>, Error> {
        let kw = self.bump();
        let num = self.expect(Tok::IntPos, "a positive integer after 'REPEATS'")?;
        let times: u64 = self
            .text(num)
            .trim_start_matches('+')
            .parse()
            .map_err(|_| self.out_of_range(num, "repeat count", ""))?;
        let span = self.qualifier_span(kw, Keyword::Times, "'TIMES'")?;
        Ok(Qualifier::Repeats { times, span })
    }

    /// Consumes the keyword `closing` (`what` in the error) that ends a qualifier begun by `kw`,
    /// and returns the qualifier's span, from `kw` through `closing`.
    fn qualifier_span(&mut self, kw: Token, closing: Keyword, what: &str) -> Result<Span, Error> {
        let end = self.expect_kw(closing, what)?.end();
        Ok(Span::new(kw.start(), end))
    }

    /// `start-stop-qualifier := START TimestampLiteral STOP TimestampLiteral`
    fn start_stop_qualifier(&mut self) -> Result<Qualifier<'a>, Error> {
        let kw = self.bump();
        let start = self.expect(Tok::Timestamp, "a timestamp t'…' after 'START'")?;
        self.expect_kw(Keyword::Stop, "'STOP'")?;
        let stop = self.expect(Tok::Timestamp, "a timestamp t'…' after 'STOP'")?;
        Ok(Qualifier::StartStop {
            start: self.literal_body(start),
            stop: self.literal_body(stop),
            span: Span::new(kw.start(), stop.end()),
        })
    }

    // ----- comparison expressions ------------------------------------------------------------

    /// `comparison-expression := comparison-and (OR comparison-and)*`
    ///
    /// As at the observation level, `comparison-and` takes its first operand already parsed,
    /// so that a single comparison passes through without an extra call.
    fn comparison_expression(&mut self) -> Result<ComparisonExpression<'a>, Error> {
        let first = self.comparison_primary()?;
        let first = self.comparison_and(first)?;
        if !self.at_kw(Keyword::Or) {
            return Ok(first);
        }
        let items = self.operands(first, Keyword::Or, |p| {
            let next = p.comparison_primary()?;
            p.comparison_and(next)
        })?;
        Ok(ComparisonExpression::Or(items))
    }

    /// `comparison-and := comparison-primary (AND comparison-primary)*`, given the first
    /// comparison primary.
    #[inline]
    fn comparison_and(
        &mut self,
        first: ComparisonExpression<'a>,
    ) -> Result<ComparisonExpression<'a>, Error> {
        if !self.at_kw(Keyword::And) {
            return Ok(first);
        }
        let items = self.operands(first, Keyword::And, Self::comparison_primary)?;
        Ok(ComparisonExpression::And(items))
    }

    /// `comparison-primary := '(' comparison-expression ')' | [NOT] EXISTS object-path
    ///                      | object-path [NOT] operator operand`
    fn comparison_primary(&mut self) -> Result<ComparisonExpression<'a>, Error> {
        match self.tok.tok {
            Tok::LParen => {
                self.enter()?;
                self.bump();
                let inner = self.comparison_expression()?;
                self.expect(Tok::RParen, "'AND', 'OR' or ')'")?;
                self.leave();
                Ok(inner)
            }
            Tok::Kw(Keyword::Not) | Tok::Kw(Keyword::Exists) => self.exists_test(),
            _ => self.property_test(),
        }
    }

    /// `exists-test := [NOT] EXISTS object-path`
    fn exists_test(&mut self) -> Result<ComparisonExpression<'a>, Error> {
        let start = self.tok.start();
        let negated = self.at_kw(Keyword::Not);
        if negated {
            self.bump();
        }
        self.expect_kw(Keyword::Exists, "'EXISTS' after 'NOT'")?;
        let path = self.object_path()?;
        let span = Span::new(start, path.span.end);
        Ok(ComparisonExpression::Comparison(Comparison {
            path,
            negated,
            operator: ComparisonOperator::Exists,
            operand: Operand::None,
            span,
        }))
    }

    /// `property-test := object-path [NOT] operator operand`, where the operand's form depends on
    /// the operator: any literal for `=`/`!=`, a non-boolean literal for `<`/`<=`/`>`/`>=`, a set
    /// for `IN`, and a string for `LIKE`, `MATCHES`, `ISSUBSET` and `ISSUPERSET`.
    fn property_test(&mut self) -> Result<ComparisonExpression<'a>, Error> {
        let path = self.object_path()?;
        let negated = self.at_kw(Keyword::Not);
        if negated {
            self.bump();
        }
        let operator = self.operator(negated)?;
        let operand = match operator {
            ComparisonOperator::Equal | ComparisonOperator::NotEqual => {
                let (lit, span) = self.primitive_literal(operator)?;
                Operand::Literal(lit, span)
            }
            ComparisonOperator::LessThan
            | ComparisonOperator::LessThanOrEqual
            | ComparisonOperator::GreaterThan
            | ComparisonOperator::GreaterThanOrEqual => {
                let (lit, span) = self.orderable_literal(operator)?;
                Operand::Literal(lit, span)
            }
            ComparisonOperator::In => Operand::Set(self.set_literal()?),
            // LIKE, MATCHES, ISSUBSET and ISSUPERSET (`operator` never yields EXISTS).
            _ => {
                let (lit, span) = self.string_literal(operator)?;
                Operand::Literal(lit, span)
            }
        };
        let span = Span::new(path.span.start, self.prev_end);
        Ok(ComparisonExpression::Comparison(Comparison {
            path,
            negated,
            operator,
            operand,
            span,
        }))
    }

    /// `operator := '=' | '!=' | '<' | '<=' | '>' | '>=' | IN | LIKE | MATCHES | ISSUBSET |
    /// ISSUPERSET`
    fn operator(&mut self, after_not: bool) -> Result<ComparisonOperator, Error> {
        let op = match self.tok.tok {
            Tok::Eq => ComparisonOperator::Equal,
            Tok::Neq => ComparisonOperator::NotEqual,
            Tok::Lt => ComparisonOperator::LessThan,
            Tok::Le => ComparisonOperator::LessThanOrEqual,
            Tok::Gt => ComparisonOperator::GreaterThan,
            Tok::Ge => ComparisonOperator::GreaterThanOrEqual,
            Tok::Kw(Keyword::In) => ComparisonOperator::In,
            Tok::Kw(Keyword::Like) => ComparisonOperator::Like,
            Tok::Kw(Keyword::Matches) => ComparisonOperator::Matches,
            Tok::Kw(Keyword::IsSubset) => ComparisonOperator::IsSubset,
            Tok::Kw(Keyword::IsSuperset) => ComparisonOperator::IsSuperset,
            _ if after_not => return Err(self.unexpected("a comparison operator after 'NOT'")),
            _ => return Err(self.unexpected("a comparison operator or 'NOT'")),
        };
        self.bump();
        Ok(op)
    }

    // ----- object paths ------------------------------------------------------------------

    /// `object-path := object-type ':' first-path-component path-step*`
    fn object_path(&mut self) -> Result<ObjectPath<'a>, Error> {
        let start = self.tok.start();
        let object_type = self.object_type()?;
        self.expect(Tok::Colon, "':' after the object type")?;
        let mut components = Vec::with_capacity(4);
        components.push(self.first_path_component()?);
        while matches!(self.tok.tok, Tok::Dot | Tok::LBrack) {
            components.push(self.path_step()?);
        }
        Ok(ObjectPath {
            object_type,
            components,
            span: Span::new(start, self.prev_end),
        })
    }

    /// `object-type := IdentifierWithoutHyphen | IdentifierWithHyphen`
    fn object_type(&mut self) -> Result<&'a str, Error> {
        match self.tok.tok {
            Tok::Ident | Tok::IdentHyphen => {
                let t = self.bump();
                Ok(self.text(t))
            }
            _ => Err(self.unexpected("an object path")),
        }
    }

    /// `first-path-component := IdentifierWithoutHyphen | StringLiteral`
    fn first_path_component(&mut self) -> Result<PathComponent<'a>, Error> {
        self.property_name("a property name after ':'")
    }

    /// `path-step := '.' (IdentifierWithoutHyphen | StringLiteral)
    ///             | '[' (IntPosLiteral | IntNegLiteral | '*') ']'`
    fn path_step(&mut self) -> Result<PathComponent<'a>, Error> {
        if self.bump().tok == Tok::Dot {
            return self.property_name("a property name after '.'");
        }
        let step = match self.tok.tok {
            Tok::Star => PathComponent::AnyIndex,
            Tok::IntPos | Tok::IntNeg => PathComponent::Index(self.int_value(self.tok)?),
            _ => return Err(self.unexpected("a list index or '*' after '['")),
        };
        self.bump();
        self.expect(Tok::RBrack, "']' after the list index")?;
        Ok(step)
    }

    fn property_name(&mut self, what: &str) -> Result<PathComponent<'a>, Error> {
        match self.tok.tok {
            Tok::Ident => {
                let t = self.bump();
                Ok(PathComponent::Property(Cow::Borrowed(self.text(t))))
            }
            Tok::Str { escaped } => {
                let t = self.bump();
                Ok(PathComponent::Property(self.string_value(t, escaped)))
            }
            _ => Err(self.unexpected(what)),
        }
    }

    // ----- literals ----------------------------------------------------------------------

    /// `primitive-literal := orderable-literal | BoolLiteral`
    fn primitive_literal(&mut self, op: ComparisonOperator) -> Result<(Literal<'a>, Span), Error> {
        if let Tok::Bool(b) = self.tok.tok {
            let t = self.bump();
            return Ok((Literal::Bool(b), Span::new(t.start(), t.end())));
        }
        self.orderable_literal(op)
    }

    /// `orderable-literal := IntPosLiteral | IntNegLiteral | FloatPosLiteral | FloatNegLiteral
    ///                     | StringLiteral | BinaryLiteral | HexLiteral | TimestampLiteral`
    fn orderable_literal(&mut self, op: ComparisonOperator) -> Result<(Literal<'a>, Span), Error> {
        let t = self.tok;
        let lit = match t.tok {
            Tok::IntPos | Tok::IntNeg => Literal::Int(self.int_value(t)?),
            Tok::FloatPos | Tok::FloatNeg => Literal::Float(self.float_value(t)?),
            Tok::Str { escaped } => Literal::String(self.string_value(t, escaped)),
            Tok::Binary => Literal::Binary(self.literal_body(t)),
            Tok::Hex => Literal::Hex(self.literal_body(t)),
            Tok::Timestamp => Literal::Timestamp(self.literal_body(t)),
            Tok::Bool(_) => {
                return Err(self.unexpected(&format!(
                    "a number, string, binary, hex or timestamp literal after '{}' (booleans are not ordered)",
                    op.as_str()
                )))
            }
            _ => {
                return Err(self.unexpected(&format!("a literal value after '{}'", op.as_str())))
            }
        };
        self.bump();
        Ok((lit, Span::new(t.start(), t.end())))
    }

    /// A `StringLiteral` operand, as `LIKE`, `MATCHES`, `ISSUBSET` and `ISSUPERSET` take.
    fn string_literal(&mut self, op: ComparisonOperator) -> Result<(Literal<'a>, Span), Error> {
        match self.tok.tok {
            Tok::Str { escaped } => {
                let t = self.bump();
                Ok((
                    Literal::String(self.string_value(t, escaped)),
                    Span::new(t.start(), t.end()),
                ))
            }
            _ => Err(self.unexpected(&format!("a string literal after '{}'", op.as_str()))),
        }
    }

    /// `set-literal := '(' ')' | '(' primitive-literal (',' primitive-literal)* ')'`
    fn set_literal(&mut self) -> Result<Vec<(Literal<'a>, Span)>, Error> {
        self.expect(Tok::LParen, "'(' after 'IN'")?;
        let mut items = Vec::new();
        if self.at(Tok::RParen) {
            self.bump();
            return Ok(items);
        }
        loop {
            items.push(self.primitive_literal(ComparisonOperator::In)?);
            match self.tok.tok {
                Tok::Comma => {
                    self.bump();
                }
                Tok::RParen => {
                    self.bump();
                    return Ok(items);
                }
                _ => return Err(self.unexpected("',' or ')' in the set")),
            }
        }
    }

    /// The text between the quotes of `t'…'`, `h'…'` and `b'…'`.
    fn literal_body(&self, t: Token) -> &'a str {
        &self.src[t.start() + 2..t.end() - 1]
    }

    /// The value of a string literal token: borrowed unless it has escapes.
    fn string_value(&self, t: Token, escaped: bool) -> Cow<'a, str> {
        let body = &self.src[t.start() + 1..t.end() - 1];
        if !escaped {
            return Cow::Borrowed(body);
        }
        // The lexer has verified that every backslash starts `\\` or `\'`.
        let mut out = String::with_capacity(body.len());
        let mut chars = body.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            } else {
                out.push(c);
            }
        }
        Cow::Owned(out)
    }

    fn int_value(&self, t: Token) -> Result<i64, Error> {
        // `i64::from_str` accepts a leading `+` as the grammar does.
        self.text(t)
            .parse()
            .map_err(|_| self.out_of_range(t, "integer", " for a 64-bit signed integer"))
    }

    fn float_value(&self, t: Token) -> Result<f64, Error> {
        match self.text(t).parse::<f64>() {
            Ok(x) if x.is_finite() => Ok(x),
            _ => Err(self.out_of_range(t, "float", "")),
        }
    }
}
