//! The two document trees the patch engines run on, behind one interface, so that each engine's
//! semantics are written once:
//!
//! - `serde_json::Value`: the item itself, patched in place (no copy, no conversion per patch);
//! - the Go-JSON [`Node`]: number lexemes kept, for the few patches whose outcome depends on the
//!   bytes evanphx compares (a `test` reading a value the same patch inserted) or that carry
//!   numbers Go cannot hold.

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::gojson::{self, Node};

/// A container as the patch engines see it.
pub(crate) enum View<'a, T: Tree> {
    Object(&'a T::Members),
    Array(&'a [T]),
    Scalar,
}

/// [`View`] for writing.
pub(crate) enum ViewMut<'a, T: Tree> {
    Object(&'a mut T::Members),
    Array(&'a mut Vec<T>),
    Scalar,
}

/// The members of an object, in order (a new key goes last, a replaced one keeps its place, a
/// removed one closes the gap: evanphx's key list, and what `preserve_order` keeps for Value).
pub(crate) trait Members<T: 'static> {
    fn new() -> Self;
    fn len(&self) -> usize;
    fn get(&self, key: &str) -> Option<&T>;
    fn get_mut(&mut self, key: &str) -> Option<&mut T>;
    fn set(&mut self, key: &str, value: T);
    fn remove(&mut self, key: &str) -> Option<T>;
    fn each(&self) -> impl Iterator<Item = (&str, &T)>;
}

pub(crate) trait Tree: Clone + Sized + 'static {
    type Members: Members<Self>;

    fn view(&self) -> View<'_, Self>;
    fn view_mut(&mut self) -> ViewMut<'_, Self>;
    fn object(members: Self::Members) -> Self;
    fn array(items: Vec<Self>) -> Self;
    fn null() -> Self;
    /// Go's nil: a JSON `null` read from the document.
    fn is_nil(&self) -> bool;
    /// The `null` an operation with an explicit `"value": null` inserts (evanphx keeps it as a raw
    /// node, which a later `test` in the same patch does not see as nil).
    fn inserted_null() -> Self;
    fn is_inserted_null(&self) -> bool;
    /// A scalar of a patch document; `None` for a number this tree cannot hold (beyond float64).
    fn scalar(n: &Node) -> Option<Self>;
    fn as_str(&self) -> Option<&str>;
    /// A scalar's compacted JSON text, numbers as Go prints them.
    fn scalar_text(&self) -> Cow<'_, str>;
}

/// A patch-document value as a tree (`None`: a number out of float64 range).
pub(crate) fn from_patch<T: Tree>(n: &Node) -> Option<T> {
    Some(match n {
        Node::Array(items) => T::array(items.iter().map(from_patch).collect::<Option<_>>()?),
        Node::Object(entries) => {
            let mut members = T::Members::new();
            for (k, v) in entries {
                members.set(k, from_patch(v)?);
            }
            T::object(members)
        }
        scalar => T::scalar(scalar)?,
    })
}

/// evanphx `lazyNode.equal` with `n` from the document and `o` from the operation.
pub(crate) fn equal<T: Tree>(n: &T, o: &Node) -> bool {
    match (n.view(), o) {
        (View::Object(a), Node::Object(b)) => {
            a.len() == b.len()
                && a.each()
                    .all(|(k, v)| match b.iter().find(|(bk, _)| bk == k) {
                        None => false,
                        Some((_, ov)) => match (v.is_nil(), matches!(ov, Node::Null)) {
                            (true, true) => true,
                            (false, false) => equal(v, ov),
                            _ => false,
                        },
                    })
        }
        (View::Object(_), _) | (_, Node::Object(_)) => false,
        (View::Array(a), Node::Array(b)) => {
            // Go dereferences nil elements here (a panic); treat null elements as equal only
            // to null elements so that we never fail harder than Go.
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| equal(x, y))
        }
        (View::Array(_), _) | (_, Node::Array(_)) => false,
        _ if n.is_inserted_null() => false,
        _ => match (n.as_str(), o) {
            (Some(a), Node::String(b)) => a == b,
            _ => n.scalar_text() == o.scalar_text(),
        },
    }
}

