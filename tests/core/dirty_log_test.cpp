// Dirty logging by write protection: enable write-protects, a logged write fault makes its page
// writable and sets its bit, clear_dirty takes the bits and protects the pages again under one
// invalidation, and bad input changes nothing.
#include <gtest/gtest.h>

#include <vector>

#include "core_access.hpp"
#include "support/audit.hpp"
#include "support/fixture.hpp"
#include "support/leaves.hpp"

namespace s2pt {
namespace {

using test::Rig;

using namespace test::sizes;
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
  explicit LogRig(const Features& f = test::kAllFeatures)
      : Rig(TableConfig{.geometry = k4, .vmid = Vmid{1}, .use_hw_dirty = true}, f), cache(k4K, 0) {
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

// Write permission granted while logging is on is granted armed: map installs read-only pages
// (not blocks) and relax leaves an armed page read-only, so the first write faults and is logged.
// Outside the logged range both behave as always. Collapse is refused there.
TEST(DirtyLog, MapAndRelaxDuringLoggingGrantWriteArmed) {
  LogRig rig;
  Bits dirty(512);
  ASSERT_TRUE(rig.table().enable_dirty_log({kBase, k2M}, dirty.bitmap()).ok());
  ASSERT_TRUE(rig.table().map({kBase, 2 * k2M}, kMemory, kRw).ok());
  EXPECT_EQ(rig.table().lookup(kBase)->size, k4K) << "logged: pages";
  EXPECT_FALSE(rig.writable(kBase + 9 * k4K));
  EXPECT_EQ(rig.table().lookup(kBase + k2M)->size, k2M) << "not logged: a block";
  EXPECT_TRUE(rig.writable(kBase + k2M));
  EXPECT_EQ(rig.fault(kBase + 9 * k4K, kRw).value(), FaultOutcome::relaxed);
  EXPECT_TRUE(dirty.test(9));
  ASSERT_TRUE(rig.table().write_protect({kBase, 2 * k2M}).ok());
  ASSERT_TRUE(rig.table().relax({kBase, 2 * k2M}, Perm::write).ok());
  EXPECT_FALSE(rig.writable(kBase + 9 * k4K)) << "armed again";
  EXPECT_TRUE(rig.writable(kBase + k2M));
  EXPECT_EQ(rig.table().collapse({kBase, k2M}).status, Status::already_logging);
  EXPECT_EQ(rig.table().lookup(kBase)->size, k4K);
  const test::AuditReport r = test::audit(rig.table());
  EXPECT_TRUE(r.clean()) << r.summary();
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

// ---- By the hardware's dirty state (FEAT_HAFDBS). The counting backend has no walker: the
// tests play the hardware by setting S2AP[1] in a writable-clean descriptor, as the walker would
// on a write.

constexpr Features kHafdbs{.fwb = true, .tlbi_range = true, .ttl = true, .hw_dirty = true};
const DirtyLogOptions kHardware{.tracking = DirtyTracking::hardware,
                                .blocks = BlockSplitting::eager};

// The last-level descriptor of `ipa`, found by hand.
u64* slot_of(Table& table, Ipa ipa) {
  TableCore& core = CoreAccess::core(table);
  const Geometry& g = core.geometry();
  u64* slots = core.root();
  for (Level level = g.start_level();; level = level.deeper()) {
    const u64 index = (ipa.raw >> g.level_shift(level)) &
                      ((level == g.start_level() ? g.root_entries() : g.entries_per_table()) - 1);
    const Pte e = Pte::from_raw(slots[index]);
    if (level.is_last() || !e.is_table(level)) return &slots[index];
    slots = core.pages().table(e.table_address(core.oa()));
  }
}
void hardware_write(Table& table, Ipa ipa) {
  u64* slot = slot_of(table, ipa);
  ASSERT_TRUE(Pte::from_raw(*slot).dbm()) << "no DBM: the hardware would fault";
  __atomic_fetch_or(slot, u64{1} << 7, __ATOMIC_RELAXED);  // S2AP[1]
}

TEST(HardwareDirtyLog, NeedsTheFeatureAndEagerSplitting) {
  LogRig rig;  // no FEAT_HAFDBS
  Bits dirty(64);
  EXPECT_EQ(rig.table().enable_dirty_log({kBase, 64 * k4K}, dirty.bitmap(), kHardware).status,
            Status::missing_feature);
  EXPECT_EQ(rig.table().vtcr() & vtcr::kHd, 0u);
  LogRig hw(kHafdbs);
  EXPECT_EQ(hw.table().vtcr(), hw.table().geometry().vtcr() | vtcr::kHa | vtcr::kHd);
  // Without the configuration's consent, no hardware tracking either.
  Rig plain(k4, kHafdbs);
  EXPECT_EQ(plain.table().vtcr(), plain.table().geometry().vtcr());
  EXPECT_EQ(plain.table().enable_dirty_log({kBase, 64 * k4K}, dirty.bitmap(), kHardware).status,
            Status::missing_feature);
  const DirtyLogOptions lazy{.tracking = DirtyTracking::hardware};
  EXPECT_EQ(hw.table().enable_dirty_log({kBase, 64 * k4K}, dirty.bitmap(), lazy).status,
            Status::bad_flags);
  const DirtyLogOptions unknown{.tracking = static_cast<DirtyTracking>(9)};
  EXPECT_EQ(hw.table().enable_dirty_log({kBase, 64 * k4K}, dirty.bitmap(), unknown).status,
            Status::bad_flags);
}

TEST(HardwareDirtyLog, EnableMakesWritablePagesWritableCleanWithOneInvalidation) {
  LogRig rig(kHafdbs);
  ASSERT_TRUE(rig.table().map({kBase, k2M}, kMemory, kRw).ok());
  ASSERT_TRUE(rig.table().map({kBase + k2M, 8 * k4K}, kMemory + k2M, kR, MapFlags::no_blocks).ok());
  Bits dirty(520);
  const MaintenanceCounters before = rig.table().stats().maintenance;
  ASSERT_TRUE(rig.table().enable_dirty_log({kBase, k2M + 8 * k4K}, dirty.bitmap(), kHardware).ok());
  const MaintenanceCounters issued = rig.table().stats().maintenance - before;
  EXPECT_EQ(issued.dsb_ishst, 2u) << "the split's break-before-make, then one for the arming";
  for (const test::LeafEntry& e : test::leaf_entries(rig.table())) {
    if (!IpaRange{kBase, k2M + 8 * k4K}.contains(e.base)) continue;
    EXPECT_EQ(e.size, k4K);
    const bool was_writable = e.base < kBase + k2M;
    EXPECT_EQ(e.pte.dbm(), was_writable) << "read-only pages stay as they are";
    EXPECT_FALSE(has(e.pte.perm(), Perm::write));
  }
}

TEST(HardwareDirtyLog, ClearDirtyCollectsWhatTheHardwareMarkedWithOneInvalidation) {
  LogRig rig(kHafdbs);
  constexpr u64 kPages = 512;
  ASSERT_TRUE(rig.table().map({kBase, kPages * k4K}, kMemory, kRw, MapFlags::no_blocks).ok());
  Bits dirty(kPages);
  ASSERT_TRUE(rig.table().enable_dirty_log({kBase, kPages * k4K}, dirty.bitmap(), kHardware).ok());
  for (u64 i : {u64{3}, u64{64}, u64{65}, u64{400}, u64{511}})
    hardware_write(rig.table(), kBase + i * k4K);
  EXPECT_TRUE(rig.writable(kBase + 64 * k4K)) << "dirty: writable";

  // sync_dirty copies the hardware's state into the bitmap, changing no leaf.
  const MaintenanceCounters quiet = rig.table().stats().maintenance;
  ASSERT_TRUE(rig.table().sync_dirty({kBase, kPages * k4K}).ok());
  EXPECT_EQ(dirty.count(), 5u);
  EXPECT_TRUE(dirty.test(400));
  EXPECT_EQ(rig.table().stats().maintenance, quiet);
  EXPECT_TRUE(rig.writable(kBase + 64 * k4K));

  Bits mask(kPages);
  for (u64 i = 0; i < 400; ++i)
    mask.set(i);
  Bits cleared(kPages);
  const MaintenanceCounters before = rig.table().stats().maintenance;
  ASSERT_TRUE(rig.table().clear_dirty({kBase, kPages * k4K}, mask.bitmap(), cleared.bitmap()).ok());
  EXPECT_EQ(rig.sequences_since(before), 1u);
  for (u64 i = 0; i < kPages; ++i) {
    const bool marked = i == 3 || i == 64 || i == 65 || i == 400 || i == 511;
    EXPECT_EQ(cleared.test(i), marked && i < 400) << i;
    EXPECT_EQ(rig.writable(kBase + i * k4K), marked && i >= 400) << i;
    EXPECT_TRUE(Pte::from_raw(*slot_of(rig.table(), kBase + i * k4K)).dbm()) << i;
  }
  EXPECT_EQ(dirty.count(), 2u) << "pages 400 and 511, outside the mask";
  // Cleaned pages are marked again by their next write.
  hardware_write(rig.table(), kBase + 3 * k4K);
  ASSERT_TRUE(rig.table().clear_dirty({kBase, kPages * k4K}, mask.bitmap(), cleared.bitmap()).ok());
  EXPECT_TRUE(cleared.test(3));
}

TEST(HardwareDirtyLog, FaultsMapWritableCleanPagesAndFallBackWithoutHd) {
  LogRig rig(kHafdbs);
  Bits dirty(64);
  ASSERT_TRUE(rig.table().enable_dirty_log({kBase, 64 * k4K}, dirty.bitmap(), kHardware).ok());
  // Nothing mapped: a write fault installs a writable-clean page; the retried write dirties it.
  EXPECT_EQ(rig.fault(kBase + 2 * k4K, kRw).value(), FaultOutcome::mapped);
  Pte leaf = Pte::from_raw(*slot_of(rig.table(), kBase + 2 * k4K));
  EXPECT_TRUE(leaf.dbm());
  EXPECT_FALSE(has(leaf.perm(), Perm::write));
  EXPECT_EQ(dirty.count(), 0u) << "the hardware records the write, not the fault path";
  // A write fault on that writable-clean page means VTCR_EL2.HD is off: the fault path does
  // what the hardware would have done.
  EXPECT_EQ(rig.fault(kBase + 2 * k4K, kRw).value(), FaultOutcome::relaxed);
  leaf = Pte::from_raw(*slot_of(rig.table(), kBase + 2 * k4K));
  EXPECT_TRUE(leaf.hw_dirty());
  Bits all(64);
  for (u64 i = 0; i < 64; ++i)
    all.set(i);
  Bits cleared(64);
  ASSERT_TRUE(rig.table().clear_dirty({kBase, 64 * k4K}, all.bitmap(), cleared.bitmap()).ok());
  EXPECT_TRUE(cleared.test(2));
  EXPECT_EQ(cleared.count(), 1u);
}

TEST(HardwareDirtyLog, DisableMakesThePagesWritableAgain) {
  LogRig rig(kHafdbs);
  ASSERT_TRUE(rig.table().map({kBase, 16 * k4K}, kMemory, kRw, MapFlags::no_blocks).ok());
  Bits dirty(16);
  ASSERT_TRUE(rig.table().enable_dirty_log({kBase, 16 * k4K}, dirty.bitmap(), kHardware).ok());
  hardware_write(rig.table(), kBase);
  ASSERT_TRUE(rig.table().disable_dirty_log({kBase, 16 * k4K}).ok());
  for (u64 i = 0; i < 16; ++i) {
    const Pte leaf = Pte::from_raw(*slot_of(rig.table(), kBase + i * k4K));
    EXPECT_FALSE(leaf.dbm()) << i;
    EXPECT_TRUE(has(leaf.perm(), Perm::write)) << i;
  }
  Bits none(16);
  EXPECT_EQ(rig.table().sync_dirty({kBase, 16 * k4K}).status, Status::not_logging);
}

// The hardware's dirty state lives in the leaf: whatever replaces or removes a dirty leaf hands
// it to the bitmap (unmap by each strategy, a whole detached table, write protection, a replacing
// map, disabling), so the guest's writes are still reported. Removing a clean leaf reports nothing.
TEST(HardwareDirtyLog, ChangesThatEndADirtyStateHandItToTheBitmap) {
  LogRig rig(kHafdbs);
  constexpr u64 kPages = 1024;
  const IpaRange all{kBase, kPages * k4K};
  ASSERT_TRUE(rig.table().map(all, kMemory, kRw, MapFlags::no_blocks).ok());
  Bits dirty(kPages);
  ASSERT_TRUE(rig.table().enable_dirty_log(all, dirty.bitmap(), kHardware).ok());
  // Pages 1..5 one by one; 600 and 900 inside the second 2 MiB, whose table goes whole.
  for (u64 i : {u64{1}, u64{2}, u64{3}, u64{4}, u64{5}, u64{600}, u64{900}})
    hardware_write(rig.table(), kBase + i * k4K);
  ASSERT_TRUE(rig.table().unmap({kBase + 1 * k4K, k4K}, UnmapStrategy::per_entry).ok());
  ASSERT_TRUE(rig.table().unmap({kBase + 2 * k4K, k4K}, UnmapStrategy::fast).ok());
  ASSERT_TRUE(rig.table().unmap({kBase + 3 * k4K, k4K}, UnmapStrategy::deferred).ok());
  ASSERT_TRUE(rig.table().write_protect({kBase + 4 * k4K, k4K}).ok());
  const Pte protected_leaf = Pte::from_raw(*slot_of(rig.table(), kBase + 4 * k4K));
  EXPECT_FALSE(protected_leaf.dbm()) << "else the hardware could still write it";
  EXPECT_FALSE(has(protected_leaf.perm(), Perm::write));
  ASSERT_TRUE(
      rig.table().map({kBase + 5 * k4K, k4K}, kMemory + kPages * k4K, kRw, MapFlags::replace).ok());
  EXPECT_TRUE(Pte::from_raw(*slot_of(rig.table(), kBase + 5 * k4K)).dbm()) << "mapped armed";
  ASSERT_TRUE(rig.table().unmap({kBase + k2M, k2M}, UnmapStrategy::fast).ok());
  ASSERT_TRUE(rig.table().unmap({kBase + 10 * k4K, 20 * k4K}).ok()) << "clean pages";

  Bits mask(kPages);
  for (u64 i = 0; i < kPages; ++i)
    mask.set(i);
  Bits cleared(kPages);
  ASSERT_TRUE(rig.table().clear_dirty(all, mask.bitmap(), cleared.bitmap()).ok());
  for (u64 i = 0; i < kPages; ++i) {
    const bool written = (i >= 1 && i <= 5) || i == 600 || i == 900;
    EXPECT_EQ(cleared.test(i), written) << i;
  }

  // Disabling leaves the dirty pages' state in the bitmap.
  hardware_write(rig.table(), kBase + 7 * k4K);
  ASSERT_TRUE(rig.table().disable_dirty_log(all).ok());
  EXPECT_TRUE(dirty.test(7));
  EXPECT_EQ(dirty.count(), 1u);
  const test::AuditReport r = test::audit(rig.table());
  EXPECT_TRUE(r.clean()) << r.summary();
}

// Mapped during logging by the hardware: writable-clean pages, written without a fault.
TEST(HardwareDirtyLog, MapDuringLoggingInstallsWritableCleanPages) {
  LogRig rig(kHafdbs);
  Bits dirty(512);
  ASSERT_TRUE(rig.table().enable_dirty_log({kBase, k2M}, dirty.bitmap(), kHardware).ok());
  ASSERT_TRUE(rig.table().map({kBase, k2M}, kMemory, kRw).ok());
  for (const test::LeafEntry& e : test::leaf_entries(rig.table())) {
    EXPECT_EQ(e.size, k4K);
    EXPECT_TRUE(e.pte.dbm());
    EXPECT_FALSE(has(e.pte.perm(), Perm::write));
  }
  hardware_write(rig.table(), kBase + 3 * k4K);
  ASSERT_TRUE(rig.table().sync_dirty({kBase, k2M}).ok());
  EXPECT_TRUE(dirty.test(3));
  EXPECT_EQ(dirty.count(), 1u);
}

}  // namespace
}  // namespace s2pt
