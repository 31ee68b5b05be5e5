// The races that matter, made deterministic: the second party runs at the exact moment the first
// is between reading an entry and changing it, from inside a hook the first calls there.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <shared_mutex>
#include <thread>

#include "s2pt/arch/counting.hpp"
#include "support/audit.hpp"
#include "support/fixture.hpp"

namespace s2pt {
namespace {

using namespace test::sizes;
const Geometry k4 = test::make_geometry(Granule::k4, 40, 40);

// The page pool, with a one-shot hook on the reference count of one page: the fault path reads
// it when it adopts a cached page as a table, just before linking it.
class HookedMm final : public Mm {
 public:
  Result<Pa> alloc_zeroed(u64 bytes) override { return pool.alloc_zeroed(bytes); }
  void free(Pa pa, u64 bytes) override { pool.free(pa, bytes); }
  void* phys_to_virt(Pa pa) override { return pool.phys_to_virt(pa); }
  u32* refcount(Pa pa) override {
    if (hook && pa == hook_page) std::exchange(hook, nullptr)();
    return pool.refcount(pa);
  }
  hosted::PagePool pool;
  Pa hook_page;
  std::function<void()> hook;
};

// The counting backend, with a one-shot hook on the first operation of a kind.
class HookedArch final : public SteppingArch {
 public:
  explicit HookedArch(Features f) : inner(f, true) {}
  Features features() const override { return inner.features(); }
  void tlbi(const Stage2Context& context, TlbiOp op, u64 operand) override {
    inner.tlbi(context, op, operand);
    fire(counting::OpKind::tlbi);
  }
  void dsb_ishst() override { inner.dsb_ishst(); }
  void dsb_ish() override { inner.dsb_ish(); }
  void isb() override { inner.isb(); }
  void dc_civac(Pa pa, u64 bytes) override {
    inner.dc_civac(pa, bytes);
    fire(counting::OpKind::dc_civac);
  }
  void ic_ivau(Pa pa, u64 bytes) override { inner.ic_ivau(pa, bytes); }
  void ic_ialluis() override { inner.ic_ialluis(); }

  counting::CountingArch inner;
  counting::OpKind hook_on = counting::OpKind::tlbi;
  std::function<void()> hook;

 private:
  void fire(counting::OpKind kind) {
    if (hook && kind == hook_on) std::exchange(hook, nullptr)();
  }
};

struct RaceRig {
  explicit RaceRig(Features f = test::kAllFeatures)
      : arch(f), table(make()), cpu0(k4K, 0), cpu1(k4K, 1) {
    EXPECT_EQ(cpu0.topup(mm), Status::ok);
    EXPECT_EQ(cpu1.topup(mm), Status::ok);
  }
  Table make() {
    Result<Table> t = Table::create({.geometry = k4, .vmid = Vmid{1}}, mm, arch);
    EXPECT_TRUE(t.ok());
    return static_cast<Result<Table>&&>(t).value();
  }
  Result<FaultOutcome> fault(PageCache& cpu, Ipa ipa, Pa pa, u64 leaf = k4K, Perm perm = Perm::rw) {
    return table.handle_fault(
        {.ipa = ipa, .pa = pa, .leaf_bytes = leaf, .attrs = Attrs::normal(perm)}, cpu);
  }
  // The page the next take() from `cpu` returns.
  Pa next_page(PageCache& cpu) {
    const Pa page = cpu.take().value();
    cpu.put_back(page);
    return page;
  }
  void finish() {
    const test::AuditReport r = test::audit(table);
    EXPECT_TRUE(r.clean()) << r.summary();
    cpu0.drain(mm);
    cpu1.drain(mm);
    table.destroy();
    table.reclaim_all();
    EXPECT_EQ(mm.pool.bytes_in_use(), 0u) << "leaked pages";
  }

