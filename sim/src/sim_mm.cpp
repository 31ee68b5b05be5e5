#include "s2pt/sim/sim_mm.hpp"

#include "s2pt/sim/machine.hpp"

namespace s2pt::sim {

SimMm::SimMm(u64 arena_bytes)
    : pool_(hosted::PagePoolConfig{.arena_bytes = arena_bytes}),
      arena_bytes_(arena_bytes),
      state_(arena_bytes / hosted::PagePool::kUnit) {}

std::size_t SimMm::unit(Pa pa) const {
  return (pa - pool_.base()) / hosted::PagePool::kUnit;
}

bool SimMm::is_freed(Pa pa) const {
  return contains(pa) && state_[unit(pa)].load(std::memory_order_acquire) == freed;
}
bool SimMm::is_live(Pa pa) const {
  return contains(pa) && state_[unit(pa)].load(std::memory_order_acquire) == live;
}

Result<Pa> SimMm::alloc_zeroed(u64 bytes) {
  Result<Pa> page = pool_.alloc_zeroed(bytes);
  if (!page.ok()) return page.status();
  for (u64 off = 0; off < bytes; off += hosted::PagePool::kUnit) {
    state_[unit(page.value() + off)].store(live, std::memory_order_release);
  }
  live_bytes_ += bytes;
  ++allocs_;
  return page.value();
}

void SimMm::free(Pa pa, u64 bytes) {
  if (!is_live(pa)) {
    if (machine_ != nullptr) {
      machine_->report(Violation{.kind = ViolationKind::double_free,
                                 .pa = pa,
                                 .detail = "free of a page that is not allocated"});
    }
    return;
  }
  // Any walk cache still pointing here lets a hardware walker read the page from now on.
  if (machine_ != nullptr) machine_->on_page_freed(pa, bytes);
  auto* words = static_cast<u64*>(pool_.phys_to_virt(pa));
  for (u64 i = 0; i < bytes / sizeof(u64); ++i)
    __atomic_store_n(words + i, kPoison, __ATOMIC_RELAXED);
  for (u64 off = 0; off < bytes; off += hosted::PagePool::kUnit) {
    state_[unit(pa + off)].store(freed, std::memory_order_release);
  }
  {
    std::lock_guard lock(mutex_);
    quarantine_.emplace_back(pa, bytes);
  }
  live_bytes_ -= bytes;
  quarantined_bytes_ += bytes;
  ++frees_;
}

void SimMm::report_use_after_free(Pa pa, const char* what) {
  if (machine_ != nullptr) {
    machine_->report(Violation{.kind = ViolationKind::library_use_freed, .pa = pa, .detail = what});
  }
}

void* SimMm::phys_to_virt(Pa pa) {
  if (is_freed(pa)) report_use_after_free(pa, "phys_to_virt of a freed table page");
  return pool_.phys_to_virt(pa);
}

u32* SimMm::refcount(Pa pa) {
  if (is_freed(pa)) report_use_after_free(pa, "reference count of a freed table page");
  return pool_.refcount(pa);
}

u64 SimMm::live_bytes() const {
  return live_bytes_.load();
}
u64 SimMm::quarantined_bytes() const {
  return quarantined_bytes_.load();
}

void SimMm::release_quarantine() {
  std::lock_guard lock(mutex_);
  for (auto [pa, bytes] : quarantine_) {
    for (u64 off = 0; off < bytes; off += hosted::PagePool::kUnit) {
      state_[unit(pa + off)].store(unused, std::memory_order_release);
    }
    pool_.free(pa, bytes);
    quarantined_bytes_ -= bytes;
  }
  quarantine_.clear();
}

}  // namespace s2pt::sim
