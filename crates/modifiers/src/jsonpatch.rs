//! RFC 6902 JSON patch with the semantics of `github.com/evanphx/json-patch/v5` (v5.8.0 and
//! v5.9.11 behave the same for everything reachable from Velero) under `NewApplyOptions()`:
//! negative indices count from the end, `strconv.Atoi` indices (`01`, `+1` accepted), `-` appends
//! only for `add`, `test` of `null` succeeds on a missing key, no parent creation, atomic.
//!
//! The quirks of evanphx's lazy nodes are kept on purpose, because Velero inherits them:
//! an empty reference token (`/spec/template/`) addresses the key `""` of an object; an empty
//! intermediate token on the root (`//x`) walks a detached copy of the original document; a
//! `null` inserted by `add` in the same patch is not "nil" for a later `test`.

use std::borrow::Cow;

use crate::gojson::{self, Node};
use crate::tree::{Members, Tree, View, ViewMut, equal, from_patch};

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
    fn value_node(&self) -> Cow<'_, Node> {
        match &self.value {
            None => Cow::Owned(Node::Null),
            Some(Node::Null) => Cow::Owned(Node::InsertedNull),
            Some(v) => Cow::Borrowed(v),
        }
    }

    /// [`Self::value_node`] as a value of the document's tree.
    fn value<T: Tree>(&self) -> Result<T, PatchError> {
        match &self.value {
            None => Ok(T::null()),
            Some(Node::Null) => Ok(T::inserted_null()),
            Some(v) => from_patch(v).ok_or_else(|| PatchError::Other("number out of range".into())),
        }
    }

    fn mutates(&self) -> bool {
        self.kind() != "test"
    }

    /// Whether the operation can read evanphx's root `self`, the document before the patch: a
    /// path whose first token is empty (`//x` walks a detached copy of it) or that is `/` (the
    /// root's `""` is it), or such a `from` (or `""`) for `move`/`copy`.
    fn reads_original(&self) -> bool {
        let through_self = |m: &Option<Node>| matches!(m, Some(Node::String(p)) if p == "/" || p.starts_with("//"));
        let whole = matches!(&self.from, Some(Node::String(p)) if p.is_empty());
        through_self(&self.path)
            || (matches!(self.kind(), "move" | "copy") && (whole || through_self(&self.from)))
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
    /// The root's `self` node: a copy of the original document, made on first write.
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

fn is_container<T: Tree>(n: &T) -> bool {
    !matches!(n.view(), View::Scalar)
}

fn vanished() -> PatchError {
    PatchError::Other("container vanished".into())
}

/// What a patch reads of the document: the document itself, the original document (evanphx's
/// root `self`) and the detached copy of it, if one was written to.
struct Reader<'d, T: Tree> {
    main: &'d T,
    original: Option<&'d T>,
    detached: Option<&'d T>,
}

