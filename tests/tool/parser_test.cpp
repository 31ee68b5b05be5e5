// The scenario parser: what it accepts, where it points when it refuses, and that no input makes
// it crash.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "scenario/scenario.hpp"

namespace s2pt::scenario {
namespace {

ParseError parse_error(std::string_view text) {
  ParseResult r = parse(text);
  EXPECT_FALSE(r.ok()) << text;
  return r.error.value_or(ParseError{});
}

TEST(ScenarioNumbers, DecimalHexSuffixesAndSeparators) {
  EXPECT_EQ(parse_number("4096"), 4096u);
  EXPECT_EQ(parse_number("0x1000"), 0x1000u);
  EXPECT_EQ(parse_number("0X1_0000"), 0x10000u);
  EXPECT_EQ(parse_number("4K"), 4096u);
  EXPECT_EQ(parse_number("2M"), u64{2} << 20);
  EXPECT_EQ(parse_number("1G"), u64{1} << 30);
  EXPECT_EQ(parse_number("3t"), u64{3} << 40);
  EXPECT_EQ(parse_number("0x10K"), u64{16} << 10);
  EXPECT_EQ(parse_number("18446744073709551615"), ~u64{0});
}

TEST(ScenarioNumbers, RefusesGarbageAndOverflow) {
  for (const char* bad : {"", "K", "0x", "0xK", "_1", "1_", "12a", "0x1q", "-1", "1.5",
                          "18446744073709551616", "0x1_0000_0000_0000_0000", "16777216T"}) {
    EXPECT_FALSE(parse_number(bad).has_value()) << bad;
  }
}

TEST(ScenarioParse, ReadsEveryOperation) {
  const ParseResult r = parse(R"(
# comment line
table granule=16K ipa=36 pa=40 vmid=7 vmid_bits=8 fwb=off tlbi_range=off ttl=on dic=on max_ipa_ops=3
map 0x40000000 2M 0x80000000 r-x device_ngnrne replace no_blocks af=off sh=outer sw=3  # trailing
expect-ops tlbi_ipa=1 dsb=3
unmap 0 32M per_entry
expect-error again done=16K
expect-pages 5
write-protect 0 16K
relax 0 16K rwx
mkold 0 16K
mkyoung 0 16K
split 0 32M
collapse 0 32M
annotate 0 16K 255
flush 0 16K
lookup 0x1234 expect mapped 0x5234 rw wb level=3 af=on size=16K
lookup 0x1234 expect unmapped owner=4
lookup 0x1234
fail-alloc 3
fail-alloc off
destroy
)");
  ASSERT_TRUE(r.ok()) << r.error->pos.line << ":" << r.error->pos.column << " " << r.error->message;
  const std::vector<Step>& s = r.scenario.steps;
  ASSERT_EQ(s.size(), 17u);

  EXPECT_EQ(s[0].op, OpKind::table);
  EXPECT_EQ(s[0].pos.line, 3u);
  EXPECT_EQ(s[0].table.granule, Granule::k16);
  EXPECT_EQ(s[0].table.ipa_bits, 36u);
  EXPECT_EQ(s[0].table.vmid, 7);
  EXPECT_EQ(s[0].table.vmid_bits, 8u);
  EXPECT_FALSE(s[0].table.features.fwb);
  EXPECT_FALSE(s[0].table.features.tlbi_range);
  EXPECT_TRUE(s[0].table.features.dic);
  EXPECT_EQ(s[0].table.limits.max_ipa_ops, 3u);

  const Step& map = s[1];
  EXPECT_EQ(map.op, OpKind::map);
  EXPECT_EQ(map.range.start, Ipa{0x40000000});
  EXPECT_EQ(map.range.size, u64{2} << 20);
  EXPECT_EQ(map.pa, Pa{0x80000000});
  EXPECT_EQ(map.attrs.perm, Perm::rx);
  EXPECT_EQ(map.attrs.mem, MemType::device_ngnrne);
  EXPECT_FALSE(map.attrs.af);
  EXPECT_EQ(map.attrs.sh, Shareability::outer);
  EXPECT_EQ(map.attrs.sw, 3);
  EXPECT_TRUE(has(map.flags, MapFlags::replace));
  EXPECT_TRUE(has(map.flags, MapFlags::no_blocks));
  EXPECT_EQ(map.text,
            "map 0x40000000 2M 0x80000000 r-x device_ngnrne replace no_blocks af=off "
            "sh=outer sw=3");
  ASSERT_EQ(map.expects.size(), 1u);
  EXPECT_EQ(map.expects[0].kind, Expectation::Kind::ops);
  EXPECT_EQ(map.expects[0].pos.line, 5u);
  ASSERT_EQ(map.expects[0].ops.size(), 2u);
  EXPECT_EQ(map.expects[0].ops[0], std::make_pair(Counter::tlbi_ipa, u64{1}));
  EXPECT_EQ(map.expects[0].ops[1], std::make_pair(Counter::dsb, u64{3}));

  const Step& unmap = s[2];
  EXPECT_EQ(unmap.strategy, UnmapStrategy::per_entry);
  ASSERT_EQ(unmap.expects.size(), 2u);
  EXPECT_EQ(unmap.expects[0].error, Status::again);
  EXPECT_EQ(unmap.expects[0].done, u64{16} << 10);
  EXPECT_EQ(unmap.expects[1].kind, Expectation::Kind::pages);
  EXPECT_EQ(unmap.expects[1].pages, 5u);

  EXPECT_EQ(s[4].perm, Perm::rwx);
  EXPECT_EQ(s[7].op, OpKind::split);
  EXPECT_EQ(s[8].op, OpKind::collapse);
  EXPECT_EQ(s[9].owner, OwnerId{255});

  const Step& lookup = s[11];
  ASSERT_TRUE(lookup.expect.has_value());
  EXPECT_TRUE(lookup.expect->mapped);
  EXPECT_EQ(lookup.expect->pa, Pa{0x5234});
  EXPECT_EQ(lookup.expect->perm, Perm::rw);
  EXPECT_EQ(lookup.expect->mem, MemType::normal_wb);
  EXPECT_EQ(lookup.expect->level, 3);
  EXPECT_EQ(lookup.expect->af, true);
  EXPECT_EQ(lookup.expect->size, u64{16} << 10);
  EXPECT_FALSE(s[12].expect->mapped);
  EXPECT_EQ(s[12].expect->owner, OwnerId{4});
  EXPECT_FALSE(s[13].expect.has_value());
  EXPECT_EQ(s[14].fail_after, 3u);
  EXPECT_FALSE(s[15].fail_after.has_value());
  EXPECT_EQ(s[16].op, OpKind::destroy);
}

TEST(ScenarioParse, SplitCollapseFault) {
  const ParseResult r = parse(
      "table\nsplit 0 1G level=2 budget=9\nsplit 0 2M\ncollapse 0 1G\n"
      "fault 0x1000 0x2000 r-x device leaf=2M expect=relaxed\nfault 0 0\n");
  ASSERT_TRUE(r.ok()) << r.error->message;
  const std::vector<Step>& s = r.scenario.steps;
  ASSERT_EQ(s.size(), 6u);
  EXPECT_EQ(s[1].level, 2);
  EXPECT_EQ(s[1].budget, 9u);
  EXPECT_EQ(s[2].level, 3);
  EXPECT_FALSE(s[2].budget.has_value());
  EXPECT_EQ(s[3].op, OpKind::collapse);
  EXPECT_EQ(s[4].op, OpKind::fault);
  EXPECT_EQ(s[4].ipa, Ipa{0x1000});
  EXPECT_EQ(s[4].pa, Pa{0x2000});
  EXPECT_EQ(s[4].attrs.perm, Perm::rx);
  EXPECT_EQ(s[4].attrs.mem, MemType::device_ngnre);
  EXPECT_EQ(s[4].leaf_bytes, u64{2} << 20);
  EXPECT_EQ(s[4].fault_expect, FaultOutcome::relaxed);
  EXPECT_EQ(s[5].leaf_bytes, 0u);
  EXPECT_FALSE(s[5].fault_expect.has_value());
  EXPECT_EQ(parse_error("table\nsplit 0 2M level=4").pos.column, 12u);
  EXPECT_EQ(parse_error("table\nfault 0 0 expect=gone").pos.column, 11u);
}

TEST(ScenarioParse, TeardownAndReclaim) {
  const ParseResult r = parse(
      "table\ndestroy-range 0x40000000 3G budget=100\ndestroy-range 0 4K\nreclaim 8\nreclaim\n");
  ASSERT_TRUE(r.ok()) << r.error->message;
  const std::vector<Step>& s = r.scenario.steps;
  ASSERT_EQ(s.size(), 5u);
  EXPECT_EQ(s[1].op, OpKind::destroy_range);
  EXPECT_EQ(s[1].range.size, u64{3} << 30);
  EXPECT_EQ(s[1].budget, 100u);
  EXPECT_FALSE(s[2].budget.has_value());
  EXPECT_EQ(s[3].op, OpKind::reclaim);
  EXPECT_EQ(s[3].budget, 8u);
  EXPECT_FALSE(s[4].budget.has_value());
  EXPECT_EQ(parse_error("table\ndestroy-range 0 4K 100").pos.column, 20u);
  EXPECT_EQ(parse_error("table\nreclaim 8 9").pos.column, 11u);
}

TEST(ScenarioParse, EveryStrategyTheCoreNamesIsAccepted) {
  EXPECT_EQ(unmap_strategies().size(), std::size(kAllUnmapStrategies));
  for (UnmapStrategy strategy : unmap_strategies()) {
    const std::string text = std::string("table\nunmap 0 4K ") + name(strategy) +
                             "\nunmap 0 4K strategy=" + name(strategy) + "\n";
    const ParseResult r = parse(text);
    ASSERT_TRUE(r.ok()) << text;
    EXPECT_EQ(r.scenario.steps[1].strategy, strategy);
    EXPECT_EQ(r.scenario.steps[2].strategy, strategy);
  }
}

TEST(ScenarioParse, ErrorsNameLineAndColumn) {
  struct Case {
    const char* text;
    u32 line;
    u32 column;
    const char* words;
  };
  const Case cases[] = {
      {"table\nfrobnicate 1 2", 2, 1, "unknown operation 'frobnicate'"},
      {"table\nmap 0x1000 4K", 2, 14, "expected the output address"},
      {"table\nmap 0x1000 4Q 0", 2, 12, "bad number '4Q'"},
      {"table\n  unmap 0 4K fastest", 2, 14, "unknown unmap strategy 'fastest'"},
      {"table granule=8K", 1, 7, "granule must be"},
      {"table ipa=40 color=blue", 1, 14, "unknown table setting 'color'"},
      {"table\nmap 0 4K 0 rw rx", 2, 15, "permissions given twice"},
      {"table\nlookup 0 expect maybe", 2, 17, "expected 'mapped' or 'unmapped'"},
      {"table\ndestroy now", 2, 9, "unexpected 'now'"},
      {"expect-pages 1", 1, 1, "there is none"},
      {"map 0 4K 0", 1, 1, "before any 'table' line"},
      {"table\nunmap 0 4K\nexpect-error ok", 3, 14, "needs an error"},
      {"table\nunmap 0 4K\nexpect-error exists\nexpect-error again", 4, 1, "a second expect-error"},
      {"table\nunmap 0 4K\nexpect-ops tlbi_ipa", 3, 12, "expected counter=N"},
      {"table\nunmap 0 4K\nexpect-ops walks=1", 3, 12, "unknown counter 'walks'"},
      {"table\nannotate 0 4K 256", 2, 15, "owner must fit 8 bits"},
      {"table\n\tmap\x01 0", 2, 2, "unknown operation 'map\\x01'"},
  };
  for (const Case& c : cases) {
    const ParseError e = parse_error(c.text);
    EXPECT_EQ(e.pos.line, c.line) << c.text;
    EXPECT_EQ(e.pos.column, c.column) << c.text;
    EXPECT_NE(e.message.find(c.words), std::string::npos) << c.text << " -> " << e.message;
  }
}

TEST(ScenarioParse, CommentsBlankLinesAndCrLf) {
  const ParseResult r =
      parse("# only a comment\r\n\r\n   \t\ntable fwb=off\r\nmap 0 4K 0x1000 # x\r\n");
  ASSERT_TRUE(r.ok()) << r.error->message;
  ASSERT_EQ(r.scenario.steps.size(), 2u);
  EXPECT_EQ(r.scenario.steps[1].pos.line, 5u);
  EXPECT_EQ(r.scenario.steps[1].text, "map 0 4K 0x1000");
}

TEST(ScenarioParse, ErrorsLeaveNoSteps) {
  const ParseResult r = parse("table\nmap 0 4K 0\nbogus\n");
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(r.scenario.steps.empty());
}

// Random bytes and mutations of a valid scenario: every input is accepted or refused with a
// position inside the text; none crashes (the sanitizer presets make this bite harder).
TEST(ScenarioParse, SurvivesArbitraryBytes) {
  const std::string seed =
      "table granule=4K ipa=40 pa=40 fwb=on\nmap 0x40000000 2M 0x80000000 rw normal_wb\n"
      "expect-ops tlbi=0\nunmap 0x40000000 4K per_entry\nexpect-error exists done=0\n"
      "lookup 0x40000000 expect mapped 0x80000000 rw level=2 af=on\nannotate 0 4K 3\n";
  std::mt19937_64 rng(12345);
  const char alphabet[] = "0x1234567890abcdefKMGT_= \t\n#-rwxmapunlotkexpctd\r\x01\xff";
  for (int round = 0; round < 20000; ++round) {
    std::string text = seed;
    const int edits = 1 + static_cast<int>(rng() % 8);
    for (int e = 0; e < edits; ++e) {
      const std::size_t at = text.empty() ? 0 : rng() % text.size();
      switch (rng() % 4) {
        case 0:
          if (!text.empty()) text[at] = static_cast<char>(rng());
          break;
        case 1:
          text.insert(at, 1, alphabet[rng() % (sizeof alphabet - 1)]);
          break;
        case 2:
          if (!text.empty()) text.erase(at, 1 + rng() % 6);
          break;
        default:
          text = text.substr(0, at);
          break;
      }
    }
    const ParseResult r = parse(text);
    if (!r.ok()) {
      const u32 lines = 1 + static_cast<u32>(std::count(text.begin(), text.end(), '\n'));
      ASSERT_GE(r.error->pos.line, 1u) << text;
      ASSERT_LE(r.error->pos.line, lines) << text;
      ASSERT_GE(r.error->pos.column, 1u) << text;
      ASSERT_FALSE(r.error->message.empty());
    }
  }
}

TEST(ScenarioNames, EveryStatusTheCoreDescribesHasAName) {
  for (unsigned v = 0; v < 256; ++v) {
    const Status s = Status(v);
    if (std::string_view(describe(s)) == "unknown status") continue;
    const std::string_view n = status_name(s);
    EXPECT_NE(n, "?") << "status " << v << " (" << describe(s) << ") has no scenario name";
    EXPECT_EQ(parse_status(n), s);
  }
}

TEST(ScenarioNames, PermissionsRoundTrip) {
  for (u8 p = 0; p <= kPermMask; ++p) {
    EXPECT_EQ(parse_perm(perm_string(Perm(p))), Perm(p));
  }
  EXPECT_EQ(parse_perm("none"), Perm::none);
  EXPECT_EQ(parse_perm("xr"), Perm::rx);
  EXPECT_FALSE(parse_perm("rr").has_value());
  EXPECT_FALSE(parse_perm("rwxr").has_value());
  EXPECT_FALSE(parse_perm("wb").has_value());
}

}  // namespace
}  // namespace s2pt::scenario
