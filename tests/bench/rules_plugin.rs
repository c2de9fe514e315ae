//! Benchmark-only plugin (tests/bench/run.sh): our plugin transport (`velero_plugin::run`: handshake,
//! gRPC services, logging) with an action that does what the Go reference plugin does with
//! `FSB_GOPLUGIN_RULES`: apply Velero resource-modifier rules to every item with `fsb-modifiers`
//! and answer the modified item. It exists so that both sides of the Execute benchmark evaluate the
//! same 10 rules; the production guard evaluates rules only for guarded workloads and needs a
//! cluster for that. Rules: the `version: v1` YAML file named by `$FSB_BENCH_RULES`.

use std::ffi::OsString;

use fsb_modifiers::{ResourceModifiers, RuleOutcome};
use serde_json::Value;
use velero_fsb_guard::guard;
use velero_plugin::{
    ActionError, ExecuteInput, ExecuteOutput, ResourceSelector, RestoreItemAction,
};

struct ApplyRules {
    rules: Option<ResourceModifiers>,
}

/// `resource.group` for the kinds the plugin is registered for (as the Go reference derives it:
/// lower-cased kind + "s", group from apiVersion).
fn group_resource(item: &Value) -> String {
    let kind = item.get("kind").and_then(Value::as_str).unwrap_or_default();
    let api_version = item
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let resource = format!("{}s", kind.to_lowercase());
    match api_version.split_once('/') {
        Some((group, _)) => format!("{resource}.{group}"),
        None => resource,
    }
}

impl RestoreItemAction for ApplyRules {
    /// What the guard applies to, so both benchmark sides are handed the same items.
    fn applies_to(&self) -> ResourceSelector {
        guard::applies_to()
    }

    async fn execute(&self, input: ExecuteInput) -> Result<ExecuteOutput, ActionError> {
        let Some(rules) = &self.rules else {
            return Ok(ExecuteOutput::unchanged(input.item));
        };
        let outcome = rules.apply(&input.item, &group_resource(&input.item));
        if let Some(error) = outcome.rules.iter().find_map(|r| match r {
            RuleOutcome::Error(e) => Some(e.clone()),
            _ => None,
        }) {
            return Err(ActionError::Failed(error));
        }
        Ok(ExecuteOutput::unchanged(outcome.object))
    }
}

fn main() {
    let rules = std::env::var_os("FSB_BENCH_RULES").map(|path| {
        let text = std::fs::read_to_string(&path).expect("reading $FSB_BENCH_RULES");
        ResourceModifiers::from_yaml(&text).expect("parsing $FSB_BENCH_RULES")
    });
    let args: Vec<OsString> = std::env::args_os().collect();
    std::process::exit(velero_plugin::run(args, guard::NAME, ApplyRules { rules }));
}
