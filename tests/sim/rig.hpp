// A machine, its Mm and Arch, and one table attached to it: the setting of every model test.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "core_access.hpp"
#include "s2pt/sim/machine.hpp"
#include "s2pt/sim/sim_arch.hpp"
#include "s2pt/table.hpp"
#include "sim/dropping_arch.hpp"

namespace s2pt::sim::test {

inline constexpr Vmid kVmid{3};
inline constexpr Pa kGuest{u64{1} << 38};

struct ModelRigConfig {
  Granule granule = Granule::k4;
  bool fwb = true;
  bool tlbi_range = true;
  bool ttl = true;
  bool hw_dirty = false;  // TableConfig::use_hw_dirty (the machine's features decide the rest)
  MachineConfig machine{};
};

class ModelRig {
 public:
  explicit ModelRig(const ModelRigConfig& c = {})
      : machine_(c.machine, mm_),
        sim_arch_(machine_),
        arch_(sim_arch_),
        created_(Table::create(TableConfig{.geometry = Geometry::make(c.granule, 40, 40).value(),
                                           .vmid = kVmid,
                                           .use_fwb = c.fwb,
                                           .use_tlbi_range = c.tlbi_range,
                                           .use_ttl = c.ttl,
                                           .use_hw_dirty = c.hw_dirty},
                               mm_, arch_)) {
    EXPECT_TRUE(created_.ok());
    machine_.attach(table());
  }
  ~ModelRig() {
    if (!table().destroyed()) table().destroy();
  }

  SimMm& mm() { return mm_; }
  Machine& machine() { return machine_; }
  DroppingArch& arch() { return arch_; }
  Table& table() { return created_.value(); }
  TableCore& core() { return CoreAccess::core(table()); }
  // VTTBR_EL2 of the table: what its TLBIs run under.
  Stage2Context context() { return core().maintenance().context(); }
  // For the broken variants written out by hand: instructions straight to the backend, in the
  // table's context, one at a time.
  struct ByHand {
    SteppingArch& arch;
    Stage2Context context;
    void tlbi(TlbiOp op, u64 operand) { arch.tlbi(context, op, operand); }
    void dsb_ishst() { arch.dsb_ishst(); }
    void dsb_ish() { arch.dsb_ish(); }
    void isb() { arch.isb(); }
    void dc_civac(Pa pa, u64 bytes) { arch.dc_civac(pa, bytes); }
  };
  ByHand by_hand() { return ByHand{arch_, context()}; }
  u64 page() { return table().geometry().page_bytes(); }

  // Maps [ipa, +bytes) to guest memory at kGuest + ipa, and lets every CPU cache all of it.
  void map_and_cache(Ipa ipa, u64 bytes, Attrs attrs = Attrs::normal(Perm::rw),
                     MapFlags flags = MapFlags::none) {
    machine_.begin_op("setup map");
    ASSERT_TRUE(table().map(IpaRange{ipa, bytes}, kGuest + ipa.raw, attrs, flags).ok());
    ASSERT_TRUE(machine_.end_op().empty());
    cache(IpaRange{ipa, bytes});
  }
  void cache(IpaRange range) {
    for (unsigned c = 0; c < machine_.cpus(); ++c)
      machine_.prefetch_all(c, kVmid, range);
  }
  std::string report() const {
    std::string s;
    for (const Violation& v : machine_.violations())
      s += v.describe() + "\n";
    return s;
  }

 private:
  SimMm mm_;
  Machine machine_;
  SimArch sim_arch_;
  DroppingArch arch_;
  Result<Table> created_;
};

}  // namespace s2pt::sim::test
