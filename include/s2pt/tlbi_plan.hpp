// The TLBI planner: the cheapest correct set of stage-2 TLBI operations that removes every
// translation (and, where tables went away, every walk-cache entry) of an IPA range.
#pragma once

#include "s2pt/features.hpp"
#include "s2pt/geometry.hpp"
#include "s2pt/tlbi.hpp"

namespace s2pt {

struct InvalidationScope {
  IpaRange range;  // granule-aligned
  // A table entry was removed or replaced: walk-cache entries must go too, so no leaf-only form,
  // and no level hint (cached leaves below it may sit at any level).
  bool tables_removed = false;
  // Every leaf removed or changed in the range sat at this level.
  LevelHint leaf_level = LevelHint::none();
  // Only leaf entries changed (a permission change, a bulk unmap of leaves): the leaf-only TLBI
  // forms suffice. Ignored when tables_removed.
  bool leaf_only = false;
  // The removed tables held no valid entry: what must go before their pages are reused are the
  // walk-cache entries pointing to them, and one non-leaf TLBI by any IPA they translated removes
  // those. Only for one table (and its emptied ancestors, which lie on the same path): sibling
  // tables need one operation each. Cached leaves of entries that were cleared but not yet
  // invalidated elsewhere in the range are not covered (deferred unmap invalidates them later).
  bool empty_tables = false;
};

struct PlannerLimits {
  // Without FEAT_TLBIRANGE: beyond this many by-IPA operations, invalidate the whole VMID.
  u32 max_ipa_ops = 512;
  // With FEAT_TLBIRANGE: beyond this many range operations, invalidate the whole VMID.
  u32 max_range_ops = 64;
};

struct TlbiInstr {
  TlbiOp op;
  u64 operand;
  constexpr bool operator==(const TlbiInstr&) const = default;
};

class TlbiPlanner {
 public:
  constexpr TlbiPlanner(const Geometry& geometry, Features features, PlannerLimits limits = {})
      : geometry_(geometry), features_(features), limits_(limits) {
    for (int level = 0; level <= Level::kLast; ++level) {
      const InvalidationScope leaf{
          .range = IpaRange{Ipa{0}, geometry_.level_bytes(Level{level})},
          .leaf_level = LevelHint::at(Level{level}),
      };
      const Decision decision = decide(leaf);
      const OpCounts ops = count(leaf, decision);  // a handful of operations at most
      one_leaf_[level] = OneLeaf{.decision = decision,
                                 .ipa = static_cast<u8>(ops.ipa),
                                 .range = static_cast<u8>(ops.range),
                                 .vmid = static_cast<u8>(ops.vmid)};
    }
  }

  // Range operations needed for `pages` granule pages: per chunk of at most 2^21 pages, one op
  // for an odd page, then one per non-zero 5-bit NUM field at SCALE 0..3; a chunk of exactly
  // 2^21 pages is one op with SCALE 3, NUM 31 (clamped, never wrapped to NUM 0).
  static constexpr u64 range_ops_for(u64 pages) {
    u64 ops = 0;
    while (pages >= tlbi::kMaxRangePages) {
      ++ops;
      pages -= tlbi::kMaxRangePages;
    }
    if (pages & 1) ++ops;
    for (unsigned scale = 0; scale <= tlbi::kMaxScale; ++scale) {
      if ((pages >> (5 * scale + 1)) & 31) ++ops;
    }
    return ops;
  }

  // The range plan for `pages` pages from page `first`, as calls to single(page) (a by-IPA
  // operation) and range(scale, num, page) (one range operation from `page`), in ascending IPA
  // order. Without DS: chunks of 2^21 pages, the odd page, then SCALE 0 to 3 (range_ops_for).
  // With DS (LPA2) every range operation's base must be 64 KiB aligned: single pages up to the
  // first aligned one, the chunks, then SCALE 3 down to 0 (each leaves the next base aligned,
  // as a SCALE of 1 or more covers a multiple of 64 pages), and the odd page last. Linux orders
  // its LPA2 ranges the same way.
  template <class Single, class Range>
  static constexpr void range_plan(u64 first, u64 pages, u64 align_pages, Single&& single,
                                   Range&& range) {
    u64 page = first;
    u64 remaining = pages;
    while (remaining > 0 && (page & (align_pages - 1)) != 0) {
      single(page++);
      --remaining;
    }
    while (remaining >= tlbi::kMaxRangePages) {
      range(tlbi::kMaxScale, tlbi::kMaxNum, page);
      page += tlbi::kMaxRangePages;
      remaining -= tlbi::kMaxRangePages;
    }
    const bool ds = align_pages > 1;
    if (!ds && (remaining & 1)) single(page++);
    for (unsigned k = 0; k <= tlbi::kMaxScale; ++k) {
      const unsigned scale = ds ? tlbi::kMaxScale - k : k;
      const u64 field = (remaining >> (5 * scale + 1)) & 31;
      if (field == 0) continue;
      range(scale, static_cast<unsigned>(field - 1), page);
      page += tlbi::range_pages(scale, static_cast<unsigned>(field - 1));
    }
    if (ds && (remaining & 1)) single(page);
  }

