//! Go `regexp` (RE2, `syntax.Perl` flags) patterns, checked with Go's syntax rules and translated
//! to the Rust `regex` crate so that both accept the same patterns and match the same strings.
//!
//! Differences handled: `\d \w \s \b` are ASCII in Go; `\Q…\E` literal text; octal escapes;
//! `[` `&` `-` `~` are plain characters inside Go classes (Rust has nested classes and set
//! operations); an invalid `{` is a literal in Go; `(?)` is valid in Go; repeat counts above
//! 1000 and stacked repetition operators (`a**`) are Go errors; Rust-only syntax (`\<`, `\u…`,
//! flags `x`/`R`/`u`, look-around) is rejected or read the Go way (`\<` is a literal `<`).

use regex::Regex;

/// A compiled Go-syntax pattern (unanchored search, like `regexp.MatchString`).
#[derive(Debug, Clone)]
pub struct GoRegex {
    re: Regex,
}

impl GoRegex {
    /// Check `pattern` with Go's rules and compile it.
    pub fn new(pattern: &str) -> Result<GoRegex, String> {
        let translated = translate(pattern)?;
        let re = regex::RegexBuilder::new(&translated)
            .size_limit(1 << 26)
            .nest_limit(1000)
            .build()
            .map_err(|e| format!("error parsing regexp: {e}"))?;
        Ok(GoRegex { re })
    }

    /// `regexp.MatchString`: does the pattern match anywhere in `s`?
    pub fn is_match(&self, s: &str) -> bool {
        self.re.is_match(s)
    }
}

const D: &str = "0-9";
const S: &str = "\\t\\n\\x0C\\r ";
const W: &str = "0-9A-Za-z_";

fn esc(c: char, out: &mut String) {
    match c {
        '\\' | '.' | '+' | '*' | '?' | '(' | ')' | '|' | '[' | ']' | '{' | '}' | '^' | '$'
        | '#' | '&' | '-' | '~' => {
            out.push('\\');
            out.push(c);
        }
        '\n' => out.push_str("\\n"),
        c if c.is_control() || c == ' ' => out.push_str(&format!("\\x{{{:X}}}", c as u32)),
        c => out.push(c),
    }
}

struct Tr<'a> {
    s: &'a [char],
    i: usize,
    out: String,
    names: Vec<String>,
}

/// What the previous item was, for Go's repetition rules.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Last {
    /// Start of the expression, after `(` or `|`: nothing to repeat.
    Nothing,
    Operand,
    Repeat,
}

fn err<T>(msg: &str) -> Result<T, String> {
    Err(format!("error parsing regexp: {msg}"))
}

