//! `github.com/gobwas/glob` v0.2.3 patterns: lexer and parser follow gobwas (including what it
//! accepts loosely, such as an unclosed `{`), and matching is done by translating the pattern
//! to an anchored regular expression.
//!
//! Syntax: `*` any run of characters except separators, `**` any run, `?` one character except a
//! separator, `[abc]` / `[!abc]` / `[a-z]` / `[!a-z]` one character (separators included),
//! `{a,b}` alternatives, `\` escapes the next character.

use regex::Regex;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Text(String),
    Any,
    Super,
    Single,
    RangeOpen,
    RangeClose,
    Not,
    RangeLo(char),
    RangeHi(char),
    TermsOpen,
    TermsClose,
    Separator,
    Eof,
}

fn lex(pattern: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = pattern.chars().collect();
    // A NUL rune is gobwas' end-of-input marker.
    let end = chars.iter().position(|c| *c == '\0').unwrap_or(chars.len());
    let chars = &chars[..end];
    let mut toks = Vec::new();
    let mut i = 0;
    let mut terms = 0usize;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '{' => {
                terms += 1;
                toks.push(Tok::TermsOpen);
            }
            ',' if terms > 0 => toks.push(Tok::Separator),
            '}' if terms > 0 => {
                toks.push(Tok::TermsClose);
                terms -= 1;
            }
            '[' => {
                toks.push(Tok::RangeOpen);
                i = lex_range(chars, i, &mut toks)?;
            }
            '?' => toks.push(Tok::Single),
            '*' => {
                if chars.get(i) == Some(&'*') {
                    i += 1;
                    toks.push(Tok::Super);
                } else {
                    toks.push(Tok::Any);
                }
            }
            _ => {
                i -= 1;
                let breakers: &[char] = if terms > 0 {
                    &['?', '*', '[', '{', '}', ',']
                } else {
                    &['?', '*', '[', '{']
                };
                let (text, next) = lex_text(chars, i, breakers);
                i = next;
                if !text.is_empty() {
                    toks.push(Tok::Text(text));
                }
            }
        }
    }
    toks.push(Tok::Eof);
    Ok(toks)
}

fn lex_text(chars: &[char], mut i: usize, breakers: &[char]) -> (String, usize) {
    let mut out = String::new();
    let mut escaped = false;
    while i < chars.len() {
        let c = chars[i];
        if !escaped {
            if c == '\\' {
                escaped = true;
                i += 1;
                continue;
            }
            if breakers.contains(&c) {
                break;
            }
        }
        escaped = false;
        out.push(c);
        i += 1;
    }
    (out, i)
}

fn lex_range(chars: &[char], mut i: usize, toks: &mut Vec<Tok>) -> Result<usize, String> {
    let mut want_hi = false;
    let mut want_close = false;
    let mut seen_not = false;
    loop {
        let Some(&c) = chars.get(i) else {
            return Err("unexpected end of input".into());
        };
        i += 1;
        if want_close {
            if c != ']' {
                return Err("expected close range character".into());
            }
            toks.push(Tok::RangeClose);
            return Ok(i);
        }
        if want_hi {
            toks.push(Tok::RangeHi(c));
            want_close = true;
            continue;
        }
        if !seen_not && c == '!' {
            toks.push(Tok::Not);
            seen_not = true;
            continue;
        }
        if chars.get(i) == Some(&'-') {
            i += 1;
            toks.push(Tok::RangeLo(c));
            want_hi = true;
            continue;
        }
        let (text, next) = lex_text(chars, i - 1, &[']']);
        i = next;
        if !text.is_empty() {
            toks.push(Tok::Text(text));
        }
        want_close = true;
    }
}

#[derive(Debug, Clone)]
enum Ast {
    Text(String),
    Any,
    Super,
    Single,
    List { chars: String, not: bool },
    Range { lo: char, hi: char, not: bool },
    AnyOf(Vec<Vec<Ast>>),
}