  // Whether the scope is cheaper (or only possible) to invalidate as the whole VMID.
  constexpr bool whole_vmid(const InvalidationScope& scope) const {
    if (scope.empty_tables) return false;
    if (by_ipa(scope)) return ipa_ops(scope) > limits_.max_ipa_ops;
    return range_plan_ops(scope) > limits_.max_range_ops;
  }

  // The operand of a by-IPA TLBI for the leaf at `ipa`, `level`: a level hint only with FEAT_TTL.
  constexpr u64 leaf_operand(Ipa ipa, Level level) const {
    return tlbi::ipa_operand(ipa, geometry_.granule(),
                             features_.ttl ? LevelHint::at(level) : LevelHint::none());
  }

  // The choices for_each makes for a scope, made once: the whole VMID, or by-IPA operations
  // rather than range ones.
  struct Decision {
    bool whole_vmid = false;
    bool by_ipa = false;
    constexpr bool operator==(const Decision&) const = default;
  };
  constexpr Decision decide(const InvalidationScope& scope) const {
    if (whole_vmid(scope)) return Decision{.whole_vmid = true};
    return Decision{.by_ipa = scope.empty_tables || by_ipa(scope)};
  }

  // How many operations of each kind for_each emits, counted without emitting them.
  struct OpCounts {
    u64 ipa = 0;    // by-IPA
    u64 range = 0;  // range
    u64 vmid = 0;   // VMALLS12E1IS
    constexpr bool operator==(const OpCounts&) const = default;
  };
  constexpr OpCounts count(const InvalidationScope& scope, Decision d) const {
    if (d.whole_vmid) return OpCounts{.vmid = 1};
    if (scope.empty_tables) return OpCounts{.ipa = 1};
    if (d.by_ipa) return OpCounts{.ipa = ipa_ops(scope)};
    OpCounts counts;
    range_plan(
        first_page(scope), pages(scope), align_pages(), [&](u64) { ++counts.ipa; },
        [&](unsigned, unsigned, u64) { ++counts.range; });
    return counts;
  }

  // decide() and count() together, as a plan needs them. One leaf at a known level from its
  // aligned base (a per-leaf unmap, the break-before-make of a leaf) is the commonest scope and
  // the rules give it the same answer at every such address: it is decided and counted once per
  // level when the planner is made.
  struct Choice {
    Decision decision;
    OpCounts ops;
    constexpr bool operator==(const Choice&) const = default;
  };
  [[gnu::always_inline]] constexpr Choice choose(const InvalidationScope& scope) const {
    if (const OneLeaf* leaf = one_leaf(scope)) {
      return Choice{leaf->decision,
                    OpCounts{.ipa = leaf->ipa, .range = leaf->range, .vmid = leaf->vmid}};
    }
    return choose_by_rule(scope);
  }
  // choose() for any other scope: out of line, so that the one-leaf answer inlines into a
  // per-leaf loop without the range planning.
  [[gnu::noinline]] constexpr Choice choose_by_rule(const InvalidationScope& scope) const {
    const Decision d = decide(scope);
    return Choice{d, count(scope, d)};
  }