/// Translate a Go pattern into an equivalent Rust pattern, or say why Go rejects it.
pub(crate) fn translate(pattern: &str) -> Result<String, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut t = Tr {
        s: &chars,
        i: 0,
        out: String::new(),
        names: Vec::new(),
    };
    let mut depth = 0usize;
    let mut last = Last::Nothing;
    // Go's `repeatIsValid(re, 1000)`: nested counted repetitions may not multiply beyond 1000.
    // Per open group: (largest budget needed by any item so far, budget of the last operand).
    let mut budgets: Vec<(u64, u64)> = vec![(1, 1)];
    while let Some(&c) = t.s.get(t.i) {
        t.i += 1;
        let frame = budgets.len() - 1;
        match c {
            '(' if t.s.get(t.i) != Some(&'?') => budgets.push((1, 1)),
            '(' if t.peek_opens_group() => budgets.push((1, 1)),
            ')' if budgets.len() > 1 => {
                let (inner, _) = budgets.pop().unwrap_or((1, 1));
                let f = budgets.len() - 1;
                budgets[f].0 = budgets[f].0.max(inner);
                budgets[f].1 = inner;
            }
            '{' => {}
            '*' | '+' | '?' => {}
            _ => budgets[frame].1 = 1,
        }
        if c == '{' {
            let save = t.i;
            match t.counted_repeat() {
                Some((_, min, max)) => {
                    let sub = budgets[frame].1.max(1);
                    let need = match max {
                        Some(0) => 1,
                        _ => match max.unwrap_or(min) {
                            0 => sub,
                            m => m.saturating_mul(sub),
                        },
                    };
                    if (min >= 2 || max.is_some_and(|m| m >= 2)) && need > 1000 {
                        return err("invalid repeat count");
                    }
                    budgets[frame].0 = budgets[frame].0.max(need);
                    budgets[frame].1 = need;
                }
                None => budgets[frame].1 = 1,
            }
            t.i = save;
        }
        match c {
            '(' => {
                last = Last::Nothing;
                if t.s.get(t.i) == Some(&'?') {
                    t.i += 1;
                    if t.group_extension()? {
                        depth += 1;
                    } else {
                        // a bare flag group `(?i)` applies to the rest and is not an operand
                        continue;
                    }
                } else {
                    t.out.push('(');
                    depth += 1;
                }
            }
            ')' => {
                if depth == 0 {
                    return err("unexpected )");
                }
                depth -= 1;
                t.out.push(')');
                last = Last::Operand;
            }
            '|' => {
                t.out.push('|');
                last = Last::Nothing;
            }
            '*' | '+' | '?' => {
                t.repeat_check(last)?;
                t.out.push(c);
                t.lazy_suffix();
                last = Last::Repeat;
            }
            '{' => {
                if let Some((text, min, max)) = t.counted_repeat() {
                    if min > 1000 || max.is_some_and(|m| m > 1000 || m < min) {
                        return err("invalid repeat count");
                    }
                    t.repeat_check(last)?;
                    t.out.push_str(&text);
                    t.lazy_suffix();
                    last = Last::Repeat;
                } else {
                    t.out.push_str("\\{");
                    last = Last::Operand;
                }
            }
            '[' => {
                t.class()?;
                last = Last::Operand;
            }
            '.' | '^' | '$' => {
                t.out.push(c);
                last = Last::Operand;
            }
            '\\' => {
                t.escape_outside()?;
                last = Last::Operand;
            }
            c => {
                esc(c, &mut t.out);
                last = Last::Operand;
            }
        }
    }
    if depth > 0 {
        return err("missing closing )");
    }
    Ok(t.out)
}

