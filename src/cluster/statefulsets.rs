//! The calls the StatefulSet guard makes: a dry-run create (the API server's defaulting of the
//! final template), the server version, and ControllerRevision get / delete / create — the create
//! with a body sent byte for byte, because the API server stores a revision's `data` bytes
//! verbatim and the StatefulSet controller compares those bytes.

use kube::core::Request;
use kube::core::params::{DeleteParams, PostParams, Preconditions};
use serde_json::Value;

use super::{Call, Cluster, FIELD_MANAGER, Resource, Result};

impl Resource {
    pub const STATEFUL_SETS: Self = Self {
        group: "apps",
        version: "v1",
        plural: "statefulsets",
    };
    pub const CONTROLLER_REVISIONS: Self = Self {
        group: "apps",
        version: "v1",
        plural: "controllerrevisions",
    };
}

impl Cluster {
    /// POST `object` with `dryRun=All`: validation, defaulting and admission (mutating webhooks
    /// included) run, nothing is stored. Returns the object as the server would store it.
    pub async fn dry_run_create(
        &self,
        resource: Resource,
        namespace: &str,
        object: &Value,
    ) -> Result<Value> {
        let name = object.pointer("/metadata/name").and_then(Value::as_str);
        let call = Self::call("create", resource, namespace, name);
        let body = serde_json::to_vec(object).map_err(|e| Self::build_err(call.clone(), e))?;
        let params = PostParams {
            dry_run: true,
            field_manager: Some(FIELD_MANAGER.to_owned()),
        };
        let request = Request::new(resource.url_path(namespace))
            .create(&params, body)
            .map_err(|e| Self::build_err(call.clone(), e))?;
        self.send(call, request).await
    }

    /// POST a new object whose JSON body is exactly `body` (no re-encoding). Returns the object as
    /// stored.
    pub async fn create_raw(
        &self,
        resource: Resource,
        namespace: &str,
        name: &str,
        body: Vec<u8>,
    ) -> Result<Value> {
        let call = Self::call("create", resource, namespace, Some(name));
        let params = PostParams {
            dry_run: false,
            field_manager: Some(FIELD_MANAGER.to_owned()),
        };
        let request = Request::new(resource.url_path(namespace))
            .create(&params, body)
            .map_err(|e| Self::build_err(call.clone(), e))?;
        self.send(call, request).await
    }

    /// DELETE one object only if it is still the version read (`uid` and `resource_version`
    /// preconditions: a changed object answers 409 Conflict). A missing object is not an error.
    pub async fn delete_if_unchanged(
        &self,
        resource: Resource,
        namespace: &str,
        name: &str,
        uid: Option<&str>,
        resource_version: Option<&str>,
    ) -> Result<()> {
        let call = Self::call("delete", resource, namespace, Some(name));
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                uid: uid.map(str::to_owned),
                resource_version: resource_version.map(str::to_owned),
            }),
            ..DeleteParams::background()
        };
        let request = Request::new(resource.url_path(namespace))
            .delete(name, &params)
            .map_err(|e| Self::build_err(call.clone(), e))?;
        match self.send(call, request).await {
            Err(e) if e.is_not_found() => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// `GET /version` (`major`, `minor`, `gitVersion`…) of the API server.
    pub async fn server_version(&self) -> Result<Value> {
        let call = Call {
            verb: "get",
            resource: "/version".to_owned(),
            namespace: String::new(),
            name: None,
        };
        let request = http::Request::get("/version")
            .header(http::header::ACCEPT, "application/json")
            .body(Vec::new())
            .map_err(|e| Self::build_err(call.clone(), e))?;
        self.send(call, request).await
    }

    pub async fn get_controller_revision(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Value>> {
        self.get(Resource::CONTROLLER_REVISIONS, namespace, name)
            .await
    }
}