  // Calls emit(TlbiInstr) for each stage-2 TLBI of the plan, in ascending IPA order. The caller
  // brackets them with the barriers and the stage-1 invalidation (see InvalidationPlan).
  template <class Emit>
  constexpr void for_each(const InvalidationScope& scope, Emit&& emit) const {
    for_each(scope, decide(scope), emit);
  }
  template <class Emit>
  constexpr void for_each(const InvalidationScope& scope, Decision d, Emit&& emit) const {
    if (d.whole_vmid) {
      emit(TlbiInstr{TlbiOp::vmalls12e1is, 0});
      return;
    }
    if (scope.empty_tables) {
      emit(TlbiInstr{TlbiOp::ipas2e1is,
                     tlbi::ipa_operand(scope.range.start, geometry_.granule(), LevelHint::none())});
      return;
    }
    const bool leaf_only = scope.leaf_only && !scope.tables_removed;
    const LevelHint hint = hint_for(scope);
    const TlbiOp ipa_op = leaf_only ? TlbiOp::ipas2le1is : TlbiOp::ipas2e1is;
    const Granule g = geometry_.granule();
    if (d.by_ipa) {
      const u64 stride = stride_bytes(scope);
      for (Ipa ipa = scope.range.start.align_down(stride); ipa < scope.range.end();
           ipa = ipa + stride) {
        emit(TlbiInstr{ipa_op, tlbi::ipa_operand(ipa, g, hint)});
      }
      return;
    }
    const TlbiOp range_op = leaf_only ? TlbiOp::ripas2le1is : TlbiOp::ripas2e1is;
    const bool ds = geometry_.oa_layout() == OaLayout::lpa2;
    range_plan(
        first_page(scope), pages(scope), align_pages(),
        [&](u64 page) {
          emit(TlbiInstr{ipa_op, tlbi::ipa_operand(Ipa{page << granule_shift(g)}, g, hint)});
        },
        [&](unsigned scale, unsigned num, u64 page) {
          emit(TlbiInstr{range_op, tlbi::range_operand(tlbi::RangeOperand{.granule = g,
                                                                          .scale = scale,
                                                                          .num = num,
                                                                          .hint = hint,
                                                                          .base_page = page,
                                                                          .ds = ds})});
        });
  }

 private:
  struct OneLeaf {  // choose()'s answer for one leaf; small, as every table holds nine planners
    Decision decision;
    u8 ipa = 0;
    u8 range = 0;
    u8 vmid = 0;
  };
  constexpr const OneLeaf* one_leaf(const InvalidationScope& scope) const {
    if (scope.tables_removed || scope.empty_tables || !scope.leaf_level.known()) return nullptr;
    const Level level = scope.leaf_level.level();
    const u64 bytes = geometry_.level_bytes(level);
    if (scope.range.size != bytes || !scope.range.start.aligned(bytes)) return nullptr;
    return &one_leaf_[level.value()];
  }

  constexpr u64 pages(const InvalidationScope& scope) const {
    return scope.range.size >> granule_shift(geometry_.granule());
  }
  constexpr u64 first_page(const InvalidationScope& scope) const {
    return scope.range.start.raw >> granule_shift(geometry_.granule());
  }
  // Pages per 64 KiB where range bases must be 64 KiB aligned (DS), else 1.
  constexpr u64 align_pages() const {
    if (geometry_.oa_layout() != OaLayout::lpa2) return 1;
    return u64{1} << (tlbi::kDsBaseShift - granule_shift(geometry_.granule()));
  }
  constexpr u64 range_plan_ops(const InvalidationScope& scope) const {
    if (align_pages() == 1) return range_ops_for(pages(scope));
    u64 ops = 0;
    range_plan(
        first_page(scope), pages(scope), align_pages(), [&](u64) { ++ops; },
        [&](unsigned, unsigned, u64) { ++ops; });
    return ops;
  }
  constexpr LevelHint hint_for(const InvalidationScope& scope) const {
    return features_.ttl && !scope.tables_removed ? scope.leaf_level : LevelHint::none();
  }
  // A by-IPA TLBI removes the whole leaf containing the IPA, so one per leaf is enough where the
  // leaf size is certain.
  constexpr u64 stride_bytes(const InvalidationScope& scope) const {
    if (!scope.tables_removed && scope.leaf_level.known()) {
      return geometry_.level_bytes(scope.leaf_level.level());
    }
    return geometry_.page_bytes();
  }
  // By-IPA operations when there is no range TLBI, or when they are no more than the range
  // operations would be (one 2 MiB block: one IPAS2E1IS with its level hint).
  constexpr bool by_ipa(const InvalidationScope& scope) const {
    return !features_.tlbi_range || ipa_ops(scope) <= range_plan_ops(scope);
  }
  constexpr u64 ipa_ops(const InvalidationScope& scope) const {
    const u64 stride = stride_bytes(scope);  // a power of two: shift, not divide (per-leaf path)
    const Ipa first = scope.range.start.align_down(stride);
    return (scope.range.end().raw - first.raw + stride - 1) >>
           static_cast<unsigned>(__builtin_ctzll(stride));
  }

  Geometry geometry_;
  Features features_;
  PlannerLimits limits_;
  OneLeaf one_leaf_[Level::kLast + 1] = {};  // by level, 0 to 3
};

}  // namespace s2pt