impl Tr<'_> {
    /// After `(` with `?` next: does this `(?…` open a group (rather than set flags)?
    fn peek_opens_group(&self) -> bool {
        let rest: String = self.s[self.i..].iter().take(64).collect();
        let body = &rest[1..];
        if body.starts_with("P<") || body.starts_with('<') {
            return true;
        }
        for c in body.chars() {
            match c {
                ':' => return true,
                ')' => return false,
                _ => {}
            }
        }
        false
    }

    fn repeat_check(&self, last: Last) -> Result<(), String> {
        match last {
            Last::Nothing => err("missing argument to repetition operator"),
            Last::Repeat => err("invalid nested repetition operator"),
            Last::Operand => Ok(()),
        }
    }

    fn lazy_suffix(&mut self) {
        if self.s.get(self.i) == Some(&'?') {
            self.i += 1;
            self.out.push('?');
        }
    }

    /// After `{`: Go's `parseRepeat` (`{n}`, `{n,}`, `{n,m}`); `None` means a literal `{`.
    fn counted_repeat(&mut self) -> Option<(String, u64, Option<u64>)> {
        let start = self.i;
        let num = |i: &mut usize, s: &[char]| -> Option<u64> {
            let st = *i;
            while *i < s.len() && s[*i].is_ascii_digit() {
                *i += 1;
            }
            if *i == st {
                return None;
            }
            let txt: String = s[st..*i].iter().collect();
            // Go caps at 1000 anyway; treat huge numbers as "too large" rather than overflow.
            Some(txt.parse::<u64>().unwrap_or(u64::MAX))
        };
        let mut i = start;
        let min = num(&mut i, self.s)?;
        let max;
        if self.s.get(i) == Some(&',') {
            i += 1;
            if self.s.get(i) == Some(&'}') {
                max = None;
            } else {
                max = Some(num(&mut i, self.s)?);
            }
        } else {
            max = Some(min);
        }
        if self.s.get(i) != Some(&'}') {
            return None;
        }
        i += 1;
        self.i = i;
        let text = match max {
            None => format!("{{{min},}}"),
            Some(m) if m == min && !self.s[start..i].contains(&',') => format!("{{{min}}}"),
            Some(m) => format!("{{{min},{m}}}"),
        };
        Some((text, min, max))
    }

    /// After `(?`: returns whether a group was opened (false for a bare flag setting).
    fn group_extension(&mut self) -> Result<bool, String> {
        let rest: String = self.s[self.i..].iter().collect();
        let name_start = if rest.starts_with("P<") {
            Some(2)
        } else if rest.starts_with('<') {
            Some(1)
        } else {
            None
        };
        if let Some(skip) = name_start {
            let body = &rest[skip..];
            let end = body
                .find('>')
                .ok_or_else(|| "error parsing regexp: invalid named capture".to_owned())?;
            let name = &body[..end];
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return err("invalid named capture");
            }
            if self.names.iter().any(|n| n == name) {
                return err("duplicate capture group name");
            }
            self.names.push(name.to_owned());
            // Names do not affect matching; Rust's name rules differ from Go's (`1a` is valid
            // in Go), so the group is emitted unnamed.
            self.out.push('(');
            self.i += skip + end + 1;
            return Ok(true);
        }
        // Flags: [imsU]* (- [imsU]+)? then ':' or ')'.
        let mut flags = String::new();
        let mut negated = false;
        let mut saw_flag = false;
        loop {
            let Some(&c) = self.s.get(self.i) else {
                return err("missing closing )");
            };
            self.i += 1;
            match c {
                'i' | 'm' | 's' | 'U' => {
                    flags.push(c);
                    saw_flag = true;
                }
                '-' => {
                    if negated {
                        return err("invalid or unsupported Perl syntax");
                    }
                    negated = true;
                    saw_flag = false;
                    flags.push('-');
                }
                ':' | ')' => {
                    if negated && !saw_flag {
                        return err("invalid or unsupported Perl syntax");
                    }
                    let open = c == ':';
                    match (flags.is_empty(), open) {
                        (true, true) => self.out.push_str("(?:"),
                        (true, false) => {}
                        (false, true) => self.out.push_str(&format!("(?{flags}:")),
                        (false, false) => self.out.push_str(&format!("(?{flags})")),
                    }
                    return Ok(open);
                }
                _ => return err("invalid or unsupported Perl syntax"),
            }
        }
    }

    /// Go `parseEscape` for a single character (after the backslash), used inside and outside
    /// classes. Returns the literal character.
    fn escape_char(&mut self) -> Result<char, String> {
        let Some(&c) = self.s.get(self.i) else {
            return err("trailing backslash at end of expression");
        };
        self.i += 1;
        match c {
            '1'..='7' if !matches!(self.s.get(self.i), Some('0'..='7')) => {
                err("invalid escape sequence")
            }
            '0'..='7' => {
                // Up to two more octal digits.
                let mut v = c.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    match self.s.get(self.i).and_then(|d| d.to_digit(8)) {
                        Some(d) => {
                            v = v * 8 + d;
                            self.i += 1;
                        }
                        None => break,
                    }
                }
                char::from_u32(v).ok_or_else(|| "error parsing regexp: invalid escape".to_owned())
            }
            'x' => {
                if self.s.get(self.i) == Some(&'{') {
                    self.i += 1;
                    let st = self.i;
                    while self.s.get(self.i).is_some_and(|c| c.is_ascii_hexdigit()) {
                        self.i += 1;
                    }
                    let hex: String = self.s[st..self.i].iter().collect();
                    if hex.is_empty() || self.s.get(self.i) != Some(&'}') {
                        return err("invalid escape sequence");
                    }
                    self.i += 1;
                    let v = u32::from_str_radix(&hex, 16).unwrap_or(u32::MAX);
                    if v > 0x10FFFF {
                        return err("invalid escape sequence");
                    }
                    // Surrogate code points are not chars in Rust; Go accepts them but no
                    // valid UTF-8 text contains them, so they can never match.
                    Ok(char::from_u32(v).unwrap_or('\u{FFFF}'))
                } else {
                    let h: String = self
                        .s
                        .get(self.i..self.i + 2)
                        .unwrap_or(&[])
                        .iter()
                        .collect();
                    if h.len() != 2 || !h.chars().all(|c| c.is_ascii_hexdigit()) {
                        return err("invalid escape sequence");
                    }
                    self.i += 2;
                    Ok(char::from_u32(u32::from_str_radix(&h, 16).unwrap_or(0)).unwrap_or('\0'))
                }
            }
            'a' => Ok('\u{7}'),
            'f' => Ok('\u{c}'),
            't' => Ok('\t'),
            'n' => Ok('\n'),
            'r' => Ok('\r'),
            'v' => Ok('\u{b}'),
            c if c.is_ascii() && !c.is_ascii_alphanumeric() => Ok(c),
            _ => err("invalid escape sequence"),
        }
    }

    /// `\p{Name}`, `\pN`, `\P…` (after the backslash and the p/P letter).
    fn unicode_class(&mut self, negate: bool) -> Result<String, String> {
        let name: String =
            if self.s.get(self.i) == Some(&'{') {
                let st = self.i + 1;
                let end = self.s[st..].iter().position(|c| *c == '}').ok_or_else(|| {
                    "error parsing regexp: invalid character class range".to_owned()
                })?;
                self.i = st + end + 1;
                self.s[st..st + end].iter().collect()
            } else {
                let c = *self.s.get(self.i).ok_or_else(|| {
                    "error parsing regexp: invalid character class range".to_owned()
                })?;
                self.i += 1;
                c.to_string()
            };
        let (neg, name) = match name.strip_prefix('^') {
            Some(n) => (!negate, n.to_owned()),
            None => (negate, name),
        };
        let canon = go_canonical_name(&name);
        if crate::unicode_names::GO_UNICODE_CLASSES
            .binary_search(&canon.as_str())
            .is_err()
        {
            return err("invalid character class range");
        }
        // Rust matches property names loosely (UTS #18), so Go's canonical form resolves to the
        // same category, script or alias.
        Ok(format!("\\{}{{{canon}}}", if neg { 'P' } else { 'p' }))
    }

    fn escape_outside(&mut self) -> Result<(), String> {
        let Some(&c) = self.s.get(self.i) else {
            return err("trailing backslash at end of expression");
        };
        match c {
            'A' | 'z' => {
                self.i += 1;
                self.out.push('\\');
                self.out.push(c);
            }
            'b' | 'B' => {
                self.i += 1;
                self.out.push_str(&format!("(?-u:\\{c})"));
            }
            'd' | 'D' | 's' | 'S' | 'w' | 'W' => {
                self.i += 1;
                self.out.push_str(&perl_class(c, true));
            }
            'p' | 'P' => {
                self.i += 1;
                let cls = self.unicode_class(c == 'P')?;
                self.out.push_str(&cls);
            }
            'Q' => {
                self.i += 1;
                let rest: String = self.s[self.i..].iter().collect();
                let (lit, consumed) = match rest.find("\\E") {
                    Some(p) => (rest[..p].to_owned(), rest[..p].chars().count() + 2),
                    None => (rest.clone(), rest.chars().count()),
                };
                self.i += consumed;
                // Go treats the quoted text as one concatenation of literals.
                if lit.chars().count() > 1 {
                    self.out.push_str("(?:");
                }
                lit.chars().for_each(|c| esc(c, &mut self.out));
                if lit.chars().count() > 1 {
                    self.out.push(')');
                }
            }
            _ => {
                let lit = self.escape_char()?;
                esc(lit, &mut self.out);
            }
        }
        Ok(())
    }

    /// A bracket class; `self.i` is just after `[`.
    fn class(&mut self) -> Result<(), String> {
        let mut out = String::from("[");
        if self.s.get(self.i) == Some(&'^') {
            self.i += 1;
            out.push('^');
        }
        let mut first = true;
        loop {
            let Some(&c) = self.s.get(self.i) else {
                return err("missing closing ]");
            };
            if c == ']' && !first {
                self.i += 1;
                break;
            }
            first = false;
            // POSIX [:name:]
            if c == '[' && self.s.get(self.i + 1) == Some(&':') {
                let rest: String = self.s[self.i + 2..].iter().collect();
                if let Some(end) = rest.find(":]") {
                    let name = &rest[..end];
                    let bare = name.strip_prefix('^').unwrap_or(name);
                    const POSIX: [&str; 14] = [
                        "alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph", "lower",
                        "print", "punct", "space", "upper", "word", "xdigit",
                    ];
                    if !POSIX.contains(&bare) {
                        return err("invalid character class range");
                    }
                    out.push_str(&format!("[:{name}:]"));
                    self.i += 2 + rest[..end].chars().count() + 2;
                    continue;
                }
            }
            if c == '\\' {
                match self.s.get(self.i + 1) {
                    Some(&p @ ('p' | 'P')) => {
                        self.i += 2;
                        let cls = self.unicode_class(p == 'P')?;
                        out.push_str(&cls);
                        continue;
                    }
                    Some(&k @ ('d' | 'D' | 's' | 'S' | 'w' | 'W')) => {
                        self.i += 2;
                        out.push_str(&perl_class(k, false));
                        continue;
                    }
                    _ => {}
                }
            }
            let lo = self.class_char()?;
            let mut hi = lo;
            if self.s.get(self.i) == Some(&'-') && self.s.get(self.i + 1).is_some_and(|c| *c != ']')
            {
                self.i += 1;
                hi = self.class_char()?;
                if hi < lo {
                    return err("invalid character class range");
                }
            }
            esc(lo, &mut out);
            if hi != lo {
                out.push('-');
                esc(hi, &mut out);
            }
        }
        out.push(']');
        self.out.push_str(&out);
        Ok(())
    }

    fn class_char(&mut self) -> Result<char, String> {
        let Some(&c) = self.s.get(self.i) else {
            return err("missing closing ]");
        };
        self.i += 1;
        if c == '\\' {
            return self.escape_char();
        }
        Ok(c)
    }
}