  HookedMm mm;
  HookedArch arch;
  Table table;
  PageCache cpu0;
  PageCache cpu1;
};

TEST(Race, TwoFaultsOnTheSameEmptyTableSlot) {
  RaceRig rig;
  // CPU 0 faults in an empty 1 GiB region: it needs a level-2 table. Just before it links its
  // page, CPU 1 faults on a neighbouring page of the same region and links its own table.
  const unsigned cpu0_pages = rig.cpu0.size();
  Result<FaultOutcome> cpu1_result = Status::again;
  rig.mm.hook_page = rig.next_page(rig.cpu0);
  rig.mm.hook = [&] { cpu1_result = rig.fault(rig.cpu1, Ipa{k1G + k4K}, Pa{4 * k1G + k4K}); };
  const Result<FaultOutcome> cpu0_result = rig.fault(rig.cpu0, Ipa{k1G}, Pa{4 * k1G});

  EXPECT_EQ(cpu1_result.value(), FaultOutcome::mapped);
  EXPECT_EQ(cpu0_result.value(), FaultOutcome::mapped) << "the loser walks into the winner's table";
  EXPECT_EQ(rig.table.lookup(Ipa{k1G})->pa, Pa{4 * k1G});
  EXPECT_EQ(rig.table.lookup(Ipa{k1G + k4K})->pa, Pa{4 * k1G + k4K});
  // CPU 0 lost the race for the level-2 table and then found CPU 1's level-3 table: it used
  // none of its pages, and the one it tried to link is back in its cache.
  EXPECT_EQ(rig.cpu0.size(), cpu0_pages) << "CPU 0 consumed " << cpu0_pages - rig.cpu0.size();
  rig.finish();
}

// A fault that read an empty entry of a last-level table, and meanwhile the table was detached
// and retired (only a caller that breaks the locking rules lets an exclusive unmap run there):
// whatever the fault wrote went into a page that stays allocated while it is inside, and it does
// not report the page mapped: it backs off with `again`. The pages stay retired, are not revived,
// and are freed normally.
TEST(Race, FaultNeverRevivesARetiredTable) {
  RaceRig rig(test::kNoFeatures);  // without FWB the fault cleans the page: the hook point
  ASSERT_TRUE(rig.table.map({Ipa{k1G}, k4K}, Pa{0}, Attrs::normal(Perm::rw)).ok());
  rig.arch.hook_on = counting::OpKind::dc_civac;
  rig.arch.hook = [&] {
    ASSERT_TRUE(rig.table.unmap({Ipa{k1G}, k1G}, UnmapStrategy::fast).ok());
    ASSERT_TRUE(rig.table.reclaim_pending());
  };
  const Result<FaultOutcome> late = rig.fault(rig.cpu0, Ipa{k1G + k4K}, Pa{4 * k1G + k4K});
  EXPECT_EQ(late.status(), Status::again);
  EXPECT_FALSE(rig.table.lookup(Ipa{k1G + k4K}).ok());
  const test::AuditReport r = test::audit(rig.table);
  EXPECT_TRUE(r.clean()) << r.summary();
  EXPECT_EQ(r.retired_pages, 2u) << "the level-2 and level-3 tables, neither revived";
  // Called again, as a caller would on `again`: the fault maps into fresh tables.
  EXPECT_EQ(rig.fault(rig.cpu0, Ipa{k1G + k4K}, Pa{4 * k1G + k4K}).value(), FaultOutcome::mapped);
  rig.table.reclaim_all();
  rig.finish();
}

TEST(Race, TwoFaultsOnTheSameLeaf) {
  RaceRig rig(test::kNoFeatures);  // without FWB the fault cleans the page: the hook point
  ASSERT_TRUE(rig.table.map({Ipa{k1G + k4K}, k4K}, Pa{0}, Attrs::normal(Perm::rw)).ok());
  Result<FaultOutcome> cpu1_result = Status::again;
  rig.arch.hook_on = counting::OpKind::dc_civac;
  rig.arch.hook = [&] { cpu1_result = rig.fault(rig.cpu1, Ipa{k1G}, Pa{4 * k1G}); };
  const Result<FaultOutcome> cpu0_result = rig.fault(rig.cpu0, Ipa{k1G}, Pa{4 * k1G});
  EXPECT_EQ(cpu1_result.value(), FaultOutcome::mapped);
  EXPECT_EQ(cpu0_result.value(), FaultOutcome::already_resolved);
  EXPECT_EQ(rig.table.lookup(Ipa{k1G})->pa, Pa{4 * k1G});
  rig.finish();
}

TEST(Race, TwoFaultsWantingDifferentMemoryForOneLeaf) {
  RaceRig rig(test::kNoFeatures);
  ASSERT_TRUE(rig.table.map({Ipa{k1G + k4K}, k4K}, Pa{0}, Attrs::normal(Perm::rw)).ok());
  Result<FaultOutcome> cpu1_result = Status::again;
  rig.arch.hook_on = counting::OpKind::dc_civac;
  rig.arch.hook = [&] { cpu1_result = rig.fault(rig.cpu1, Ipa{k1G}, Pa{5 * k1G}); };
  EXPECT_EQ(rig.fault(rig.cpu0, Ipa{k1G}, Pa{4 * k1G}).status(), Status::exists);
  EXPECT_EQ(cpu1_result.value(), FaultOutcome::mapped);
  EXPECT_EQ(rig.table.lookup(Ipa{k1G})->pa, Pa{5 * k1G});
  rig.finish();
}

// The locking rule (table.hpp): exclusive operations exclude the fault path, as the write and
// read sides of one lock. A fault that arrives in the middle of an unmap waits for it, then maps.
TEST(Race, FaultDuringUnmapOfTheSameBlockWaitsThenMaps) {
  for (UnmapStrategy strategy : kAllUnmapStrategies) {
    SCOPED_TRACE(name(strategy));
    RaceRig rig;
    std::shared_mutex lock;
    ASSERT_TRUE(rig.table.map({Ipa{k1G}, k2M}, Pa{4 * k1G}, Attrs::normal(Perm::read)).ok());
    std::atomic<bool> fault_done{false};
    Result<FaultOutcome> fault_result = Status::again;
    std::thread cpu1;
    // At the unmap's first TLBI the block is out of the table but its invalidation incomplete.
    rig.arch.hook = [&] {
      cpu1 = std::thread([&] {
        std::shared_lock reader(lock);
        fault_result = rig.fault(rig.cpu1, Ipa{k1G + k4K}, Pa{4 * k1G}, k2M, Perm::rw);
        fault_done = true;
      });
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      EXPECT_FALSE(fault_done) << "a fault ran inside an exclusive operation";
    };
    {
      std::unique_lock writer(lock);
      ASSERT_TRUE(rig.table.unmap({Ipa{k1G}, k2M}, strategy).ok());
      EXPECT_FALSE(fault_done);
    }
    cpu1.join();
    EXPECT_EQ(fault_result.value(), FaultOutcome::mapped);
    EXPECT_EQ(rig.table.lookup(Ipa{k1G})->attrs.perm, Perm::rw);
    rig.finish();
  }
}

// Defence in depth, should a caller break the rule: a fault that meets an entry in the middle of
// break-before-make (locked) or of a fast unmap (parked) backs off without touching it.
TEST(Race, FaultMeetingABusyEntryBacksOff) {
  using Op = std::function<Progress(Table&)>;
  const std::pair<const char*, Op> windows[] = {
      {"fast unmap",
       [](Table& t) {
         return t.unmap({Ipa{k1G}, k2M}, UnmapStrategy::fast);
       }},
      {"split",
       [](Table& t) {
         return t.split({Ipa{k1G}, k2M}, kLastLevel, 1);
       }},
      {"replace",
       [](Table& t) {
         return t.map({Ipa{k1G}, k2M}, Pa{8 * k1G}, Attrs::normal(Perm::read), MapFlags::replace);
       }},
  };
  for (const auto& [what, op] : windows) {
    SCOPED_TRACE(what);
    RaceRig rig;
    ASSERT_TRUE(rig.table.map({Ipa{k1G}, k2M}, Pa{4 * k1G}, Attrs::normal(Perm::read)).ok());
    Result<FaultOutcome> during = Status::ok;
    rig.arch.hook = [&] {
      during = rig.fault(rig.cpu1, Ipa{k1G + k4K}, Pa{4 * k1G}, k2M, Perm::rw);
    };
    ASSERT_TRUE(op(rig.table).ok());
    EXPECT_EQ(during.status(), Status::again);
    rig.finish();
  }
}

TEST(Race, SplitOfABlockWhileAFaultRelaxesIt) {
  RaceRig rig;
  ASSERT_TRUE(rig.table.map({Ipa{k1G}, k2M}, Pa{4 * k1G}, Attrs::normal(Perm::read)).ok());
  Result<FaultOutcome> during = Status::ok;
  rig.arch.hook = [&] { during = rig.fault(rig.cpu1, Ipa{k1G + k4K}, Pa{4 * k1G}, k2M, Perm::rw); };
  ASSERT_TRUE(rig.table.split({Ipa{k1G}, k2M}, kLastLevel, 16).ok());
  EXPECT_EQ(during.status(), Status::again) << "the block is mid break-before-make";
  EXPECT_EQ(rig.table.lookup(Ipa{k1G + k4K})->level, Level{3});
  // Retried after the split: relaxes the one page it faulted on.
  EXPECT_EQ(rig.fault(rig.cpu1, Ipa{k1G + k4K}, Pa{4 * k1G}, k2M, Perm::rw).value(),
            FaultOutcome::relaxed);
  EXPECT_EQ(rig.table.lookup(Ipa{k1G + k4K})->attrs.perm, Perm::rw);
  EXPECT_EQ(rig.table.lookup(Ipa{k1G})->attrs.perm, Perm::read);
  rig.finish();
}

}  // namespace
}  // namespace s2pt
