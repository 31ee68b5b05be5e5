// The scenario runner against the counting backend: expectations that hold pass, ones that do not
// fail at the right line, and what each operation issued is what the table counted.
#include "scenario/runner.hpp"

#include <gtest/gtest.h>

namespace s2pt::scenario {
namespace {

RunResult run_text(std::string_view text, std::FILE* out = nullptr, bool trace = false) {
  ParseResult parsed = parse(text);
  EXPECT_TRUE(parsed.ok()) << (parsed.error ? parsed.error->message : "");
  CountingBackend backend(trace);
  return run(parsed.scenario, backend, RunOptions{.out = out, .trace = trace});
}

TEST(ScenarioRun, PassingScenario) {
  const RunResult r = run_text(R"(
table granule=4K ipa=40 pa=40 fwb=on
map 0x40000000 2M 0x80000000 rw
expect-ops tlbi=0
lookup 0x40001000 expect mapped 0x80001000 rw normal_wb level=2 size=2M af=on
unmap 0x40000000 2M per_entry
expect-ops tlbi_ipa=2 tlbi_s1=2 dsb_ishst=2 dsb_ish=4 isb=2
expect-pages 2
lookup 0x40001000 expect unmapped
destroy
expect-pages 0
)");
  EXPECT_TRUE(r.passed()) << r.failure->line << ": " << r.failure->message;
  EXPECT_EQ(r.steps_run, 6u);
}

struct FailCase {
  const char* text;
  u32 line;
  const char* words;
};

TEST(ScenarioRun, FailuresNameTheirLine) {
  const FailCase cases[] = {
      {"table\nmap 0 4K 0x1000\nlookup 0 expect mapped 0x2000", 3, "expected PA 0x2000"},
      {"table\nmap 0 4K 0x1000\nlookup 0 expect mapped r--", 3, "expected permissions r--"},
      {"table\nmap 0 4K 0x1000\nlookup 0 expect mapped level=2", 3, "expected level 2"},
      {"table\nmap 0 4K 0x1000 device\nlookup 0 expect mapped normal_wb", 3, "memory type"},
      {"table\nmap 0 4K 0x1000\nlookup 0 expect unmapped", 3, "expected unmapped"},
      {"table\nlookup 0 expect mapped", 2, "expected mapped"},
      {"table\nannotate 0 4K 3\nlookup 0 expect unmapped owner=4", 3, "expected owner 4"},
      {"table\nmap 0 4K 0x1000\nmap 0 4K 0x1000 r--", 3, "map failed: exists"},
      {"table\nmap 0 4K 0x1000\nmap 0 4K 0x1000\n\nexpect-error unaligned", 5,
       "fail with unaligned, got exists"},
      {"table\nmap 0 4K 0x1000\nexpect-pages 9", 3, "expected 9 table pages, there are 4"},
      {"table\nmap 0 4K 0x1000\nunmap 0 4K per_entry\nexpect-ops tlbi_ipa=2", 4,
       "the operation issued 3"},
      {"table\nmap 0 2M 0\nsplit 0 2M budget=0", 3, "split failed: budget_exhausted"},
      {"table\nfault 0 0x1000\nfault 0 0x1000 expect=mapped", 3,
       "expected the fault to be mapped, it was already_resolved"},
      {"table\nmap 0 4K 0\nfault 0 0x1000", 3, "fault failed: exists"},
      {"table ipa=60\nmap 0 4K 0", 1, "table failed: bad_geometry"},
      {"table ipa=60\nexpect-error bad_geometry\nmap 0 4K 0", 3, "no table"},
      {"table\nfail-alloc 0\nmap 0 4K 0x1000\nexpect-error no_memory done=4K", 4,
       "expected 0x1000 bytes done, got 0x0"},
  };
  for (const FailCase& c : cases) {
    const RunResult r = run_text(c.text);
    ASSERT_FALSE(r.passed()) << c.text;
    EXPECT_EQ(r.failure->line, c.line) << c.text << " -> " << r.failure->message;
    EXPECT_NE(r.failure->message.find(c.words), std::string::npos)
        << c.text << " -> " << r.failure->message;
  }
}

TEST(ScenarioRun, StopsAtTheFirstFailure) {
  const RunResult r = run_text("table\nlookup 0 expect mapped\nlookup 0 expect mapped\n");
  ASSERT_FALSE(r.passed());
  EXPECT_EQ(r.failure->line, 2u);
  EXPECT_EQ(r.steps_run, 1u);
}

TEST(ScenarioRun, ANewTableReplacesTheOldOne) {
  const RunResult r = run_text(R"(
table granule=4K ipa=40 pa=40
map 0x40000000 4K 0x1000
table granule=64K ipa=42 pa=44
expect-pages 1
lookup 0x40000000 expect unmapped
map 0x40000000 512M 0x20000000 rw
lookup 0x40010000 expect mapped 0x20010000 level=2 size=512M
)");
  EXPECT_TRUE(r.passed()) << r.failure->line << ": " << r.failure->message;
}

TEST(ScenarioRun, ANewTableCountsFromZero) {
  const RunResult r =
      run_text("table\nmap 0 4K 0x1000\nunmap 0 4K\ntable\nexpect-ops tlbi=0 dsb=0\n");
  EXPECT_TRUE(r.passed()) << r.failure->line << ": " << r.failure->message;
}

TEST(ScenarioRun, ReportShowsCountsAndTrace) {
  char* buffer = nullptr;
  std::size_t size = 0;
  std::FILE* out = open_memstream(&buffer, &size);
  ASSERT_NE(out, nullptr);
  const RunResult r = run_text("table fwb=on\nmap 0 4K 0x1000\nunmap 0 4K per_entry\n", out, true);
  std::fclose(out);
  const std::string text(buffer, size);
  std::free(buffer);
  EXPECT_TRUE(r.passed());
  EXPECT_NE(
      text.find(
          "3: unmap 0 4K per_entry  ->  ok  [tlbi_ipa=3 tlbi_s1=3 dsb_ishst=3 dsb_ish=6 isb=3]"),
      std::string::npos)
      << text;
  EXPECT_NE(text.find("      TLBI IPAS2LE1IS ipa=0x0 ttl=L3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("      TLBI VMALLE1IS\n"), std::string::npos) << text;
}

TEST(ScenarioRun, InspectSeesTheLiveTableBeforeTeardown) {
  ParseResult parsed = parse("table\nmap 0x40000000 2M 0x80000000\n");
  ASSERT_TRUE(parsed.ok());
  CountingBackend backend(false);
  u64 pages = 0;
  bool mapped = false;
  const RunResult r = run(parsed.scenario, backend, RunOptions{.inspect_final = [&](Table& t) {
                            pages = t.stats().table_pages;
                            mapped = t.lookup(Ipa{0x40000000}).ok();
                          }});
  EXPECT_TRUE(r.passed());
  EXPECT_EQ(pages, 3u);
  EXPECT_TRUE(mapped);
}

}  // namespace
}  // namespace s2pt::scenario