impl<'d, T: Tree> Reader<'d, T> {
    fn base(&self, base: Base) -> Option<&'d T> {
        match base {
            Base::Main => Some(self.main),
            Base::Detached => self.detached.or(self.original),
        }
    }

    fn node(&self, base: Base, steps: &[Step]) -> Option<&'d T> {
        let mut cur = self.base(base)?;
        for s in steps {
            cur = match (cur.view(), s) {
                (View::Object(members), Step::Key(k)) => members.get(k)?,
                (View::Array(items), Step::Index(i)) => items.get(*i)?,
                _ => return None,
            };
        }
        Some(cur)
    }

    /// evanphx `findObject`: walk all tokens but the last; every step must land on a container.
    fn find(&self, path: &str) -> Option<Loc> {
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
            let step = match self.node(base, &steps)?.view() {
                View::Object(members) => {
                    if part.is_empty() {
                        if is_root {
                            // get("") on the root returns its `self`: the original document.
                            base = Base::Detached;
                            steps.clear();
                            if !is_container(self.base(Base::Detached)?) {
                                return None;
                            }
                            continue;
                        }
                        return None;
                    }
                    if !is_container(members.get(&part)?) {
                        return None;
                    }
                    Step::Key(part)
                }
                View::Array(items) => {
                    let i = array_index(items.len(), &part).ok()?;
                    if !is_container(&items[i]) {
                        return None;
                    }
                    Step::Index(i)
                }
                View::Scalar => return None,
            };
            steps.push(step);
        }
        Some(Loc {
            base,
            steps,
            key: decode_key(split[split.len() - 1]),
        })
    }

    /// Container `get`. `Ok(None)` is Go's nil node (JSON null, or `self` of a non-root).
    fn get(&self, loc: &Loc) -> Result<Option<&'d T>, PatchError> {
        let root = loc.base == Base::Main && loc.steps.is_empty();
        match self.node(loc.base, &loc.steps).ok_or_else(vanished)?.view() {
            View::Object(members) => {
                if loc.key.is_empty() {
                    return match (root, self.original) {
                        (false, _) => Ok(None),
                        (true, Some(original)) => Ok(Some(original)),
                        (true, None) => Err(no_original()),
                    };
                }
                match members.get(&loc.key) {
                    None => Err(PatchError::Missing(format!(
                        "unable to get nonexistent key: {}",
                        loc.key
                    ))),
                    Some(v) if v.is_nil() => Ok(None),
                    Some(v) => Ok(Some(v)),
                }
            }
            View::Array(items) => {
                if loc.key.is_empty() {
                    return Ok(None);
                }
                let i = array_index(items.len(), &loc.key)?;
                Ok(Some(&items[i]).filter(|v| !v.is_nil()))
            }
            View::Scalar => Err(PatchError::Other("not a container".into())),
        }
    }

    fn test(&self, op: &Operation) -> Result<(), PatchError> {
        let path = op.path()?;
        let failed = || PatchError::TestFailed(format!("testing value {path} failed"));
        if path.is_empty() {
            return if equal(self.main, &op.value_node()) {
                Ok(())
            } else {
                Err(failed())
            };
        }
        let loc = self.find(&path).ok_or_else(|| {
            PatchError::Missing(format!(
                "test operation does not apply: is missing path: {path}"
            ))
        })?;
        let val = match self.get(&loc) {
            Ok(v) => v,
            Err(PatchError::Missing(_)) => None,
            Err(e) => return Err(e),
        };
        match val {
            None if op.value_is_null() => Ok(()),
            Some(v) if !op.value_is_null() && op.value.as_ref().is_some_and(|o| equal(v, o)) => {
                Ok(())
            }
            _ => Err(failed()),
        }
    }
}

/// Raised only if a patch that [`Patch::in_place`] accepted reads the original document.
fn no_original() -> PatchError {
    PatchError::Other("the patch reads the original document, which was not kept".into())
}

/// The mutable state of one `Patch.Apply` call.
struct Doc<'d, T: Tree> {
    main: &'d mut T,
    original: Option<&'d T>,
    detached: Option<T>,
}

impl<T: Tree> Doc<'_, T> {
    fn reader(&self) -> Reader<'_, T> {
        Reader {
            main: &*self.main,
            original: self.original,
            detached: self.detached.as_ref(),
        }
    }

    fn node_mut(&mut self, base: Base, steps: &[Step]) -> Result<&mut T, PatchError> {
        let mut cur = match base {
            Base::Main => &mut *self.main,
            Base::Detached => match (&mut self.detached, self.original) {
                (Some(d), _) => d,
                (slot, Some(original)) => slot.insert(original.clone()),
                (None, None) => return Err(no_original()),
            },
        };
        for s in steps {
            cur = match (cur.view_mut(), s) {
                (ViewMut::Object(members), Step::Key(k)) => members.get_mut(k),
                (ViewMut::Array(items), Step::Index(i)) => items.get_mut(*i),
                _ => None,
            }
            .ok_or_else(vanished)?;
        }
        Ok(cur)
    }

    /// Container `add` (objects: set; arrays: insert, `-` appends, index may equal the length).
    fn add(&mut self, loc: &Loc, val: T) -> Result<(), PatchError> {
        match self.node_mut(loc.base, &loc.steps)?.view_mut() {
            ViewMut::Object(members) => {
                members.set(&loc.key, val);
                Ok(())
            }
            ViewMut::Array(items) => {
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
            ViewMut::Scalar => Err(PatchError::Other("not a container".into())),
        }
    }

    /// Container `set` (replace): objects set the key; arrays overwrite an existing index.
    fn set(&mut self, loc: &Loc, val: T) -> Result<(), PatchError> {
        match self.node_mut(loc.base, &loc.steps)?.view_mut() {
            ViewMut::Object(members) => {
                members.set(&loc.key, val);
                Ok(())
            }
            ViewMut::Array(items) => {
                let i = array_index(items.len(), &loc.key)?;
                items[i] = val;
                Ok(())
            }
            ViewMut::Scalar => Err(PatchError::Other("not a container".into())),
        }
    }

    /// Container `remove`; the removed value is what `move` re-adds.
    fn remove(&mut self, loc: &Loc) -> Result<T, PatchError> {
        match self.node_mut(loc.base, &loc.steps)?.view_mut() {
            ViewMut::Object(members) => members.remove(&loc.key).ok_or_else(|| {
                PatchError::Missing(format!("unable to remove nonexistent key: {}", loc.key))
            }),
            ViewMut::Array(items) => {
                let i = array_index(items.len(), &loc.key)?;
                Ok(items.remove(i))
            }
            ViewMut::Scalar => Err(PatchError::Other("not a container".into())),
        }
    }

    fn find(&self, path: &str, what: &str) -> Result<Loc, PatchError> {
        self.reader().find(path).ok_or_else(|| missing(what, path))
    }
}

