//! Velero's `generated.PluginLister`: tells Velero which plugins this binary serves.

use tonic::{Request, Response, Status};

use crate::proto::generated::plugin_lister_server::PluginLister;
use crate::proto::generated::{Empty, ListPluginsResponse, PluginIdentifier};

/// The plugin kind this crate serves (Velero's v2 RestoreItemAction).
pub const PLUGIN_KIND: &str = "RestoreItemActionV2";

/// Answers `ListPlugins` with the binary's single RestoreItemActionV2.
///
/// Velero stores `command` and later executes exactly that string to start the plugin again, so it
/// must be our `argv[0]` verbatim (Velero starts us by full path, e.g. `/plugins/velero-fsb-guard`).
/// Velero rejects the whole binary (and the Velero server fails to start) if a name is not
/// `<DNS-1123 subdomain>/<name>` or a kind string is unknown.
#[derive(Debug, Clone)]
pub struct Lister {
    command: String,
    name: &'static str,
}

impl Lister {
    pub fn new(command: String, name: &'static str) -> Self {
        Self { command, name }
    }
}

#[tonic::async_trait]
impl PluginLister for Lister {
    async fn list_plugins(
        &self,
        _request: Request<Empty>,
    ) -> Result<Response<ListPluginsResponse>, Status> {
        tracing::debug!(command = %self.command, "listing plugins");
        Ok(Response::new(ListPluginsResponse {
            plugins: vec![PluginIdentifier {
                command: self.command.clone(),
                kind: PLUGIN_KIND.to_owned(),
                name: self.name.to_owned(),
            }],
        }))
    }
}
