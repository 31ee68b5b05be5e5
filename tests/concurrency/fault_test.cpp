// handle_fault, one call at a time: what each kind of fault does to the table.
#include <gtest/gtest.h>

#include "support/audit.hpp"
#include "support/fixture.hpp"

namespace s2pt {
namespace {

using test::Rig;

using namespace test::sizes;
const Geometry k4 = test::make_geometry(Granule::k4, 40, 40);

struct FaultRig : Rig {
  explicit FaultRig(const Features& f = test::kAllFeatures) : Rig(k4, f), cache(k4K, 0) {
    EXPECT_EQ(cache.topup(pool), Status::ok);
  }
  ~FaultRig() { cache.drain(pool); }
  Result<FaultOutcome> fault(Ipa ipa, Pa pa, u64 leaf, Attrs attrs = Attrs::normal(Perm::rw)) {
    return table().handle_fault({.ipa = ipa, .pa = pa, .leaf_bytes = leaf, .attrs = attrs}, cache);
  }
  PageCache cache;
};

TEST(Fault, MapsThePageOrTheBlockAsked) {
  FaultRig rig;
  EXPECT_EQ(rig.fault(Ipa{k1G + 5 * k4K + 0x10}, Pa{4 * k1G}, k4K).value(), FaultOutcome::mapped);
  EXPECT_EQ(rig.table().lookup(Ipa{k1G + 5 * k4K})->pa, Pa{4 * k1G});
  EXPECT_FALSE(rig.table().lookup(Ipa{k1G + 6 * k4K}).ok());
  EXPECT_EQ(rig.fault(Ipa{k1G + 3 * k2M + 77 * k4K}, Pa{8 * k1G}, k2M).value(),
            FaultOutcome::mapped);
  EXPECT_EQ(rig.table().lookup(Ipa{k1G + 3 * k2M})->level, Level{2});
  EXPECT_EQ(rig.table().lookup(Ipa{k1G + 3 * k2M + k4K})->pa, Pa{8 * k1G + k4K});
  const test::AuditReport r = test::audit(rig.table());
  EXPECT_TRUE(r.clean()) << r.summary();
  EXPECT_TRUE(rig.ops().empty()) << "FWB, not executable: no maintenance";
}

TEST(Fault, BlockWantedWhereATableIsMapsThePage) {
  FaultRig rig;
  ASSERT_TRUE(rig.table().map({Ipa{k1G}, k4K}, Pa{4 * k1G}, Attrs::normal(Perm::rw)).ok());
  EXPECT_EQ(rig.fault(Ipa{k1G + 9 * k4K}, Pa{4 * k1G}, k2M).value(), FaultOutcome::mapped);
  const Result<Translation> t = rig.table().lookup(Ipa{k1G + 9 * k4K});
  EXPECT_EQ(t->level, Level{3});
  EXPECT_EQ(t->pa, Pa{4 * k1G + 9 * k4K});
  EXPECT_FALSE(rig.table().lookup(Ipa{k1G + 8 * k4K}).ok());
}

TEST(Fault, PermissionFaultRelaxesAndInvalidates) {
  FaultRig rig;
  ASSERT_TRUE(rig.table().map({Ipa{k1G}, k2M}, Pa{4 * k1G}, Attrs::normal(Perm::read)).ok());
  rig.arch.clear();
  EXPECT_EQ(rig.fault(Ipa{k1G + k4K}, Pa{4 * k1G}, k2M, Attrs::normal(Perm::rw)).value(),
            FaultOutcome::relaxed);
  EXPECT_EQ(rig.table().lookup(Ipa{k1G})->attrs.perm, Perm::rw);
  // Only this CPU's TLB: another CPU's copy grants less than the table, so at worst it faults too.
  const std::vector<std::string> local{"DSB NSHST", "TLBI IPAS2E1 ipa=0x40000000 ttl=L2",
                                       "DSB NSH",   "TLBI VMALLE1",
                                       "DSB NSH",   "ISB"};
  EXPECT_EQ(rig.ops(), local);
  EXPECT_EQ(rig.table().stats().maintenance.tlbi_broadcast(), 0u);
  // The same fault again, as that other CPU takes it: the table already allows the write, but
  // this CPU's TLB still holds the read-only entry, which it drops, or it would fault forever.
  rig.arch.clear();
  EXPECT_EQ(rig.fault(Ipa{k1G + k4K}, Pa{4 * k1G}, k2M, Attrs::normal(Perm::rw)).value(),
            FaultOutcome::already_resolved);
  EXPECT_EQ(rig.ops(), local);
}

TEST(Fault, ExecuteFaultInvalidatesTheInstructionCache) {
  FaultRig rig(Features{.fwb = true, .tlbi_range = true, .ttl = true});
  ASSERT_TRUE(rig.table().map({Ipa{k1G}, k4K}, Pa{4 * k1G}, Attrs::normal(Perm::rw)).ok());
  rig.arch.clear();
  EXPECT_EQ(rig.fault(Ipa{k1G}, Pa{4 * k1G}, k4K, Attrs::normal(Perm::rwx)).value(),
            FaultOutcome::relaxed);
  const std::vector<std::string> ops = rig.ops();
  ASSERT_FALSE(ops.empty());
  EXPECT_EQ(ops.front(), "IC IVAU 0x100000000 +0x1000") << "before the entry becomes executable";
}

TEST(Fault, AccessFlagFaultMakesYoungWithoutMaintenance) {
  FaultRig rig;
  ASSERT_TRUE(rig.table().map({Ipa{k1G}, k4K}, Pa{4 * k1G}, Attrs::normal(Perm::rw)).ok());
  ASSERT_TRUE(rig.table().mkold({Ipa{k1G}, k4K}).ok());
  rig.arch.clear();
  EXPECT_EQ(rig.fault(Ipa{k1G}, Pa{4 * k1G}, k4K).value(), FaultOutcome::made_young);
  EXPECT_TRUE(rig.table().lookup(Ipa{k1G})->attrs.af);
  EXPECT_TRUE(rig.ops().empty());
}

TEST(Fault, ConflictsAreRefused) {
  FaultRig rig;
  ASSERT_TRUE(rig.table().map({Ipa{k1G}, k4K}, Pa{4 * k1G}, Attrs::normal(Perm::rw)).ok());
  ASSERT_TRUE(rig.table().annotate({Ipa{2 * k1G}, k2M}, OwnerId{3}).ok());
  const test::TableSnapshot before = test::snapshot(rig.table());
  EXPECT_EQ(rig.fault(Ipa{k1G}, Pa{5 * k1G}, k4K).status(), Status::exists) << "other memory";
  EXPECT_EQ(rig.fault(Ipa{k1G}, Pa{4 * k1G}, k4K, Attrs::device(Perm::rw)).status(), Status::exists)
      << "other memory type";
  EXPECT_EQ(rig.fault(Ipa{2 * k1G + k4K}, Pa{0}, k4K).status(), Status::exists) << "annotated";
  EXPECT_TRUE(test::snapshot(rig.table()) == before);
}

TEST(Fault, BadRequestsChangeNothing) {
  FaultRig rig;
  const test::TableSnapshot before = test::snapshot(rig.table());
  EXPECT_EQ(rig.fault(Ipa{1ull << 40}, Pa{0}, k4K).status(), Status::ipa_out_of_range);
  EXPECT_EQ(rig.fault(Ipa{k1G}, Pa{0}, 3 * k4K).status(), Status::unsupported);
  EXPECT_EQ(rig.fault(Ipa{k1G}, Pa{k4K}, k2M).status(), Status::unaligned);
  EXPECT_EQ(rig.fault(Ipa{k1G}, Pa{1ull << 40}, k4K).status(), Status::pa_out_of_range);
  EXPECT_EQ(rig.fault(Ipa{k1G}, Pa{0}, k4K, Attrs{.perm = Perm(64)}).status(),
            Status::bad_attributes);
  for (MemType device : {MemType::device_ngnre, MemType::device_ngnrne}) {
    EXPECT_EQ(rig.fault(Ipa{k1G}, Pa{0}, k4K, Attrs{.perm = Perm::rx, .mem = device}).status(),
              Status::exec_on_device);
  }
  PageCache wrong_granule(16 * k4K, 0);
  EXPECT_EQ(rig.table()
                .handle_fault({.ipa = Ipa{k1G}, .pa = Pa{0}, .leaf_bytes = k4K, .attrs = {}},
                              wrong_granule)
                .status(),
            Status::mismatched_cache);
  PageCache no_slot(k4K, Reclaimer::kWalkerSlots);
  EXPECT_EQ(
      rig.table()
          .handle_fault({.ipa = Ipa{k1G}, .pa = Pa{0}, .leaf_bytes = k4K, .attrs = {}}, no_slot)
          .status(),
      Status::mismatched_cache);
  EXPECT_TRUE(test::snapshot(rig.table()) == before);
}

TEST(Fault, TooFewCachedPagesIsNoMemoryAndChangesNothing) {
  FaultRig rig;
  rig.cache.drain(rig.pool);
  ASSERT_EQ(rig.cache.topup(rig.pool, k4.levels() - 2), Status::ok);
  const test::TableSnapshot before = test::snapshot(rig.table());
  EXPECT_EQ(rig.fault(Ipa{k1G}, Pa{0}, k4K).status(), Status::no_memory);
  EXPECT_TRUE(test::snapshot(rig.table()) == before);
  ASSERT_EQ(rig.cache.topup(rig.pool), Status::ok);
  EXPECT_EQ(rig.fault(Ipa{k1G}, Pa{0}, k4K).value(), FaultOutcome::mapped);
}

TEST(Fault, WithoutFwbTheMemoryIsCleanedBeforeTheLeafAppears) {
  FaultRig rig(test::kNoFeatures);
  EXPECT_EQ(rig.fault(Ipa{k1G}, Pa{4 * k1G}, k4K, Attrs::normal(Perm::rwx)).value(),
            FaultOutcome::mapped);
  EXPECT_EQ(rig.ops(), (std::vector<std::string>{"DC CIVAC 0x100000000 +0x1000", "DSB ISH",
                                                 "IC IVAU 0x100000000 +0x1000", "DSB ISH", "ISB"}));
}

}  // namespace
}  // namespace s2pt