/// Parse tokens into a sequence; `{` opens alternatives, `,` starts the next one, `}` closes.
fn parse(toks: &[Tok]) -> Result<Vec<Ast>, String> {
    // Stack of open alternative groups: each holds finished alternatives and the current one.
    let mut root: Vec<Ast> = Vec::new();
    let mut groups: Vec<(Vec<Vec<Ast>>, Vec<Ast>)> = Vec::new();
    let mut i = 0;
    fn cur<'a>(
        root: &'a mut Vec<Ast>,
        groups: &'a mut [(Vec<Vec<Ast>>, Vec<Ast>)],
    ) -> &'a mut Vec<Ast> {
        match groups.last_mut() {
            Some((_, c)) => c,
            None => root,
        }
    }
    while i < toks.len() {
        let t = &toks[i];
        i += 1;
        match t {
            Tok::Eof => break,
            Tok::Text(s) => cur(&mut root, &mut groups).push(Ast::Text(s.clone())),
            Tok::Any => cur(&mut root, &mut groups).push(Ast::Any),
            Tok::Super => cur(&mut root, &mut groups).push(Ast::Super),
            Tok::Single => cur(&mut root, &mut groups).push(Ast::Single),
            Tok::TermsOpen => groups.push((Vec::new(), Vec::new())),
            Tok::Separator => {
                let (done, c) = groups.last_mut().ok_or("unexpected separator")?;
                done.push(std::mem::take(c));
            }
            Tok::TermsClose => {
                let (mut done, c) = groups.pop().ok_or("unexpected terms close")?;
                done.push(c);
                cur(&mut root, &mut groups).push(Ast::AnyOf(done));
            }
            Tok::RangeOpen => {
                let mut not = false;
                let mut lo: Option<char> = None;
                let mut hi: Option<char> = None;
                let mut chars = String::new();
                loop {
                    let t = toks.get(i).ok_or("unexpected end")?;
                    i += 1;
                    match t {
                        Tok::Eof => return Err("unexpected end".into()),
                        Tok::Not => not = true,
                        Tok::RangeLo(c) => lo = Some(*c),
                        Tok::RangeHi(c) => {
                            if lo.is_some_and(|l| *c < l) {
                                return Err("hi character should be greater than lo".into());
                            }
                            hi = Some(*c);
                        }
                        Tok::Text(s) => chars = s.clone(),
                        Tok::RangeClose => {
                            let is_range = lo.is_some() && hi.is_some();
                            let is_chars = !chars.is_empty();
                            if is_chars == is_range {
                                return Err("could not parse range".into());
                            }
                            let node = match (lo, hi) {
                                (Some(lo), Some(hi)) if is_range => Ast::Range { lo, hi, not },
                                _ => Ast::List { chars, not },
                            };
                            cur(&mut root, &mut groups).push(node);
                            break;
                        }
                        _ => return Err("unexpected token in range".into()),
                    }
                }
            }
            Tok::RangeClose | Tok::Not | Tok::RangeLo(_) | Tok::RangeHi(_) => {
                return Err("unexpected token".into());
            }
        }
    }
    // gobwas leaves unclosed `{` groups in the tree as alternatives.
    while let Some((mut done, c)) = groups.pop() {
        done.push(c);
        cur(&mut root, &mut groups).push(Ast::AnyOf(done));
    }
    Ok(root)
}

fn esc_char(c: char, out: &mut String) {
    if regex_syntax_is_meta(c) {
        out.push('\\');
    }
    out.push(c);
}

fn regex_syntax_is_meta(c: char) -> bool {
    matches!(
        c,
        '\\' | '.'
            | '+'
            | '*'
            | '?'
            | '('
            | ')'
            | '|'
            | '['
            | ']'
            | '{'
            | '}'
            | '^'
            | '$'
            | '#'
            | '&'
            | '-'
            | '~'
    )
}

