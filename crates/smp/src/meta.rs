//! Patch metadata lookups over the schema, mirroring apimachinery's `PatchMetaFromStruct`:
//! a lookup only succeeds on a struct type, and finds a field by its exact json name or, failing
//! that, case-insensitively (as Go's json field matching does).

use crate::error::{Error, Result};
use crate::gotype::{Field, Ty};
use crate::schema::type_def;

/// Patch strategy of a field, split like `extractRetainKeysPatchStrategy`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PatchMeta {
    /// `merge`, `replace` or empty.
    pub strategy: &'static str,
    pub retain_keys: bool,
    /// Empty when the field has none.
    pub merge_key: &'static str,
}

fn field_of(schema: Ty, key: &str, path: &str) -> Result<&'static Field> {
    let unknown = || Error::UnknownField {
        path: path.to_owned(),
        field: key.to_owned(),
    };
    let Ty::Struct(idx) = schema else {
        return Err(unknown());
    };
    let td = type_def(idx);
    td.field(key)
        .or_else(|| td.fields.iter().find(|f| f.name.eq_ignore_ascii_case(key)))
        .ok_or_else(unknown)
}

fn patch_meta(f: &'static Field, path: &str) -> Result<PatchMeta> {
    let parts: Vec<&'static str> = f.strategy.split(',').collect();
    let (retain_keys, strategy) = match parts.as_slice() {
        [one] if *one == "retainKeys" => (true, ""),
        [one] => (false, *one),
        [a, b] if *a == "retainKeys" => (true, *b),
        [a, b] if *b == "retainKeys" => (true, *a),
        _ => {
            return Err(Error::Invalid {
                path: path.to_owned(),
                reason: format!("unexpected patch strategy {:?}", f.strategy),
            });
        }
    };
    Ok(PatchMeta {
        strategy,
        retain_keys,
        merge_key: f.merge_key.unwrap_or(""),
    })
}

/// `LookupPatchMetadataForStruct`: the field's type and its patch metadata.
pub(crate) fn lookup_struct(schema: Ty, key: &str, path: &str) -> Result<(Ty, PatchMeta)> {
    let f = field_of(schema, key, path)?;
    Ok((f.ty, patch_meta(f, path)?))
}

/// `LookupPatchMetadataForSlice`: the element type of a slice field (or the pointee of a pointer
/// field) and the field's patch metadata.
pub(crate) fn lookup_slice(schema: Ty, key: &str, path: &str) -> Result<(Ty, PatchMeta)> {
    let f = field_of(schema, key, path)?;
    let elem = match f.ty {
        Ty::Slice(Ty::Slice(_)) | Ty::Slice(Ty::Bytes) => {
            return Err(Error::Invalid {
                path: path.to_owned(),
                reason: "unexpected slice of slice".into(),
            });
        }
        Ty::Slice(e) => *e,
        Ty::Bytes => Ty::Int,
        t if f.pointer => t,
        _ => {
            return Err(Error::Invalid {
                path: path.to_owned(),
                reason: format!("field {key:?} is not a list"),
            });
        }
    };
    Ok((elem, patch_meta(f, path)?))
}
