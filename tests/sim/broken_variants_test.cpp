// Each deliberately broken variant of an unmap (test-only code: Arch wrappers that drop
// instructions, visitors written against the core's walker) must be caught by the oracle meant
// for it; each test also runs the correct sequence on the same setup and expects silence.
#include <gtest/gtest.h>

#include "core_access.hpp"
#include "rig.hpp"
#include "support/fixture.hpp"
#include "walker.hpp"

namespace s2pt::sim::test {
namespace {

constexpr Ipa kIpa{u64{1} << 30};
using namespace s2pt::test::sizes;

std::size_t count(const std::vector<Violation>& vs, ViolationKind kind) {
  std::size_t n = 0;
  for (const Violation& v : vs)
    n += v.kind == kind ? 1 : 0;
  return n;
}

std::string describe(const std::vector<Violation>& vs) {
  std::string s;
  for (const Violation& v : vs)
    s += v.describe() + "\n";
  return s;
}

// Clears every valid leaf of the range and issues nothing: the caller adds the maintenance.
struct ClearLeaves {
  Status leaf(WalkContext& ctx) {
    if (ctx.old.is_leaf(ctx.level)) {
      cleared.push_back({ctx.entry_base(), ctx.level, ctx.old});
      ctx.set(Pte::invalid());
    }
    return Status::ok;
  }
  struct Cleared {
    Ipa base;
    Level level;
    Pte old;
  };
  std::vector<Cleared> cleared;
};

// (a) unmap whose TLBIs are never completed by a DSB ISH.
TEST(SimBroken, UnmapWithoutDsbAfterTlbi) {
  for (const bool broken : {false, true}) {
    ModelRig rig;
    rig.map_and_cache(kIpa, 4 * rig.page(), Attrs::normal(Perm::rw), MapFlags::no_blocks);
    rig.arch().drop_dsb_ish = broken;
    rig.machine().begin_op("unmap");
    ASSERT_TRUE(rig.table().unmap(IpaRange{kIpa, 4 * rig.page()}).ok());
    const auto found = rig.machine().end_op();
    if (!broken) {
      EXPECT_TRUE(found.empty()) << describe(found);
      continue;
    }
    EXPECT_GT(count(found, ViolationKind::incomplete_tlbi), 0u) << describe(found);
    EXPECT_GT(count(found, ViolationKind::stale_tlb), 0u) << describe(found);
    // And a guest that keeps running uses the removed translation.
    rig.arch().drop_dsb_ish = false;
    const Access a = rig.machine().access(1, kVmid, kIpa, true);
    EXPECT_EQ(a.result, AccessResult::ok);
    EXPECT_EQ(rig.machine().violation_count(ViolationKind::stale_access), 1u);
  }
}

// (b) without FWB: the CMO issued before the TLBI completed; another CPU writes through its
// still-cached translation right after the clean, so the page is dirty again when unmap returns.
struct EarlyCmoUnmap {
  ModelRig::ByHand m;
  Status leaf(WalkContext& ctx) {
    if (!ctx.old.is_leaf(ctx.level)) return Status::ok;
    const Pte old = ctx.old;
    ctx.set(Pte::invalid());
    m.dsb_ishst();
    m.tlbi(TlbiOp::ipas2le1is,
           tlbi::ipa_operand(ctx.entry_base(), Granule::k4, LevelHint::at(ctx.level)));
    m.dc_civac(old.output_address(ctx.oa()), ctx.entry_bytes());  // too early
    m.dsb_ish();
    m.tlbi(TlbiOp::vmalle1is, 0);
    m.dsb_ish();
    m.isb();
    return Status::ok;
  }
};

TEST(SimBroken, CmoBeforeTheTlbiCompleted) {
  for (const bool broken : {false, true}) {
    ModelRigConfig c;
    c.fwb = false;
    ModelRig rig(c);
    rig.map_and_cache(kIpa, rig.page());
    // CPU 1 writes to the page right after every clean.
    rig.machine().set_step_hook([&](const char* what, unsigned) {
      if (std::string(what) == "DC CIVAC") rig.machine().access(1, kVmid, kIpa + 64, true);
    });
    rig.machine().begin_op("unmap");
    if (broken) {
      EarlyCmoUnmap visitor{rig.by_hand()};
      ASSERT_TRUE(walk(rig.core(), IpaRange{kIpa, rig.page()}, visitor).ok());
    } else {
      ASSERT_TRUE(rig.table().unmap(IpaRange{kIpa, rig.page()}).ok());
    }
    const auto found = rig.machine().end_op();
    rig.machine().set_step_hook(nullptr);
    if (broken) {
      EXPECT_EQ(count(found, ViolationKind::dirty_after_unmap), 1u) << describe(found);
      EXPECT_EQ(found.at(0).pa, kGuest + kIpa.raw);
    } else {
      EXPECT_TRUE(found.empty()) << describe(found);
    }
  }
}

// (b') without FWB, every strategy's unmap with its cache maintenance dropped: the pages the
// guest wrote are unmapped while dirty.
TEST(SimBroken, UnmapWithoutCacheMaintenance) {
  for (unsigned k = 0; k < 256; ++k) {
    const auto strategy = UnmapStrategy(k);
    if (std::string(name(strategy)) == "?") continue;
    for (const bool broken : {false, true}) {
      ModelRigConfig c;
      c.fwb = false;
      ModelRig rig(c);
      rig.map_and_cache(kIpa, k2M);  // a block, and pages in the next 2 MiB
      rig.map_and_cache(kIpa + k2M, 8 * rig.page(), Attrs::normal(Perm::rw), MapFlags::no_blocks);
      rig.machine().access(1, kVmid, kIpa + 0x1000, true);
      rig.machine().access(1, kVmid, kIpa + k2M + 0x3000, true);
      rig.arch().drop_dc_civac = broken;
      rig.machine().begin_op(std::string("unmap ") + name(strategy));
      ASSERT_TRUE(rig.table().unmap(IpaRange{kIpa, 2 * k2M}, strategy).ok());
      const auto found = rig.machine().end_op();
      if (broken) {
        EXPECT_EQ(count(found, ViolationKind::dirty_after_unmap), 2u) << name(strategy) << "\n"
                                                                      << describe(found);
      } else {
        EXPECT_TRUE(found.empty()) << name(strategy) << "\n" << describe(found);
      }
    }
  }
}

// (c) a detached table page freed while a shared (software) walker is still inside it. The test
// plays both: the shared walker holds the level-3 table it descended into; the writer detaches
// the table, invalidates, and frees it at once (broken) or after the walker left (correct).
struct DetachTable {
  Status table_pre(WalkContext& ctx) {
    if (ctx.level != Level{2}) return Status::ok;
    detached = ctx.old.table_address(ctx.oa());
    ctx.set(Pte::invalid());
    ctx.maintenance().invalidate(InvalidationScope{
        .range = IpaRange{ctx.entry_base(), ctx.entry_bytes()}, .tables_removed = true});
    return Status::ok;
  }
  Pa detached;
};

TEST(SimBroken, DetachedTableFreedBeforeTheGracePeriod) {
  for (const bool broken : {false, true}) {
    ModelRig rig;
    rig.map_and_cache(kIpa, 4 * rig.page(), Attrs::normal(Perm::rw), MapFlags::no_blocks);
    TableCore& core = rig.core();
    rig.machine().begin_op("detach");
    // The shared walker enters: it read the level-2 table entry and now reads the level-3 table.
    const Geometry& g = core.geometry();
    const Pa l2 = entry::load(core.root() + g.index(kIpa, Level{1})).table_address(core.oa());
    const Pa l3 =
        entry::load(core.pages().table(l2) + g.index(kIpa, Level{2})).table_address(core.oa());
    const Pte first = entry::load(core.pages().table(l3) + g.index(kIpa, kLastLevel));
    EXPECT_TRUE(first.is_leaf(kLastLevel));

    DetachTable writer;
    ASSERT_TRUE(walk(core, IpaRange{kIpa, k2M}, writer).ok());
    ASSERT_EQ(writer.detached, l3);
    auto reader_continues = [&] {
      const Pte second =
          entry::load(core.pages().table(l3) + g.index(kIpa + rig.page(), kLastLevel));
      EXPECT_TRUE(broken || second.is_leaf(kLastLevel));
    };
    if (broken) {
      core.pages().free_table(l3);  // no grace period
      reader_continues();
    } else {
      reader_continues();
      core.pages().free_table(l3);  // the reader has left
    }
    const auto found = rig.machine().end_op();
    if (broken) {
      EXPECT_EQ(count(found, ViolationKind::library_use_freed), 1u) << describe(found);
      EXPECT_EQ(found.at(0).pa, l3);
    } else {
      EXPECT_TRUE(found.empty()) << describe(found);
    }
  }
}

// (c') the same page freed before the TLBI that removes it from the walk caches completed.
TEST(SimBroken, DetachedTableFreedBeforeItsTlbiCompleted) {
  ModelRig rig;
  rig.map_and_cache(kIpa, 4 * rig.page(), Attrs::normal(Perm::rw), MapFlags::no_blocks);
  rig.arch().drop_dsb_ish = true;
  rig.machine().begin_op("detach");
  DetachTable writer;
  ASSERT_TRUE(walk(rig.core(), IpaRange{kIpa, k2M}, writer).ok());
  rig.core().pages().free_table(writer.detached);
  rig.arch().drop_dsb_ish = false;
  rig.core().maintenance().dsb_ish();
  const auto found = rig.machine().end_op();
  EXPECT_GE(count(found, ViolationKind::walk_cache_to_freed), rig.machine().cpus())
      << describe(found);
}

// (d) per_entry unmap with VMALLE1IS dropped: combined stage-1+2 entries survive.
TEST(SimBroken, NoVmalle1isAfterIpaTlbi) {
  for (const bool broken : {false, true}) {
    ModelRig rig;
    rig.map_and_cache(kIpa, 2 * rig.page(), Attrs::normal(Perm::rw), MapFlags::no_blocks);
    rig.arch().drop_vmalle1is = broken;
    rig.machine().begin_op("unmap");
    ASSERT_TRUE(rig.table().unmap(IpaRange{kIpa, 2 * rig.page()}).ok());
    const auto found = rig.machine().end_op();
    if (!broken) {
      EXPECT_TRUE(found.empty()) << describe(found);
      continue;
    }
    EXPECT_EQ(count(found, ViolationKind::stale_tlb), 2 * rig.machine().cpus()) << describe(found);
    for (const Violation& v : found)
      EXPECT_NE(v.detail.find("combined"), std::string::npos);
  }
}

// (d') IPAS2LE1IS and VMALLE1IS completed by one DSB ISH (the first DSB ISH left out): the
// stage-1 flush may complete first, and another CPU rebuilds its combined entry from the stage-2
// entry that the IPA-based TLBI removes only afterwards.
TEST(SimBroken, NoDsbBetweenStage2AndStage1Tlbi) {
  for (const bool broken : {false, true}) {
    ModelRig rig;
    rig.map_and_cache(kIpa, rig.page());
    rig.machine().set_step_hook([&](const char* what, unsigned) {
      if (std::string(what) == "TLBI completion") rig.machine().access(1, kVmid, kIpa, false);
    });
    rig.machine().begin_op("unmap");
    ClearLeaves clear;
    ASSERT_TRUE(walk(rig.core(), IpaRange{kIpa, rig.page()}, clear).ok());
    ModelRig::ByHand m = rig.by_hand();
    m.dsb_ishst();
    m.tlbi(TlbiOp::ipas2le1is, tlbi::ipa_operand(kIpa, Granule::k4, LevelHint::at(kLastLevel)));
    if (!broken) m.dsb_ish();
    m.tlbi(TlbiOp::vmalle1is, 0);
    m.dsb_ish();
    m.isb();
    const auto found = rig.machine().end_op();
    rig.machine().set_step_hook(nullptr);
    if (broken) {
      ASSERT_EQ(count(found, ViolationKind::stale_tlb), 1u) << describe(found);
      EXPECT_EQ(found.at(0).cpu, 1);
      EXPECT_NE(found.at(0).detail.find("combined"), std::string::npos);
    } else {
      EXPECT_TRUE(found.empty()) << describe(found);
    }
  }
}

// (e) a range invalidation of exactly 2^21 pages (8 GiB at 4K) computed as Linux did before its
// 2024 fix: NUM = ((pages >> (5 * SCALE + 1)) & 31) - 1 is -1 at every SCALE up to 3, so the
// loop reaches SCALE 4, which the 2-bit field wraps to 0: two pages invalidated instead of 2^21.
template <class Emit>
void unclamped_range_ops(Ipa start, u64 pages, Emit&& emit) {
  u64 base = start.raw >> 12;
  for (unsigned scale = 0; pages > 0; ++scale) {
    const int num = static_cast<int>((pages >> (5 * scale + 1)) & 31) - 1;
    if (num < 0) continue;
    emit(tlbi::range_operand(tlbi::RangeOperand{.granule = Granule::k4,
                                                .scale = scale,
                                                .num = static_cast<unsigned>(num),
                                                .base_page = base}));
    const u64 done = u64{static_cast<unsigned>(num) + 1} << (5 * scale + 1);
    base += done;
    pages -= done < pages ? done : pages;
  }
}

TEST(SimBroken, RangeTlbiNumWithoutClamping) {
  const Ipa start{u64{8} << 30};
  const u64 bytes = u64{8} << 30;
  ASSERT_EQ(bytes >> 12, tlbi::kMaxRangePages);
  for (const bool broken : {false, true}) {
    ModelRig rig;
    for (u64 gib = 0; gib < 8; ++gib)
      rig.map_and_cache(start + (gib << 30), rig.page());
    rig.machine().begin_op("unmap 8 GiB");
    ClearLeaves clear;
    ASSERT_TRUE(walk(rig.core(), IpaRange{start, bytes}, clear).ok());
    ASSERT_EQ(clear.cleared.size(), 8u);
    Maintenance& m = rig.core().maintenance();
    if (broken) {
      ModelRig::ByHand h = rig.by_hand();
      h.dsb_ishst();
      unclamped_range_ops(start, bytes >> 12,
                          [&](u64 operand) { h.tlbi(TlbiOp::ripas2le1is, operand); });
      h.dsb_ish();
      h.tlbi(TlbiOp::vmalle1is, 0);
      h.dsb_ish();
      h.isb();
    } else {
      m.invalidate(InvalidationScope{.range = IpaRange{start, bytes},
                                     .leaf_level = LevelHint::at(kLastLevel),
                                     .leaf_only = true});
    }
    const auto found = rig.machine().end_op();
    if (broken) {
      // Every CPU keeps the pages of GiBs 1..7 (only the first two pages were invalidated).
      EXPECT_EQ(count(found, ViolationKind::stale_tlb), 7 * rig.machine().cpus())
          << describe(found);
    } else {
      EXPECT_TRUE(found.empty()) << describe(found);
      EXPECT_EQ(m.counters().tlbi_range, 1u) << "one clamped op: SCALE 3, NUM 31";
    }
  }
}

// (f) a block unmapped with a level-3 TTL hint: the level-2 entry survives.
TEST(SimBroken, WrongTtlHint) {
  for (const Level hinted : {Level{2}, Level{3}}) {
    ModelRig rig;
    rig.map_and_cache(kIpa, k2M);
    rig.machine().begin_op("unmap block");
    ClearLeaves clear;
    ASSERT_TRUE(walk(rig.core(), IpaRange{kIpa, k2M}, clear).ok());
    ASSERT_EQ(clear.cleared.size(), 1u);
    ASSERT_EQ(clear.cleared[0].level, Level{2});
    ModelRig::ByHand m = rig.by_hand();
    m.dsb_ishst();
    m.tlbi(TlbiOp::ipas2le1is, tlbi::ipa_operand(kIpa, Granule::k4, LevelHint::at(hinted)));
    m.dsb_ish();
    m.tlbi(TlbiOp::vmalle1is, 0);
    m.dsb_ish();
    m.isb();
    const auto found = rig.machine().end_op();
    if (hinted == Level{2}) {
      EXPECT_TRUE(found.empty()) << describe(found);
    } else {
      EXPECT_EQ(count(found, ViolationKind::stale_tlb), rig.machine().cpus()) << describe(found);
    }
  }
}

// A by-IPA TLBI whose TTL names the wrong granule is an incorrect operand: the architecture
// requires it to invalidate nothing, so the model keeps every entry and the unmap leaves them
// stale on 16K and 64K tables. With the right granule the same unmap is clean.
TEST(SimBroken, TtlNamingAnotherGranule) {
  for (const Granule granule : {Granule::k16, Granule::k64}) {
    for (const bool broken : {false, true}) {
      SCOPED_TRACE(std::string(granule == Granule::k16 ? "16K" : "64K") +
                   (broken ? " broken" : " correct"));
      ModelRig rig(ModelRigConfig{.granule = granule, .fwb = true, .tlbi_range = false});
      rig.arch().ttl_names_4k = broken;
      const IpaRange range{kIpa, 4 * rig.page()};
      rig.map_and_cache(range.start, range.size, Attrs::normal(Perm::rw), MapFlags::no_blocks);
      rig.machine().begin_op("unmap");
      ASSERT_TRUE(rig.table().unmap(range, UnmapStrategy::per_entry).ok());
      const auto found = rig.machine().end_op();
      if (broken) {
        // Every page but the first stays cached: emptying the last-level table also invalidates
        // the table's IPA without a TTL, which takes the first page's entry with it.
        EXPECT_EQ(count(found, ViolationKind::stale_tlb), 3 * rig.machine().cpus())
            << describe(found);
      } else {
        EXPECT_TRUE(found.empty()) << describe(found);
      }
    }
  }
}

// Without FWB, memory that a new or changed leaf makes reachable must be clean to PoC first: a
// guest with its stage 1 off reads it non-cacheably, past dirty host lines. The map over pages,
// over a block and over nothing all prepare it; dropping the DC CIVAC is caught at the first walk.
TEST(SimBroken, MapWithoutCleaningTheNewMemory) {
  const Pa elsewhere{kGuest.raw + (u64{1} << 34)};
  for (const char* before : {"nothing", "pages", "a block"}) {
    for (const bool broken : {false, true}) {
      SCOPED_TRACE(std::string(before) + (broken ? " broken" : " correct"));
      ModelRig rig(ModelRigConfig{.fwb = false});
      if (std::string(before) == "pages") {
        rig.map_and_cache(kIpa, k2M, Attrs::normal(Perm::rw), MapFlags::no_blocks);
      } else if (std::string(before) == "a block") {
        rig.map_and_cache(kIpa, k2M);
      }
      rig.arch().drop_dc_civac = broken;
      rig.machine().begin_op("map(replace) a block elsewhere");
      ASSERT_TRUE(
          rig.table()
              .map(IpaRange{kIpa, k2M}, elsewhere, Attrs::normal(Perm::rw), MapFlags::replace)
              .ok());
      rig.cache(IpaRange{kIpa, k2M});
      const auto found = rig.machine().end_op();
      if (broken) {
        EXPECT_GE(count(found, ViolationKind::unprepared_memory), 1u) << describe(found);
      } else {
        EXPECT_TRUE(found.empty()) << describe(found);
      }
    }
  }
}

// Without DIC, executable memory needs its I-cache invalidated before a walk can reach it: at map
// and when relax adds execute permission. Dropping the IC IVAU is caught at the first walk.
TEST(SimBroken, ExecutableWithoutICacheInvalidation) {
  for (const bool by_relax : {false, true}) {
    for (const bool broken : {false, true}) {
      SCOPED_TRACE(std::string(by_relax ? "relax" : "map") + (broken ? " broken" : " correct"));
      ModelRigConfig config;
      config.machine.features.dic = false;
      ModelRig rig(config);
      rig.arch().drop_ic_ivau = broken;
      rig.machine().begin_op("executable");
      if (by_relax) {
        ASSERT_TRUE(rig.table().map(IpaRange{kIpa, k2M}, kGuest, Attrs::normal(Perm::rw)).ok());
        ASSERT_TRUE(rig.table().relax(IpaRange{kIpa, k2M}, Perm::exec).ok());
      } else {
        ASSERT_TRUE(rig.table().map(IpaRange{kIpa, k2M}, kGuest, Attrs::normal(Perm::rx)).ok());
      }
      rig.cache(IpaRange{kIpa, k2M});
      const auto found = rig.machine().end_op();
      if (broken) {
        EXPECT_EQ(count(found, ViolationKind::stale_icache), 1u) << describe(found);
      } else {
        EXPECT_TRUE(found.empty()) << describe(found);
      }
    }
  }
}

// Removes write permission from every leaf, with no invalidation.
struct ClearWrite {
  Status leaf(WalkContext& ctx) {
    if (ctx.old.is_leaf(ctx.level))
      ctx.set(ctx.old.with_perm(without(ctx.old.perm(), Perm::write)));
    return Status::ok;
  }
};

// The fault path's relax invalidates locally: another CPU keeps its read-only copy, which only
// costs it a spurious fault, and the oracles accept it. The same local invalidation after
// removing a permission leaves a copy that grants more than the table: a stale entry.
TEST(SimBroken, LocalInvalidationAfterRemovingAPermission) {
  for (const bool adds : {true, false}) {
    SCOPED_TRACE(adds ? "relax" : "write-protect with a local invalidation");
    ModelRig rig;
    rig.map_and_cache(kIpa, rig.page(), Attrs::normal(adds ? Perm::read : Perm::rw));
    Machine& m = rig.machine();
    m.begin_op(adds ? "fault relax" : "broken write-protect");
    if (adds) {
      PageCache cache(rig.page(), 0);
      ASSERT_EQ(cache.topup(rig.mm()), Status::ok);
      const Result<FaultOutcome> r = rig.table().handle_fault({.ipa = kIpa,
                                                               .pa = kGuest + kIpa.raw,
                                                               .leaf_bytes = rig.page(),
                                                               .attrs = Attrs::normal(Perm::rw)},
                                                              cache);
      ASSERT_EQ(r.value(), FaultOutcome::relaxed);
      cache.drain(rig.mm());
    } else {
      TableCore& core = rig.core();
      ClearWrite clear;
      ASSERT_TRUE(walk(core, IpaRange{kIpa, rig.page()}, clear).ok());
      core.maintenance().invalidate_local(kIpa, kLastLevel);
    }
    const auto found = m.end_op();
    if (adds) {
      EXPECT_TRUE(found.empty()) << describe(found);
      // The other CPU kept its read-only copy: no broadcast reached it.
      EXPECT_EQ(rig.table().stats().maintenance.tlbi_broadcast(), 0u);
    } else {
      // Every other CPU's stage-2 and combined entries still allow the write.
      EXPECT_EQ(count(found, ViolationKind::stale_tlb), 2 * (m.cpus() - 1)) << describe(found);
    }
  }
}

// (g) the seed's use-after-free: the unmap drops the parent's reference on an emptied table
// page (count reaches zero, the page is freed) and a path that still held the page takes a
// reference on it again.
struct RefAfterZero {
  bool broken;
  Status leaf(WalkContext& ctx) {
    if (!ctx.old.is_leaf(ctx.level)) return Status::ok;
    ctx.set(Pte::invalid());
    ctx.maintenance().invalidate(
        InvalidationScope{.range = IpaRange{ctx.entry_base(), ctx.entry_bytes()},
                          .leaf_level = LevelHint::at(ctx.level),
                          .leaf_only = true});
    return Status::ok;
  }
  Status table_post(WalkContext& ctx) {
    if (ctx.level != Level{2}) return Status::ok;
    const Pa child = ctx.old.table_address(ctx.oa());
    if (ctx.pages().refs(child) != 1) return Status::ok;
    ctx.set(Pte::invalid());
    ctx.maintenance().invalidate(
        InvalidationScope{.range = IpaRange{ctx.entry_base(), ctx.entry_bytes()},
                          .tables_removed = true,
                          .empty_tables = true});
    ctx.pages().put(child, WalkMode::exclusive);  // 1 -> 0: the last reference is gone
    ctx.pages().free_table(child);
    if (broken) ctx.pages().get(child, WalkMode::exclusive);  // ... and taken back
    return Status::ok;
  }
};

TEST(SimBroken, ReferenceTakenAfterCountReachedZero) {
  for (const bool broken : {false, true}) {
    ModelRig rig;
    rig.map_and_cache(kIpa, rig.page());
    rig.machine().begin_op("unmap");
    RefAfterZero visitor{broken};
    ASSERT_TRUE(walk(rig.core(), IpaRange{kIpa, rig.page()}, visitor).ok());
    const auto found = rig.machine().end_op();
    if (broken) {
      EXPECT_EQ(count(found, ViolationKind::library_use_freed), 1u) << describe(found);
    } else {
      EXPECT_TRUE(found.empty()) << describe(found);
    }
  }
}

// (h) a live block replaced by a table of pages in one store (no break-before-make).
struct SplitWithoutBbm {
  Status leaf(WalkContext& ctx) {
    if (!ctx.old.is_leaf(ctx.level) || ctx.level.is_last()) return Status::ok;
    const Geometry& g = ctx.geometry();
    Result<Pa> page = ctx.pages().alloc_table();
    if (!page.ok()) return page.status();
    u64* table = ctx.pages().table(page.value());
    for (u64 i = 0; i < g.entries_per_table(); ++i) {
      table[i] = ctx.old
                     .as_leaf_at(kLastLevel, ctx.old.output_address(ctx.oa()) + i * g.page_bytes(),
                                 ctx.oa())
                     .raw();
      ctx.pages().get(page.value(), WalkMode::exclusive);
    }
    ctx.set(Pte::table(page.value(), ctx.oa()));
    return Status::ok;
  }
};

TEST(SimBroken, BlockToTableWithoutBreakBeforeMake) {
  for (const bool broken : {false, true}) {
    ModelRig rig;
    rig.map_and_cache(kIpa, k2M);
    rig.machine().begin_op("split");
    if (broken) {
      SplitWithoutBbm visitor;
      ASSERT_TRUE(walk(rig.core(), IpaRange{kIpa, k2M}, visitor).ok());
      rig.by_hand().dsb_ishst();
      rig.by_hand().dsb_ish();
    } else {
      // The real split: map with replace over one page of the block.
      ASSERT_TRUE(rig.table()
                      .map(IpaRange{kIpa, rig.page()}, kGuest + kIpa.raw, Attrs::normal(Perm::read),
                           MapFlags::replace)
                      .ok());
    }
    const auto found = rig.machine().end_op();
    if (broken) {
      EXPECT_EQ(count(found, ViolationKind::break_before_make), 1u) << describe(found);
    } else {
      EXPECT_TRUE(found.empty()) << describe(found);
    }
  }
}

// A backend that makes the table's VMID current over another table's root (as s2pt's own did
// before it loaded the whole VTTBR_EL2): its TLBIs still reach the VMID, but a walk started
// meanwhile would cache another table's translations under it. The model names it.
TEST(SimBroken, TlbiUnderAnotherTablesRoot) {
  for (const bool broken : {false, true}) {
    ModelRig rig;
    rig.map_and_cache(kIpa, 4 * rig.page(), Attrs::normal(Perm::rw), MapFlags::no_blocks);
    rig.arch().borrow_vmid_only = broken;
    rig.machine().begin_op("unmap");
    ASSERT_TRUE(rig.table().unmap(IpaRange{kIpa, 4 * rig.page()}).ok());
    const auto found = rig.machine().end_op();
    if (broken) {
      EXPECT_GT(count(found, ViolationKind::wrong_context), 0u) << describe(found);
    } else {
      EXPECT_TRUE(found.empty()) << describe(found);
    }
  }
}

}  // namespace
}  // namespace s2pt::sim::test
