//! RFC 6902 JSON patch with the semantics of `github.com/evanphx/json-patch/v5` (v5.8.0 and
//! v5.9.11 behave the same for everything reachable from Velero) under `NewApplyOptions()`:
//! negative indices count from the end, `strconv.Atoi` indices (`01`, `+1` accepted), `-` appends
//! only for `add`, `test` of `null` succeeds on a missing key, no parent creation, atomic.
//!
//! The quirks of evanphx's lazy nodes are kept on purpose, because Velero inherits them:
//! an empty reference token (`/spec/template/`) addresses the key `""` of an object; an empty
//! intermediate token on the root (`//x`) walks a detached copy of the original document; a
//! `null` inserted by `add` in the same patch is not "nil" for a later `test`.

use crate::gojson::{self, Node};

/// Why a patch failed, classified the way Velero's callers look at the Go errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PatchError {
    /// `jsonpatch.ErrTestFailed`.
    TestFailed(String),
    /// `jsonpatch.ErrMissing` (path does not exist).
    Missing(String),
    /// Anything else (bad index, decode failure, …).
    Other(String),
}

impl PatchError {
    pub(crate) fn message(&self) -> &str {
        match self {
            PatchError::TestFailed(m) | PatchError::Missing(m) | PatchError::Other(m) => m,
        }
    }
}

/// One decoded operation: the raw members of the operation object.
#[derive(Debug, Clone)]
pub(crate) struct Operation {
    op: Option<Node>,
    path: Option<Node>,
    from: Option<Node>,
    /// `None`: member absent; `Some(Node::Null)` for an explicit `null`.
    value: Option<Node>,
}

impl Operation {
    fn kind(&self) -> &str {
        match &self.op {
            Some(Node::String(s)) => s,
            _ => "unknown",
        }
    }

    fn string_member(m: &Option<Node>, name: &str) -> Result<String, PatchError> {
        match m {
            Some(Node::String(s)) => Ok(s.clone()),
            // JSON null decodes to a nil RawMessage, which evanphx treats as absent.
            None | Some(Node::Null) => Err(PatchError::Missing(format!(
                "operation missing {name} field"
            ))),
            Some(_) => Err(PatchError::Other(format!("{name} is not a string"))),
        }
    }

    fn path(&self) -> Result<String, PatchError> {
        Self::string_member(&self.path, "path")
    }

    fn from(&self) -> Result<String, PatchError> {
        Self::string_member(&self.from, "from")
    }

    /// `Operation.value()`: an explicit null is a raw `null` node, an absent member is nil.
    fn value(&self) -> Node {
        match &self.value {
            None => Node::Null,
            Some(Node::Null) => Node::InsertedNull,
            Some(v) => v.clone(),
        }
    }

    fn value_is_null(&self) -> bool {
        matches!(self.value, None | Some(Node::Null))
    }
}

/// `jsonpatch.DecodePatch`: validate the JSON, decode the operation list, validate each op.
pub(crate) fn decode(text: &str) -> Result<Vec<Operation>, PatchError> {
    let Some(doc) = gojson::parse(text) else {
        return Err(PatchError::Other("invalid JSON patch document".into()));
    };
    let items = match doc {
        Node::Null => return Ok(Vec::new()),
        Node::Array(items) => items,
        _ => return Err(PatchError::Other("patch is not an array".into())),
    };
    let mut ops = Vec::with_capacity(items.len());
    for item in items {
        let op = match item {
            Node::Object(entries) => {
                let mut op = Operation {
                    op: None,
                    path: None,
                    from: None,
                    value: None,
                };
                for (k, v) in entries {
                    match k.as_str() {
                        "op" => op.op = Some(v),
                        "path" => op.path = Some(v),
                        "from" => op.from = Some(v),
                        "value" => op.value = Some(v),
                        _ => {}
                    }
                }
                op
            }
            Node::Null => Operation {
                op: None,
                path: None,
                from: None,
                value: None,
            },
            _ => return Err(PatchError::Other("operation is not an object".into())),
        };
        match op.kind() {
            "add" | "replace" => {
                if op.value.is_none() {
                    return Err(PatchError::Other("failed to decode 'value'".into()));
                }
            }
            "move" | "copy" => {
                op.from().map_err(|e| {
                    PatchError::Other(format!("failed to decode 'from': {}", e.message()))
                })?;
            }
            "remove" | "test" => {}
            other => {
                return Err(PatchError::Other(format!(
                    "unsupported operation {other:?}"
                )));
            }
        }
        op.path()
            .map_err(|e| PatchError::Other(format!("failed to decode 'path': {}", e.message())))?;
        ops.push(op);
    }
    Ok(ops)
}

