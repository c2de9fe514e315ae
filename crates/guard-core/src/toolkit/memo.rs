//! Per-restore memory: a workload's plan is computed by the first item that needs it and looked up
//! by every later one. A plugin process serves one restore, so a memo lives as long as the
//! restore's inputs (the shell drops it with them).

use std::any::Any;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};

use super::owners::Workload;

/// Every plan of one restore, by workload; the workload's kind says which plan it is (see
/// `toolkit::plans::plan_of`).
pub type Plans = Memo<Workload, dyn Any + Send + Sync>;

/// Values by key, each computed once. A failed computation is not remembered: the next item asks
/// again (and fails the same way, naming its own workload).
#[derive(Debug)]
pub struct Memo<K, V: ?Sized> {
    values: Mutex<HashMap<K, Arc<V>>>,
}

impl<K, V: ?Sized> Default for Memo<K, V> {
    fn default() -> Self {
        Self {
            values: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash, V: ?Sized> Memo<K, V> {
    /// The value for `key`, computed by `compute` the first time. The lock is not held while
    /// computing: two items racing for the same key both compute, the later insert wins, and
    /// both results are equal (plans are pure).
    pub fn get_or_try_insert<E>(
        &self,
        key: K,
        compute: impl FnOnce() -> Result<Arc<V>, E>,
    ) -> Result<Arc<V>, E> {
        if let Some(hit) = self.lock().get(&key) {
            return Ok(Arc::clone(hit));
        }
        let value = compute()?;
        self.lock().insert(key, Arc::clone(&value));
        Ok(value)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<K, Arc<V>>> {
        // A panic elsewhere cannot leave a half-written map behind: inserts are single calls.
        self.values.lock().unwrap_or_else(|e| e.into_inner())
    }
}
