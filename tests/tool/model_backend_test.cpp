// The scenario runner on the hardware model: a correct core passes, and a core whose maintenance
// is broken fails at the line of the operation that broke it, with the oracle that saw it.
#include "scenario/model_backend.hpp"

#include <gtest/gtest.h>

#include <memory>

#include "scenario/runner.hpp"
#include "sim/dropping_arch.hpp"

namespace s2pt::scenario {
namespace {

using sim::test::DroppingArch;

// Which instructions a broken case drops.
struct Drops {
  bool tlbi_ipa = false;
  bool vmalle1is = false;
  bool vmalls12e1is = false;
  bool dsb_ish = false;
  bool dc_civac = false;
};

struct ModelRun {
  RunResult result;
  std::string report;
  std::string summary;
};

ModelRun run_on_model(std::string_view text, const ModelOptions& options = {}) {
  ParseResult parsed = parse(text);
  EXPECT_TRUE(parsed.ok()) << (parsed.error ? parsed.error->message : "");
  ModelBackend backend(options);
  char* buffer = nullptr;
  std::size_t size = 0;
  std::FILE* out = open_memstream(&buffer, &size);
  ModelRun r;
  r.result = run(parsed.scenario, backend, RunOptions{.out = out});
  std::fclose(out);
  r.report.assign(buffer, size);
  std::free(buffer);
  r.summary = backend.summary();
  return r;
}

ModelRun run_dropping(std::string_view text, Drops drops) {
  std::unique_ptr<DroppingArch> dropping;
  return run_on_model(text, ModelOptions{.interpose = [&](SteppingArch& machine) -> SteppingArch& {
                        dropping = std::make_unique<DroppingArch>(machine);
                        dropping->drop_tlbi_ipa = drops.tlbi_ipa;
                        dropping->drop_vmalle1is = drops.vmalle1is;
                        dropping->drop_vmalls12e1is = drops.vmalls12e1is;
                        dropping->drop_dsb_ish = drops.dsb_ish;
                        dropping->drop_dc_civac = drops.dc_civac;
                        return *dropping;
                      }});
}

// A VM with 4K pages and 2M blocks mapped, then taken apart by every strategy.
constexpr std::string_view kUnmapEverything = R"(table granule=4K ipa=40 pa=40 fwb=on
map 0x40000000 1M 0x80000000 rw no_blocks
map 0x40200000 4M 0x90000000 rw
lookup 0x40001000 expect mapped 0x80001000
unmap 0x40000000 512K per_entry
unmap 0x40080000 512K deferred
unmap 0x40200000 2M fast
unmap 0x40400000 2M
lookup 0x40001000 expect unmapped
)";

TEST(ModelBackend, EveryStrategyRunsClean) {
  const ModelRun r = run_on_model(kUnmapEverything);
  EXPECT_TRUE(r.result.passed()) << r.result.failure->line << ": " << r.result.failure->message
                                 << "\n"
                                 << r.report;
  EXPECT_EQ(r.result.steps_run, 9u);
  // The guests ran: the summary counts their accesses, and each step has a modelled time.
  EXPECT_NE(r.summary.find("4 CPUs, seed 1, "), std::string::npos) << r.summary;
  EXPECT_EQ(r.summary.find(" 0 guest accesses"), std::string::npos) << r.summary;
  EXPECT_NE(r.report.find("7: unmap 0x40200000 2M fast  ->  ok modelled "), std::string::npos)
      << r.report;
}

struct BrokenCase {
  const char* what;
  Drops drops;
  std::string_view scenario;
  u32 line;           // where the run must stop
  const char* words;  // what the failure must say
};

TEST(ModelBackend, BrokenMaintenanceFailsAtItsLine) {
  const BrokenCase cases[] = {
      {"no TLBI by IPA", {.tlbi_ipa = true}, kUnmapEverything, 5, "stale TLB entry"},
      {"no stage-1 invalidation", {.vmalle1is = true}, kUnmapEverything, 5, "combined"},
      {"no DSB ISH", {.dsb_ish = true}, kUnmapEverything, 5, "TLBI not completed by a DSB ISH"},
      {"no VMID-wide invalidation at destroy",
       {.vmalls12e1is = true},
       "table\nmap 0x40000000 2M 0x80000000 rw\ndestroy\n",
       3,
       "stale TLB entry"},
      // Caught at the map already: the guests reach memory that was never cleaned to PoC.
      {"no cleaning without FWB",
       {.dc_civac = true},
       "table fwb=off\nmap 0x40000000 64K 0x80000000 rw no_blocks\nunmap 0x40000000 64K fast\n",
       2,
       "mapped memory not cleaned to PoC"},
  };
  for (const BrokenCase& c : cases) {
    SCOPED_TRACE(c.what);
    const ModelRun r = run_dropping(c.scenario, c.drops);
    ASSERT_FALSE(r.result.passed()) << r.report;
    EXPECT_EQ(r.result.failure->line, c.line) << r.result.failure->message;
    EXPECT_NE(r.result.failure->message.find("the model backend found"), std::string::npos)
        << r.result.failure->message;
    EXPECT_NE(r.report.find(c.words), std::string::npos) << r.report;
  }
}

TEST(ModelBackend, ASeedReplaysTheRun) {
  const ModelRun a = run_on_model(kUnmapEverything, ModelOptions{.seed = 9});
  const ModelRun b = run_on_model(kUnmapEverything, ModelOptions{.seed = 9});
  EXPECT_EQ(a.report, b.report);
  EXPECT_EQ(a.summary, b.summary);
  const ModelRun two_cpus = run_on_model(kUnmapEverything, ModelOptions{.cpus = 2, .seed = 9});
  EXPECT_TRUE(two_cpus.result.passed());
  EXPECT_NE(two_cpus.summary.find("2 CPUs, seed 9"), std::string::npos) << two_cpus.summary;
}

TEST(ModelBackend, TableMemoryIsTheModelsAndLeaksAreSeen) {
  // An allocation failure injected by the scenario reaches the model's memory.
  const ModelRun r = run_on_model(
      "table\nfail-alloc 0\nmap 0x40000000 4K 0x1000\nexpect-error no_memory\nfail-alloc off\n"
      "map 0x40000000 4K 0x1000\nexpect-pages 4\n");
  EXPECT_TRUE(r.result.passed()) << r.result.failure->line << ": " << r.result.failure->message;
}

TEST(ModelBackend, FaultsAndPermissionChangesAgreeWithTheGuests) {
  const ModelRun r = run_on_model(R"(table
fault 0x40000000 0x80000000 r-- expect=mapped
write-protect 0x40000000 4K
fault 0x40000000 0x80000000 rw- expect=relaxed
relax 0x40000000 4K rwx
mkold 0x40000000 4K
fault 0x40000000 0x80000000 rw- expect=made_young
unmap 0x40000000 4K
)");
  EXPECT_TRUE(r.result.passed()) << r.result.failure->line << ": " << r.result.failure->message
                                 << "\n"
                                 << r.report;
}

}  // namespace
}  // namespace s2pt::scenario
