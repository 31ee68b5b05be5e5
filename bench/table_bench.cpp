// Populate and unmap 1 GiB of guest memory: page by page as a fault handler would, and with
// 2 MiB blocks. The counting backend executes no maintenance, so these are the host costs of the
// table code itself; `s2pt bench` adds the modelled hardware cost of what it issued.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <optional>

#include "s2pt/arch/counting.hpp"
#include "s2pt/hosted/page_pool.hpp"
#include "s2pt/table.hpp"

namespace s2pt {
namespace {

constexpr u64 kVm = u64{1} << 30;
constexpr Ipa kBase{u64{1} << 30};
constexpr Pa kBacking{u64{1} << 34};

struct Setup {
  explicit Setup(bool features)
      : arch(Features{.fwb = features, .tlbi_range = features, .ttl = features}, false),
        table(make()) {}

  Table make() {
    Result<Table> t = Table::create(
        {.geometry = Geometry::make(Granule::k4, 40, 40).value(), .vmid = Vmid{1}}, pool, arch);
    if (!t.ok()) std::abort();
    return static_cast<Result<Table>&&>(t).value();
  }

  hosted::PagePool pool;
  counting::CountingArch arch;
  Table table;
};

void populate(Table& t, u64 step, benchmark::State& state) {
  const Attrs rw = Attrs::normal(Perm::rw);
  for (u64 off = 0; off < kVm; off += step) {
    if (!t.map({kBase + off, step}, kBacking + off, rw).ok()) state.SkipWithError("map failed");
  }
}

void set_per_leaf(benchmark::State& state, u64 step) {
  state.counters["ns_per_leaf"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * static_cast<double>(kVm) /
                             static_cast<double>(step),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.SetLabel(state.range(1) ? "FWB+range" : "no FWB, no range");
}

// Arg 0: leaf size (4096 or 2 MiB); arg 1: FWB and TLBI range on (1) or off (0).
void BM_Populate(benchmark::State& state) {
  const u64 step = static_cast<u64>(state.range(0));
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores): the benchmark loop idiom
    state.PauseTiming();
    std::optional<Setup> s(std::in_place, state.range(1) != 0);
    state.ResumeTiming();
    populate(s->table, step, state);
    state.PauseTiming();
    s.reset();
    state.ResumeTiming();
  }
  set_per_leaf(state, step);
}

void BM_Unmap(benchmark::State& state) {
  const u64 step = static_cast<u64>(state.range(0));
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores): the benchmark loop idiom
    state.PauseTiming();
    std::optional<Setup> s(std::in_place, state.range(1) != 0);
    populate(s->table, step, state);
    state.ResumeTiming();
    if (!s->table.unmap({kBase, kVm}, UnmapStrategy::per_entry).ok()) {
      state.SkipWithError("unmap failed");
    }
    state.PauseTiming();
    s.reset();
    state.ResumeTiming();
  }
  set_per_leaf(state, step);
}

void leaf_sizes(benchmark::internal::Benchmark* b) {
  for (int features : {1, 0}) {
    b->Args({4096, features});
    b->Args({2 << 20, features});
  }
  b->Unit(benchmark::kMillisecond);
}

BENCHMARK(BM_Populate)->Apply(leaf_sizes);
BENCHMARK(BM_Unmap)->Apply(leaf_sizes);

}  // namespace
}  // namespace s2pt

BENCHMARK_MAIN();
