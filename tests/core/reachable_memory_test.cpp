// Design invariant 6: without FWB, memory is cleaned to PoC (and, when executable and the CPU lacks
// DIC, invalidated in the I-cache) before any translation makes it reachable by the guest, on
// every path that installs a leaf. Each test records the exact maintenance sequence and, at every
// operation, whether the table already lets the guest reach the new memory the way the call
// makes it reachable: the preparation must come first, with its DSB ISH, then the entry.
#include <gtest/gtest.h>

#include <optional>

#include "s2pt/arch/counting.hpp"
#include "s2pt/hosted/page_pool.hpp"
#include "s2pt/page_cache.hpp"
#include "support/fixture.hpp"

namespace s2pt {
namespace {

using Lines = std::vector<std::string>;

using namespace test::sizes;
const Geometry k4 = test::make_geometry(Granule::k4, 40, 40);
// No FWB and no DIC: every preparation is needed. Range TLBIs keep the removal of a table short.
constexpr Features kNoFwb{.tlbi_range = true, .ttl = true};
constexpr Ipa kIpa{k1G};
constexpr Pa kOld{u64{4} << 30};
constexpr Pa kNew{u64{8} << 30};

// Records every operation, marked " (reachable)" when, at that moment, the table translates the
// watched IPA to the watched PA with at least the watched permissions.
class ReachWatchingArch final : public SteppingArch {
 public:
  explicit ReachWatchingArch(Features f) : features_(f) {}
  Features features() const override { return features_; }
  void tlbi(const Stage2Context& context, TlbiOp op, u64 operand) override {
    note({.kind = counting::OpKind::tlbi, .tlbi = op, .vmid = context.vmid(), .operand = operand});
  }
  void dsb_ishst() override { note({.kind = counting::OpKind::dsb_ishst}); }
  void dsb_ish() override { note({.kind = counting::OpKind::dsb_ish}); }
  void isb() override { note({.kind = counting::OpKind::isb}); }
  void dc_civac(Pa pa, u64 bytes) override {
    note({.kind = counting::OpKind::dc_civac, .pa = pa, .bytes = bytes});
  }
  void ic_ialluis() override { note({.kind = counting::OpKind::ic_ialluis}); }
  void ic_ivau(Pa pa, u64 bytes) override {
    note({.kind = counting::OpKind::ic_ivau, .pa = pa, .bytes = bytes});
  }

  void watch(const Table* table, Ipa ipa, Pa pa, Perm perm) {
    table_ = table;
    ipa_ = ipa;
    pa_ = pa;
    perm_ = perm;
    lines.clear();
  }
  bool reachable() const {
    const Result<Translation> t = table_->lookup(ipa_);
    return t.ok() && t->pa == pa_ && (t->attrs.perm & perm_) == perm_;
  }

  Lines lines;

 private:
  void note(const counting::Op& op) {
    if (table_ == nullptr) return;
    lines.push_back(counting::describe(op, Granule::k4) + (reachable() ? " (reachable)" : ""));
  }

  Features features_;
  const Table* table_ = nullptr;
  Ipa ipa_;
  Pa pa_;
  Perm perm_ = Perm::none;
};

struct WatchRig {
  explicit WatchRig(Features f = kNoFwb) : arch(f) {
    Result<Table> t = Table::create({.geometry = k4, .vmid = Vmid{1}}, pool, arch);
    EXPECT_TRUE(t.ok());
    table.emplace(static_cast<Result<Table>&&>(t).value());
  }
  ~WatchRig() {
    table->destroy();
    table->reclaim_all();
  }
  // From here on, records what the table issues and whether ipa -> pa with perm is reachable.
  void watch(Ipa ipa, Pa pa, Perm perm) { arch.watch(&*table, ipa, pa, perm); }
  const Lines& lines() const { return arch.lines; }
  bool reachable() const { return arch.reachable(); }