/// A decoded patch, with what decides whether it can run on the item in place.
#[derive(Debug, Clone)]
pub(crate) struct Patch {
    pub(crate) ops: Vec<Operation>,
    /// [`apply_in_place`] gives the same result as [`apply`] on the Go-JSON tree: no operation
    /// reads evanphx's root `self` (an empty first token, a `from` of `""`), every `test` runs
    /// before the first write (so none can see an inserted value's lexeme or raw `null`), and
    /// every value fits a float64.
    pub(crate) in_place: bool,
    /// Every value's numbers are as Go prints them (see `gojson::numbers_are_normal`).
    pub(crate) values_normal: bool,
}

impl Patch {
    pub(crate) fn new(ops: Vec<Operation>) -> Patch {
        let first_write = ops.iter().position(Operation::mutates).unwrap_or(ops.len());
        let in_place = ops.iter().enumerate().all(|(i, op)| {
            !op.reads_original()
                && (op.mutates() || i < first_write)
                && op
                    .value
                    .as_ref()
                    .is_none_or(|v| from_patch::<serde_json::Value>(v).is_some())
        });
        let values_normal = ops
            .iter()
            .all(|op| op.value.as_ref().is_none_or(gojson::numbers_are_normal));
        Patch {
            ops,
            in_place,
            values_normal,
        }
    }
}

/// Why [`apply_in_place`] stopped, and whether the document was already written to.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) error: PatchError,
    pub(crate) wrote: bool,
}

fn missing(what: &str, path: &str) -> PatchError {
    PatchError::Missing(format!(
        "{what} operation does not apply: doc is missing path: {path}"
    ))
}

/// `Patch.Apply(doc)` with default options. `doc` is the document as Go marshals it.
pub(crate) fn apply(ops: &[Operation], doc: &Node) -> Result<Node, PatchError> {
    let mut main = doc.clone();
    run(ops, &mut main, Some(doc)).map_err(|f| f.error)?;
    Ok(main)
}

/// [`apply`] on the item itself, for a [`Patch::in_place`] patch. On failure the item may be
/// half-patched ([`Failure::wrote`]); the caller rebuilds it.
pub(crate) fn apply_in_place(patch: &Patch, doc: &mut serde_json::Value) -> Result<(), Failure> {
    run(&patch.ops, doc, None)
}

/// Every operation (all `test`s, as in a rule's `matches`) against `doc`, which is not written.
pub(crate) fn test_all<T: Tree>(ops: &[Operation], doc: &T) -> Result<(), PatchError> {
    let reader = Reader {
        main: doc,
        original: Some(doc),
        detached: None,
    };
    ops.iter().try_for_each(|op| reader.test(op))
}

fn run<T: Tree>(ops: &[Operation], main: &mut T, original: Option<&T>) -> Result<(), Failure> {
    let mut d = Doc {
        main,
        original,
        detached: None,
    };
    for (i, op) in ops.iter().enumerate() {
        let done = match op.kind() {
            "add" => op_add(&mut d, op),
            "remove" => op_remove(&mut d, op),
            "replace" => op_replace(&mut d, op),
            "move" => op_move(&mut d, op),
            "test" => d.reader().test(op),
            "copy" => op_copy(&mut d, op),
            k => Err(PatchError::Other(format!("Unexpected kind: {k}"))),
        };
        if let Err(error) = done {
            let wrote = ops[..i].iter().any(Operation::mutates) || op.kind() == "move";
            return Err(Failure { error, wrote });
        }
    }
    Ok(())
}

