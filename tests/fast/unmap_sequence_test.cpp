// Exact maintenance sequences of every unmap strategy, for each granule, with and without FWB and
// TLBI range, as the counting backend records them.
#include <gtest/gtest.h>

#include "support/fixture.hpp"

namespace s2pt {
namespace {

using counting::Op;
using counting::OpKind;
using test::Rig;

using namespace test::sizes;
constexpr Ipa kBase{k1G};
constexpr Pa kBacking{u64{8} << 30};

struct SeqCase {
  Granule granule;
  bool fwb;
  bool range;
};

std::string case_name(const ::testing::TestParamInfo<SeqCase>& info) {
  return std::to_string(granule_bytes(info.param.granule) >> 10) + "K_" +
         (info.param.fwb ? "fwb" : "nofwb") + "_" + (info.param.range ? "range" : "norange");
}

Features features(const SeqCase& c) {
  return Features{.fwb = c.fwb, .tlbi_range = c.range, .ttl = true};
}

// The expected log, built op by op.
class Expect {
 public:
  explicit Expect(Granule g) : g_(g) {}

  void barrier(OpKind k) { ops.push_back(Op{.kind = k}); }
  void tlbi(TlbiOp op, u64 operand) {
    ops.push_back(Op{.kind = OpKind::tlbi, .tlbi = op, .vmid = Vmid{5}, .operand = operand});
  }
  void ipa(TlbiOp op, Ipa at, LevelHint hint) { tlbi(op, tlbi::ipa_operand(at, g_, hint)); }
  // One range op covering `pages` (a power of two at most 2^21) from `at`.
  void range(TlbiOp op, Ipa at, u64 pages, LevelHint hint) {
    for (unsigned scale = 3;; --scale) {
      const u64 unit = u64{1} << (5 * scale + 1);
      if (pages % unit == 0 && pages / unit <= 32) {
        tlbi(op, tlbi::range_operand({.granule = g_,
                                      .scale = scale,
                                      .num = static_cast<unsigned>(pages / unit - 1),
                                      .hint = hint,
                                      .base_page = at.raw >> granule_shift(g_)}));
        return;
      }
    }
  }
  // The stage-2 invalidation followed by the stage-1 one and the closing barriers.
  void invalidation_head() { barrier(OpKind::dsb_ishst); }
  void invalidation_tail() {
    barrier(OpKind::dsb_ish);
    tlbi(TlbiOp::vmalle1is, 0);
    barrier(OpKind::dsb_ish);
    barrier(OpKind::isb);
  }
  void whole_vmid() {
    barrier(OpKind::dsb_ishst);
    tlbi(TlbiOp::vmalls12e1is, 0);
    barrier(OpKind::dsb_ish);
    barrier(OpKind::isb);
  }
  void dc(Pa pa, u64 bytes) {
    ops.push_back(Op{.kind = OpKind::dc_civac, .pa = pa, .bytes = bytes});
  }

  std::vector<Op> ops;