/// The accessors both trees spell alike (their variants share names).
macro_rules! containers {
    ($tree:ident) => {
        fn view(&self) -> View<'_, $tree> {
            match self {
                $tree::Object(m) => View::Object(m),
                $tree::Array(a) => View::Array(a),
                _ => View::Scalar,
            }
        }
        fn view_mut(&mut self) -> ViewMut<'_, $tree> {
            match self {
                $tree::Object(m) => ViewMut::Object(m),
                $tree::Array(a) => ViewMut::Array(a),
                _ => ViewMut::Scalar,
            }
        }
        fn object(members: Self::Members) -> $tree {
            $tree::Object(members)
        }
        fn array(items: Vec<$tree>) -> $tree {
            $tree::Array(items)
        }
        fn null() -> $tree {
            $tree::Null
        }
    };
}

impl Members<Node> for Vec<(String, Node)> {
    fn new() -> Self {
        Vec::new()
    }
    fn len(&self) -> usize {
        self.len()
    }
    fn get(&self, key: &str) -> Option<&Node> {
        self.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
    fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        self.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v)
    }
    fn set(&mut self, key: &str, value: Node) {
        match self.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value,
            None => self.push((key.to_owned(), value)),
        }
    }
    fn remove(&mut self, key: &str) -> Option<Node> {
        let at = self.iter().position(|(k, _)| k == key)?;
        Some(Vec::remove(self, at).1)
    }
    fn each(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.iter().map(|(k, v)| (k.as_str(), v))
    }
}

impl Tree for Node {
    type Members = Vec<(String, Node)>;

    containers!(Node);

    fn is_nil(&self) -> bool {
        matches!(self, Node::Null)
    }
    fn inserted_null() -> Node {
        Node::InsertedNull
    }
    fn is_inserted_null(&self) -> bool {
        matches!(self, Node::InsertedNull)
    }
    fn scalar(n: &Node) -> Option<Node> {
        Some(n.clone())
    }
    fn as_str(&self) -> Option<&str> {
        match self {
            Node::String(s) => Some(s),
            _ => None,
        }
    }
    fn scalar_text(&self) -> Cow<'_, str> {
        match self {
            Node::Number(t) => Cow::Borrowed(t),
            other => {
                let mut s = String::new();
                gojson::to_text(other, &mut s);
                Cow::Owned(s)
            }
        }
    }
}

impl Members<Value> for Map<String, Value> {
    fn new() -> Self {
        Map::new()
    }
    fn len(&self) -> usize {
        self.len()
    }
    fn get(&self, key: &str) -> Option<&Value> {
        self.get(key)
    }
    fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.get_mut(key)
    }
    fn set(&mut self, key: &str, value: Value) {
        match self.get_mut(key) {
            Some(slot) => *slot = value,
            None => {
                self.insert(key.to_owned(), value);
            }
        }
    }
    fn remove(&mut self, key: &str) -> Option<Value> {
        self.shift_remove(key)
    }
    fn each(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.iter().map(|(k, v)| (k.as_str(), v))
    }
}

impl Tree for Value {
    type Members = Map<String, Value>;

    containers!(Value);

    fn is_nil(&self) -> bool {
        self.is_null()
    }
    /// The item cannot tell an inserted `null` from a read one: patches where a `test` could see
    /// the difference run on [`Node`] (see `jsonpatch::Patch::in_place`).
    fn inserted_null() -> Value {
        Value::Null
    }
    fn is_inserted_null(&self) -> bool {
        false
    }
    /// The number as `unstructured.UnmarshalJSON` decodes the lexeme (int64, else float64).
    fn scalar(n: &Node) -> Option<Value> {
        gojson::to_value(n)
    }
    fn as_str(&self) -> Option<&str> {
        self.as_str()
    }
    fn scalar_text(&self) -> Cow<'_, str> {
        match self {
            Value::Null => Cow::Borrowed("null"),
            Value::Bool(true) => Cow::Borrowed("true"),
            Value::Bool(false) => Cow::Borrowed("false"),
            Value::Number(n) => Cow::Owned(gojson::go_number_text(n)),
            other => Cow::Owned(other.to_string()),
        }
    }
}
