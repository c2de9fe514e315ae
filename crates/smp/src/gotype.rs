//! What the generated schema table (`schema_table.rs`) is made of: a Go struct's json fields and
//! their types as JSON sees them, with the struct tags apimachinery reads.

/// Shape of a Go field type as JSON sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
// Float and Duration exist in other k8s.io/api versions' types; the generator may emit them.
#[allow(dead_code)]
pub(crate) enum Ty {
    Bool,
    Int,
    Float,
    String,
    /// `[]byte`: a base64 string in JSON, but a slice for equality (nil ≡ empty).
    Bytes,
    /// `resource.Quantity`: compared by value.
    Quantity,
    /// `metav1.Time` / `MicroTime`: compared by instant.
    Time,
    /// `intstr.IntOrString`.
    IntOrString,
    /// `metav1.Duration`.
    Duration,
    /// `interface{}` / `runtime.RawExtension`: opaque JSON.
    Any,
    /// Index into the struct table.
    Struct(u16),
    Slice(&'static Ty),
    Map(&'static Ty),
}

/// One json field of a Go struct.
#[derive(Debug)]
pub(crate) struct Field {
    pub name: &'static str,
    pub ty: Ty,
    /// The Go field is a pointer: absent/null differs from the zero value.
    pub pointer: bool,
    /// `patchStrategy` struct tag, comma separated (`merge`, `replace`, `retainKeys`).
    pub strategy: &'static str,
    /// `patchMergeKey` struct tag.
    pub merge_key: Option<&'static str>,
}

#[cfg(test)]
impl Field {
    pub(crate) fn has_strategy(&self, s: &str) -> bool {
        self.strategy.split(',').any(|x| x == s)
    }
}

/// A Go struct: fields sorted by json name.
#[derive(Debug)]
pub(crate) struct TypeDef {
    pub name: &'static str,
    pub fields: &'static [Field],
}

impl TypeDef {
    pub(crate) fn field(&self, name: &str) -> Option<&'static Field> {
        self.fields
            .binary_search_by(|f| f.name.cmp(name))
            .ok()
            .map(|i| &self.fields[i])
    }
}
