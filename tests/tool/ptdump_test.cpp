// The ptdump visitor: merging, levels, kinds and page counts on tables built by hand.
#include "ptdump/ptdump.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "s2pt/arch/counting.hpp"
#include "s2pt/hosted/page_pool.hpp"

namespace s2pt::ptdump {
namespace {

class PtdumpTest : public ::testing::Test {
 protected:
  PtdumpTest() : table_(make()) {}

  Result<Table> make() {
    return Table::create({.geometry = Geometry::make(Granule::k4, 40, 40).value(), .vmid = Vmid{1}},
                         pool_, arch_);
  }
  Table& table() { return table_.value(); }

  hosted::PagePool pool_;
  counting::CountingArch arch_{Features{.fwb = true, .tlbi_range = true, .ttl = true}, false};
  Result<Table> table_;
};

TEST_F(PtdumpTest, EmptyTableHasOnlyTheRoot) {
  const Dump d = collect(table());
  EXPECT_TRUE(d.regions.empty());
  EXPECT_EQ(d.pages.at(Level{1}), 2u);
  EXPECT_EQ(d.pages.total(), 2u);
}

TEST_F(PtdumpTest, MergesContiguousLeavesWithTheSameAttributes) {
  const Attrs rw = Attrs::normal(Perm::rw);
  // 16 pages mapped one by one, contiguous in IPA and PA: one region of 16 entries.
  for (u64 i = 0; i < 16; ++i) {
    ASSERT_TRUE(
        table().map({Ipa{0x40000000 + i * 4096}, 4096}, Pa{0x80000000 + i * 4096}, rw).ok());
  }
  // Contiguous IPA but a PA jump: a new region.
  ASSERT_TRUE(table().map({Ipa{0x40010000}, 4096}, Pa{0x90000000}, rw).ok());
  // Contiguous IPA and PA but other permissions: a new region.
  ASSERT_TRUE(table().map({Ipa{0x40011000}, 4096}, Pa{0x90001000}, Attrs::normal(Perm::read)).ok());
  // Two 2M blocks: same attributes, contiguous, one region at level 2.
  ASSERT_TRUE(table().map({Ipa{0x40400000}, u64{4} << 20}, Pa{0xA0000000}, rw).ok());
  ASSERT_TRUE(table().annotate({Ipa{0x80000000}, 8192}, OwnerId{9}).ok());

  const Dump d = collect(table());
  ASSERT_EQ(d.regions.size(), 5u);
  EXPECT_EQ(d.regions[0].start, Ipa{0x40000000});
  EXPECT_EQ(d.regions[0].size, 16u * 4096);
  EXPECT_EQ(d.regions[0].entries, 16u);
  EXPECT_EQ(d.regions[0].pa, Pa{0x80000000});
  EXPECT_EQ(d.regions[0].level, Level{3});
  EXPECT_EQ(d.regions[1].pa, Pa{0x90000000});
  EXPECT_EQ(d.regions[1].size, 4096u);
  EXPECT_EQ(d.regions[2].attrs.perm, Perm::read);
  EXPECT_EQ(d.regions[3].level, Level{2});
  EXPECT_EQ(d.regions[3].size, u64{4} << 20);
  EXPECT_EQ(d.regions[3].entries, 2u);
  EXPECT_EQ(d.regions[4].kind, Region::Kind::annotated);
  EXPECT_EQ(d.regions[4].owner, OwnerId{9});
  EXPECT_EQ(d.regions[4].size, 8192u);

  // Root (2) + L2 tables for 1G regions 1 and 2 + L3 tables for 0x40000000 and 0x80000000.
  EXPECT_EQ(d.pages.at(Level{2}), 2u);
  EXPECT_EQ(d.pages.at(Level{3}), 2u);
  EXPECT_EQ(d.pages.total(), table().stats().table_pages);
}

std::string printed(void (*print)(std::FILE*, const Table&, const Dump&), const Table& table,
                    const Dump& dump) {
  char* buffer = nullptr;
  std::size_t size = 0;
  std::FILE* out = open_memstream(&buffer, &size);
  print(out, table, dump);
  std::fclose(out);
  std::string text(buffer, size);
  std::free(buffer);
  return text;
}

TEST_F(PtdumpTest, TextAndJsonNameWhatTheyShow) {
  ASSERT_TRUE(
      table().map({Ipa{0x40000000}, u64{2} << 20}, Pa{0x80000000}, Attrs::device(Perm::rw)).ok());
  const Dump d = collect(table());
  const std::string text = printed(print_text, table(), d);
  EXPECT_NE(text.find("0x0000000040000000-0x0000000040200000       2M  L2 block  -> "
                      "0x0000000080000000  rw- device_ngnre"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("table pages: L1 2 (root), L2 1, L3 0; total 3"), std::string::npos) << text;

  const std::string json = printed(print_json, table(), d);
  const nlohmann::json doc = nlohmann::json::parse(json);
  ASSERT_EQ(doc["regions"].size(), 1u) << json;
  const nlohmann::json& block = doc["regions"][0];
  EXPECT_EQ(block["start"], "0x40000000");
  EXPECT_EQ(block["end"], "0x40200000");
  EXPECT_EQ(block["size"], u64{2} << 20);
  EXPECT_EQ(block["level"], 2);
  EXPECT_EQ(block["kind"], "block");
  EXPECT_EQ(block["entries"], 1);
  EXPECT_EQ(block["pa"], "0x80000000");
  EXPECT_EQ(block["perm"], "rw-");
  EXPECT_EQ(block["mem"], "device_ngnre");
  EXPECT_EQ(block["af"], true);
  EXPECT_EQ(doc["granule"], "4K");
  EXPECT_EQ(doc["start_level"], 1);
  EXPECT_EQ(doc["table_pages"]["total"], 3);
  EXPECT_EQ(doc["table_pages"]["by_level"], nlohmann::json::parse(R"({"1": 2, "2": 1, "3": 0})"));
  // Keys in the order they are printed in (a reader scanning the dump sees the geometry first).
  EXPECT_LT(json.find("\"granule\""), json.find("\"regions\"")) << json;
  EXPECT_LT(json.find("\"start\""), json.find("\"end\"")) << json;
}

TEST_F(PtdumpTest, DestroyedTableDumpsNothing) {
  table().destroy();
  const Dump d = collect(table());
  EXPECT_TRUE(d.regions.empty());
  EXPECT_EQ(d.pages.total(), 0u);
}

}  // namespace
}  // namespace s2pt::ptdump
