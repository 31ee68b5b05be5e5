// One guest VM for a scenario: an s2pt table driven through the aarch64 backend, installed on
// every CPU, with the guest payload mapped at IPA == PA, guest memory from the page arena, and a
// lock that serialises the core's exclusive operations between CPUs.
#pragma once

#include "page_arena.hpp"
#include "s2pt/arch/aarch64.hpp"
#include "s2pt/table.hpp"
#include "spinlock.hpp"
#include "vcpu.hpp"

namespace el2 {

using s2pt::Attrs;
using s2pt::Geometry;
using s2pt::IpaRange;
using s2pt::Pa;
using s2pt::Status;
using s2pt::Table;
using s2pt::aarch64::FeatureMask;

class TestVm {
 public:
  TestVm() = default;
  ~TestVm() { destroy(); }
  TestVm(const TestVm&) = delete;
  TestVm& operator=(const TestVm&) = delete;

  // Creates the table (with a VMID not used before), maps the guest payload and installs the
  // table on every CPU with HCR_EL2.FWB as the table's features say. `control`: a backend to use
  // instead of the aarch64 one (a negative control: a backend with a known fault).
  // `hw_dirty`: TableConfig::use_hw_dirty (VTCR_EL2.HA and HD where the CPU has FEAT_HAFDBS).
  Status create(const Geometry& geometry, FeatureMask mask, s2pt::Arch* control = nullptr,
                bool hw_dirty = false);
  Table& table() { return *reinterpret_cast<Table*>(storage_); }
  SpinLock& lock() { return lock_; }
  s2pt::aarch64::Aarch64Arch& arch() { return arch_; }

  // Guest memory: `bytes` of RAM aligned to `bytes` (a power of two), freed by destroy(). Not
  // cleared unless asked: it may hold what an earlier scenario left there.
  Pa alloc_memory(u64 bytes, bool zeroed = false);

  // Destroys the table and frees the guest memory. False (after saying why) if the table leaked
  // pages. Safe to call twice.
  bool destroy();

 private:
  static constexpr unsigned kMaxBuffers = 16;

  s2pt::aarch64::Aarch64Arch arch_;
  alignas(Table) unsigned char storage_[sizeof(Table)];
  bool live_ = false;
  u64 units_before_ = 0;
  SpinLock lock_;
  Pa buffers_[kMaxBuffers] = {};
  u64 buffer_bytes_[kMaxBuffers] = {};
  unsigned buffers_used_ = 0;
};

// The pattern the guest expects in the first word of each 4 KiB of guest memory mapped at `ipa`.
constexpr u64 pattern(Ipa ipa, u64 salt) {
  return ipa.raw ^ salt;
}
// Writes pattern(ipa + k * 4K) at pa + k * 4K for the `bytes` of memory to be mapped at `ipa`.
void fill_pattern(Pa pa, Ipa ipa, u64 bytes, u64 salt);

// Cleans and invalidates [pa, pa + bytes) to PoC: without FWB the guest (stage 1 off) accesses
// memory as Device, so what EL2 wrote through its cacheable map must reach memory, and EL2 must
// not read stale lines of what the guest wrote.
void sync_with_guest(Pa pa, u64 bytes);

u64 read64(Pa pa);
void write64(Pa pa, u64 value);

// Counts failed checks and prints the first few with their context.
class Checker {
 public:
  explicit Checker(const char* scope) : scope_(scope) {}
  bool expect(bool condition, const char* what, u64 a = 0, u64 b = 0);
  bool ok() const { return failures_ == 0; }
  u64 failures() const { return failures_; }
  // Prints "PASS <scope> <label>" or "FAIL ..." and returns ok().
  bool report(const char* label);

 private:
  const char* scope_;
  u64 failures_ = 0;
};

}  // namespace el2
