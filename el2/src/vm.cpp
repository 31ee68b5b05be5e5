#include "vm.hpp"

#include "runtime.hpp"
#include "smp.hpp"

namespace el2 {
namespace {

// Each table gets a fresh VMID, so no TLB entry of an earlier table can stand in for a missing
// invalidation of this one.
s2pt::u16 next_vmid = 1;

// Cores with a deferred reclaimer free detached table pages only when asked to.
template <class T>
void reclaim_detached_pages(T& table) {
  if constexpr (requires { table.reclaim_all(); }) table.reclaim_all();
}

}  // namespace

Status TestVm::create(const Geometry& geometry, FeatureMask mask, s2pt::Arch* control,
                      bool hw_dirty) {
  destroy();
  arch_ = s2pt::aarch64::Aarch64Arch(system_cpu_info(), mask);
  units_before_ = arena().units_in_use();
  const s2pt::TableConfig config{
      .geometry = geometry, .vmid = s2pt::Vmid{next_vmid++}, .use_hw_dirty = hw_dirty};
  s2pt::Result<Table> table = Table::create(config, arena(), control != nullptr ? *control : arch_);
  if (!table.ok()) return table.status();
  new (storage_) Table(static_cast<s2pt::Result<Table>&&>(table).value());
  live_ = true;

  const u64 start = reinterpret_cast<u64>(__guest_start);
  const u64 bytes = reinterpret_cast<u64>(__guest_end) - start;
  const s2pt::Progress p =
      this->table().map(IpaRange{Ipa{start}, bytes}, Pa{start}, Attrs::normal(s2pt::Perm::rwx));
  if (!p.ok()) return p.status;

  const u64 vtcr = this->table().vtcr();  // with VTCR_EL2.HD where the CPU has it
  const u64 vttbr = this->table().vttbr();
  const bool fwb = this->table().features().fwb;
  auto install = [&](unsigned) {
    load_stage2(vtcr, vttbr, fwb);
    set_fault_handler(nullptr, nullptr);
    this_cpu().faults.clear();
  };
  on_every_cpu(install);
  return Status::ok;
}

Pa TestVm::alloc_memory(u64 bytes, bool zeroed) {
  if (buffers_used_ == kMaxBuffers) fatal("too many guest buffers", bytes);
  s2pt::Result<Pa> pa = arena().alloc(bytes, zeroed);
  if (!pa.ok()) fatal("out of guest memory", bytes);
  if (zeroed) sync_with_guest(pa.value(), bytes);
  buffers_[buffers_used_] = pa.value();
  buffer_bytes_[buffers_used_] = bytes;
  ++buffers_used_;
  return pa.value();
}

bool TestVm::destroy() {
  if (!live_) return true;
  table().destroy();
  reclaim_detached_pages(table());
  const u64 left = table().stats().table_pages;
  table().~Table();
  live_ = false;
  for (unsigned i = 0; i < buffers_used_; ++i)
    arena().free(buffers_[i], buffer_bytes_[i]);
  buffers_used_ = 0;
  const u64 leaked = arena().units_in_use() - units_before_;
  if (left != 0 || leaked != 0) {
    say() << "FAIL leak: " << left << " table pages counted, " << leaked
          << " arena units still in use after destroy\n";
    return false;
  }
  return true;
}

void fill_pattern(Pa pa, Ipa ipa, u64 bytes, u64 salt) {
  for (u64 off = 0; off < bytes; off += 4096)
    write64(pa + off, pattern(ipa + off, salt));
  sync_with_guest(pa, bytes);
}

void sync_with_guest(Pa pa, u64 bytes) {
  for (u64 va = pa.raw & ~u64{63}; va < pa.raw + bytes; va += 64) {
    asm volatile("dc civac, %0" : : "r"(va) : "memory");
  }
  asm volatile("dsb ish" : : : "memory");
}

u64 read64(Pa pa) {
  sync_with_guest(pa, 8);
  return *reinterpret_cast<volatile u64*>(pa.raw);
}

void write64(Pa pa, u64 value) {
  *reinterpret_cast<volatile u64*>(pa.raw) = value;
  sync_with_guest(pa, 8);
}

bool Checker::expect(bool condition, const char* what, u64 a, u64 b) {
  if (condition) return true;
  if (++failures_ <= 8) {
    say() << "  check failed (" << scope_ << "): " << what << " " << Hex{a} << " " << Hex{b}
          << "\n";
  }
  return false;
}

bool Checker::report(const char* label) {
  say() << (ok() ? "PASS " : "FAIL ") << scope_ << " " << label;
  if (!ok()) say() << " (" << failures_ << " failed checks)";
  say() << "\n";
  return ok();
}

}  // namespace el2
