// Bad input gets its own error and leaves every table page byte for byte as it was.
#include <gtest/gtest.h>

#include <functional>
#include <ostream>

#include "support/audit.hpp"
#include "support/fixture.hpp"

namespace s2pt {
namespace {

using test::Rig;

using namespace test::sizes;
const Geometry k4 = test::make_geometry(Granule::k4, 40, 40);
const Attrs kRw = Attrs::normal(Perm::rw);

struct BadCall {
  const char* what;
  Status expected;
  std::function<Status(Table&)> call;
};

// Short names in test listings instead of a byte dump.
void PrintTo(const BadCall& c, std::ostream* os) {
  *os << c.what;
}

// A table with blocks, pages and an annotation, so that a stray write anywhere would show.
void populate(Table& t) {
  ASSERT_TRUE(t.map({Ipa{k1G}, k1G}, Pa{4 * k1G}, kRw).ok());
  ASSERT_TRUE(t.map({Ipa{3 * k1G}, k2M}, Pa{8 * k1G}, kRw, MapFlags::no_blocks).ok());
  ASSERT_TRUE(t.annotate({Ipa{5 * k1G}, k2M}, OwnerId{4}).ok());
  ASSERT_TRUE(t.map({Ipa{3 * k1G + k2M}, k4K}, Pa{8 * k1G + k2M}, Attrs::device(Perm::rw)).ok());
}

const BadCall kBadCalls[] = {
    {"map: unaligned IPA", Status::unaligned,
     [](Table& t) {
       return t.map({Ipa{7 * k1G + 0x800}, k4K}, Pa{0}, kRw).status;
     }},
    {"map: unaligned size", Status::unaligned,
     [](Table& t) {
       return t.map({Ipa{7 * k1G}, 0x1800}, Pa{0}, kRw).status;
     }},
    {"map: unaligned PA", Status::unaligned,
     [](Table& t) {
       return t.map({Ipa{7 * k1G}, k4K}, Pa{0x10}, kRw).status;
     }},
    {"map: size 0", Status::empty_range,
     [](Table& t) {
       return t.map({Ipa{7 * k1G}, 0}, Pa{0}, kRw).status;
     }},
    {"map: wraps", Status::wraps,
     [](Table& t) {
       return t.map({Ipa{~0ull - 0xFFF}, 2 * k4K}, Pa{0}, kRw).status;
     }},
    {"map: beyond the IPA size", Status::ipa_out_of_range,
     [](Table& t) {
       return t.map({Ipa{1ull << 40}, k4K}, Pa{0}, kRw).status;
     }},
    {"map: straddles the IPA limit", Status::ipa_out_of_range,
     [](Table& t) {
       return t.map({Ipa{(1ull << 40) - k4K}, 2 * k4K}, Pa{0}, kRw).status;
     }},
    {"map: PA beyond the PA size", Status::pa_out_of_range,
     [](Table& t) {
       return t.map({Ipa{7 * k1G}, k4K}, Pa{1ull << 40}, kRw).status;
     }},
    {"map: over an existing block, one page", Status::exists,
     [](Table& t) {
       return t.map({Ipa{k1G + k2M}, k4K}, Pa{0}, kRw).status;
     }},
    {"map: range ending in an existing mapping", Status::exists,
     [](Table& t) {
       return t.map({Ipa{3 * k1G - k2M}, 2 * k2M}, Pa{0}, kRw).status;
     }},
    {"map: one block over a table of pages", Status::exists,
     [](Table& t) {
       return t.map({Ipa{3 * k1G}, k2M}, Pa{0}, kRw).status;
     }},
    {"map: one block over part of a 1G block", Status::exists,
     [](Table& t) {
       return t.map({Ipa{k1G + k2M}, k2M}, Pa{0}, kRw).status;
     }},
    {"map: over an annotation", Status::exists,
     [](Table& t) {
       return t.map({Ipa{5 * k1G}, k2M}, Pa{0}, kRw).status;
     }},
    {"map: unknown permission bits", Status::bad_attributes,
     [](Table& t) {
       return t.map({Ipa{7 * k1G}, k4K}, Pa{0}, Attrs{.perm = Perm(0x18)}).status;
     }},
    {"map: unknown memory type", Status::bad_attributes,
     [](Table& t) {
       return t.map({Ipa{7 * k1G}, k4K}, Pa{0}, Attrs{.mem = MemType(9)}).status;
     }},
    {"map: reserved shareability", Status::bad_attributes,
     [](Table& t) {
       return t.map({Ipa{7 * k1G}, k4K}, Pa{0}, Attrs{.sh = Shareability(1)}).status;
     }},
    {"map: software bits beyond four", Status::bad_attributes,
     [](Table& t) {
       return t.map({Ipa{7 * k1G}, k4K}, Pa{0}, Attrs{.sw = 0x10}).status;
     }},
    {"map: execute permission on Device-nGnRE memory", Status::exec_on_device,
     [](Table& t) {
       return t
           .map({Ipa{7 * k1G}, k4K}, Pa{0}, Attrs{.perm = Perm::rwx, .mem = MemType::device_ngnre})
           .status;
     }},
    {"map: execute-only on Device-nGnRnE memory", Status::exec_on_device,
     [](Table& t) {
       return t
           .map({Ipa{7 * k1G}, k4K}, Pa{0},
                Attrs{.perm = Perm::exec, .mem = MemType::device_ngnrne})
           .status;
     }},
    {"map(replace): executable Device memory over pages", Status::exec_on_device,
     [](Table& t) {
       return t
           .map({Ipa{3 * k1G}, k4K}, Pa{0}, Attrs{.perm = Perm::rx, .mem = MemType::device_ngnre},
                MapFlags::replace)
           .status;
     }},
    {"map: unknown flag bits", Status::bad_flags,
     [](Table& t) {
       return t.map({Ipa{7 * k1G}, k4K}, Pa{0}, kRw, MapFlags(0x80)).status;
     }},
    {"map: contiguous hint", Status::unsupported,
     [](Table& t) {
       return t.map({Ipa{7 * k1G}, 16 * k4K}, Pa{0}, Attrs{.contiguous = true}).status;
     }},
    {"unmap: unaligned", Status::unaligned,
     [](Table& t) {
       return t.unmap({Ipa{k1G + 1}, k4K}).status;
     }},
    {"unmap: size 0", Status::empty_range,
     [](Table& t) {
       return t.unmap({Ipa{k1G}, 0}).status;
     }},
    {"unmap: beyond the IPA size", Status::ipa_out_of_range,
     [](Table& t) {
       return t.unmap({Ipa{k1G}, 1ull << 40}).status;
     }},
    {"unmap: wraps", Status::wraps,
     [](Table& t) {
       return t.unmap({Ipa{k1G}, ~0ull - 0xFFF}).status;
     }},
    {"write_protect: unaligned", Status::unaligned,
     [](Table& t) {
       return t.write_protect({Ipa{k1G}, 0x10}).status;
     }},
    {"relax: unknown permission bits", Status::bad_attributes,
     [](Table& t) {
       return t.relax({Ipa{k1G}, k4K}, Perm(0x40)).status;
     }},
    {"relax: execute on a range whose last page is Device memory", Status::exec_on_device,
     [](Table& t) {
       return t.relax({Ipa{3 * k1G}, k2M + k4K}, Perm::exec).status;
     }},
    {"relax: beyond the IPA size", Status::ipa_out_of_range,
     [](Table& t) {
       return t.relax({Ipa{1ull << 41}, k4K}, Perm::write).status;
     }},
    {"mkold: size 0", Status::empty_range,
     [](Table& t) {
       return t.mkold({Ipa{k1G}, 0}).status;
     }},
    {"test_and_clear_young: unaligned", Status::unaligned,
     [](Table& t) {
       return t.test_and_clear_young({Ipa{k1G}, 1}).status();
     }},
    {"annotate: over a mapping", Status::exists,
     [](Table& t) {
       return t.annotate({Ipa{2 * k1G - k4K}, 2 * k4K}, OwnerId{1}).status;
     }},
    {"flush_dcache: wraps", Status::wraps,
     [](Table& t) {
       return t.flush_dcache({Ipa{~0ull - 0xFFF}, 2 * k4K}).status;
     }},
    {"lookup: beyond the IPA size", Status::ipa_out_of_range,
     [](Table& t) { return t.lookup(Ipa{1ull << 40}).status(); }},
};

class BadInput : public ::testing::TestWithParam<BadCall> {};

TEST_P(BadInput, SpecificErrorAndTableUnchanged) {
  for (const Features& f : {test::kAllFeatures, test::kNoFeatures}) {
    Rig rig(k4, f);
    populate(rig.table());
    const test::TableSnapshot before = test::snapshot(rig.table());
    const u64 pages = rig.pool.bytes_in_use();
    rig.arch.clear();
    EXPECT_EQ(GetParam().call(rig.table()), GetParam().expected) << GetParam().what;
    EXPECT_TRUE(test::snapshot(rig.table()) == before) << GetParam().what << ": table changed";
    EXPECT_EQ(rig.pool.bytes_in_use(), pages) << GetParam().what;
    EXPECT_TRUE(rig.ops().empty()) << GetParam().what << ": issued " << rig.ops().front();
  }
}

INSTANTIATE_TEST_SUITE_P(EachKind, BadInput, ::testing::ValuesIn(kBadCalls),
                         [](const auto& param_info) {
                           return "case" + std::to_string(param_info.index);
                         });

// One cause per status code: every code has a description of its own.
TEST(StatusCodes, EachHasItsOwnDescription) {
  constexpr int kLast = static_cast<int>(Status::too_many_logged_ranges);
  for (int a = 0; a <= kLast; ++a) {
    EXPECT_STRNE(describe(Status(a)), "unknown status") << a;
    for (int b = a + 1; b <= kLast; ++b)
      EXPECT_STRNE(describe(Status(a)), describe(Status(b)));
  }
}

}  // namespace
}  // namespace s2pt