/// RFC 6901 unescaping as `strings.NewReplacer("~1", "/", "~0", "~")` does it (left to right).
fn decode_key(k: &str) -> String {
    let mut out = String::with_capacity(k.len());
    let mut rest = k;
    while let Some(pos) = rest.find('~') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos..];
        if let Some(r) = after.strip_prefix("~1") {
            out.push('/');
            rest = r;
        } else if let Some(r) = after.strip_prefix("~0") {
            out.push('~');
            rest = r;
        } else {
            out.push('~');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    out
}

/// `strconv.Atoi`: optional sign, ASCII digits, int64 range.
pub(crate) fn go_atoi(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let t = s.strip_prefix('+').unwrap_or(s);
    t.parse::<i64>().ok()
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Base {
    Main,
    /// The root's `self` node: the original document text, re-parsed on first use.
    Detached,
}

#[derive(Clone, Debug)]
enum Step {
    Key(String),
    Index(usize),
}

struct Loc {
    base: Base,
    steps: Vec<Step>,
    key: String,
}

/// The mutable state of one `Patch.Apply` call.
struct Doc {
    main: Node,
    original: Node,
    detached: Option<Node>,
}

fn invalid_index(i: i64) -> PatchError {
    PatchError::Other(format!("Unable to access invalid index: {i}"))
}

/// Resolve an array index for `get`/`set`/`remove` (not `add`): negative counts from the end.
fn array_index(len: usize, key: &str) -> Result<usize, PatchError> {
    let idx =
        go_atoi(key).ok_or_else(|| PatchError::Other(format!("invalid array index {key:?}")))?;
    let len_i = len as i64;
    let mut i = idx;
    if i < 0 {
        if i < -len_i {
            return Err(invalid_index(idx));
        }
        i += len_i;
    }
    if i >= len_i {
        return Err(invalid_index(idx));
    }
    Ok(i as usize)
}

impl Doc {
    fn base_mut(&mut self, base: Base) -> &mut Node {
        match base {
            Base::Main => &mut self.main,
            Base::Detached => self.detached.get_or_insert_with(|| self.original.clone()),
        }
    }

    fn node_mut(&mut self, base: Base, steps: &[Step]) -> Option<&mut Node> {
        let mut cur = self.base_mut(base);
        for s in steps {
            cur = match (cur, s) {
                (Node::Object(entries), Step::Key(k)) => {
                    entries.iter_mut().find(|(ek, _)| ek == k).map(|(_, v)| v)?
                }
                (Node::Array(items), Step::Index(i)) => items.get_mut(*i)?,
                _ => return None,
            };
        }
        Some(cur)
    }

    /// evanphx `findObject`: walk all tokens but the last; every step must land on a container.
    fn find(&mut self, path: &str) -> Option<Loc> {
        let split: Vec<&str> = path.split('/').collect();
        if split.len() < 2 {
            return (path.is_empty()).then(|| Loc {
                base: Base::Main,
                steps: Vec::new(),
                key: String::new(),
            });
        }
        let mut base = Base::Main;
        let mut steps: Vec<Step> = Vec::new();
        for part in &split[1..split.len() - 1] {
            let part = decode_key(part);
            let is_root = steps.is_empty() && base == Base::Main;
            let cur = self.node_mut(base, &steps)?;
            let step = match cur {
                Node::Object(entries) => {
                    if part.is_empty() {
                        if is_root {
                            // get("") on the root returns its `self`: the original document.
                            base = Base::Detached;
                            steps.clear();
                            let d = self.base_mut(Base::Detached);
                            if !matches!(d, Node::Object(_) | Node::Array(_)) {
                                return None;
                            }
                            continue;
                        }
                        return None;
                    }
                    let v = entries.iter().find(|(k, _)| *k == part).map(|(_, v)| v)?;
                    if !matches!(v, Node::Object(_) | Node::Array(_)) {
                        return None;
                    }
                    Step::Key(part)
                }
                Node::Array(items) => {
                    let i = array_index(items.len(), &part).ok()?;
                    if !matches!(items[i], Node::Object(_) | Node::Array(_)) {
                        return None;
                    }
                    Step::Index(i)
                }
                _ => return None,
            };
            steps.push(step);
        }
        Some(Loc {
            base,
            steps,
            key: decode_key(split[split.len() - 1]),
        })
    }

    fn is_root(loc: &Loc) -> bool {
        loc.base == Base::Main && loc.steps.is_empty()
    }

    /// Container `get`. `Ok(None)` is Go's nil node (JSON null, or `self` of a non-root).
    fn get(&mut self, loc: &Loc) -> Result<Option<Node>, PatchError> {
        let root = Self::is_root(loc);
        let original = self.original.clone();
        let con = self
            .node_mut(loc.base, &loc.steps)
            .ok_or_else(|| PatchError::Other("container vanished".into()))?;
        match con {
            Node::Object(entries) => {
                if loc.key.is_empty() {
                    return Ok(root.then_some(original));
                }
                match entries.iter().find(|(k, _)| *k == loc.key) {
                    None => Err(PatchError::Missing(format!(
                        "unable to get nonexistent key: {}",
                        loc.key
                    ))),
                    Some((_, Node::Null)) => Ok(None),
                    Some((_, v)) => Ok(Some(v.clone())),
                }
            }
            Node::Array(items) => {
                if loc.key.is_empty() {
                    return Ok(None);
                }
                let i = array_index(items.len(), &loc.key)?;
                Ok(match &items[i] {
                    Node::Null => None,
                    v => Some(v.clone()),
                })
            }
            _ => Err(PatchError::Other("not a container".into())),
        }
    }

    /// Container `add` (objects: set; arrays: insert, `-` appends, index may equal the length).
    fn add(&mut self, loc: &Loc, val: Node) -> Result<(), PatchError> {
        let con = self
            .node_mut(loc.base, &loc.steps)
            .ok_or_else(|| PatchError::Other("container vanished".into()))?;
        match con {
            Node::Object(entries) => {
                set_key(entries, &loc.key, val);
                Ok(())
            }
            Node::Array(items) => {
                if loc.key == "-" {
                    items.push(val);
                    return Ok(());
                }
                let idx = go_atoi(&loc.key).ok_or_else(|| {
                    PatchError::Other(format!("value was not a proper array index: '{}'", loc.key))
                })?;
                let size = items.len() as i64 + 1;
                let mut i = idx;
                if i >= size {
                    return Err(invalid_index(idx));
                }
                if i < 0 {
                    if i < -size {
                        return Err(invalid_index(idx));
                    }
                    i += size;
                }
                items.insert(i as usize, val);
                Ok(())
            }
            _ => Err(PatchError::Other("not a container".into())),
        }
    }

    /// Container `set` (replace): objects set the key; arrays overwrite an existing index.
    fn set(&mut self, loc: &Loc, val: Node) -> Result<(), PatchError> {
        let con = self
            .node_mut(loc.base, &loc.steps)
            .ok_or_else(|| PatchError::Other("container vanished".into()))?;
        match con {
            Node::Object(entries) => {
                set_key(entries, &loc.key, val);
                Ok(())
            }
            Node::Array(items) => {
                let i = array_index(items.len(), &loc.key)?;
                items[i] = val;
                Ok(())
            }
            _ => Err(PatchError::Other("not a container".into())),
        }
    }

    fn remove(&mut self, loc: &Loc) -> Result<(), PatchError> {
        let con = self
            .node_mut(loc.base, &loc.steps)
            .ok_or_else(|| PatchError::Other("container vanished".into()))?;
        match con {
            Node::Object(entries) => match entries.iter().position(|(k, _)| *k == loc.key) {
                Some(p) => {
                    entries.remove(p);
                    Ok(())
                }
                None => Err(PatchError::Missing(format!(
                    "unable to remove nonexistent key: {}",
                    loc.key
                ))),
            },
            Node::Array(items) => {
                let i = array_index(items.len(), &loc.key)?;
                items.remove(i);
                Ok(())
            }
            _ => Err(PatchError::Other("not a container".into())),
        }
    }
}

fn set_key(entries: &mut Vec<(String, Node)>, key: &str, val: Node) {
    match entries.iter_mut().find(|(k, _)| k == key) {
        Some(slot) => slot.1 = val,
        None => entries.push((key.to_owned(), val)),
    }
}

/// evanphx `lazyNode.equal` with `n` from the document and `o` from the operation.
fn equal(n: &Node, o: &Node) -> bool {
    match (n, o) {
        (Node::Object(a), Node::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(k, v)| match b.iter().find(|(bk, _)| bk == k) {
                        None => false,
                        Some((_, ov)) => match (is_nil(v), is_nil(ov)) {
                            (true, true) => true,
                            (false, false) => equal(v, ov),
                            _ => false,
                        },
                    })
        }
        (Node::Object(_), _) | (_, Node::Object(_)) => false,
        (Node::Array(a), Node::Array(b)) => {
            // Go dereferences nil elements here (a panic); treat null elements as equal only
            // to null elements so that we never fail harder than Go.
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| equal(x, y))
        }
        (Node::Array(_), _) | (_, Node::Array(_)) => false,
        (Node::InsertedNull, _) => false,
        (Node::String(a), Node::String(b)) => a == b,
        _ => scalar_text(n) == scalar_text(o),
    }
}

