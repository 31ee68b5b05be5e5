// The hosted page pool's linear map (Mm::linear_map) must give, for every block it hands out,
// exactly what its phys_to_virt() and refcount() calls give: the core uses one or the other.
#include <gtest/gtest.h>

#include "s2pt/hosted/page_pool.hpp"

namespace s2pt {
namespace {

TEST(PagePool, LinearMapAgreesWithItsCalls) {
  hosted::PagePool pool(hosted::PagePoolConfig{.arena_bytes = 64ull << 20});
  const MmLinearMap map = pool.linear_map();
  ASSERT_NE(map.bytes, 0u);
  for (const u64 bytes : {u64{4096}, u64{16384}, u64{65536}, u64{1} << 20, u64{4096}}) {
    for (int i = 0; i < 3; ++i) {
      const Result<Pa> block = pool.alloc_zeroed(bytes);
      ASSERT_TRUE(block.ok());
      EXPECT_TRUE(map.covers(block.value()));
      EXPECT_EQ(map.virt(block.value()), pool.phys_to_virt(block.value()));
      EXPECT_EQ(map.count(block.value()), pool.refcount(block.value()));
    }
  }
  EXPECT_FALSE(map.covers(pool.base() + (64ull << 20)));
  EXPECT_FALSE(map.covers(Pa{pool.base().raw - 4096}));
}

}  // namespace
}  // namespace s2pt