fn to_regex(seq: &[Ast], seps: &[char], out: &mut String) {
    let mut sep_class = String::new();
    for c in seps {
        esc_char(*c, &mut sep_class);
    }
    for n in seq {
        match n {
            Ast::Text(t) => t.chars().for_each(|c| esc_char(c, out)),
            Ast::Any if seps.is_empty() => out.push_str(".*"),
            Ast::Any => out.push_str(&format!("[^{sep_class}]*")),
            Ast::Super => out.push_str(".*"),
            Ast::Single if seps.is_empty() => out.push('.'),
            Ast::Single => out.push_str(&format!("[^{sep_class}]")),
            Ast::List { chars, not } => {
                out.push('[');
                if *not {
                    out.push('^');
                }
                chars.chars().for_each(|c| esc_char(c, out));
                out.push(']');
            }
            Ast::Range { lo, hi, not } => {
                out.push('[');
                if *not {
                    out.push('^');
                }
                esc_char(*lo, out);
                out.push('-');
                esc_char(*hi, out);
                out.push(']');
            }
            Ast::AnyOf(alts) => {
                out.push_str("(?:");
                for (i, a) in alts.iter().enumerate() {
                    if i > 0 {
                        out.push('|');
                    }
                    to_regex(a, seps, out);
                }
                out.push(')');
            }
        }
    }
}

/// A compiled gobwas glob.
#[derive(Debug, Clone)]
pub struct Glob {
    re: Regex,
    exact: bool,
}

/// Whether gobwas' optimising compiler is known to match exactly like the pattern's plain
/// meaning: alternatives (`{…}`) must be closed, non-empty and made of literal text only.
/// gobwas mis-compiles some other shapes (`{*,x}.apps` does not match `deployments.apps`;
/// `*{` matches nothing; `deployments.apps{` panics), which we do not reproduce.
fn exact(seq: &[Ast], toks: &[Tok]) -> bool {
    let opens = toks.iter().filter(|t| **t == Tok::TermsOpen).count();
    let closes = toks.iter().filter(|t| **t == Tok::TermsClose).count();
    opens == closes && seq_exact(seq)
}

fn seq_exact(seq: &[Ast]) -> bool {
    seq.iter().all(|n| match n {
        Ast::AnyOf(alts) => alts.iter().all(|a| {
            !a.is_empty()
                && a.iter().all(|x| {
                    matches!(x, Ast::Text(_))
                        || (matches!(x, Ast::AnyOf(_)) && seq_exact(std::slice::from_ref(x)))
                })
        }),
        _ => true,
    })
}

impl Glob {
    /// `glob.Compile(pattern, separators...)`.
    pub fn compile(pattern: &str, separators: &[char]) -> Result<Glob, String> {
        let toks = lex(pattern)?;
        let ast = parse(&toks)?;
        let exact = exact(&ast, &toks);
        let mut re = String::from("(?s)\\A(?:");
        to_regex(&ast, separators, &mut re);
        re.push_str(")\\z");
        let re = regex::RegexBuilder::new(&re)
            .size_limit(1 << 24)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Glob { re, exact })
    }

    /// `false` when the pattern uses `{…}` alternatives in a shape where gobwas' compiler is
    /// known to deviate from the pattern's meaning (wildcards or empty alternatives inside
    /// `{}`, unclosed `{`): the match result may then differ from Velero's.
    pub fn is_exact(&self) -> bool {
        self.exact
    }

    /// `Glob.Match`.
    pub fn is_match(&self, s: &str) -> bool {
        self.re.is_match(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, s: &str) -> bool {
        Glob::compile(p, &['.']).unwrap().is_match(s)
    }

    // Expectations from Velero's documentation (§ wildcard groupResource) and gobwas' README.
    #[test]
    fn group_resource_globs() {
        assert!(m("deployments.apps", "deployments.apps"));
        assert!(!m("deployments", "deployments.apps"));
        assert!(m("*.apps", "deployments.apps"));
        assert!(m("*", "pods"));
        assert!(!m("*", "deployments.apps"));
        assert!(m("*.*", "deployments.apps"));
        assert!(!m("*.*", "pods"));
        assert!(m("**", "a.b.c"));
        assert!(m("{pods,deployments.apps}", "deployments.apps"));
        assert!(m("pod?", "pods"));
        assert!(m("[a-z]ods", "pods"));
        assert!(m("[!x]ods", "pods"));
    }

    #[test]
    fn compile_errors() {
        for bad in ["[", "[]", "[!]", "[z-a]", "[abc", "[a-b"] {
            assert!(Glob::compile(bad, &['.']).is_err(), "{bad}");
        }
        // An unclosed `{` is accepted by gobwas.
        assert!(m("{a,b", "b"));
    }
}