/// The whole document replaced (`add`/`replace` at `""`): only by an object or array.
fn replace_root<T: Tree>(d: &mut Doc<'_, T>, op: &Operation, what: &str) -> Result<(), PatchError> {
    let v: T = op.value()?;
    if !is_container(&v) {
        return Err(PatchError::Other(what.into()));
    }
    *d.main = v;
    Ok(())
}

fn op_add<T: Tree>(d: &mut Doc<'_, T>, op: &Operation) -> Result<(), PatchError> {
    let path = op
        .path()
        .map_err(|_| PatchError::Missing("add: no path".into()))?;
    if path.is_empty() {
        return replace_root(d, op, "add at the root needs an object or array");
    }
    let loc = d.find(&path, "add")?;
    d.add(&loc, op.value()?)
}

fn op_remove<T: Tree>(d: &mut Doc<'_, T>, op: &Operation) -> Result<(), PatchError> {
    let path = op
        .path()
        .map_err(|_| PatchError::Missing("remove: no path".into()))?;
    let loc = d.find(&path, "remove")?;
    d.remove(&loc).map(drop)
}

fn op_replace<T: Tree>(d: &mut Doc<'_, T>, op: &Operation) -> Result<(), PatchError> {
    let path = op.path()?;
    if path.is_empty() {
        return replace_root(d, op, "replace operation value must be object or array");
    }
    let loc = d.find(&path, "replace")?;
    if d.reader().get(&loc).is_err() {
        return Err(PatchError::Missing(format!(
            "replace operation does not apply: doc is missing key: {path}"
        )));
    }
    d.set(&loc, op.value()?)
}

fn op_move<T: Tree>(d: &mut Doc<'_, T>, op: &Operation) -> Result<(), PatchError> {
    let from = op.from()?;
    if from.is_empty() {
        return Err(PatchError::Other(
            "unable to move entire document to another path".into(),
        ));
    }
    let loc = d.find(&from, "move")?;
    // What Go re-adds is what `get` returned: nil as null, and for the root's `""` the original
    // document, not the member `remove` takes out.
    let (nil, original) = match d.reader().get(&loc)? {
        None => (true, None),
        Some(v) if loc.base == Base::Main && loc.steps.is_empty() && loc.key.is_empty() => {
            (false, Some(v.clone()))
        }
        Some(_) => (false, None),
    };
    let removed = d.remove(&loc)?;
    let val = if nil {
        T::null()
    } else {
        original.unwrap_or(removed)
    };
    let path = op.path()?;
    let to = d.find(&path, "move")?;
    d.add(&to, val)
}

fn op_copy<T: Tree>(d: &mut Doc<'_, T>, op: &Operation) -> Result<(), PatchError> {
    let from = op.from()?;
    let loc = d.find(&from, "copy")?;
    let val = d.reader().get(&loc)?.cloned().unwrap_or_else(T::null);
    let path = op
        .path()
        .map_err(|_| PatchError::Missing("copy: no path".into()))?;
    let to = d.find(&path, "copy")?;
    d.add(&to, val)
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

    // Patches that can read the original document, or whose tests can see an inserted value's
    // bytes, must stay on the Go-JSON tree; the rest may run on the item.
    #[test]
    fn in_place_only_where_the_tree_is_not_needed() {
        let in_place = |p: &str| Patch::new(decode(p).unwrap()).in_place;
        assert!(in_place(
            r#"[{"op":"test","path":"/a","value":1},{"op":"add","path":"/b","value":1.5}]"#
        ));
        assert!(in_place(
            r#"[{"op":"add","path":"/a/","value":{}},{"op":"remove","path":"/c"}]"#
        ));
        assert!(in_place(
            r#"[{"op":"copy","from":"/a","path":"/b"},{"op":"move","from":"/b","path":"/c"}]"#
        ));
        assert!(!in_place(
            r#"[{"op":"add","path":"/b","value":1},{"op":"test","path":"/b","value":1}]"#
        ));
        assert!(!in_place(r#"[{"op":"add","path":"//b","value":1}]"#));
        assert!(!in_place(r#"[{"op":"replace","path":"/","value":1}]"#));
        assert!(!in_place(r#"[{"op":"copy","from":"","path":"/b"}]"#));
        assert!(!in_place(r#"[{"op":"move","from":"//a","path":"/b"}]"#));
        assert!(!in_place(r#"[{"op":"add","path":"/b","value":1e400}]"#));
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
