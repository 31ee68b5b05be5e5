// Exact maintenance sequences, as the counting backend records them.
#include <gtest/gtest.h>

#include "core_access.hpp"
#include "support/fixture.hpp"

namespace s2pt {
namespace {

using test::Rig;
using Lines = std::vector<std::string>;

using namespace test::sizes;
const Geometry k4 = test::make_geometry(Granule::k4, 40, 40);

TEST(Sequence, LiveBlockToTableSplitIsBreakBeforeMake) {
  Rig rig(k4);
  ASSERT_TRUE(
      rig.table().map({Ipa{0x4000'0000}, k2M}, Pa{0x8'0000'0000}, Attrs::normal(Perm::rw)).ok());
  rig.arch.clear();
  // Write-protecting one page inside the block forces the split.
  ASSERT_TRUE(rig.table().write_protect({Ipa{0x4000'1000}, 0x1000}).ok());
  EXPECT_EQ(rig.ops(), (Lines{
                           // the split: block out, invalidated with its level, table in
                           "DSB ISHST",
                           "TLBI IPAS2E1IS ipa=0x40000000 ttl=L2",
                           "DSB ISH",
                           "TLBI VMALLE1IS",
                           "DSB ISH",
                           "ISB",
                           // the permission change of the one page
                           "DSB ISHST",
                           "TLBI IPAS2LE1IS ipa=0x40001000 ttl=L3",
                           "DSB ISH",
                           "TLBI VMALLE1IS",
                           "DSB ISH",
                           "ISB",
                       }));
}

// Records the value of one descriptor at every maintenance operation, to see the order of the
// table writes relative to the barriers and TLBIs.
class EntryWatchingArch final : public SteppingArch {
 public:
  EntryWatchingArch(const u64* slot, Features f) : slot_(slot), features_(f) {}
  Features features() const override { return features_; }
  void tlbi(const Stage2Context&, TlbiOp op, u64) override { note(name(op)); }
  void dsb_ishst() override { note("DSB ISHST"); }
  void dsb_ish() override { note("DSB ISH"); }
  void isb() override { note("ISB"); }
  void dc_civac(Pa, u64) override { note("DC CIVAC"); }
  void ic_ivau(Pa, u64) override { note("IC IVAU"); }
  void ic_ialluis() override { note("IC IALLUIS"); }
  void watch(const u64* slot) { slot_ = slot; }

  std::vector<std::pair<std::string, u64>> seen;

 private:
  void note(const char* what) {
    seen.emplace_back(what, slot_ ? __atomic_load_n(slot_, __ATOMIC_RELAXED) : 0);
  }
  const u64* slot_;
  Features features_;
};

TEST(Sequence, SplitWritesInvalidBeforeTheBarrierAndTheTableAfterTheIsb) {
  hosted::PagePool pool;
  EntryWatchingArch arch(nullptr, test::kAllFeatures);
  Result<Table> t = Table::create({.geometry = k4, .vmid = Vmid{1}}, pool, arch);
  ASSERT_TRUE(t.ok());
  Table& table = t.value();
  ASSERT_TRUE(table.map({Ipa{0x4000'0000}, k2M}, Pa{0x8'0000'0000}, Attrs::normal(Perm::rw)).ok());
  // The level-2 entry of IPA 1 GiB: root entry 1 -> level-2 table, entry 0.
  const Pte l1 = Pte::from_raw(CoreAccess::core(table).root()[1]);
  ASSERT_TRUE(l1.is_table(Level{1}));
  const u64* l2_slot = CoreAccess::core(table).pages().table(l1.table_address(OaLayout::bits48));
  const u64 block = *l2_slot;
  arch.watch(l2_slot);
  arch.seen.clear();
  ASSERT_TRUE(table.unmap({Ipa{0x4000'0000}, 0x1000}).ok());
  ASSERT_GE(arch.seen.size(), 6u);
  for (int i = 0; i < 6; ++i) {
    EXPECT_FALSE(Pte::from_raw(arch.seen[i].second).is_valid())
        << arch.seen[i].first << " saw the entry valid during break-before-make";
  }
  EXPECT_EQ(arch.seen[0].first, "DSB ISHST");
  EXPECT_EQ(arch.seen[5].first, "ISB");
  const Pte after = Pte::from_raw(*l2_slot);
  EXPECT_TRUE(after.is_table(Level{2}));
  EXPECT_NE(after.raw(), block);
}

TEST(Sequence, PerEntryUnmapCleansOnlyAfterTheTlbiCompleted) {
  Rig rig(k4, Features{.tlbi_range = true, .ttl = true});  // no FWB
  ASSERT_TRUE(
      rig.table().map({Ipa{0x4000'0000}, 0x1000}, Pa{0x8'0000'0000}, Attrs::normal(Perm::rw)).ok());
  rig.arch.clear();
  ASSERT_TRUE(rig.table().unmap({Ipa{0x4000'0000}, 0x1000}, UnmapStrategy::per_entry).ok());
  EXPECT_EQ(rig.ops(), (Lines{
                           "DSB ISHST",
                           "TLBI IPAS2LE1IS ipa=0x40000000 ttl=L3",
                           "DSB ISH",
                           "TLBI VMALLE1IS",
                           "DSB ISH",
                           "ISB",
                           "DC CIVAC 0x800000000 +0x1000",
                           "DSB ISH",
                           // the now empty level-3 table leaves; its walk-cache entry goes
                           "DSB ISHST",
                           "TLBI IPAS2E1IS ipa=0x40000000",
                           "DSB ISH",
                           "TLBI VMALLE1IS",
                           "DSB ISH",
                           "ISB",
                           // and so does the empty level-2 table above it
                           "DSB ISHST",
                           "TLBI IPAS2E1IS ipa=0x40000000",
                           "DSB ISH",
                           "TLBI VMALLE1IS",
                           "DSB ISH",
                           "ISB",
                       }));
  EXPECT_EQ(rig.table().stats().table_pages, k4.root_pages());
}

TEST(Sequence, DeviceMemoryIsNeverCleaned) {
  Rig rig(k4, test::kNoFeatures);
  ASSERT_TRUE(
      rig.table().map({Ipa{0x4000'0000}, 0x1000}, Pa{0x900'0000}, Attrs::device(Perm::rw)).ok());
  ASSERT_TRUE(rig.table().unmap({Ipa{0x4000'0000}, 0x1000}).ok());
  for (const std::string& op : rig.ops())
    EXPECT_EQ(op.find("DC CIVAC"), std::string::npos) << op;
}

TEST(Sequence, MapWithoutFwbCleansBeforeTheEntryIsWritten) {
  Rig rig(k4, test::kNoFeatures);
  ASSERT_TRUE(
      rig.table().map({Ipa{0x4000'0000}, k2M}, Pa{0x8'0000'0000}, Attrs::normal(Perm::rwx)).ok());
  EXPECT_EQ(rig.ops(), (Lines{
                           "DC CIVAC 0x800000000 +0x200000",
                           "DSB ISH",
                           "IC IALLUIS",
                           "DSB ISH",
                           "ISB",
                       }));
}

TEST(Sequence, MapWithFwbOfNonExecutableMemoryIssuesNothing) {
  Rig rig(k4);
  ASSERT_TRUE(
      rig.table().map({Ipa{0x4000'0000}, k2M}, Pa{0x8'0000'0000}, Attrs::normal(Perm::rw)).ok());
  EXPECT_TRUE(rig.ops().empty());
}

TEST(Sequence, GainingExecuteInvalidatesTheInstructionCacheFirst) {
  Rig rig(k4, Features{.fwb = true, .tlbi_range = true, .ttl = true, .dic = false});
  ASSERT_TRUE(
      rig.table().map({Ipa{0x4000'0000}, 0x1000}, Pa{0x8'0000'0000}, Attrs::normal(Perm::rw)).ok());
  rig.arch.clear();
  ASSERT_TRUE(rig.table().relax({Ipa{0x4000'0000}, 0x1000}, Perm::exec).ok());
  EXPECT_EQ(rig.ops(), (Lines{
                           "IC IVAU 0x800000000 +0x1000",
                           "DSB ISH",
                           "ISB",
                           "DSB ISHST",
                           "TLBI IPAS2LE1IS ipa=0x40000000 ttl=L3",
                           "DSB ISH",
                           "TLBI VMALLE1IS",
                           "DSB ISH",
                           "ISB",
                       }));
  // Already executable, or a coherent instruction cache: nothing to invalidate.
  rig.arch.clear();
  ASSERT_TRUE(rig.table().relax({Ipa{0x4000'0000}, 0x1000}, Perm::exec).ok());
  EXPECT_TRUE(rig.ops().empty());
  Rig dic(k4, Features{.fwb = true, .dic = true});
  ASSERT_TRUE(
      dic.table().map({Ipa{0x4000'0000}, 0x1000}, Pa{0x8'0000'0000}, Attrs::normal(Perm::rw)).ok());
  dic.arch.clear();
  ASSERT_TRUE(dic.table().relax({Ipa{0x4000'0000}, 0x1000}, Perm::exec).ok());
  for (const std::string& op : dic.ops())
    EXPECT_EQ(op.find("IC IVAU"), std::string::npos) << op;
}

// IC IVAU line by line up to 512 lines (32 KiB); beyond that one IC IALLUIS, and always on an
// aliasing (VIPT) I-cache, where IC IVAU by the hypervisor's address can miss the guest's lines.
TEST(Sequence, LargeOrAliasingICacheInvalidationIsOneIcIalluis) {
  struct Case {
    const char* what;
    u64 bytes;
    bool aliasing;
    const char* first;
  };
  const Case cases[] = {
      {"512 lines", 0x8000, false, "IC IVAU 0x800000000 +0x8000"},
      {"576 lines", 0x9000, false, "IC IALLUIS"},
      {"one page, aliasing", 0x1000, true, "IC IALLUIS"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    Rig rig(k4, Features{.fwb = true, .dic = false, .aliasing_icache = c.aliasing});
    ASSERT_TRUE(rig.table()
                    .map({Ipa{0x4000'0000}, c.bytes}, Pa{0x8'0000'0000}, Attrs::normal(Perm::rx),
                         MapFlags::no_blocks)
                    .ok());
    EXPECT_EQ(rig.ops(), (Lines{c.first, "DSB ISH", "ISB"}));
    EXPECT_EQ(rig.table().stats().maintenance.ic_ialluis,
              std::string(c.first) == "IC IALLUIS" ? 1u : 0u);
  }
}

TEST(Sequence, WriteProtectOfManyPagesIsOneRangeInvalidation) {
  Rig rig(k4);
  ASSERT_TRUE(rig.table()
                  .map({Ipa{0x4000'0000}, 64 * u64{0x1000}}, Pa{0x8'0000'0000},
                       Attrs::normal(Perm::rw), MapFlags::no_blocks)
                  .ok());
  rig.arch.clear();
  ASSERT_TRUE(rig.table().write_protect({Ipa{0x4000'0000}, 64 * u64{0x1000}}).ok());
  EXPECT_EQ(rig.ops(), (Lines{
                           "DSB ISHST",
                           "TLBI RIPAS2LE1IS ipa=0x40000000 pages=64 scale=1 num=0 ttl=L3",
                           "DSB ISH",
                           "TLBI VMALLE1IS",
                           "DSB ISH",
                           "ISB",
                       }));
}

TEST(Sequence, DestroyInvalidatesTheVmidBeforeFreeing) {
  Rig rig(k4, test::kNoFeatures);
  ASSERT_TRUE(
      rig.table().map({Ipa{0x4000'0000}, 0x1000}, Pa{0x8'0000'0000}, Attrs::normal(Perm::rw)).ok());
  rig.arch.clear();
  rig.table().destroy();
  rig.table().reclaim_all();  // destroy() hands the pages to the reclaimer
  EXPECT_EQ(rig.ops(), (Lines{
                           "DSB ISHST",
                           "TLBI VMALLS12E1IS",
                           "DSB ISH",
                           "ISB",
                           "DC CIVAC 0x800000000 +0x1000",
                           "DSB ISH",
                       }));
  EXPECT_EQ(rig.pool.bytes_in_use(), 0u);
}

}  // namespace
}  // namespace s2pt
