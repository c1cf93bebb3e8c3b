//! A connector's whole memory footprint, bounded by `[limits] memory_mb`.
//!
//! wasmtime's stock `StoreLimits` bounds each linear memory and each table on
//! its own, so a component with several memories, or a funcref table grown to
//! millions of entries, could take many times the limit of host memory. This
//! limiter charges every memory and every table of the store (all the core
//! instances a component is made of) against one budget, and traps with
//! [`FootprintExceeded`] when a grow would pass it.

use wasmtime::ResourceLimiter;

/// Host bytes one table element costs (a pointer).
const TABLE_ELEMENT_BYTES: usize = 8;

/// Core instances, tables and memories one component may create: far more than
/// any toolchain emits, few enough that their bookkeeping stays small.
const MAX_INSTANCES: usize = 64;
const MAX_TABLES: usize = 64;
const MAX_MEMORIES: usize = 16;

/// A grow refused because the store would pass its budget.
#[derive(Debug, thiserror::Error)]
#[error("it needed more than [limits] memory_mb = {budget_mb} of memory (memories and tables together)")]
pub struct FootprintExceeded {
    pub budget_mb: u64,
}

pub struct Footprint {
    budget: usize,
    used: usize,
}

impl Footprint {
    pub fn new(memory_mb: u64) -> Self {
        Footprint { budget: (memory_mb as usize).saturating_mul(1 << 20), used: 0 }
    }

    fn charge(&mut self, bytes: usize) -> wasmtime::Result<bool> {
        match self.used.checked_add(bytes).filter(|total| *total <= self.budget) {
            Some(total) => {
                self.used = total;
                Ok(true)
            }
            None => Err(FootprintExceeded { budget_mb: (self.budget >> 20) as u64 }.into()),
        }
    }
}

impl ResourceLimiter for Footprint {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        self.charge(desired.saturating_sub(current))
    }

    fn table_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        self.charge(desired.saturating_sub(current).saturating_mul(TABLE_ELEMENT_BYTES))
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memories_and_tables_share_one_budget() {
        let mut f = Footprint::new(64);
        assert!(f.memory_growing(0, 40 << 20, None).unwrap());
        // A second memory of 40 MB passes each memory's own limit, not the total.
        let err = f.memory_growing(0, 40 << 20, None).unwrap_err();
        assert!(err.downcast_ref::<FootprintExceeded>().is_some());
        // 128M table entries are a gigabyte of host memory.
        assert!(f.table_growing(0, 128 << 20, None).is_err());
        assert!(f.table_growing(0, 1 << 20, None).unwrap(), "8 MB of table fits beside 40 MB of memory");
    }
}
