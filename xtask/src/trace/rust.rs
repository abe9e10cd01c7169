//! Reading Rust, lightly: item headers, attributes, brackets.

/// An item header: the code after the previous `;`, `{` or `}` up to the
/// `{` or `;` that ends it, comments removed (string literals kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Header {
    pub(super) text: String,
    /// Ended by `{` (a block follows) rather than `;`.
    pub(super) block: bool,
    /// The headers of the blocks open around it, outermost first.
    pub(super) enclosing: Vec<usize>,
}

/// Every header of `text`, in order. Knows line and block comments, string,
/// raw string, byte string and char literals, and lifetimes; enough for
/// attributes, `mod` and `fn` items.
pub(super) fn headers(text: &str) -> Vec<Header> {
    let c: Vec<char> = text.chars().collect();
    let mut out: Vec<Header> = Vec::new();
    let mut stack: Vec<usize> = Vec::new();
    let mut cur = String::new();
    let is_ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        match ch {
            '/' if c.get(i + 1) == Some(&'/') => {
                while i < c.len() && c[i] != '\n' {
                    i += 1;
                }
                cur.push(' ');
                continue;
            }
            '/' if c.get(i + 1) == Some(&'*') => {
                let mut depth = 0;
                while i < c.len() {
                    if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                        depth += 1;
                        i += 2;
                    } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
                cur.push(' ');
                continue;
            }
            '"' => {
                cur.push('"');
                i += 1;
                while i < c.len() && c[i] != '"' {
                    if c[i] == '\\' && i + 1 < c.len() {
                        cur.push(c[i]);
                        i += 1;
                    }
                    cur.push(c[i]);
                    i += 1;
                }
                cur.push('"');
                i += 1;
                continue;
            }
            'r' if {
                let before = if i > 0 { c[i - 1] } else { ' ' };
                let raw_start = !is_ident(before) || (before == 'b' && (i < 2 || !is_ident(c[i - 2])));
                let mut j = i + 1;
                while c.get(j) == Some(&'#') {
                    j += 1;
                }
                raw_start && c.get(j) == Some(&'"')
            } =>
            {
                let mut j = i + 1;
                let mut hashes = 0;
                while c[j] == '#' {
                    hashes += 1;
                    j += 1;
                }
                cur.push('"');
                j += 1;
                while j < c.len() {
                    if c[j] == '"' && (0..hashes).all(|k| c.get(j + 1 + k) == Some(&'#')) {
                        j += 1 + hashes;
                        break;
                    }
                    cur.push(c[j]);
                    j += 1;
                }
                cur.push('"');
                i = j;
                continue;
            }
            '\'' => {
                // A char literal ('x', '\n', '\''), else a lifetime.
                if c.get(i + 1) == Some(&'\\') {
                    let mut j = i + 3;
                    while j < c.len() && c[j] != '\'' {
                        j += 1;
                    }
                    cur.push_str("' '");
                    i = j + 1;
                    continue;
                }
                if c.get(i + 2) == Some(&'\'') {
                    cur.push_str("' '");
                    i += 3;
                    continue;
                }
                cur.push('\'');
            }
            '{' => {
                out.push(Header { text: cur.trim().to_string(), block: true, enclosing: stack.clone() });
                stack.push(out.len() - 1);
                cur.clear();
            }
            '}' => {
                stack.pop();
                cur.clear();
            }
            ';' => {
                if !cur.trim().is_empty() {
                    out.push(Header { text: cur.trim().to_string(), block: false, enclosing: stack.clone() });
                }
                cur.clear();
            }
            _ => cur.push(ch),
        }
        i += 1;
    }
    out
}

/// The outer attributes at the start of a header (their text inside
/// `#[..]`, trimmed) and the item after them, its words joined by single
/// spaces. Inner attributes (`#![..]`) are skipped.
pub(super) fn item(header: &str) -> (Vec<String>, String) {
    let mut attrs = Vec::new();
    let mut rest = header.trim_start();
    loop {
        let (inner, after) = if let Some(r) = rest.strip_prefix("#!") {
            (true, r.trim_start())
        } else if let Some(r) = rest.strip_prefix('#') {
            (false, r.trim_start())
        } else {
            break;
        };
        let Some(body) = after.strip_prefix('[') else { break };
        let Some(end) = closing_bracket(body) else { break };
        if !inner {
            attrs.push(body[..end].trim().to_string());
        }
        rest = body[end + 1..].trim_start();
    }
    (attrs, rest.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// The inner attributes (`#![..]`) among the attributes at the start of a header.
pub(super) fn inner_attributes(header: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = header.trim_start();
    while let Some(r) = rest.strip_prefix('#') {
        let (inner, r) = match r.trim_start().strip_prefix('!') {
            Some(r) => (true, r.trim_start()),
            None => (false, r.trim_start()),
        };
        let Some(body) = r.strip_prefix('[') else { break };
        let Some(end) = closing_bracket(body) else { break };
        if inner {
            out.push(body[..end].trim().to_string());
        }
        rest = body[end + 1..].trim_start();
    }
    out
}

/// The index of the `]` closing an attribute whose text starts `s` (after
/// its `[`), skipping nested brackets and strings.
pub(super) fn closing_bracket(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_str = false;
    let mut escaped = false;
    for (i, ch) in s.char_indices() {
        if in_str {
            match (escaped, ch) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match ch {
            '"' => in_str = true,
            '[' | '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ']' if depth == 0 => return Some(i),
            ']' => depth -= 1,
            _ => {}
        }
    }
    None
}
