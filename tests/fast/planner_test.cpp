// The TLBI planner against the architecture's decoders: every plan, decoded as the hardware
// would, covers exactly the requested pages with well-formed operations, within the op bound.
#include <gtest/gtest.h>

#include <random>

#include "maintenance.hpp"

namespace s2pt {
namespace {

// A plan small enough to keep on the stack; the planner never emits more than this here.
struct Plan {
  TlbiInstr ops[1024] = {};
  unsigned count = 0;
  bool overflow = false;
};

Plan plan(const TlbiPlanner& planner, const InvalidationScope& scope) {
  Plan p;
  planner.for_each(scope, [&](TlbiInstr i) {
    if (p.count == 1024) {
      p.overflow = true;
      return;
    }
    p.ops[p.count++] = i;
  });
  return p;
}

Geometry geometry(Granule g) {
  return Geometry::make(g, 48, 48).value();
}

// Checks that `p` invalidates exactly [first_page, first_page + pages) in ascending order, every
// operation decoding to what was meant. Returns a failure description, or empty.
// With `ds` (LPA2) range operands are decoded with BaseADDR in 64 KiB units, and every range
// operation must start 64 KiB aligned.
::testing::AssertionResult covers_exactly(const Plan& p, Granule g, u64 first_page, u64 pages,
                                          bool leaf_only, LevelHint hint, bool ds = false) {
  if (p.overflow) return ::testing::AssertionFailure() << "too many ops";
  const unsigned shift = granule_shift(g);
  u64 next = first_page;
  for (unsigned k = 0; k < p.count; ++k) {
    const TlbiInstr& i = p.ops[k];
    if (is_leaf_only(i.op) != leaf_only) {
      return ::testing::AssertionFailure() << "op " << k << " has the wrong leaf-only form";
    }
    if (is_range(i.op)) {
      const tlbi::RangeOperand r = tlbi::decode_range(i.operand, ds);
      if (r.granule != g) return ::testing::AssertionFailure() << "op " << k << " wrong TG";
      if (ds && !r.start().aligned(u64{1} << tlbi::kDsBaseShift)) {
        return ::testing::AssertionFailure() << "op " << k << " starts unaligned under DS";
      }
      if (r.pages() > tlbi::kMaxRangePages) return ::testing::AssertionFailure() << "too big";
      if (tlbi::range_operand(r) != i.operand) {
        return ::testing::AssertionFailure() << "op " << k << " has stray bits";
      }
      if (r.hint != hint) return ::testing::AssertionFailure() << "op " << k << " wrong TTL";
      if (r.base_page != next) {
        return ::testing::AssertionFailure()
               << "op " << k << " starts at page " << r.base_page << ", expected " << next;
      }
      next += r.pages();
    } else if (is_by_ipa(i.op)) {
      const tlbi::IpaOperand d = tlbi::decode_ipa(i.operand, g);
      if (tlbi::ipa_operand(d.ipa, g, d.hint) != i.operand) {
        return ::testing::AssertionFailure() << "op " << k << " has stray bits";
      }
      if (d.hint != hint) return ::testing::AssertionFailure() << "op " << k << " wrong TTL";
      if (d.ipa.raw >> shift != next || !d.ipa.aligned(granule_bytes(g))) {
        return ::testing::AssertionFailure() << "op " << k << " at the wrong page";
      }
      next += 1;
    } else {
      return ::testing::AssertionFailure() << "op " << k << " is " << name(i.op);
    }
  }
  if (next != first_page + pages) {
    return ::testing::AssertionFailure() << "covered " << next - first_page << " of " << pages;
  }
  return ::testing::AssertionSuccess();
}

u64 chunks(u64 pages) {
  return (pages + tlbi::kMaxRangePages - 1) / tlbi::kMaxRangePages;
}

TEST(Planner, RangeOpsCoverEveryCountExactlyUpTo2Pow22Plus3) {
  const Granule g = Granule::k4;
  const TlbiPlanner planner(geometry(g), Features{.tlbi_range = true, .ttl = true});
  std::mt19937_64 rng(42);
  const u64 max_pages = (u64{1} << 22) + 3;
  for (u64 pages = 1; pages <= max_pages; ++pages) {
    // A random page-aligned start that keeps the range inside the 48-bit IPA space.
    const u64 start_page = rng() % ((u64{1} << 36) - max_pages);
    const InvalidationScope scope{.range = IpaRange{Ipa{start_page << 12}, pages << 12},
                                  .tables_removed = true};
    const Plan p = plan(planner, scope);
    ASSERT_TRUE(covers_exactly(p, g, start_page, pages, false, LevelHint::none()))
        << pages << " pages";
    ASSERT_LE(p.count, 5 * chunks(pages)) << pages << " pages";
    ASSERT_EQ(p.count, TlbiPlanner::range_ops_for(pages) + 0) << pages << " pages";
  }
}

// With LPA2 (VTCR_EL2.DS) a range operation's BaseADDR counts 64 KiB units, so its base must be
// 64 KiB aligned. Every count up to 2^13 pages from every start within a 64 KiB window, every
// count up to 2^22 + 3 from a random start, and random counts at the top of the 52-bit space:
// each plan covers exactly its pages, every range base is aligned, and count() agrees with the
// plan.
TEST(Planner, Lpa2RangeBasesAre64KAlignedAndCoverEveryCount) {
  std::mt19937_64 rng(52);
  for (Granule g : {Granule::k4, Granule::k16}) {
    const Geometry geometry = Geometry::make(g, 52, 52).value();
    ASSERT_EQ(geometry.oa_layout(), OaLayout::lpa2);
    const TlbiPlanner planner(geometry, Features{.tlbi_range = true, .ttl = true},
                              PlannerLimits{.max_ipa_ops = 512, .max_range_ops = 1024});
    const unsigned shift = granule_shift(g);
    const u64 window = u64{1} << (tlbi::kDsBaseShift - shift);  // pages per 64 KiB
    const u64 space_pages = u64{1} << (52 - shift);
    auto check = [&](u64 start_page, u64 pages) {
      const InvalidationScope scope{.range = IpaRange{Ipa{start_page << shift}, pages << shift},
                                    .tables_removed = true};
      const TlbiPlanner::Decision d{.by_ipa = false};
      Plan p;
      planner.for_each(scope, d, [&](TlbiInstr i) { p.ops[p.count++] = i; });
      const TlbiPlanner::OpCounts counts = planner.count(scope, d);
      return covers_exactly(p, g, start_page, pages, false, LevelHint::none(), true) &&
             ::testing::AssertionResult(counts.ipa + counts.range == p.count) &&
             ::testing::AssertionResult(counts.ipa <= window);
    };
    for (u64 pages = 1; pages <= (u64{1} << 13); ++pages) {
      for (u64 offset = 0; offset < window; ++offset) {
        ASSERT_TRUE(check((u64{1} << 30) + offset, pages)) << pages << " pages at +" << offset;
      }
    }
    const u64 max_pages = (u64{1} << 22) + 3;
    for (u64 pages = 1; pages <= max_pages; ++pages) {
      const u64 start_page = rng() % (space_pages - max_pages);
      ASSERT_TRUE(check(start_page, pages)) << pages << " pages at page " << start_page;
    }
    for (int trial = 0; trial < 10000; ++trial) {
      const u64 pages = 1 + rng() % max_pages;
      ASSERT_TRUE(check(space_pages - pages, pages)) << pages << " pages at the top";
    }
  }
}

TEST(Planner, ExactlyTheMaximumIsOneClampedOp) {
  const TlbiPlanner planner(geometry(Granule::k4), Features{.tlbi_range = true});
  for (u64 n : {u64{1}, u64{2}, u64{3}}) {
    const Plan p = plan(
        planner, {.range = {Ipa{0}, (n * tlbi::kMaxRangePages) << 12}, .tables_removed = true});
    ASSERT_EQ(p.count, n);
    for (unsigned k = 0; k < p.count; ++k) {
      const tlbi::RangeOperand r = tlbi::decode_range(p.ops[k].operand);
      EXPECT_EQ(r.scale, 3u);
      EXPECT_EQ(r.num, 31u);  // NUM 31 (2^21 pages), never wrapped to NUM 0
    }
  }
}

TEST(Planner, OtherGranulesAndRandomStarts) {
  std::mt19937_64 rng(7);
  for (Granule g : {Granule::k16, Granule::k64}) {
    const TlbiPlanner planner(geometry(g), Features{.tlbi_range = true, .ttl = true});
    const u64 space_pages = u64{1} << (48 - granule_shift(g));
    for (int trial = 0; trial < 200000; ++trial) {
      const u64 pages = 1 + rng() % ((u64{1} << 22) + 3);
      const u64 start_page = rng() % (space_pages - pages);
      const Plan p =
          plan(planner, {.range = {Ipa{start_page << granule_shift(g)}, pages << granule_shift(g)},
                         .tables_removed = true});
      ASSERT_TRUE(covers_exactly(p, g, start_page, pages, false, LevelHint::none()));
      ASSERT_LE(p.count, 5 * chunks(pages));
    }
  }
}

TEST(Planner, LeafOnlyAndTtlOnlyWhereCertain) {
  const Granule g = Granule::k4;
  const TlbiPlanner with_ttl(geometry(g), Features{.tlbi_range = true, .ttl = true});
  const TlbiPlanner no_ttl(geometry(g), Features{.tlbi_range = true, .ttl = false});
  const IpaRange range{Ipa{0x4000'0000}, u64{77} << 12};
  const u64 first = 0x4000'0000 >> 12;
  // Leaves only, all at level 3: leaf-only forms with TTL 3 (only when the CPU has TTL).
  const InvalidationScope leaves{
      .range = range, .leaf_level = LevelHint::at(Level{3}), .leaf_only = true};
  EXPECT_TRUE(covers_exactly(plan(with_ttl, leaves), g, first, 77, true, LevelHint::at(Level{3})));
  EXPECT_TRUE(covers_exactly(plan(no_ttl, leaves), g, first, 77, true, LevelHint::none()));
  // A table went away: no leaf-only form and no hint, whatever the caller said about leaves.
  InvalidationScope tables = leaves;
  tables.tables_removed = true;
  EXPECT_TRUE(covers_exactly(plan(with_ttl, tables), g, first, 77, false, LevelHint::none()));
  // Level unknown: no hint.
  InvalidationScope unknown = leaves;
  unknown.leaf_level = LevelHint::none();
  EXPECT_TRUE(covers_exactly(plan(with_ttl, unknown), g, first, 77, true, LevelHint::none()));
}

TEST(Planner, BlocksOfKnownLevelTakeOneByIpaOpEach) {
  const TlbiPlanner planner(geometry(Granule::k4), Features{.ttl = true});
  const Plan p = plan(planner, {.range = {Ipa{u64{1} << 30}, u64{4} << 21},
                                .leaf_level = LevelHint::at(Level{2}),
                                .leaf_only = true});
  ASSERT_EQ(p.count, 4u);
  for (unsigned k = 0; k < 4; ++k) {
    EXPECT_EQ(p.ops[k].op, TlbiOp::ipas2le1is);
    const tlbi::IpaOperand d = tlbi::decode_ipa(p.ops[k].operand, Granule::k4);
    EXPECT_EQ(d.ipa, Ipa{(u64{1} << 30) + k * (u64{1} << 21)});
    EXPECT_EQ(d.hint, LevelHint::at(Level{2}));
  }
}

TEST(Planner, WithoutRangePerPageUpToTheThresholdThenWholeVmid) {
  const Granule g = Granule::k4;
  const PlannerLimits limits{.max_ipa_ops = 100, .max_range_ops = 64};
  const TlbiPlanner planner(geometry(g), Features{.ttl = true}, limits);
  for (u64 pages = 1; pages <= 300; ++pages) {
    const InvalidationScope scope{.range = {Ipa{0x8000'0000}, pages << 12}, .tables_removed = true};
    const Plan p = plan(planner, scope);
    if (pages <= limits.max_ipa_ops) {
      ASSERT_TRUE(covers_exactly(p, g, 0x8000'0000 >> 12, pages, false, LevelHint::none()));
      ASSERT_EQ(p.count, pages);
    } else {
      ASSERT_EQ(p.count, 1u) << pages;
      ASSERT_EQ(p.ops[0].op, TlbiOp::vmalls12e1is) << pages;
    }
  }
}

TEST(Planner, AboveTheRangeOpThresholdWholeVmid) {
  const PlannerLimits limits{.max_ipa_ops = 512, .max_range_ops = 3};
  const TlbiPlanner planner(geometry(Granule::k4), Features{.tlbi_range = true}, limits);
  for (u64 pages = 2; pages <= 5000; ++pages) {
    const Plan p = plan(planner, {.range = {Ipa{0}, pages << 12}, .tables_removed = true});
    if (TlbiPlanner::range_ops_for(pages) > limits.max_range_ops) {
      ASSERT_EQ(p.count, 1u);
      ASSERT_EQ(p.ops[0].op, TlbiOp::vmalls12e1is);
    } else {
      ASSERT_TRUE(covers_exactly(p, Granule::k4, 0, pages, false, LevelHint::none())) << pages;
    }
  }
}

TEST(Planner, InvalidateSequenceSkipsStageOneAfterWholeVmid) {
  struct Recorder final : SteppingArch {
    Features features() const override { return {}; }
    void tlbi(const Stage2Context&, TlbiOp op, u64) override { log.push_back(name(op)); }
    void dsb_ishst() override { log.push_back("DSB ISHST"); }
    void dsb_ish() override { log.push_back("DSB ISH"); }
    void isb() override { log.push_back("ISB"); }
    void dc_civac(Pa, u64) override {}
    void ic_ivau(Pa, u64) override {}
    void ic_ialluis() override {}
    std::vector<std::string> log;
  } arch;
  Maintenance m(arch, Vmid{1}, geometry(Granule::k4), Features{}, PlannerLimits{.max_ipa_ops = 1},
                WalkMode::exclusive);
  m.invalidate({.range = {Ipa{0}, 4096}, .tables_removed = true});
  EXPECT_EQ(arch.log, (std::vector<std::string>{"DSB ISHST", "IPAS2E1IS", "DSB ISH", "VMALLE1IS",
                                                "DSB ISH", "ISB"}));
  arch.log.clear();
  m.invalidate({.range = {Ipa{0}, 8192}, .tables_removed = true});
  EXPECT_EQ(arch.log, (std::vector<std::string>{"DSB ISHST", "VMALLS12E1IS", "DSB ISH", "ISB"}));
}

// choose() answers one leaf from a table made with the planner; the rules (decide() and count())
// are the reference, in every geometry, at every leaf level, aligned or not.
TEST(Planner, ChoiceForOneLeafIsTheRulesChoice) {
  struct Config {
    Granule granule;
    unsigned ipa_bits;
  };
  for (const Config c : {Config{Granule::k4, 40}, Config{Granule::k4, 48}, Config{Granule::k4, 52},
                         Config{Granule::k16, 47}, Config{Granule::k16, 52},
                         Config{Granule::k64, 42}, Config{Granule::k64, 52}}) {
    const Geometry g = Geometry::make(c.granule, c.ipa_bits, c.ipa_bits).value();
    for (const bool range : {false, true}) {
      for (const PlannerLimits limits :
           {PlannerLimits{}, PlannerLimits{.max_ipa_ops = 0, .max_range_ops = 0}}) {
        const TlbiPlanner planner(g, Features{.tlbi_range = range, .ttl = true}, limits);
        for (int l = 0; l <= Level::kLast; ++l) {
          const Level level{l};
          if (!g.has_level(level) || !g.leaf_allowed(level)) continue;
          const u64 bytes = g.level_bytes(level);
          for (const u64 start :
               {u64{0}, bytes, 3 * bytes, g.ipa_limit() - bytes, bytes + g.page_bytes()}) {
            for (const bool leaf_only : {false, true}) {
              const InvalidationScope scope{.range = IpaRange{Ipa{start}, bytes},
                                            .leaf_level = LevelHint::at(level),
                                            .leaf_only = leaf_only};
              const TlbiPlanner::Decision d = planner.decide(scope);
              EXPECT_EQ(planner.choose(scope), (TlbiPlanner::Choice{d, planner.count(scope, d)}))
                  << "granule " << granule_bytes(c.granule) << ", " << c.ipa_bits << " bits, level "
                  << l << ", start " << std::hex << start << std::dec << ", range " << range
                  << ", limits " << limits.max_ipa_ops;
            }
          }
        }
      }
    }
  }
}

}  // namespace
// Maintenance counts a plan's instructions without running through them (InvalidationPlan::
// counts): the tally must be exactly what for_each_step yields, for every shape of scope.
MaintenanceCounters tally(const InvalidationPlan& plan) {
  MaintenanceCounters n;
  plan.for_each_step([&](const PlanStep& step) {
    switch (step.kind) {
      case StepKind::tlbi:
        if (is_local(step.tlbi.op)) {
          ++n.tlbi_local;
        } else if (is_by_ipa(step.tlbi.op)) {
          ++n.tlbi_ipa;
        } else if (is_range(step.tlbi.op)) {
          ++n.tlbi_range;
        } else if (step.tlbi.op == TlbiOp::vmalls12e1is) {
          ++n.tlbi_vmid;
        } else {
          ++n.tlbi_s1;
        }
        return;
      case StepKind::dsb_ishst:
        ++n.dsb_ishst;
        return;
      case StepKind::dsb_ish:
        ++n.dsb_ish;
        return;
      case StepKind::dsb_nshst:
        ++n.dsb_nshst;
        return;
      case StepKind::dsb_nsh:
        ++n.dsb_nsh;
        return;
      case StepKind::isb:
        ++n.isb;
        return;
      case StepKind::dc_civac:
        ++n.dc_civac_calls;
        n.dc_civac_bytes += step.bytes;
        return;
    }
  });
  return n;
}

TEST(Planner, PlanCountsAreWhatItsStepsIssue) {
  const Stage2Context context = Stage2Context::of(Pa{0x8000'0000}, Vmid{3});
  std::vector<u64> page_counts;
  for (u64 n = 1; n <= 1100; ++n)
    page_counts.push_back(n);
  for (u64 n : {tlbi::kMaxRangePages - 1, tlbi::kMaxRangePages, tlbi::kMaxRangePages + 1,
                2 * tlbi::kMaxRangePages + 3, u64{5} << 20})
    page_counts.push_back(n);
  const IpaRange none{};
  const InvalidationScope shapes[] = {
      {.range = none},
      {.range = none, .tables_removed = true},
      {.range = none, .leaf_level = LevelHint::at(Level{3}), .leaf_only = true},
      {.range = none, .leaf_level = LevelHint::at(Level{2})},
      {.range = none, .tables_removed = true, .empty_tables = true},
  };

  for (const bool range : {false, true}) {
    for (const PlannerLimits limits :
         {PlannerLimits{}, PlannerLimits{.max_ipa_ops = 7, .max_range_ops = 2}}) {
      const TlbiPlanner planner(geometry(Granule::k4), Features{.tlbi_range = range, .ttl = true},
                                limits);
      for (const InvalidationScope& shape : shapes) {
        for (const u64 pages : page_counts) {
          InvalidationScope scope = shape;
          scope.range = IpaRange{Ipa{u64{1} << 30}, pages << 12};
          const InvalidationPlan plan = InvalidationPlan::broadcast(planner, context, scope);
          ASSERT_EQ(plan.counts(), tally(plan)) << pages << " pages, range " << range;
          const InvalidationPlan cleaning = plan.then_clean(Pa{u64{1} << 33}, pages << 12);
          ASSERT_EQ(cleaning.counts(), tally(cleaning)) << pages << " pages cleaned";
        }
      }
      const InvalidationPlan local =
          InvalidationPlan::local_leaf(planner, context, Ipa{0}, Level{3});
      EXPECT_EQ(local.counts(), tally(local));
      const InvalidationPlan vmid = InvalidationPlan::whole_vmid(planner, context);
      EXPECT_EQ(vmid.counts(), tally(vmid));
    }
  }
}

}  // namespace s2pt