  hosted::PagePool pool;
  ReachWatchingArch arch;
  std::optional<Table> table;
};

// Break-before-make of the 2 MiB block at kIpa, and of the table of 512 pages there.
const Lines kInvalidateL2Block = {
    "DSB ISHST", "TLBI IPAS2E1IS ipa=0x40000000 ttl=L2", "DSB ISH", "TLBI VMALLE1IS", "DSB ISH",
    "ISB",
};
const Lines kInvalidateL2Table = {
    "DSB ISHST", "TLBI RIPAS2E1IS ipa=0x40000000 pages=512 scale=1 num=7",
    "DSB ISH",   "TLBI VMALLE1IS",
    "DSB ISH",   "ISB",
};

Lines concat(std::initializer_list<Lines> parts) {
  Lines out;
  for (const Lines& p : parts)
    out.insert(out.end(), p.begin(), p.end());
  return out;
}

TEST(ReachableMemory, MapOfOnePageCleansAndInvalidatesBeforeTheEntry) {
  WatchRig rig;
  rig.watch(kIpa, kNew, Perm::rwx);
  ASSERT_TRUE(rig.table->map({kIpa, k4K}, kNew, Attrs::normal(Perm::rwx)).ok());
  EXPECT_EQ(rig.lines(), (Lines{"DC CIVAC 0x200000000 +0x1000", "DSB ISH",
                                "IC IVAU 0x200000000 +0x1000", "DSB ISH", "ISB"}));
  EXPECT_TRUE(rig.reachable());
}

TEST(ReachableMemory, MapOfManyLeavesPreparesTheWholeRangeFirst) {
  WatchRig rig;
  rig.watch(kIpa + k2M, kNew + k2M, Perm::rwx);
  ASSERT_TRUE(rig.table->map({kIpa, 2 * k2M}, kNew, Attrs::normal(Perm::rwx)).ok());
  EXPECT_EQ(rig.lines(),
            (Lines{"DC CIVAC 0x200000000 +0x400000", "DSB ISH", "IC IALLUIS", "DSB ISH", "ISB"}));
  EXPECT_TRUE(rig.reachable());
}

TEST(ReachableMemory, ReplaceOfOnePageOverAPagePreparesBeforeBreakBeforeMake) {
  WatchRig rig;
  ASSERT_TRUE(rig.table->map({kIpa, k4K}, kOld, Attrs::normal(Perm::rw)).ok());
  rig.watch(kIpa, kNew, Perm::rwx);
  ASSERT_TRUE(rig.table->map({kIpa, k4K}, kNew, Attrs::normal(Perm::rwx), MapFlags::replace).ok());
  EXPECT_EQ(rig.lines(), (Lines{
                             "DC CIVAC 0x200000000 +0x1000",
                             "DSB ISH",
                             "IC IVAU 0x200000000 +0x1000",
                             "DSB ISH",
                             "ISB",
                             // break-before-make of the old page
                             "DSB ISHST",
                             "TLBI IPAS2E1IS ipa=0x40000000 ttl=L3",
                             "DSB ISH",
                             "TLBI VMALLE1IS",
                             "DSB ISH",
                             "ISB",
                             // the old memory, once no TLB can reach it
                             "DC CIVAC 0x100000000 +0x1000",
                             "DSB ISH",
                         }));
  EXPECT_TRUE(rig.reachable());
}

TEST(ReachableMemory, ReplaceOfOneBlockOverABlockPreparesBeforeBreakBeforeMake) {
  WatchRig rig;
  ASSERT_TRUE(rig.table->map({kIpa, k2M}, kOld, Attrs::normal(Perm::rw)).ok());
  rig.watch(kIpa, kNew, Perm::rwx);
  ASSERT_TRUE(rig.table->map({kIpa, k2M}, kNew, Attrs::normal(Perm::rwx), MapFlags::replace).ok());
  EXPECT_EQ(rig.lines(),
            concat({{"DC CIVAC 0x200000000 +0x200000", "DSB ISH", "IC IALLUIS", "DSB ISH", "ISB"},
                    kInvalidateL2Block,
                    {"DC CIVAC 0x100000000 +0x200000", "DSB ISH"}}));
  EXPECT_TRUE(rig.reachable());
}

// The bug of issue 17 item 1: this path (MapVisitor::table_pre) installed the block without
// preparing its memory.
TEST(ReachableMemory, ReplaceOfOneBlockOverATablePreparesBeforeBreakBeforeMake) {
  WatchRig rig;
  ASSERT_TRUE(rig.table->map({kIpa, k2M}, kOld, Attrs::normal(Perm::rw), MapFlags::no_blocks).ok());
  rig.watch(kIpa, kNew, Perm::rwx);
  ASSERT_TRUE(rig.table->map({kIpa, k2M}, kNew, Attrs::normal(Perm::rwx), MapFlags::replace).ok());
  EXPECT_EQ(rig.lines(),
            concat({{"DC CIVAC 0x200000000 +0x200000", "DSB ISH", "IC IALLUIS", "DSB ISH", "ISB"},
                    kInvalidateL2Table,
                    // the 512 old pages are contiguous: one clean
                    {"DC CIVAC 0x100000000 +0x200000", "DSB ISH"}}));
  EXPECT_TRUE(rig.reachable());
}

TEST(ReachableMemory, ReplaceOfManyLeavesOverATablePreparesTheWholeRangeFirst) {
  WatchRig rig;
  ASSERT_TRUE(rig.table->map({kIpa, k2M}, kOld, Attrs::normal(Perm::rw), MapFlags::no_blocks).ok());
  rig.watch(kIpa, kNew, Perm::rwx);
  ASSERT_TRUE(
      rig.table->map({kIpa, 2 * k2M}, kNew, Attrs::normal(Perm::rwx), MapFlags::replace).ok());
  EXPECT_EQ(rig.lines(),
            concat({{"DC CIVAC 0x200000000 +0x400000", "DSB ISH", "IC IALLUIS", "DSB ISH", "ISB"},
                    kInvalidateL2Table,
                    {"DC CIVAC 0x100000000 +0x200000", "DSB ISH"}}));
  EXPECT_TRUE(rig.reachable());
}

struct FaultWatchRig : WatchRig {
  explicit FaultWatchRig(Features f = kNoFwb) : WatchRig(f), cache(k4K, 0) {
    EXPECT_EQ(cache.topup(pool), Status::ok);
  }
  ~FaultWatchRig() { cache.drain(pool); }
  Result<FaultOutcome> fault(Ipa ipa, Pa pa, u64 leaf, Attrs attrs) {
    return table->handle_fault({.ipa = ipa, .pa = pa, .leaf_bytes = leaf, .attrs = attrs}, cache);
  }
  PageCache cache;
};

TEST(ReachableMemory, FaultInstallingAPageOrABlockPreparesItFirst) {
  FaultWatchRig rig;
  rig.watch(kIpa, kNew, Perm::rwx);
  EXPECT_EQ(rig.fault(kIpa, kNew, k4K, Attrs::normal(Perm::rwx)).value(), FaultOutcome::mapped);
  EXPECT_EQ(rig.lines(), (Lines{"DC CIVAC 0x200000000 +0x1000", "DSB ISH",
                                "IC IVAU 0x200000000 +0x1000", "DSB ISH", "ISB"}));
  EXPECT_TRUE(rig.reachable());

  rig.watch(kIpa + k2M, kNew + k2M, Perm::rwx);
  EXPECT_EQ(rig.fault(kIpa + k2M + 7 * k4K, kNew + k2M, k2M, Attrs::normal(Perm::rwx)).value(),
            FaultOutcome::mapped);
  EXPECT_EQ(rig.lines(),
            (Lines{"DC CIVAC 0x200200000 +0x200000", "DSB ISH", "IC IALLUIS", "DSB ISH", "ISB"}));
  EXPECT_TRUE(rig.reachable());
}

TEST(ReachableMemory, FaultOrRelaxGainingExecInvalidatesTheInstructionCacheFirst) {
  FaultWatchRig rig;
  ASSERT_TRUE(rig.table->map({kIpa, 2 * k4K}, kNew, Attrs::normal(Perm::rw)).ok());
  const Lines exec_then_relax = {
      "IC IVAU 0x200000000 +0x1000",
      "DSB ISH",
      "ISB",
      "DSB ISHST (reachable)",
      "TLBI IPAS2E1 ipa=0x40000000 ttl=L3 (reachable)",
      "DSB ISH (reachable)",
      "TLBI VMALLE1 (reachable)",
      "DSB ISH (reachable)",
      "ISB (reachable)",
  };
  rig.watch(kIpa, kNew, Perm::rwx);
  EXPECT_EQ(rig.fault(kIpa, kNew, k4K, Attrs::normal(Perm::rwx)).value(), FaultOutcome::relaxed);
  EXPECT_EQ(rig.lines(), exec_then_relax);

  Lines relax = exec_then_relax;
  for (std::string& line : relax) {
    for (const char* from : {"0x200000000", "0x40000000 "}) {
      const std::string f = from;
      if (const auto at = line.find(f); at != std::string::npos)
        line.replace(at, f.size(), f == "0x200000000" ? "0x200001000" : "0x40001000 ");
    }
    // Table::relax is an exclusive operation: it invalidates on every CPU, not only this one.
    for (const auto& [local, broadcast] :
         {std::pair<std::string, std::string>{"TLBI IPAS2E1 ", "TLBI IPAS2LE1IS "},
          {"TLBI VMALLE1 ", "TLBI VMALLE1IS "}}) {
      if (line.starts_with(local)) line.replace(0, local.size(), broadcast);
    }
  }
  rig.watch(kIpa + k4K, kNew + k4K, Perm::rwx);
  ASSERT_TRUE(rig.table->relax({kIpa + k4K, k4K}, Perm::exec).ok());
  EXPECT_EQ(rig.lines(), relax);
}

// A split or a collapse keeps the same memory mapped with the same attributes: it was prepared
// when it was first mapped, so neither issues any cache maintenance.
TEST(ReachableMemory, SplitAndCollapseKeepTheMemoryAndIssueNoCacheMaintenance) {
  WatchRig rig;
  ASSERT_TRUE(rig.table->map({kIpa, k2M}, kOld, Attrs::normal(Perm::rwx)).ok());
  rig.watch(kIpa + k4K, kOld + k4K, Perm::rwx);
  ASSERT_TRUE(rig.table->split({kIpa, k2M}, Level{3}, 1).ok());
  EXPECT_EQ(rig.lines(), kInvalidateL2Block);
  EXPECT_EQ(rig.table->lookup(kIpa + k4K)->level, Level{3});
  EXPECT_TRUE(rig.reachable());

  rig.watch(kIpa + k4K, kOld + k4K, Perm::rwx);
  ASSERT_TRUE(rig.table->collapse({kIpa, k2M}).ok());
  EXPECT_EQ(rig.lines(), kInvalidateL2Table);
  EXPECT_EQ(rig.table->lookup(kIpa + k4K)->level, Level{2});
  EXPECT_TRUE(rig.reachable());
}

}  // namespace
}  // namespace s2pt
