//! One item being decided: what every kind's file reads (the restore's inputs, plans included, and
//! the request), the live cluster, and the executor it acts through.

use fsb_guard_core::{Kind, RestoreInputs, Workload};
use velero_plugin::ExecuteInput;

use super::executor::{Answer, Executor};

pub(super) struct Item<'a, C> {
    pub(super) inputs: RestoreInputs<'a>,
    pub(super) input: &'a ExecuteInput,
    pub(super) cluster: &'a C,
    pub(super) executor: Executor<'a, C>,
}

impl<'a, C> Item<'a, C> {
    /// The item's workload (of `kind`) needs no live check: restored as received.
    pub(super) fn not_guarded(&self, kind: Kind) -> Answer {
        let workload = Workload::of(kind, &self.input.item_from_backup);
        tracing::debug!(workload = %workload.label(), "not guarded");
        Answer::as_received()
    }

    /// The item as Velero handed it, as the core's steps read it.
    pub(super) fn handed(&self) -> fsb_guard_core::Item<'a> {
        fsb_guard_core::Item {
            received: &self.input.item,
            from_backup: &self.input.item_from_backup,
            restore: &self.input.restore,
        }
    }
}
