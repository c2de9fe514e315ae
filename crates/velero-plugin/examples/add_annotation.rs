//! A complete Velero plugin: a RestoreItemAction that marks every restored pod and ConfigMap with
//! an annotation, the Rust twin of velero-plugin-example's restore plugin.
//!
//! Build it, copy the binary into an image's `/plugins` directory and `velero plugin add` the
//! image; `velero restore logs` then shows one `info` line per item:
//!
//! ```sh
//! cargo build --release --example add_annotation
//! ```

use serde_json::{Value, json};
use velero_plugin::{
    ActionError, ExecuteInput, ExecuteOutput, ResourceSelector, RestoreItemAction,
};

/// The name Velero lists the action under: `<DNS-1123 subdomain>/<name>`.
const NAME: &str = "example.io/add-annotation";

/// Adds `example.io/restored-by: <restore name>` to each item it is handed.
struct AddAnnotation;

impl RestoreItemAction for AddAnnotation {
    /// Velero hands the action pods and ConfigMaps only, in every namespace.
    fn applies_to(&self) -> ResourceSelector {
        ResourceSelector::resources(["pods", "configmaps"])
    }

    /// The item comes back with the annotation; Velero creates it after every action ran.
    async fn execute(&self, input: ExecuteInput) -> Result<ExecuteOutput, ActionError> {
        let restore = input.restore["metadata"]["name"].clone();
        let mut item = input.item;
        let Some(metadata) = item.get_mut("metadata").and_then(Value::as_object_mut) else {
            return Err(ActionError::InvalidRequest("item has no metadata".into()));
        };
        let annotations = metadata.entry("annotations").or_insert_with(|| json!({}));
        if !annotations.is_object() {
            *annotations = json!({});
        }
        annotations["example.io/restored-by"] = restore;
        tracing::info!(kind = %item["kind"], "annotated");
        Ok(ExecuteOutput::unchanged(item))
    }
}

fn main() {
    let args: Vec<_> = std::env::args_os().collect();
    if !velero_plugin::args::is_plugin_mode(std::env::var_os("VELERO_PLUGIN").as_deref()) {
        eprintln!("{NAME} is a Velero plugin; Velero starts it itself");
        std::process::exit(2);
    }
    std::process::exit(velero_plugin::run(args, NAME, AddAnnotation));
}
