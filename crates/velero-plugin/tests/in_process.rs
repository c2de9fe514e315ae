//! The generic server with test actions plugged into the decision boundary: error mapping,
//! panics caught and answered, serving continues.

use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{Value, json};
use tonic::Code;
use tracing_subscriber::layer::SubscriberExt as _;
use velero_plugin::controller::Shutdown;
use velero_plugin::listener::{ListenAddress, bind_unix};
use velero_plugin::logging::{LineSink, PluginJsonLayer};
use velero_plugin::proto::v2::RestoreItemActionExecuteRequest;
use velero_plugin::proto::v2::restore_item_action_client::RestoreItemActionClient;
use velero_plugin::restore_item_action::status_from_action_error;
use velero_plugin::server::serve;
use velero_plugin::{
    ActionError, AdditionalItem, ExecuteInput, ExecuteOutput, ResourceSelector, RestoreItemAction,
};

/// The name the test server registers its action under.
const PLUGIN_NAME: &str = "example.io/scripted";

/// Captures the JSON lines of this test binary (global subscriber: the handler runs on runtime
/// worker threads).
#[derive(Default)]
struct Captured(Mutex<Vec<u8>>);

impl LineSink for Captured {
    fn write_line(&self, line: &[u8]) {
        self.0.lock().unwrap().extend_from_slice(line);
    }
}

fn captured() -> &'static Arc<Captured> {
    static SINK: OnceLock<Arc<Captured>> = OnceLock::new();
    SINK.get_or_init(|| {
        let sink = Arc::new(Captured::default());
        let subscriber = tracing_subscriber::registry()
            .with(PluginJsonLayer::new(sink.clone() as Arc<dyn LineSink>));
        tracing::subscriber::set_global_default(subscriber).expect("first subscriber");
        sink
    })
}

/// Decides by the item's name, so one server shows every outcome.
struct ScriptedAction;

impl RestoreItemAction for ScriptedAction {
    fn applies_to(&self) -> ResourceSelector {
        ResourceSelector::resources(["pods"])
    }

    async fn execute(&self, input: ExecuteInput) -> Result<ExecuteOutput, ActionError> {
        let name = input.item["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        match name.as_str() {
            "boom" => panic!("scripted panic for {name}"),
            "refuse" => Err(ActionError::Failed("template guard refused web".into())),
            "no-kind" => Ok(ExecuteOutput::unchanged(
                json!({"metadata": {"name": name}}),
            )),
            "annotate" => {
                let mut item = input.item;
                item["metadata"]["annotations"] = json!({"seen-restore": input.restore["metadata"]["name"].clone(),
                           "backed-up-kind": input.item_from_backup["kind"].clone()});
                Ok(ExecuteOutput {
                    item,
                    skip_restore: true,
                    additional_items: vec![AdditionalItem {
                        group: String::new(),
                        resource: "persistentvolumeclaims".into(),
                        namespace: "shop".into(),
                        name: "data".into(),
                    }],
                    operation_id: None,
                })
            }
            _ => Ok(ExecuteOutput::unchanged(input.item)),
        }
    }
}

fn request(name: &str) -> RestoreItemActionExecuteRequest {
    let item =
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "shop"}});
    RestoreItemActionExecuteRequest {
        plugin: PLUGIN_NAME.into(),
        item: serde_json::to_vec(&item).unwrap(),
        restore: serde_json::to_vec(&json!({"metadata": {"name": "r1"}})).unwrap(),
        item_from_backup: serde_json::to_vec(&item).unwrap(),
    }
}

