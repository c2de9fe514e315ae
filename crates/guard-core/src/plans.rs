//! What the three kinds share about their plans: how one is computed ([`WorkloadPlan`]), that it
//! is computed once per workload per restore ([`Plans`], [`plan_of`]), and how an item finds the
//! plan of the workload that owns it ([`owner_plan`]) — where every item step starts.

use std::any::Any;
use std::borrow::Cow;
use std::sync::Arc;

use serde_json::Value;

use crate::engine::{Rules, VeleroEngine};
use crate::error::{Error, Result};
use crate::restore::{BackedUp, RestoreInputs};
use crate::toolkit::notes::{Level, StepOutcome};
use crate::toolkit::owners::{Kind, Workload};

/// A kind's plan: what the restore's rules do to one workload and what the guard does about it.
pub trait WorkloadPlan: Sized + Send + Sync + 'static {
    /// The kind it plans.
    const KIND: Kind;

    /// The plan over the backed-up objects.
    fn plan(engine: &VeleroEngine, rules: &Rules, backed_up: BackedUp<'_>) -> Result<Self>;

    /// Why the guard leaves the workload (backed up as `object`) alone, judged before planning
    /// it: by default its scope ([`RestoreInputs::out_of_scope`]).
    fn left_alone_before(
        inputs: &RestoreInputs<'_>,
        workload: &Workload,
        _object: &Value,
    ) -> Option<&'static str> {
        inputs.out_of_scope(workload).map(|why| why.as_str())
    }

    /// Why the guard leaves the workload alone, judged by its plan.
    fn left_alone(&self) -> Option<&'static str> {
        None
    }

    /// Whether an item step of the kind reads the workload's backed-up pods (a plan always does):
    /// when not, [`plan_of`] lets go of the pods kept as text once the plan is computed
    /// ([`crate::BackupObjects::release_pods`]).
    const STEPS_READ_PODS: bool = false;

    /// What a restore keeps of the plan once [`plan_of`] computed it: by default all of it. A kind
    /// whose pods are corrected again by their own item step drops the corrected pod copies (only
    /// `check` shows them), so that a restore's memory does not grow with its pods' size.
    fn kept_for_the_restore(self) -> Self {
        self
    }
}

pub use crate::toolkit::memo::Plans;

/// The plan of backed-up `workload` in this restore, computed by the first item that asks.
pub fn plan_of<P: WorkloadPlan>(inputs: &RestoreInputs<'_>, workload: &Value) -> Result<Arc<P>> {
    let owner = Workload::of(P::KIND, workload);
    let plan = inputs.plans.get_or_try_insert(owner.clone(), || {
        let (pods, history) = inputs.backup.owned_by(P::KIND, workload);
        let backed_up = inputs.backed_up(workload, &pods, &history);
        let plan: Arc<dyn Any + Send + Sync> =
            Arc::new(P::plan(inputs.engine, inputs.rules, backed_up)?.kept_for_the_restore());
        if !P::STEPS_READ_PODS {
            inputs.backup.release_pods(&owner);
        }
        Ok::<_, Error>(plan)
    })?;
    // Stored under its workload, whose kind is `P::KIND`: the downcast cannot miss.
    Ok(plan
        .downcast::<P>()
        .unwrap_or_else(|_| unreachable!("a {} plan", P::KIND.as_str())))
}

/// The workload that owns an item, as the item's step sees it.
#[derive(Debug)]
pub struct Owner<'a, P, L> {
    /// `Deployment shop/web`: how the step's notes name it.
    pub workload: String,
    /// The workload as backed up.
    pub object: Cow<'a, Value>,
    pub plan: Arc<P>,
    /// How the item relates to it (its lineage, or the owner's name).
    pub lineage: L,
}

/// The workload that owns an item, or the item's answer (restored as received, a debug note
/// saying why).
pub type Guarded<'a, P, L> = std::result::Result<Owner<'a, P, L>, StepOutcome>;

/// The backed-up workload that owns an item (`lineage` leads to it, `owner` names it), looked
/// after by the guard, with its plan — else the item's answer: `unowned` when there is no
/// lineage (`item` names the item then), or why the workload is left alone.
pub fn owner_plan<'a, P: WorkloadPlan, L>(
    inputs: &RestoreInputs<'a>,
    item: &str,
    unowned: &str,
    lineage: Option<L>,
    owner: impl FnOnce(&L) -> Workload,
) -> Result<Guarded<'a, P, L>> {
    let Some(lineage) = lineage else {
        return Ok(Err(StepOutcome::unchanged(Level::Debug, item, unowned)));
    };
    let workload = owner(&lineage);
    let label = workload.label();
    let alone = |why: &str| {
        Ok(Err(StepOutcome::unchanged(
            Level::Debug,
            label.as_str(),
            why,
        )))
    };
    let Some(object) = inputs.backup.workload(&workload) else {
        return alone(&format!("{} not in the backup", P::KIND.as_str()));
    };
    if let Some(why) = P::left_alone_before(inputs, &workload, &object) {
        return alone(why);
    }
    let plan = plan_of::<P>(inputs, &object)?;
    if let Some(why) = plan.left_alone() {
        return alone(why);
    }
    Ok(Ok(Owner {
        workload: label,
        object,
        plan,
        lineage,
    }))
}
