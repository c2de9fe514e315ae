//! Runs the strategic-merge-patch corpus (`tests/corpus/smp/*.json`) through fsb-smp and prints one
//! JSON line per case (`name`, `error` or `result`/`applied`), the format the Go oracle compares.
//!
//! Usage: `cargo run -p fsb-smp --example smp_eval -- <corpus-dir>`

use std::io::Write;

use fsb_smp::{
    Root, apply, pod_templates_semantically_equal, semantically_equal, two_way_diff,
    two_way_diff_member_scoped,
};
use serde_json::{Value, json};

fn root(name: &str) -> fsb_smp::Result<Root> {
    if name == "PodTemplateSpec" {
        return Ok(Root::POD_TEMPLATE_SPEC);
    }
    let (api_version, kind) = name.rsplit_once('/').unwrap_or(("", name));
    Root::for_kind(api_version, kind)
}

fn field<'a>(case: &'a Value, key: &str) -> &'a Value {
    case.get(key).unwrap_or(&Value::Null)
}

/// For diff_apply cases: the member-scoped delta and our application of it to the target, which
/// the oracle re-applies with apimachinery to cross-check `apply` on it.
fn scoped(case: &Value) -> Option<Value> {
    if field(case, "op").as_str() != Some("diff_apply") {
        return None;
    }
    let r = root(field(case, "root").as_str()?).ok()?;
    let tr = root(field(case, "target_root").as_str().unwrap_or("v1/Pod")).ok()?;
    let delta =
        two_way_diff_member_scoped(field(case, "original"), field(case, "modified"), r).ok()?;
    let applied = apply(field(case, "target"), &delta, tr).ok()?;
    Some(json!({"delta": delta, "applied": applied}))
}

fn run(case: &Value) -> fsb_smp::Result<(Value, Value)> {
    let r = root(field(case, "root").as_str().unwrap_or_default());
    match field(case, "op").as_str().unwrap_or_default() {
        "apply" => Ok((
            apply(field(case, "original"), field(case, "patch"), r?)?,
            Value::Null,
        )),
        op @ ("diff" | "diff_apply") => {
            let r = r?;
            let delta = two_way_diff(field(case, "original"), field(case, "modified"), r)?;
            let (target, target_root) = if op == "diff_apply" {
                let tr = field(case, "target_root").as_str().unwrap_or("v1/Pod");
                (field(case, "target"), root(tr)?)
            } else {
                (field(case, "original"), r)
            };
            let applied = apply(target, &delta, target_root)?;
            Ok((delta, applied))
        }
        "equal" => Ok((
            Value::Bool(semantically_equal(field(case, "a"), field(case, "b"), r?)),
            Value::Null,
        )),
        "pod_template_equal" => Ok((
            Value::Bool(pod_templates_semantically_equal(
                field(case, "a"),
                field(case, "b"),
            )),
            Value::Null,
        )),
        other => Err(fsb_smp::Error::Invalid {
            path: String::new(),
            reason: format!("unknown op {other}"),
        }),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .ok_or("usage: smp_eval <corpus-dir>")?;
    let mut files: Vec<_> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for f in files {
        let cases: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(&f)?)?;
        for case in &cases {
            let name = field(case, "name").clone();
            let mut line = match run(case) {
                Ok((result, applied)) => {
                    json!({"name": name, "result": result, "applied": applied})
                }
                Err(e) => json!({"name": name, "error": e.to_string()}),
            };
            if let Some(s) = scoped(case) {
                line["scoped"] = s;
            }
            writeln!(out, "{line}")?;
        }
    }
    out.flush()?;
    Ok(())
}
