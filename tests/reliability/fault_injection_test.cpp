// Allocation failure at every allocation point of every operation that allocates: create, map
// (new tables, and blocks split by a replacing map), unmap with each strategy (edge blocks
// split), write_protect and relax (edge blocks split), annotate (annotated blocks split).
// Each operation is first run to count its allocations N; then, for n = 1..N, it runs again with
// the n-th allocation failing. Every time: the error is no_memory, the table passes the audit,
// the pages of the reported prefix show the operation's effect and every other page is as
// before, the rest of the range can be completed afterwards, and nothing leaks after destroy.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <set>
#include <string>

#include "support/audit.hpp"
#include "support/fixture.hpp"
#include "support/unmap_strategies.hpp"

namespace s2pt {
namespace {

using test::Rig;

constexpr u64 kGuestPa = u64{1} << 40;

// What one page looks like from outside.
struct PageState {
  bool mapped = false;
  Pa pa;
  Perm perm = Perm::none;
  OwnerId owner;
  bool operator==(const PageState&) const = default;

  static PageState unmapped(OwnerId owner = {}) {
    PageState s;
    s.owner = owner;
    return s;
  }
  static PageState translated(Pa pa, Perm perm) {
    PageState s;
    s.mapped = true;
    s.pa = pa;
    s.perm = perm;
    return s;
  }
};

std::string describe_state(const PageState& s) {
  if (!s.mapped) return "unmapped, owner " + std::to_string(s.owner.raw);
  return "pa " + std::to_string(s.pa.raw) + " perm " + std::to_string(static_cast<int>(s.perm));
}

PageState read_page(const Table& table, Ipa ipa) {
  const Result<Translation> t = table.lookup(ipa);
  if (!t.ok()) return PageState::unmapped(table.owner(ipa));
  PageState s = PageState::translated(t->pa, t->attrs.perm);
  s.owner = table.owner(ipa);
  return s;
}

struct Case {
  std::string name;
  std::function<void(Table&)> setup;  // the state before the operation
  IpaRange range;
  std::function<Progress(Table&, IpaRange)> op;
  // The page after the operation, from the page before it (for pages inside the range).
  std::function<PageState(const PageState&, Ipa)> effect;
};

// Pages where a wrong prefix would show: the range's edges, every block edge inside it, its
// first and last few pages, and the pages just outside it.
std::set<u64> sample_pages(const Geometry& g, IpaRange range) {
  const u64 page = g.page_bytes();
  const u64 block = g.level_bytes(Level{2});
  std::set<u64> ipas;
  auto add = [&](u64 ipa) {
    if (ipa < g.ipa_limit()) ipas.insert(ipa & ~(page - 1));
  };
  for (int i = -2; i < 3; ++i) {
    add(range.start.raw + static_cast<u64>(i) * page);
    add(range.end().raw + static_cast<u64>(i) * page);
  }
  for (u64 edge = range.start.align_down(block).raw; edge <= range.end().raw; edge += block) {
    add(edge - page);
    add(edge);
    add(edge + page);
  }
  return ipas;
}

// Every sampled page that the reported prefix covers shows the effect; all others are as they
// are in `reference` (the same setup without the operation). Pages around the end of the
// prefix are sampled too.
::testing::AssertionResult consistent(const Table& table, const Table& reference, const Case& c,
                                      u64 done) {
  const Geometry& g = table.geometry();
  std::set<u64> ipas = sample_pages(g, c.range);
  for (int i = -2; i < 3; ++i) {
    const u64 at = c.range.start.raw + done + static_cast<u64>(i) * g.page_bytes();
    if (at < g.ipa_limit()) ipas.insert(at);
  }
  const u64 stride = std::max(g.page_bytes(), (c.range.size / 64) & ~(g.page_bytes() - 1));
  for (u64 off = 0; off < c.range.size; off += stride)
    ipas.insert(c.range.start.raw + off);
  for (u64 raw : ipas) {
    const Ipa ipa{raw};
    const PageState was = read_page(reference, ipa);
    const bool processed = c.range.contains(ipa) && ipa - c.range.start < done;
    const PageState want = processed ? c.effect(was, ipa) : was;
    const PageState got = read_page(table, ipa);
    if (got != want) {
      return ::testing::AssertionFailure()
             << "IPA 0x" << std::hex << raw << std::dec << " (" << (processed ? "done" : "not done")
             << "): " << describe_state(got) << ", expected " << describe_state(want);
    }
  }
  return ::testing::AssertionSuccess();
}

void run_case(const Geometry& g, const Case& c) {
  SCOPED_TRACE(c.name);
  u64 needed = 0;
  {
    Rig rig(g);
    c.setup(rig.table());
    const u64 before = rig.pool.allocations();
    const Progress p = c.op(rig.table(), c.range);
    ASSERT_TRUE(p.ok()) << describe(p.status);
    needed = rig.pool.allocations() - before;
  }
  // Every case is built to allocate; one that does not would test nothing.
  ASSERT_GE(needed, 1u);

  Rig reference(g);
  c.setup(reference.table());
  for (u64 n = 0; n < needed; ++n) {
    SCOPED_TRACE("allocation " + std::to_string(n + 1) + " of " + std::to_string(needed) +
                 " fails");
    Rig rig(g);
    c.setup(rig.table());
    rig.pool.fail_after(n);
    const Progress p = c.op(rig.table(), c.range);
    rig.pool.never_fail();
    ASSERT_EQ(p.status, Status::no_memory);
    ASSERT_LT(p.bytes_done, c.range.size);
    ASSERT_EQ(p.bytes_done % g.page_bytes(), 0u);
    const test::AuditReport report = test::audit(rig.table());
    ASSERT_TRUE(report.clean()) << report.summary();
    ASSERT_TRUE(consistent(rig.table(), reference.table(), c, p.bytes_done));

    // The rest completes once memory is back, with the same result as one uninterrupted call.
    const IpaRange rest{c.range.start + p.bytes_done, c.range.size - p.bytes_done};
    ASSERT_TRUE(c.op(rig.table(), rest).ok());
    ASSERT_TRUE(test::audit(rig.table()).clean());
    ASSERT_TRUE(consistent(rig.table(), reference.table(), c, c.range.size));

    rig.table().destroy();
    rig.table().reclaim_all();  // destroy() hands the pages to the reclaimer
    ASSERT_EQ(rig.pool.bytes_in_use(), 0u);
  }
}

// The largest block level of the granule: 1 GiB blocks at level 1 with 4K, level 2 otherwise.
Level largest_block_level(const Geometry& g) {
  return g.block_allowed(Level{1}) ? Level{1} : Level{2};
}

std::vector<Case> cases(const Geometry& g) {
  const u64 page = g.page_bytes();
  const u64 block2 = g.level_bytes(Level{2});
  const Level big = largest_block_level(g);
  const u64 big_bytes = g.level_bytes(big);
  const Ipa big_start{big_bytes * 2};
  const Attrs rw = Attrs::normal(Perm::rw);

  auto map_big_blocks = [=](Table& t) {
    ASSERT_TRUE(t.map({big_start, 2 * big_bytes}, Pa{kGuestPa}, rw).ok());
  };
  auto mapped_to = [](Pa base, Ipa start, Perm perm) {
    return [=](const PageState&, Ipa ipa) {
      return PageState::translated(base + (ipa - start), perm);
    };
  };
  auto nothing = [](Table&) {};
  // A range cutting both big blocks: the edges need splits down to pages.
  const IpaRange inside_blocks{big_start + big_bytes - 3 * page, 5 * page};
  const IpaRange one_page{big_start + big_bytes / 2 + page, page};

  std::vector<Case> out;
  out.push_back(Case{
      .name = "map pages across a level-1 boundary",
      .setup = nothing,
      .range = {Ipa{g.level_bytes(Level{1}) * 2 - 3 * block2}, 6 * block2},
      .op =
          [=](Table& t, IpaRange r) {
            return t.map(r,
                         Pa{kGuestPa} + (r.start.raw - (g.level_bytes(Level{1}) * 2 - 3 * block2)),
                         rw, MapFlags::no_blocks);
          },
      .effect = mapped_to(Pa{kGuestPa}, Ipa{g.level_bytes(Level{1}) * 2 - 3 * block2}, Perm::rw),
  });
  // The output keeps the IPA's alignment, so the middle can be blocks.
  const IpaRange ragged{Ipa{block2 * 8 - 2 * page}, 2 * block2 + 4 * page};
  const Pa ragged_pa{kGuestPa + ragged.start.raw};
  out.push_back(Case{
      .name = "map blocks with page-mapped edges",
      .setup = nothing,
      .range = ragged,
      .op = [=](Table& t,
                IpaRange r) { return t.map(r, ragged_pa + (r.start - ragged.start), rw); },
      .effect = mapped_to(ragged_pa, ragged.start, Perm::rw),
  });
  out.push_back(Case{
      .name = "replacing map of pages inside a block",
      .setup = map_big_blocks,
      .range = one_page,
      .op =
          [=](Table& t, IpaRange r) {
            return t.map(r, Pa{kGuestPa * 2} + (r.start - one_page.start),
                         Attrs::normal(Perm::read), MapFlags::replace);
          },
      .effect = mapped_to(Pa{kGuestPa * 2}, one_page.start, Perm::read),
  });
  for (UnmapStrategy s : test::all_unmap_strategies()) {
    out.push_back(Case{
        .name = std::string("unmap (") + name(s) + ") splitting both edge blocks",
        .setup = map_big_blocks,
        .range = inside_blocks,
        .op = [=](Table& t, IpaRange r) { return t.unmap(r, s); },
        .effect = [](const PageState&, Ipa) { return PageState::unmapped(); },
    });
  }
  const IpaRange two_blocks{Ipa{block2 * 16}, 2 * block2};
  out.push_back(Case{
      .name = "eager split of two level-2 blocks into pages",
      .setup = [=](Table& t) { ASSERT_TRUE(t.map(two_blocks, Pa{kGuestPa}, rw).ok()); },
      .range = two_blocks,
      .op = [](Table& t, IpaRange r) { return t.split(r, kLastLevel, ~u64{0}); },
      .effect = [](const PageState& was, Ipa) { return was; },
  });
  if (big != Level{2}) {
    out.push_back(Case{
        .name = "eager split of two 1 GiB blocks into level-2 blocks",
        .setup = map_big_blocks,
        .range = {big_start, 2 * big_bytes},
        .op = [](Table& t, IpaRange r) { return t.split(r, Level{2}, ~u64{0}); },
        .effect = [](const PageState& was, Ipa) { return was; },
    });
  }
  out.push_back(Case{
      .name = "write_protect splitting both edge blocks",
      .setup = map_big_blocks,
      .range = inside_blocks,
      .op = [](Table& t, IpaRange r) { return t.write_protect(r); },
      .effect =
          [](const PageState& was, Ipa) {
            PageState now = was;
            now.perm = without(was.perm, Perm::write);
            return now;
          },
  });
  out.push_back(Case{
      .name = "relax splitting both edge blocks",
      .setup = map_big_blocks,
      .range = inside_blocks,
      .op = [](Table& t, IpaRange r) { return t.relax(r, Perm::exec); },
      .effect =
          [](const PageState& was, Ipa) {
            PageState now = was;
            now.perm = was.perm | Perm::exec;
            return now;
          },
  });
  out.push_back(Case{
      .name = "annotate splitting annotated blocks",
      .setup =
          [=](Table& t) {
            ASSERT_TRUE(t.annotate({big_start, 2 * big_bytes}, OwnerId{1}).ok());
          },
      .range = inside_blocks,
      .op = [](Table& t, IpaRange r) { return t.annotate(r, OwnerId{2}); },
      .effect = [](const PageState&, Ipa) { return PageState::unmapped(OwnerId{2}); },
  });
  out.push_back(Case{
      .name = "annotate part of an unannotated region",
      .setup = nothing,
      .range = inside_blocks,
      .op = [](Table& t, IpaRange r) { return t.annotate(r, OwnerId{4}); },
      .effect = [](const PageState&, Ipa) { return PageState::unmapped(OwnerId{4}); },
  });
  out.push_back(Case{
      .name = "remove annotations from part of annotated blocks",
      .setup =
          [=](Table& t) {
            ASSERT_TRUE(t.annotate({big_start, 2 * big_bytes}, OwnerId{3}).ok());
          },
      .range = inside_blocks,
      .op = [](Table& t, IpaRange r) { return t.annotate(r, OwnerId{}); },
      .effect = [](const PageState&, Ipa) { return PageState::unmapped(); },
  });
  return out;
}

class FaultInjection : public ::testing::TestWithParam<Granule> {};

TEST_P(FaultInjection, EveryAllocationOfEveryOperation) {
  const Geometry g = test::make_geometry(GetParam(), 48, 48);
  for (const Case& c : cases(g)) {
    run_case(g, c);
    if (HasFatalFailure()) return;
  }
}

// Creating a table allocates once (the possibly concatenated root); failing it leaves nothing.
TEST_P(FaultInjection, Create) {
  for (unsigned ipa_bits : {32u, 36u, 40u, 42u, 48u}) {
    const Geometry g = test::make_geometry(GetParam(), ipa_bits, 48);
    SCOPED_TRACE(std::to_string(ipa_bits) + "-bit IPA, " + std::to_string(g.root_pages()) +
                 " root pages");
    hosted::PagePool pool;
    counting::CountingArch arch;
    {
      const u64 before = pool.allocations();
      Result<Table> t = Table::create({.geometry = g, .vmid = Vmid{1}}, pool, arch);
      ASSERT_TRUE(t.ok());
      ASSERT_EQ(pool.allocations() - before, 1u);
    }
    ASSERT_EQ(pool.bytes_in_use(), 0u);
    arch.clear();
    pool.fail_after(0);
    const Result<Table> t = Table::create({.geometry = g, .vmid = Vmid{1}}, pool, arch);
    EXPECT_EQ(t.status(), Status::no_memory);
    EXPECT_EQ(pool.bytes_in_use(), 0u);
    EXPECT_TRUE(arch.log().empty());  // nothing to invalidate for a table that never existed
  }
}

// The list the tests iterate holds every strategy the core can name: one added to the enum but
// not to kAllUnmapStrategies would escape fault injection, isolation and fuzzing.
TEST(UnmapStrategies, EveryNamedStrategyIsListed) {
  const std::vector<UnmapStrategy> listed = test::all_unmap_strategies();
  unsigned named = 0;
  for (unsigned v = 0; v <= 0xFF; ++v) {
    const auto s = static_cast<UnmapStrategy>(v);
    if (std::string(name(s)) == "?") continue;
    ++named;
    EXPECT_NE(std::find(listed.begin(), listed.end(), s), listed.end()) << name(s);
  }
  EXPECT_EQ(named, listed.size());
}

INSTANTIATE_TEST_SUITE_P(EachGranule, FaultInjection,
                         ::testing::Values(Granule::k4, Granule::k16, Granule::k64),
                         [](const auto& param_info) {
                           return std::to_string(granule_bytes(param_info.param) >> 10) + "K";
                         });

}  // namespace
}  // namespace s2pt