fn is_nil(n: &Node) -> bool {
    matches!(n, Node::Null)
}

fn scalar_text(n: &Node) -> String {
    let mut s = String::new();
    gojson::to_text(n, &mut s);
    s
}

/// `Patch.Apply(doc)` with default options. `doc` is the document as Go marshals it.
pub(crate) fn apply(ops: &[Operation], doc: &Node) -> Result<Node, PatchError> {
    let mut d = Doc {
        main: doc.clone(),
        original: doc.clone(),
        detached: None,
    };
    for op in ops {
        match op.kind() {
            "add" => op_add(&mut d, op)?,
            "remove" => op_remove(&mut d, op)?,
            "replace" => op_replace(&mut d, op)?,
            "move" => op_move(&mut d, op)?,
            "test" => op_test(&mut d, op)?,
            "copy" => op_copy(&mut d, op)?,
            k => return Err(PatchError::Other(format!("Unexpected kind: {k}"))),
        }
    }
    Ok(d.main)
}

fn missing(what: &str, path: &str) -> PatchError {
    PatchError::Missing(format!(
        "{what} operation does not apply: doc is missing path: {path}"
    ))
}

fn op_add(d: &mut Doc, op: &Operation) -> Result<(), PatchError> {
    let path = op
        .path()
        .map_err(|_| PatchError::Missing("add: no path".into()))?;
    if path.is_empty() {
        return match op.value() {
            v @ (Node::Object(_) | Node::Array(_)) => {
                d.main = v;
                Ok(())
            }
            _ => Err(PatchError::Other(
                "add at the root needs an object or array".into(),
            )),
        };
    }
    let loc = d.find(&path).ok_or_else(|| missing("add", &path))?;
    d.add(&loc, op.value())
}

