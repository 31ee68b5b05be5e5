// Freeing the table pages of a detached subtree (detached.hpp) with the walker: the one visitor
// behind free_subtree() (break-before-make, a split's unused tables) and reclamation (a budget
// per call, resumed where the last call stopped).
#pragma once

#include "detached.hpp"
#include "entry.hpp"
#include "leaf_removal.hpp"
#include "markers.hpp"
#include "walker.hpp"

namespace s2pt {

// Table pages on their way back to Mm, handed over kBatch at a time (Mm::free_batch).
class FreeBatch {
 public:
  explicit FreeBatch(TableCore& core) : core_(core) {}
  FreeBatch(const FreeBatch&) = delete;
  FreeBatch& operator=(const FreeBatch&) = delete;
  ~FreeBatch() { flush(); }
  void add(Pa page) {
    if (pending_ == kBatch) flush();
    pages_[pending_++] = page;
  }

 private:
  static constexpr unsigned kBatch = 64;
  void flush() {
    core_.pages().free_tables(pages_, pending_);
    pending_ = 0;
  }
  TableCore& core_;
  Pa pages_[kBatch] = {};
  unsigned pending_ = 0;
};

// Frees a subtree's tables bottom-up, each after its entries, and hands its leaves to `leaves`
// as `what` says. A last-level table whose leaves need nothing is freed without being read.
// Frees at most `budget` pages: the walk stops with budget_exhausted, before an entry it has not
// touched (the next walk resumes there), or after an entry whose table it could no longer free
// (left in owed(): the caller frees it first next time).
class SubtreeFreer {
 public:
  SubtreeFreer(TableCore& core, SubtreeLeaves what, LeafRemoval& leaves, FreeBatch& pages,
               u64 budget = ~u64{0})
      : leaves_(leaves),
        pages_(pages),
        what_(what),
        read_leaves_(reads_leaves(core, what)),
        clean_in_one_pass_(what == SubtreeLeaves::torn_down && !core.observer()),
        budget_(budget) {}

  // Whether freeing such a subtree reads its leaves at all.
  static bool reads_leaves(const TableCore& core, SubtreeLeaves what) {
    switch (what) {
      case SubtreeLeaves::unread:
        return false;
      case SubtreeLeaves::removed:
        return !core.fwb() || core.logged().any_by_hardware();
      case SubtreeLeaves::torn_down:
        return LeafRemoval::needed_for_memory(core);
    }
    return true;
  }

  static constexpr bool kSkipsEmpty = true;

  Status table_pre(WalkContext& ctx) {
    if (freed_ >= budget_) return Status::budget_exhausted;
    const Level below = ctx.level.deeper();
    const u64 entries = ctx.geometry().entries_per_table();
    if (!below.is_last()) {
      // A table of last-level tables whose leaves need nothing, when the budget covers it
      // whole: its pages go in one pass over it (a context per entry would double the cost of
      // reclaiming a large unmap). Otherwise the walk goes down and frees them one by one.
      if (!read_leaves_ && below.deeper().is_last() && budget_ - freed_ > entries) {
        free_last_level_tables(ctx.table(), Subtree{child(ctx), below, ctx.entry_base()}, 0);
        free(child(ctx));
        ctx.skip_children();
      }
      return Status::ok;
    }
    if (read_leaves_) {
      // A torn-down table's leaves that only need cleaning (no observer): one pass over the
      // page. Others are visited one by one.
      if (!clean_in_one_pass_) return Status::ok;
      leaves_.clean_pages(ctx.pages().table(child(ctx)), entries);
    }
    free(child(ctx));
    ctx.skip_children();
    return Status::ok;
  }
  Status leaf(WalkContext& ctx) {
    if (!read_leaves_ || !ctx.old.is_leaf(ctx.level)) return Status::ok;
    if (what_ == SubtreeLeaves::torn_down) {
      leaves_.removed(ctx.old, ctx.level, ctx.entry_base());
    } else {
      leaves_.replaced(ctx.old, ctx.level, ctx.entry_base());
    }
    return Status::ok;
  }
  Status table_post(WalkContext& ctx) {
    if (freed_ >= budget_) {
      owed_ = child(ctx);
      return Status::budget_exhausted;
    }
    free(child(ctx));
    return Status::ok;
  }

  // Frees, in one pass, the last-level tables that `subtree`'s top names from entry `first` on,
  // when it is a table of such tables whose leaves need nothing and the budget covers them all
  // (not the top itself). False, having done nothing, otherwise.
  bool free_bottom_in_one_pass(const TableCore& core, Subtree subtree, u64 first) {
    const u64 entries = core.geometry().entries_per_table();
    if (read_leaves_ || !subtree.level.deeper().is_last() ||
        subtree.level == core.geometry().start_level() || budget_ - freed_ < entries - first) {
      return false;
    }
    free_last_level_tables(core, subtree, first);
    return true;
  }

  bool reads_leaves() const { return read_leaves_; }
  u64 freed() const { return freed_; }
  Pa owed() const { return owed_; }

 private:
  static Pa child(const WalkContext& ctx) { return ctx.old.table_address(ctx.oa()); }
  // Frees the (last-level) tables the entries of `subtree`'s top name, from entry `first` on.
  void free_last_level_tables(const TableCore& core, Subtree subtree, u64 first) {
    switch (core.oa()) {
      case OaLayout::bits48:
        return free_last_level_tables_in<OaLayout::bits48>(core, subtree, first);
      case OaLayout::lpa:
        return free_last_level_tables_in<OaLayout::lpa>(core, subtree, first);
      case OaLayout::lpa2:
        return free_last_level_tables_in<OaLayout::lpa2>(core, subtree, first);
    }
  }
  // The same with the address layout fixed: reclaiming 128 GiB frees 65,536 such tables.
  template <OaLayout kOa>
  void free_last_level_tables_in(const TableCore& core, Subtree subtree, u64 first) {
    const u64* entries = core.pages().table(subtree.table);
    const u64 count = core.geometry().entries_per_table();
    for (u64 i = first; i < count; ++i) {
      const Pte e = marker::original(entry::load(entries + i));
      if (e.is_table(subtree.level)) free(e.table_address(kOa));
    }
  }
  void free(Pa page) {
    pages_.add(page);
    ++freed_;
  }

  LeafRemoval& leaves_;
  FreeBatch& pages_;
  SubtreeLeaves what_;
  bool read_leaves_;
  bool clean_in_one_pass_;  // the leaves need cleaning only, no observer
  u64 budget_;
  u64 freed_ = 0;
  Pa owed_{};
};

}  // namespace s2pt
