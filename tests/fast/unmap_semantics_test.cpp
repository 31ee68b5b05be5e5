// What every unmap strategy must leave behind: the reference model's view of the table, no empty
// tables, no leaked pages, annotations kept, the leaf observer told of every leaf after its
// invalidation, a valid table when memory runs out; and that fast with FWB does not read the
// last-level tables it drops.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <random>

#include "core_access.hpp"
#include "support/audit.hpp"
#include "support/fixture.hpp"
#include "support/reference_model.hpp"

namespace s2pt {
namespace {

using test::Rig;

using namespace test::sizes;

std::string strategy_name(const ::testing::TestParamInfo<UnmapStrategy>& info) {
  return name(info.param);
}

::testing::AssertionResult agrees(Table& table, const test::ReferenceModel& model, IpaRange range) {
  const u64 page = model.page_bytes();
  for (u64 off = 0; off < range.size; off += page) {
    const Ipa ipa = range.start + off;
    const Result<Translation> got = table.lookup(ipa);
    const auto want = model.lookup(ipa);
    const bool same = got.ok() == want.has_value() &&
                      (!want || (got->pa == want->pa && got->attrs == want->attrs));
    if (!same) {
      return ::testing::AssertionFailure()
             << "IPA 0x" << std::hex << ipa.raw << ": table " << (got.ok() ? "maps" : "unmapped")
             << ", model " << (want ? "maps" : "unmapped");
    }
  }
  return ::testing::AssertionSuccess();
}

struct Config {
  Granule granule = Granule::k4;
  unsigned ipa_bits = 40;
  Features features;
};

class EachStrategy : public ::testing::TestWithParam<UnmapStrategy> {};

// Random maps (blocks and pages, sometimes replacing), unmaps with the strategy under test,
// write-protects and annotations, in a window that straddles a level-1 (or root page) boundary.
TEST_P(EachStrategy, DifferentialAgainstTheReferenceModel) {
  const UnmapStrategy strategy = GetParam();
  const Config configs[] = {
      {Granule::k4, 40, test::kAllFeatures},
      {Granule::k4, 36, test::kNoFeatures},
      {Granule::k4, 40, Features{.fwb = false, .tlbi_range = true, .ttl = true}},
      {Granule::k16, 40, test::kAllFeatures},
      {Granule::k64, 44, test::kNoFeatures},
  };
  for (const Config& c : configs) {
    const Geometry g = test::make_geometry(c.granule, c.ipa_bits, 48);
    Rig rig(g, c.features, /*record=*/false);
    Table& table = rig.table();
    const u64 page = g.page_bytes();
    const u64 block = g.level_bytes(Level{2});
    const u64 window = 8 * block;
    const Ipa window_start{g.level_bytes(Level{1}) - window / 2};
    test::ReferenceModel model(window_start, window, page);
    std::mt19937_64 rng(0xfa57 + static_cast<u64>(c.granule) + c.ipa_bits);
    auto pick = [&](u64 n) { return std::uniform_int_distribution<u64>(0, n - 1)(rng); };

    for (int step = 0; step < 600; ++step) {
      const u64 unit = pick(3) == 0 ? block : page * (1 + pick(40));
      const u64 size = std::min(window, unit * (1 + pick(3)));
      const IpaRange range{window_start + page * pick((window - size) / page + 1), size};
      SCOPED_TRACE("step " + std::to_string(step));
      const u64 kind = pick(10);
      if (kind < 5) {
        const Pa pa{(u64{1} << 34) + (range.start - window_start) + (pick(4) == 0 ? page : 0)};
        const Attrs attrs{.perm = pick(2) ? Perm::rw : Perm::read,
                          .mem = pick(3) ? MemType::normal_wb : MemType::device_ngnre};
        const MapFlags flags =
            MapFlags::replace | (pick(6) == 0 ? MapFlags::no_blocks : MapFlags::none);
        ASSERT_TRUE(table.map(range, pa, attrs, flags).ok());
        model.map(range, pa, attrs);
      } else if (kind < 9) {
        ASSERT_TRUE(table.unmap(range, strategy).ok());
        model.unmap(range);
      } else {
        ASSERT_TRUE(table.write_protect(range).ok());
        model.change_perm(range, Perm::write, Perm::none);
      }
      const Ipa lo = range.start - (range.start > window_start ? page : 0);
      const Ipa hi = std::min(range.end() + page, window_start + window);
      ASSERT_TRUE(agrees(table, model, {lo, hi - lo}));
      if (step % 100 == 99) {
        ASSERT_TRUE(agrees(table, model, {window_start, window}));
        const test::AuditReport report = test::audit(table);
        ASSERT_TRUE(report.clean()) << report.summary();
      }
    }
    ASSERT_TRUE(table.unmap({window_start, window}, strategy).ok());
    model.unmap({window_start, window});
    ASSERT_TRUE(agrees(table, model, {window_start, window}));
    table.reclaim_all();
    EXPECT_EQ(table.stats().table_pages, g.root_pages()) << "tables left after unmapping all";
    table.destroy();
    table.reclaim_all();
    EXPECT_EQ(rig.pool.bytes_in_use(), 0u);
  }
}

// 4K, 40-bit IPA: two concatenated root pages, the second starting at 512 GiB. A range across
// that boundary, cutting 1 GiB blocks and 2 MiB blocks at both ends.
TEST_P(EachStrategy, AcrossConcatenatedRootPages) {
  for (bool fwb : {true, false}) {
    Rig rig(test::make_geometry(Granule::k4, 40, 40),
            Features{.fwb = fwb, .tlbi_range = true, .ttl = true}, /*record=*/false);
    Table& table = rig.table();
    const Ipa boundary{u64{512} << 30};
    const IpaRange mapped{boundary - 3 * k1G, 6 * k1G};
    const Pa pa{u64{1} << 32};
    ASSERT_TRUE(table.map(mapped, pa, Attrs::normal(Perm::rw)).ok());  // 1 GiB blocks
    // Some pages and 2 MiB blocks inside the blocks next to the boundary.
    ASSERT_TRUE(table
                    .map({boundary - k1G, k1G}, pa + 2 * k1G, Attrs::normal(Perm::rw),
                         MapFlags::replace | MapFlags::no_blocks)
                    .ok());
    const u64 pages_before = table.stats().table_pages;
    const IpaRange range{boundary - 2 * k1G - 5 * u64{4096}, 4 * k1G + k2M + 7 * u64{4096}};
    ASSERT_TRUE(table.unmap(range, GetParam()).ok());
    // Check every 4 KiB near the ends, every 2 MiB elsewhere (the leaf sizes involved).
    for (u64 off = 0; off < mapped.size; off += 4096) {
      const Ipa ipa = mapped.start + off;
      const bool near_end = ipa - range.start < 4 * k2M || range.end() - ipa < 4 * k2M ||
                            range.start - ipa < 4 * k2M || ipa - range.end() < 4 * k2M;
      if (!near_end && off % k2M != 0) continue;
      const Result<Translation> t = table.lookup(ipa);
      ASSERT_EQ(t.ok(), !range.contains(ipa)) << std::hex << ipa.raw;
      if (t.ok()) {
        ASSERT_EQ(t->pa, pa + off);
      }
    }
    const test::AuditReport report = test::audit(table);
    ASSERT_TRUE(report.clean()) << report.summary();
    EXPECT_LT(table.stats().table_pages, pages_before + 8);
    ASSERT_TRUE(table.unmap(mapped, GetParam()).ok());
    table.reclaim_all();
    EXPECT_EQ(table.stats().table_pages, 2u);
  }
}

// 4K, 48-bit IPA: four levels. Half a terabyte is one level-0 entry: fast detaches it whole,
// with a four-level path of pages inside.
TEST_P(EachStrategy, FourLevelsWholeLevelZeroEntry) {
  Rig rig(test::make_geometry(Granule::k4, 48, 48), test::kAllFeatures, /*record=*/false);
  Table& table = rig.table();
  const u64 k512G = u64{512} << 30;
  const Pa pa{u64{1} << 42};
  ASSERT_TRUE(table.map({Ipa{0}, 2 * k512G}, pa, Attrs::normal(Perm::rw)).ok());
  const Ipa pages{k512G + 3 * k1G};
  ASSERT_TRUE(table
                  .map({pages, 2 * k2M}, pa + (pages - Ipa{0}), Attrs::normal(Perm::rw),
                       MapFlags::replace | MapFlags::no_blocks)
                  .ok());
  ASSERT_TRUE(table.unmap({Ipa{k512G}, k512G}, GetParam()).ok());
  for (u64 off = 0; off < 2 * k512G; off += k1G) {
    ASSERT_EQ(table.lookup(Ipa{off}).ok(), off < k512G) << off;
  }
  for (u64 off = 0; off < 2 * k2M; off += 4096)
    ASSERT_FALSE(table.lookup(pages + off).ok());
  const test::AuditReport report = test::audit(table);
  ASSERT_TRUE(report.clean()) << report.summary();
  table.reclaim_all();
  EXPECT_EQ(table.stats().table_pages, 2u);  // the root and the level-1 table of the first half
}

struct Observed {
  std::vector<UnmappedLeaf> leaves;
  std::vector<bool> invalidated;  // the last TLBI before the call was completed by a DSB ISH
  const counting::CountingArch* arch = nullptr;
};

void observe(void* context, const UnmappedLeaf& leaf) {
  auto* o = static_cast<Observed*>(context);
  o->leaves.push_back(leaf);
  bool tlbi = false;
  bool completed = false;
  for (const counting::Op& op : o->arch->log()) {
    if (op.kind == counting::OpKind::tlbi) {
      tlbi = true;
      completed = false;
    }
    if (op.kind == counting::OpKind::dsb_ish && tlbi) completed = true;
  }
  o->invalidated.push_back(completed);
}

TEST_P(EachStrategy, ObserverHearsOfEveryLeafAfterItsInvalidation) {
  for (bool fwb : {true, false}) {
    Observed seen;  // outlives the table: its teardown reports the leaves still mapped
    Rig rig(test::make_geometry(Granule::k4, 40, 40),
            Features{.fwb = fwb, .tlbi_range = true, .ttl = true});
    seen.arch = &rig.arch;
    rig.table().set_leaf_observer(LeafObserver{.on_unmap = observe, .context = &seen});
    const Ipa base{4 * k1G};
    const Pa pa{u64{1} << 33};
    ASSERT_TRUE(rig.table().map({base, k1G}, pa, Attrs::normal(Perm::rw)).ok());
    ASSERT_TRUE(
        rig.table()
            .map({base + k1G, 4 * k2M}, pa + k1G, Attrs::normal(Perm::read), MapFlags::no_blocks)
            .ok());
    // Cuts the 1 GiB block at its start: a split, then 2 MiB blocks and 4 KiB pages.
    const IpaRange range{base + 3 * u64{4096}, k1G + 3 * k2M};
    ASSERT_TRUE(rig.table().unmap(range, GetParam()).ok());

    u64 bytes = 0;
    for (std::size_t i = 0; i < seen.leaves.size(); ++i) {
      const UnmappedLeaf& l = seen.leaves[i];
      ASSERT_TRUE(seen.invalidated[i]) << "leaf reported before its invalidation completed";
      ASSERT_TRUE(range.contains(l.ipa) && range.contains(l.ipa + (l.size - 1)));
      ASSERT_EQ(l.pa - pa, l.ipa - base);
      ASSERT_EQ(l.size, rig.geometry.level_bytes(l.level));
      ASSERT_EQ(l.attrs.perm, l.ipa < base + k1G ? Perm::rw : Perm::read);
      if (i > 0) {
        ASSERT_GT(l.ipa, seen.leaves[i - 1].ipa);
      }
      bytes += l.size;
    }
    EXPECT_EQ(bytes, range.size);
  }
}

TEST_P(EachStrategy, AnnotationsInsideTheRangeStay) {
  Rig rig(test::make_geometry(Granule::k4, 40, 40));
  Table& table = rig.table();
  const Ipa base{2 * k1G};
  ASSERT_TRUE(
      table.map({base, k1G}, Pa{u64{1} << 33}, Attrs::normal(Perm::rw), MapFlags::no_blocks).ok());
  ASSERT_TRUE(table.unmap({base + 5 * k2M, 4096}).ok());
  ASSERT_TRUE(table.annotate({base + 5 * k2M, 4096}, OwnerId{9}).ok());
  ASSERT_TRUE(table.unmap({base, k1G}, GetParam()).ok());
  EXPECT_EQ(table.owner(base + 5 * k2M), OwnerId{9});
  for (u64 off = 0; off < k1G; off += 4096)
    ASSERT_FALSE(table.lookup(base + off).ok());
  const test::AuditReport report = test::audit(table);
  EXPECT_TRUE(report.clean()) << report.summary();
  table.reclaim_all();
  // The annotation's table and the tables above it are all that is left.
  EXPECT_EQ(table.stats().table_pages, rig.geometry.root_pages() + 2);
}

TEST_P(EachStrategy, OutOfMemoryWhileSplittingLeavesAValidTable) {
  for (bool fwb : {true, false}) {
    Rig rig(test::make_geometry(Granule::k4, 40, 40),
            Features{.fwb = fwb, .tlbi_range = true, .ttl = true}, false);
    Table& table = rig.table();
    const Ipa base{k1G};
    ASSERT_TRUE(table.map({base, 8 * k2M}, Pa{u64{1} << 33}, Attrs::normal(Perm::rw)).ok());
    rig.pool.fail_after(1);  // the first split works, the second (at the far end) fails
    const IpaRange range{base + 4096, 8 * k2M - 2 * u64{4096}};
    const Progress p = table.unmap(range, GetParam());
    rig.pool.never_fail();
    EXPECT_EQ(p.status, Status::no_memory);
    EXPECT_LT(p.bytes_done, range.size);
    for (u64 off = 0; off < 8 * k2M; off += 4096) {
      const Ipa ipa = base + off;
      const bool gone = ipa >= range.start && ipa - range.start < p.bytes_done;
      const bool kept = !range.contains(ipa);
      if (gone) {
        ASSERT_FALSE(table.lookup(ipa).ok()) << off;
      }
      if (kept) {
        ASSERT_TRUE(table.lookup(ipa).ok()) << off;
      }
    }
    const test::AuditReport report = test::audit(table);
    ASSERT_TRUE(report.clean()) << report.summary();
    ASSERT_TRUE(table.unmap(range, GetParam()).ok());
    table.destroy();
    table.reclaim_all();
    EXPECT_EQ(rig.pool.bytes_in_use(), 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(All, EachStrategy, ::testing::ValuesIn(kAllUnmapStrategies),
                         strategy_name);

// The last-level tables a fast unmap drops with FWB and no observer are not read: they are made
// inaccessible to the process before the unmap (all but the one whose first entry links it into
// the retire list).
class NoReadOfLeafTables : public ::testing::Test {
 protected:
  // Maps 1 GiB of 4 KiB pages and protects its last-level tables; returns them.
  std::vector<void*> protect_leaf_tables(Rig& rig, Ipa base) {
    EXPECT_TRUE(
        rig.table()
            .map({base, k1G}, Pa{u64{1} << 33}, Attrs::normal(Perm::rw), MapFlags::no_blocks)
            .ok());
    TableCore& core = CoreAccess::core(rig.table());
    const Geometry& g = rig.geometry;
    const Pte l1 = Pte::from_raw(core.root()[g.index(base, Level{1})]);
    const u64* l2 = core.pages().table(l1.table_address(core.oa()));
    std::vector<void*> pages;
    for (u64 i = 1; i < g.entries_per_table(); ++i) {
      void* p = core.pages().table(Pte::from_raw(l2[i]).table_address(core.oa()));
      EXPECT_EQ(mprotect(p, 4096, PROT_NONE), 0);
      pages.push_back(p);
    }
    return pages;
  }
  static void unprotect(const std::vector<void*>& pages) {
    for (void* p : pages)
      mprotect(p, 4096, PROT_READ | PROT_WRITE);
  }
};

TEST_F(NoReadOfLeafTables, FastWithFwbFreesThemUnread) {
  Rig rig(test::make_geometry(Granule::k4, 40, 40), test::kAllFeatures);
  const Ipa base{3 * k1G};
  const std::vector<void*> pages = protect_leaf_tables(rig, base);
  ASSERT_TRUE(rig.table().unmap({base, k1G}, UnmapStrategy::fast).ok());
  EXPECT_TRUE(rig.table().reclaim_pending());
  rig.table().reclaim_all();  // frees the leaf tables without reading them either
  unprotect(pages);
  EXPECT_EQ(rig.table().stats().table_pages, 2u);
}

// The method detects reads: with an observer the same unmap must read them, and faults.
TEST_F(NoReadOfLeafTables, WithAnObserverTheyAreReadSoTheProtectionBites) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        Rig rig(test::make_geometry(Granule::k4, 40, 40), test::kAllFeatures);
        const Ipa base{3 * k1G};
        protect_leaf_tables(rig, base);
        rig.table().set_leaf_observer(
            LeafObserver{.on_unmap = [](void*, const UnmappedLeaf&) {}, .context = nullptr});
        (void)rig.table().unmap({base, k1G}, UnmapStrategy::fast);
      },
      "");
}

}  // namespace
}  // namespace s2pt