 private:
  Granule g_;
};

std::vector<std::string> describe_all(const std::vector<Op>& ops, Granule g) {
  std::vector<std::string> out;
  out.reserve(ops.size());
  for (const Op& op : ops)
    out.push_back(counting::describe(op, g));
  return out;
}

class UnmapSequence : public ::testing::TestWithParam<SeqCase> {
 protected:
  Geometry geometry() const { return test::make_geometry(GetParam().granule, 40, 40); }
  // A region of granule pages (the "4K-backed" case of each granule).
  void map_pages(Rig& rig, IpaRange range) {
    ASSERT_TRUE(rig.table()
                    .map(range, kBacking + (range.start - kBase), Attrs::normal(Perm::rw),
                         MapFlags::no_blocks)
                    .ok());
    rig.arch.clear();
  }
  void expect_unmapped(Rig& rig, IpaRange range) {
    const u64 step = rig.geometry.page_bytes();
    for (u64 off = 0; off < range.size; off += step) {
      ASSERT_FALSE(rig.table().lookup(range.start + off).ok()) << off;
    }
    rig.table().reclaim_all();
    EXPECT_EQ(rig.table().stats().table_pages, rig.geometry.root_pages());
  }
};

// The brief's example: fast unmap of an aligned 1 GiB region of granule pages is one
// invalidation (one range op when the CPU has it, otherwise the whole VMID, since the per-page
// ops would exceed the threshold) and, without FWB, one DC CIVAC pass and one final DSB.
TEST_P(UnmapSequence, FastAlignedGigabyte) {
  const SeqCase c = GetParam();
  Rig rig(geometry(), features(c));
  const IpaRange range{kBase, k1G};
  map_pages(rig, range);
  ASSERT_TRUE(rig.table().unmap(range, UnmapStrategy::fast).ok());

  Expect want(c.granule);
  if (c.range) {
    want.invalidation_head();
    want.range(TlbiOp::ripas2e1is, kBase, k1G >> granule_shift(c.granule), LevelHint::none());
    want.invalidation_tail();
  } else {
    want.whole_vmid();
  }
  if (!c.fwb) {
    want.dc(kBacking, k1G);
    want.barrier(OpKind::dsb_ish);
  }
  EXPECT_EQ(describe_all(rig.arch.log(), c.granule), describe_all(want.ops, c.granule));
  expect_unmapped(rig, range);
}

// Two last-level tables' worth of pages: small enough to spell out every per-entry operation.
IpaRange two_tables(const Geometry& g) {
  return IpaRange{kBase, 2 * g.level_bytes(Level{2})};
}

void expect_per_entry(Expect& want, const Geometry& g, const SeqCase& c, IpaRange range) {
  const u64 page = g.page_bytes();
  const u64 table_span = g.level_bytes(Level{2});
  for (u64 off = 0; off < range.size; off += page) {
    want.invalidation_head();
    want.ipa(TlbiOp::ipas2le1is, range.start + off, LevelHint::at(Level{3}));
    want.invalidation_tail();
    if (!c.fwb) {
      want.dc(kBacking + off, page);
      want.barrier(OpKind::dsb_ish);
    }
    if ((off + page) % table_span == 0) {
      // The last-level table is empty: unlinked, its walk-cache entry invalidated, freed.
      want.invalidation_head();
      want.ipa(TlbiOp::ipas2e1is, range.start + off + page - table_span, LevelHint::none());
      want.invalidation_tail();
    }
  }
  if (g.start_level() < Level{2}) {
    // 4K: the level-2 table that held both is empty too.
    want.invalidation_head();
    want.ipa(TlbiOp::ipas2e1is, range.start.align_down(g.level_bytes(Level{1})), LevelHint::none());
    want.invalidation_tail();
  }
}

TEST_P(UnmapSequence, PerEntryClearsInvalidatesAndCleansEachLeaf) {
  const SeqCase c = GetParam();
  Rig rig(geometry(), features(c));
  const IpaRange range = two_tables(rig.geometry);
  map_pages(rig, range);
  ASSERT_TRUE(rig.table().unmap(range, UnmapStrategy::per_entry).ok());
  Expect want(c.granule);
  expect_per_entry(want, rig.geometry, c, range);
  EXPECT_EQ(describe_all(rig.arch.log(), c.granule), describe_all(want.ops, c.granule));
  expect_unmapped(rig, range);
}

TEST_P(UnmapSequence, DeferredInvalidatesTheRangeOnceOnlyWithFwbAndRange) {
  const SeqCase c = GetParam();
  Rig rig(geometry(), features(c));
  const IpaRange range = two_tables(rig.geometry);
  map_pages(rig, range);
  ASSERT_TRUE(rig.table().unmap(range, UnmapStrategy::deferred).ok());
  Expect want(c.granule);
  if (c.fwb && c.range) {
    const u64 table_span = rig.geometry.level_bytes(Level{2});
    for (u64 off = 0; off < range.size; off += table_span) {
      want.invalidation_head();
      want.ipa(TlbiOp::ipas2e1is, range.start + off, LevelHint::none());
      want.invalidation_tail();
    }
    if (rig.geometry.start_level() < Level{2}) {
      want.invalidation_head();
      want.ipa(TlbiOp::ipas2e1is, range.start, LevelHint::none());
      want.invalidation_tail();
    }
    want.invalidation_head();
    want.range(TlbiOp::ripas2le1is, range.start, range.size >> granule_shift(c.granule),
               LevelHint::at(Level{3}));
    want.invalidation_tail();
  } else {
    expect_per_entry(want, rig.geometry, c, range);  // as Linux: deferral needs both features
  }
  EXPECT_EQ(describe_all(rig.arch.log(), c.granule), describe_all(want.ops, c.granule));
  expect_unmapped(rig, range);
}

TEST_P(UnmapSequence, FastAndAutoOnTwoTables) {
  const SeqCase c = GetParam();
  for (UnmapStrategy s : {UnmapStrategy::fast, UnmapStrategy::automatic}) {
    Rig rig(geometry(), features(c));
    const IpaRange range = two_tables(rig.geometry);
    map_pages(rig, range);
    ASSERT_TRUE(rig.table().unmap(range, s).ok());
    Expect want(c.granule);
    const u64 pages = range.size >> granule_shift(c.granule);
    if (c.range) {
      want.invalidation_head();
      want.range(TlbiOp::ripas2e1is, range.start, pages, LevelHint::none());
      want.invalidation_tail();
    } else if (pages <= PlannerLimits{}.max_ipa_ops) {
      want.invalidation_head();
      for (u64 i = 0; i < pages; ++i) {
        want.ipa(TlbiOp::ipas2e1is, range.start + i * rig.geometry.page_bytes(), LevelHint::none());
      }
      want.invalidation_tail();
    } else {
      want.whole_vmid();
    }
    if (!c.fwb) {
      want.dc(kBacking, range.size);
      want.barrier(OpKind::dsb_ish);
    }
    EXPECT_EQ(describe_all(rig.arch.log(), c.granule), describe_all(want.ops, c.granule))
        << name(s);
    expect_unmapped(rig, range);
  }
}

// An unaligned range inside three blocks: the blocks at both ends are split with
// break-before-make, the middle one is removed whole, one invalidation covers the range, and the
// cache maintenance comes after it.
TEST_P(UnmapSequence, FastUnalignedSplitsBothEnds) {
  const SeqCase c = GetParam();
  Rig rig(geometry(), features(c));
  const Geometry& g = rig.geometry;
  const u64 block = g.level_bytes(Level{2});
  const u64 page = g.page_bytes();
  ASSERT_TRUE(rig.table().map({kBase, 3 * block}, kBacking, Attrs::normal(Perm::rw)).ok());
  rig.arch.clear();
  const IpaRange range{kBase + 3 * page, 3 * block - 8 * page};
  ASSERT_TRUE(rig.table().unmap(range, UnmapStrategy::fast).ok());

  Expect want(c.granule);
  for (u64 at : {u64{0}, 2 * block}) {
    want.invalidation_head();
    want.ipa(TlbiOp::ipas2e1is, kBase + at, LevelHint::at(Level{2}));
    // A split keeps the block's memory mapped with the same attributes: nothing to clean.
    want.invalidation_tail();
  }
  // The pages (level 3) and the middle block (level 2) are leaves: leaf-only, no level hint; the
  // TLBIs themselves are the planner's (tested on its own).
  bool whole_vmid = false;
  want.invalidation_head();
  TlbiPlanner(g, features(c)).for_each({.range = range, .leaf_only = true}, [&](TlbiInstr i) {
    want.tlbi(i.op, i.operand);
    whole_vmid = i.op == TlbiOp::vmalls12e1is;
  });
  if (whole_vmid) {
    want.barrier(OpKind::dsb_ish);
    want.barrier(OpKind::isb);
  } else {
    want.invalidation_tail();
  }
  if (!c.fwb) {
    want.dc(kBacking + 3 * page, range.size);
    want.barrier(OpKind::dsb_ish);
  }
  EXPECT_EQ(describe_all(rig.arch.log(), c.granule), describe_all(want.ops, c.granule));

  for (u64 off = 0; off < 3 * block; off += page) {
    const Result<Translation> t = rig.table().lookup(kBase + off);
    if (range.contains(kBase + off)) {
      ASSERT_FALSE(t.ok()) << off;
    } else {
      ASSERT_TRUE(t.ok()) << off;
      ASSERT_EQ(t->pa, kBacking + off);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    EachGranuleAndFeatures, UnmapSequence,
    ::testing::Values(SeqCase{Granule::k4, true, true}, SeqCase{Granule::k4, false, false},
                      SeqCase{Granule::k4, true, false}, SeqCase{Granule::k4, false, true},
                      SeqCase{Granule::k16, true, true}, SeqCase{Granule::k16, false, false},
                      SeqCase{Granule::k16, true, false}, SeqCase{Granule::k16, false, true},
                      SeqCase{Granule::k64, true, true}, SeqCase{Granule::k64, false, false},
                      SeqCase{Granule::k64, true, false}, SeqCase{Granule::k64, false, true}),
    case_name);

// Nothing mapped, nothing issued, by any strategy (annotations are not translations either).
TEST(UnmapSequenceEmpty, NothingMappedNothingIssued) {
  for (UnmapStrategy s : kAllUnmapStrategies) {
    Rig rig(test::make_geometry(Granule::k4, 40, 40), test::kNoFeatures);
    ASSERT_TRUE(rig.table().annotate({kBase, k1G}, OwnerId{3}).ok());
    rig.arch.clear();
    ASSERT_TRUE(rig.table().unmap({kBase - k1G, 4 * k1G}, s).ok());
    EXPECT_TRUE(rig.arch.log().empty()) << name(s);
    EXPECT_EQ(rig.table().owner(kBase + k1G / 2), OwnerId{3}) << name(s);
  }
}

// Without FWB, every DC CIVAC of every strategy comes after the TLBI that removed its
// translation was completed by a DSB ISH (the last TLBI before it is followed by a DSB ISH before
// it), on ranges that split blocks.
TEST(UnmapOrdering, CleaningFollowsCompletedInvalidation) {
  for (UnmapStrategy s : kAllUnmapStrategies) {
    for (bool range_feature : {false, true}) {
      Rig rig(test::make_geometry(Granule::k4, 40, 40),
              Features{.fwb = false, .tlbi_range = range_feature, .ttl = true});
      ASSERT_TRUE(rig.table().map({kBase, 8 << 20}, kBacking, Attrs::normal(Perm::rw)).ok());
      ASSERT_TRUE(rig.table()
                      .map({kBase + (8 << 20), 2 << 20}, kBacking + (8 << 20),
                           Attrs::normal(Perm::rw), MapFlags::no_blocks)
                      .ok());
      rig.arch.clear();
      ASSERT_TRUE(rig.table().unmap({kBase + 0x5000, (10 << 20) - 0x9000}, s).ok());
      const std::vector<Op>& log = rig.arch.log();
      bool tlbi_seen = false;
      bool completed = false;
      u64 cleaned = 0;
      for (const Op& op : log) {
        if (op.kind == OpKind::tlbi) {
          tlbi_seen = true;
          completed = false;
        } else if (op.kind == OpKind::dsb_ish) {
          completed = tlbi_seen;
        } else if (op.kind == OpKind::dc_civac) {
          ASSERT_TRUE(completed) << name(s);
          cleaned += op.bytes;
        }
      }
      EXPECT_GE(cleaned, (10u << 20) - 0x9000) << name(s);
      ASSERT_EQ(log.back().kind, OpKind::dsb_ish) << name(s);
    }
  }
}

}  // namespace
}  // namespace s2pt