fn op_remove(d: &mut Doc, op: &Operation) -> Result<(), PatchError> {
    let path = op
        .path()
        .map_err(|_| PatchError::Missing("remove: no path".into()))?;
    let loc = d.find(&path).ok_or_else(|| missing("remove", &path))?;
    d.remove(&loc)
}

fn op_replace(d: &mut Doc, op: &Operation) -> Result<(), PatchError> {
    let path = op.path()?;
    if path.is_empty() {
        return match op.value() {
            v @ (Node::Object(_) | Node::Array(_)) => {
                d.main = v;
                Ok(())
            }
            _ => Err(PatchError::Other(
                "replace operation value must be object or array".into(),
            )),
        };
    }
    let loc = d.find(&path).ok_or_else(|| missing("replace", &path))?;
    if d.get(&loc).is_err() {
        return Err(PatchError::Missing(format!(
            "replace operation does not apply: doc is missing key: {path}"
        )));
    }
    d.set(&loc, op.value())
}

fn op_move(d: &mut Doc, op: &Operation) -> Result<(), PatchError> {
    let from = op.from()?;
    if from.is_empty() {
        return Err(PatchError::Other(
            "unable to move entire document to another path".into(),
        ));
    }
    let loc = d.find(&from).ok_or_else(|| missing("move", &from))?;
    let val = d.get(&loc)?;
    d.remove(&loc)?;
    let path = op.path()?;
    let to = d.find(&path).ok_or_else(|| missing("move", &path))?;
    d.add(&to, val.unwrap_or(Node::Null))
}

