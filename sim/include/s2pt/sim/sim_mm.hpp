// The Mm the model hands to the core: table pages come from a hosted PagePool, but a freed page
// is poisoned and kept in quarantine instead of being reused, so that any later touch is seen:
// by a hardware walker, by the library (phys_to_virt, refcount), or through a walk-cache entry
// that still points at it.
#pragma once

#include <atomic>
#include <mutex>
#include <vector>

#include "s2pt/hosted/page_pool.hpp"
#include "s2pt/mm.hpp"

namespace s2pt::sim {

class Machine;

class SimMm final : public Mm {
 public:
  explicit SimMm(u64 arena_bytes = u64{256} << 20);
  SimMm(const SimMm&) = delete;
  SimMm& operator=(const SimMm&) = delete;

  Result<Pa> alloc_zeroed(u64 bytes) override;
  void free(Pa pa, u64 bytes) override;
  void* phys_to_virt(Pa pa) override;
  u32* refcount(Pa pa) override;

  // Reports go to this machine (violations, and the walk-cache check at every free).
  void attach(Machine* machine) { machine_ = machine; }

  // The model's own unchecked views of table memory.
  void* raw(Pa pa) { return pool_.phys_to_virt(pa); }
  u32* raw_refcount(Pa pa) { return pool_.refcount(pa); }
  bool contains(Pa pa) const { return pool_.contains(pa); }
  bool is_freed(Pa pa) const;
  bool is_live(Pa pa) const;

  u64 live_bytes() const;         // allocated and not freed
  u64 quarantined_bytes() const;  // freed, poisoned, not reused
  u64 allocs() const { return allocs_.load(); }
  u64 frees() const { return frees_.load(); }
  // Fails every allocation from the n-th one on (0 = the next), as a real exhaustion would.
  void fail_after(u64 n) { pool_.fail_after(n); }
  void never_fail() { pool_.never_fail(); }

  // Hands the quarantined pages back to the pool. Only when no walker can reach them any more.
  void release_quarantine();

  // A freed page reads as this in every 64-bit word: an invalid descriptor.
  static constexpr u64 kPoison = 0xDEAD'BEEF'DEAD'BEE0ull;

 private:
  enum State : u8 { unused = 0, live = 1, freed = 2 };
  std::size_t unit(Pa pa) const;
  void report_use_after_free(Pa pa, const char* what);

  hosted::PagePool pool_;
  u64 arena_bytes_;
  std::vector<std::atomic<u8>> state_;  // per 4K unit
  std::mutex mutex_;
  std::vector<std::pair<Pa, u64>> quarantine_;
  std::atomic<u64> live_bytes_{0};
  std::atomic<u64> quarantined_bytes_{0};
  std::atomic<u64> allocs_{0};
  std::atomic<u64> frees_{0};
  Machine* machine_ = nullptr;
};

}  // namespace s2pt::sim