/// Go's `canonicalName`: drop `_`, `-` and spaces, upper-case the first letter, lower-case the
/// rest (ASCII only).
fn go_canonical_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut first = true;
    for c in name.chars() {
        match c {
            '_' | '-' | ' ' => {}
            c if first => {
                out.push(c.to_ascii_uppercase());
                first = false;
            }
            c => out.push(c.to_ascii_lowercase()),
        }
    }
    out
}

/// Go's ASCII Perl classes, as a standalone class (`top`) or as items inside a class.
fn perl_class(k: char, top: bool) -> String {
    let (body, neg) = match k {
        'd' => (D, false),
        'D' => (D, true),
        's' => (S, false),
        'S' => (S, true),
        'w' => (W, false),
        _ => (W, true),
    };
    match (top, neg) {
        (_, true) => format!("[^{body}]"),
        (true, false) => format!("[{body}]"),
        (false, false) => body.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, s: &str) -> bool {
        GoRegex::new(p).unwrap().is_match(s)
    }

    // Expectations follow Go's regexp/syntax documentation (RE2 syntax, Perl flags).
    #[test]
    fn ascii_perl_classes() {
        assert!(!m(r"^\d$", "٣")); // Arabic-Indic digit: Unicode Nd, not Go's \d
        assert!(m(r"^\w+$", "abc_1"));
        assert!(!m(r"^\w$", "é"));
        assert!(m(r"\bx", "a x"));
    }

    #[test]
    fn go_literal_forms() {
        assert!(m(r"\Q.*\E", "a.*b"));
        assert!(!m(r"^\Q.*\E$", "ab"));
        assert!(m(r"a{", "a{"));
        assert!(m(r"x{2,1", "x{2,1"));
        assert!(m(r"[[]", "["));
        assert!(m(r"[a&&b]", "&"));
        assert!(m(r"\<", "<"));
        assert!(m(r"(?)a", "a"));
        assert!(m(r"\101", "A"));
    }

    #[test]
    fn go_rejections() {
        for bad in [
            r"a**",
            r"*a",
            r"a{1001}",
            r"(?x)a",
            r"\u0041",
            r"(?=a)",
            r"\1",
            r"[z-a]",
            r"(",
            r")",
            r"[a",
            r"\8",
            r"(?P<a>x)(?P<a>y)",
        ] {
            assert!(GoRegex::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn issue_8578_pattern() {
        let p = "^(elasticsearch|growi|gitea-apps-k8s-deployment2|growi-mongodb)$";
        assert!(m(p, "growi-mongodb"));
        assert!(!m(p, "growi-mongodb-x"));
    }
}