fn op_copy(d: &mut Doc, op: &Operation) -> Result<(), PatchError> {
    let from = op.from()?;
    let loc = d.find(&from).ok_or_else(|| missing("copy", &from))?;
    let val = d.get(&loc)?;
    let path = op
        .path()
        .map_err(|_| PatchError::Missing("copy: no path".into()))?;
    let to = d.find(&path).ok_or_else(|| missing("copy", &path))?;
    d.add(&to, val.unwrap_or(Node::Null))
}

fn op_test(d: &mut Doc, op: &Operation) -> Result<(), PatchError> {
    let path = op.path()?;
    let failed = || PatchError::TestFailed(format!("testing value {path} failed"));
    if path.is_empty() {
        return if equal(&d.main, &op.value()) {
            Ok(())
        } else {
            Err(failed())
        };
    }
    let loc = d.find(&path).ok_or_else(|| {
        PatchError::Missing(format!(
            "test operation does not apply: is missing path: {path}"
        ))
    })?;
    let val = match d.get(&loc) {
        Ok(v) => v,
        Err(PatchError::Missing(_)) => None,
        Err(e) => return Err(e),
    };
    match val {
        None => {
            if op.value_is_null() {
                Ok(())
            } else {
                Err(failed())
            }
        }
        Some(_) if op.value_is_null() => Err(failed()),
        Some(v) => {
            if equal(&v, &op.value()) {
                Ok(())
            } else {
                Err(failed())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(doc: &str, patch: &str) -> Result<String, PatchError> {
        let ops = decode(patch)?;
        let out = apply(&ops, &gojson::parse(doc).unwrap())?;
        let mut s = String::new();
        gojson::to_text(&out, &mut s);
        Ok(s)
    }

    // Expected values below are hand-derived from evanphx/json-patch v5 patch.go.
    #[test]
    fn negative_index_and_leading_zero() {
        assert_eq!(
            run(r#"{"a":[1,2,3]}"#, r#"[{"op":"remove","path":"/a/-1"}]"#).unwrap(),
            r#"{"a":[1,2]}"#
        );
        assert_eq!(
            run(
                r#"{"a":[1,2,3]}"#,
                r#"[{"op":"replace","path":"/a/01","value":9}]"#
            )
            .unwrap(),
            r#"{"a":[1,9,3]}"#
        );
        // add at -1 inserts before the end of the (len+1) array: i.e. appends.
        assert_eq!(
            run(
                r#"{"a":[1,2]}"#,
                r#"[{"op":"add","path":"/a/-1","value":9}]"#
            )
            .unwrap(),
            r#"{"a":[1,2,9]}"#
        );
        assert_eq!(
            run(
                r#"{"a":[1,2]}"#,
                r#"[{"op":"add","path":"/a/-","value":9}]"#
            )
            .unwrap(),
            r#"{"a":[1,2,9]}"#
        );
    }

    #[test]
    fn trailing_slash_adds_empty_key() {
        assert_eq!(
            run(
                r#"{"spec":{"t":{}}}"#,
                r#"[{"op":"add","path":"/spec/t/","value":{}}]"#
            )
            .unwrap(),
            r#"{"spec":{"t":{"":{}}}}"#
        );
    }

    #[test]
    fn test_semantics() {
        let t = |p: &str| run(r#"{"a":{"b":1,"n":null}}"#, p);
        assert!(t(r#"[{"op":"test","path":"/a/x","value":null}]"#).is_ok());
        assert!(t(r#"[{"op":"test","path":"/a/n","value":null}]"#).is_ok());
        assert!(matches!(
            t(r#"[{"op":"test","path":"/a/x","value":1}]"#),
            Err(PatchError::TestFailed(_))
        ));
        assert!(matches!(
            t(r#"[{"op":"test","path":"/z/x","value":1}]"#),
            Err(PatchError::Missing(_))
        ));
        assert!(matches!(
            t(r#"[{"op":"test","path":"/a/b","value":1.0}]"#),
            Err(PatchError::TestFailed(_))
        ));
        assert!(t(r#"[{"op":"test","path":"/a/b","value":1}]"#).is_ok());
    }

    #[test]
    fn atoi() {
        assert_eq!(go_atoi("+1"), Some(1));
        assert_eq!(go_atoi("007"), Some(7));
        assert_eq!(go_atoi("-"), None);
        assert_eq!(go_atoi(""), None);
        assert_eq!(go_atoi("1_0"), None);
    }
}
