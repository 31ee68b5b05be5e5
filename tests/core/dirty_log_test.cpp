// Dirty logging by write protection: enable write-protects, a logged write fault makes its page
// writable and sets its bit, clear_dirty takes the bits and protects the pages again under one
// invalidation, and bad input changes nothing.
#include <gtest/gtest.h>

#include <vector>

#include "support/audit.hpp"
#include "support/fixture.hpp"

namespace s2pt {
namespace {

using test::Rig;

constexpr u64 k4K = 0x1000;
constexpr u64 k2M = 2ull << 20;
constexpr u64 k1G = 1ull << 30;
const Geometry k4 = test::make_geometry(Granule::k4, 40, 40);
const Attrs kRw = Attrs::normal(Perm::rw);
const Attrs kR = Attrs::normal(Perm::read);
constexpr Ipa kBase{k1G};
constexpr Pa kMemory{u64{4} << 30};

// A bitmap with its storage.
struct Bits {
  explicit Bits(u64 bits) : words((bits + 63) / 64, 0) {}
  DirtyBitmap bitmap() { return DirtyBitmap{words.data(), words.size() * 64}; }
  bool test(u64 i) const { return (words[i / 64] >> (i % 64)) & 1; }
  void set(u64 i) { words[i / 64] |= u64{1} << (i % 64); }
  u64 count() const {
    u64 n = 0;
    for (u64 w : words)
      n += static_cast<u64>(__builtin_popcountll(w));
    return n;
  }
  std::vector<u64> words;
};

struct LogRig : Rig {
  explicit LogRig(const Features& f = test::kAllFeatures) : Rig(k4, f), cache(k4K, 0) {
    EXPECT_EQ(cache.topup(pool), Status::ok);
  }
  ~LogRig() { cache.drain(pool); }
  Result<FaultOutcome> fault(Ipa ipa, const Attrs& attrs, u64 leaf = k4K) {
    EXPECT_EQ(cache.topup(pool), Status::ok);
    const Pa pa = kMemory + (ipa.align_down(leaf) - kBase);
    return table().handle_fault({.ipa = ipa, .pa = pa, .leaf_bytes = leaf, .attrs = attrs}, cache);
  }
  bool writable(Ipa ipa) {
    const Result<Translation> t = table().lookup(ipa);
    return t.ok() && has(t->attrs.perm, Perm::write);
  }
  // Invalidation sequences issued since the counters were read as `before`.
  u64 sequences_since(const MaintenanceCounters& before) {
    return (table().stats().maintenance - before).dsb_ishst;
  }
  PageCache cache;
};

TEST(DirtyLog, EnableWriteProtectsEveryLeafWithOneInvalidation) {
  LogRig rig;
  ASSERT_TRUE(rig.table().map({kBase, 64 * k4K}, kMemory, kRw, MapFlags::no_blocks).ok());
  Bits dirty(64);
  const MaintenanceCounters before = rig.table().stats().maintenance;
  ASSERT_TRUE(rig.table().enable_dirty_log({kBase, 64 * k4K}, dirty.bitmap()).ok());
  EXPECT_EQ(rig.sequences_since(before), 1u);
  for (u64 i = 0; i < 64; ++i)
    EXPECT_FALSE(rig.writable(kBase + i * k4K)) << i;
  EXPECT_EQ(dirty.count(), 0u);
}

TEST(DirtyLog, WriteFaultMakesThePageWritableAndSetsItsBit) {
  LogRig rig;
  ASSERT_TRUE(rig.table().map({kBase, 64 * k4K}, kMemory, kRw, MapFlags::no_blocks).ok());
  Bits dirty(64);
  ASSERT_TRUE(rig.table().enable_dirty_log({kBase, 64 * k4K}, dirty.bitmap()).ok());
  EXPECT_EQ(rig.fault(kBase + 5 * k4K + 8, kRw).value(), FaultOutcome::relaxed);
  EXPECT_TRUE(rig.writable(kBase + 5 * k4K));
  EXPECT_FALSE(rig.writable(kBase + 6 * k4K));
  EXPECT_TRUE(dirty.test(5));
  EXPECT_EQ(dirty.count(), 1u);
  // A read fault (no write permission asked) logs nothing.
  EXPECT_EQ(rig.fault(kBase + 7 * k4K, kR).value(), FaultOutcome::already_resolved);
  EXPECT_EQ(dirty.count(), 1u);
}

TEST(DirtyLog, FaultsInALoggedRangeMapPagesAndLogOnlyWrites) {
  LogRig rig;
  Bits dirty(512);
  ASSERT_TRUE(rig.table().enable_dirty_log({kBase, k2M}, dirty.bitmap()).ok());
  // Nothing mapped: a read maps a read-only page, a write a writable page and logs it, even
  // where the request offers a 2 MiB block.
  EXPECT_EQ(rig.fault(kBase + 3 * k4K, kR, k2M).value(), FaultOutcome::mapped);
  EXPECT_EQ(rig.table().lookup(kBase + 3 * k4K)->size, k4K);
  EXPECT_FALSE(rig.writable(kBase + 3 * k4K));
  EXPECT_EQ(rig.fault(kBase + 9 * k4K, kRw, k2M).value(), FaultOutcome::mapped);
  EXPECT_EQ(rig.table().lookup(kBase + 9 * k4K)->size, k4K);
  EXPECT_TRUE(rig.writable(kBase + 9 * k4K));
  EXPECT_TRUE(dirty.test(9));
  EXPECT_EQ(dirty.count(), 1u);
  const test::AuditReport r = test::audit(rig.table());
  EXPECT_TRUE(r.clean()) << r.summary();
}

TEST(DirtyLog, LazySplittingBreaksTheWrittenBlockIntoReadOnlyPages) {
  LogRig rig;
  ASSERT_TRUE(rig.table().map({kBase, k2M}, kMemory, kRw).ok());
  ASSERT_EQ(rig.table().lookup(kBase)->size, k2M);
  Bits dirty(512);
  ASSERT_TRUE(rig.table().enable_dirty_log({kBase, k2M}, dirty.bitmap()).ok());
  EXPECT_EQ(rig.table().lookup(kBase)->size, k2M) << "lazy: the block stays until written";
  const MaintenanceCounters before = rig.table().stats().maintenance;
  EXPECT_EQ(rig.fault(kBase + 100 * k4K, kRw, k2M).value(), FaultOutcome::relaxed);
  const MaintenanceCounters issued = rig.table().stats().maintenance - before;
  EXPECT_EQ(issued.tlbi_ipa + issued.tlbi_range, 1u) << "the block, invalidated once (BBM)";
  EXPECT_EQ(issued.tlbi_local, 2u) << "the written page, locally";
  for (u64 i : {u64{0}, u64{99}, u64{101}, u64{511}}) {
    const Result<Translation> t = rig.table().lookup(kBase + i * k4K);
    ASSERT_TRUE(t.ok()) << i;
    EXPECT_EQ(t->size, k4K) << i;
    EXPECT_EQ(t->pa, kMemory + i * k4K) << i;
    EXPECT_FALSE(has(t->attrs.perm, Perm::write)) << i;
  }
  EXPECT_TRUE(rig.writable(kBase + 100 * k4K));
  EXPECT_TRUE(dirty.test(100));
  EXPECT_EQ(dirty.count(), 1u);
  const test::AuditReport r = test::audit(rig.table());
  EXPECT_TRUE(r.clean()) << r.summary();
}

TEST(DirtyLog, EagerSplittingLeavesNoBlockBehind) {
  LogRig rig;
  ASSERT_TRUE(rig.table().map({kBase, 2 * k2M}, kMemory, kRw).ok());
  Bits dirty(1024);
  ASSERT_TRUE(rig.table()
                  .enable_dirty_log({kBase, 2 * k2M}, dirty.bitmap(),
                                    DirtyLogOptions{.blocks = BlockSplitting::eager})
                  .ok());
  for (u64 i = 0; i < 1024; i += 97) {
    EXPECT_EQ(rig.table().lookup(kBase + i * k4K)->size, k4K) << i;
    EXPECT_FALSE(rig.writable(kBase + i * k4K)) << i;
  }
  // A budget too small for one block: nothing is logged yet, and a second call finishes.
  LogRig small;
  ASSERT_TRUE(small.table().map({kBase, 2 * k2M}, kMemory, kRw).ok());
  const DirtyLogOptions tight{.blocks = BlockSplitting::eager, .split_page_budget = 1};
  EXPECT_EQ(small.table().enable_dirty_log({kBase, 2 * k2M}, dirty.bitmap(), tight).status,
            Status::budget_exhausted);
  Bits none(1024);
  EXPECT_EQ(small.table().clear_dirty({kBase, k4K}, none.bitmap(), none.bitmap()).status,
            Status::not_logging);
  EXPECT_TRUE(small.table().enable_dirty_log({kBase, 2 * k2M}, dirty.bitmap(), tight).ok());
}

TEST(DirtyLog, ClearDirtyTakesTheMaskedBitsAndProtectsWithOneInvalidation) {
  LogRig rig;
  constexpr u64 kPages = 256;
  ASSERT_TRUE(rig.table().map({kBase, kPages * k4K}, kMemory, kRw, MapFlags::no_blocks).ok());
  Bits dirty(kPages);
  ASSERT_TRUE(rig.table().enable_dirty_log({kBase, kPages * k4K}, dirty.bitmap()).ok());
  for (u64 i = 0; i < kPages; i += 3)
    ASSERT_EQ(rig.fault(kBase + i * k4K, kRw).value(), FaultOutcome::relaxed) << i;
  const u64 written = dirty.count();
  ASSERT_EQ(written, (kPages + 2) / 3);

  // Harvest the first half of the range only.
  Bits mask(kPages);
  for (u64 i = 0; i < kPages / 2; ++i)
    mask.set(i);
  Bits cleared(kPages);
  const MaintenanceCounters before = rig.table().stats().maintenance;
  ASSERT_TRUE(rig.table().clear_dirty({kBase, kPages * k4K}, mask.bitmap(), cleared.bitmap()).ok());
  EXPECT_EQ(rig.sequences_since(before), 1u) << "one invalidation for every page protected";
  for (u64 i = 0; i < kPages; ++i) {
    const bool was_written = i % 3 == 0;
    const bool harvested = was_written && i < kPages / 2;
    EXPECT_EQ(cleared.test(i), harvested) << i;
    EXPECT_EQ(dirty.test(i), was_written && !harvested) << i;
    EXPECT_EQ(rig.writable(kBase + i * k4K), was_written && !harvested) << i;
  }
  // A harvested page written again is logged again.
  ASSERT_EQ(rig.fault(kBase + 3 * k4K, kRw).value(), FaultOutcome::relaxed);
  EXPECT_TRUE(dirty.test(3));
  // Nothing dirty under the mask: nothing issued.
  Bits none(kPages);
  const MaintenanceCounters idle = rig.table().stats().maintenance;
  ASSERT_TRUE(
      rig.table().clear_dirty({kBase + 64 * k4K, 64 * k4K}, none.bitmap(), cleared.bitmap()).ok());
  EXPECT_EQ(rig.table().stats().maintenance, idle);
}

TEST(DirtyLog, ClearDirtyOfAPartOfTheRangeIndexesFromItsStart) {
  LogRig rig;
  ASSERT_TRUE(rig.table().map({kBase, 128 * k4K}, kMemory, kRw, MapFlags::no_blocks).ok());
  Bits dirty(128);
  ASSERT_TRUE(rig.table().enable_dirty_log({kBase, 128 * k4K}, dirty.bitmap()).ok());
  ASSERT_EQ(rig.fault(kBase + 70 * k4K, kRw).value(), FaultOutcome::relaxed);
  Bits mask(8);
  mask.set(0);  // page 70 of the logged range is page 0 of [70, 78)
  Bits cleared(8);
  ASSERT_TRUE(
      rig.table().clear_dirty({kBase + 70 * k4K, 8 * k4K}, mask.bitmap(), cleared.bitmap()).ok());
  EXPECT_TRUE(cleared.test(0));
  EXPECT_FALSE(dirty.test(70));
  EXPECT_FALSE(rig.writable(kBase + 70 * k4K));
}

TEST(DirtyLog, DisableStopsLoggingAndCanCollapse) {
  LogRig rig;
  ASSERT_TRUE(rig.table().map({kBase, k2M}, kMemory, kRw).ok());
  Bits dirty(512);
  ASSERT_TRUE(rig.table()
                  .enable_dirty_log({kBase, k2M}, dirty.bitmap(),
                                    DirtyLogOptions{.blocks = BlockSplitting::eager})
                  .ok());
  ASSERT_EQ(rig.table().lookup(kBase)->size, k4K);
  ASSERT_TRUE(rig.table().disable_dirty_log({kBase, k2M}, true).ok());
  EXPECT_EQ(rig.table().lookup(kBase)->size, k2M) << "never written: alike again, collapsed";
  // No longer logged: a write fault relaxes without a bit, and may map blocks again.
  EXPECT_EQ(rig.fault(kBase, kRw, k2M).value(), FaultOutcome::relaxed);
  EXPECT_EQ(dirty.count(), 0u);
  Bits none(512);
  EXPECT_EQ(rig.table().clear_dirty({kBase, k2M}, none.bitmap(), none.bitmap()).status,
            Status::not_logging);
}

// Bad input: its own error, and neither the table nor the logging state changed.
TEST(DirtyLog, BadInputChangesNothing) {
  LogRig rig;
  ASSERT_TRUE(rig.table().map({kBase, 64 * k4K}, kMemory, kRw, MapFlags::no_blocks).ok());
  Bits dirty(64);
  ASSERT_TRUE(rig.table().enable_dirty_log({kBase + 32 * k4K, 32 * k4K}, dirty.bitmap()).ok());
  Bits small(32);
  Bits big(64);
  const DirtyLogOptions bad_blocks{.blocks = static_cast<BlockSplitting>(7)};
  const test::TableSnapshot before = test::snapshot(rig.table());
  rig.arch.clear();
  struct Case {
    const char* what;
    Status expected;
    Status got;
  };
  const Case cases[] = {
      {"enable: bitmap smaller than the range", Status::bitmap_too_small,
       rig.table().enable_dirty_log({kBase, 33 * k4K}, DirtyBitmap{small.words.data(), 32}).status},
      {"enable: no bitmap", Status::bitmap_too_small,
       rig.table().enable_dirty_log({kBase, k4K}, DirtyBitmap{}).status},
      {"enable: overlapping a logged range", Status::already_logging,
       rig.table().enable_dirty_log({kBase, 33 * k4K}, big.bitmap()).status},
      {"enable: the same range twice", Status::already_logging,
       rig.table().enable_dirty_log({kBase + 32 * k4K, 32 * k4K}, big.bitmap()).status},
      {"enable: unknown block splitting", Status::bad_flags,
       rig.table().enable_dirty_log({kBase, k4K}, big.bitmap(), bad_blocks).status},
      {"enable: unaligned", Status::unaligned,
       rig.table().enable_dirty_log({kBase + 1, k4K}, big.bitmap()).status},
      {"clear: outside the logged range", Status::not_logging,
       rig.table().clear_dirty({kBase, k4K}, big.bitmap(), big.bitmap()).status},
      {"clear: crossing the logged range's start", Status::not_logging,
       rig.table().clear_dirty({kBase + 31 * k4K, 2 * k4K}, big.bitmap(), big.bitmap()).status},
      {"clear: mask smaller than the range", Status::bitmap_too_small,
       rig.table()
           .clear_dirty({kBase + 32 * k4K, 32 * k4K}, DirtyBitmap{small.words.data(), 31},
                        big.bitmap())
           .status},
      {"clear: output smaller than the range", Status::bitmap_too_small,
       rig.table()
           .clear_dirty({kBase + 32 * k4K, 32 * k4K}, big.bitmap(),
                        DirtyBitmap{small.words.data(), 16})
           .status},
      {"disable: part of the logged range", Status::not_logging,
       rig.table().disable_dirty_log({kBase + 32 * k4K, 16 * k4K}).status},
      {"disable: a range never logged", Status::not_logging,
       rig.table().disable_dirty_log({kBase, 32 * k4K}).status},
  };
  for (const Case& c : cases)
    EXPECT_EQ(c.got, c.expected) << c.what;
  EXPECT_TRUE(test::snapshot(rig.table()) == before) << "table changed";
  EXPECT_TRUE(rig.ops().empty()) << "issued " << rig.ops().front();
  // The logged range is still logged, and only it.
  ASSERT_EQ(rig.fault(kBase + 40 * k4K, kRw).value(), FaultOutcome::relaxed);
  EXPECT_TRUE(dirty.test(8));
  EXPECT_EQ(dirty.count(), 1u);
}

TEST(DirtyLog, AtMostSoManyLoggedRanges) {
  LogRig rig;
  Bits dirty(1);
  for (unsigned i = 0; i < kMaxLoggedRanges; ++i)
    ASSERT_TRUE(rig.table().enable_dirty_log({kBase + i * k4K, k4K}, dirty.bitmap()).ok()) << i;
  EXPECT_EQ(rig.table().enable_dirty_log({kBase + k2M, k4K}, dirty.bitmap()).status,
            Status::too_many_logged_ranges);
  ASSERT_TRUE(rig.table().disable_dirty_log({kBase + 3 * k4K, k4K}).ok());
  EXPECT_TRUE(rig.table().enable_dirty_log({kBase + k2M, k4K}, dirty.bitmap()).ok());
}

}  // namespace
}  // namespace s2pt