#[tokio::test]
async fn action_outcomes_map_to_replies_and_a_panic_does_not_stop_serving() {
    let sink = captured();
    let dir = tempfile::tempdir().unwrap();
    let listener = bind_unix(dir.path(), None).expect("bind");
    let ListenAddress::Unix(path) = listener.address() else {
        unreachable!()
    };
    let shutdown = Shutdown::new();
    let server = tokio::spawn(serve(
        listener,
        PLUGIN_NAME,
        ScriptedAction,
        "test".into(),
        shutdown.clone(),
    ));
    let mut client = RestoreItemActionClient::new(unix_channel(&path).await);

    // The action's output reaches Velero field by field.
    let reply = client
        .execute(request("annotate"))
        .await
        .expect("annotate")
        .into_inner();
    let item: Value = serde_json::from_slice(&reply.item).unwrap();
    assert_eq!(item["metadata"]["annotations"]["seen-restore"], "r1");
    assert_eq!(item["metadata"]["annotations"]["backed-up-kind"], "Pod");
    assert!(reply.skip_restore);
    assert_eq!(reply.additional_items.len(), 1);
    assert_eq!(reply.additional_items[0].resource, "persistentvolumeclaims");
    assert_eq!(reply.additional_items[0].name, "data");

    // ActionError::Failed → Unknown (Velero's convention), message kept.
    let refused = client.execute(request("refuse")).await.expect_err("refuse");
    assert_eq!(refused.code(), Code::Unknown);
    assert_eq!(refused.message(), "template guard refused web");

    // An item Velero could not decode is never handed back.
    let no_kind = client
        .execute(request("no-kind"))
        .await
        .expect_err("no kind");
    assert_eq!(no_kind.code(), Code::Internal);

    // A panic becomes an error reply …
    let panicked = client.execute(request("boom")).await.expect_err("boom");
    assert_eq!(panicked.code(), Code::Aborted);
    assert!(
        panicked.message().contains("scripted panic for boom"),
        "{panicked}"
    );
    // … and the same connection keeps working.
    let after = client
        .execute(request("plain"))
        .await
        .expect("serving after a panic");
    assert_eq!(
        serde_json::from_slice::<Value>(&after.into_inner().item).unwrap()["metadata"]["name"],
        "plain"
    );

    // The panic was logged as a JSON error line naming the item.
    let log = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
    let panic_line = log
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).expect("JSON line"))
        .find(|line| line["@level"] == "error")
        .unwrap_or_else(|| panic!("no error line in {log}"));
    assert!(
        panic_line["@message"]
            .as_str()
            .unwrap()
            .contains("panicked")
    );
    assert_eq!(panic_line["panic"], "scripted panic for boom");
    assert_eq!(panic_line["name"], "boom");
    assert_eq!(panic_line["kind"], "Pod");

    shutdown.trigger();
    tokio::time::timeout(std::time::Duration::from_secs(2), server)
        .await
        .expect("server stops on shutdown")
        .expect("join")
        .expect("serve ok");
}

#[test]
fn error_mapping_is_explicit() {
    assert_eq!(
        status_from_action_error(&ActionError::InvalidRequest("item has no kind".into())).code(),
        Code::InvalidArgument
    );
    assert_eq!(
        status_from_action_error(&ActionError::Failed("x".into())).code(),
        Code::Unknown
    );
}

#[tokio::test]
async fn pass_through_returns_the_item_unchanged() {
    use velero_plugin::PassThrough;
    let item = json!({"kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 3}});
    let output = PassThrough::default()
        .execute(ExecuteInput {
            item: item.clone(),
            item_from_backup: Value::Null,
            restore: Value::Null,
        })
        .await
        .unwrap();
    assert_eq!(output, ExecuteOutput::unchanged(item));
}

/// A tonic channel over a unix socket (the authority is irrelevant, like go-plugin's "unused").
async fn unix_channel(path: &std::path::Path) -> tonic::transport::Channel {
    let path = path.to_owned();
    tonic::transport::Endpoint::try_from("http://unused")
        .expect("endpoint")
        .connect_with_connector(tower::service_fn(move |_: tonic::transport::Uri| {
            let path = path.clone();
            async move {
                let stream = tokio::net::UnixStream::connect(path).await?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
            }
        }))
        .await
        .expect("connect over unix socket")
}
