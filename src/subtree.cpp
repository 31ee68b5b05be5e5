#include "subtree.hpp"

#include "leaf_removal.hpp"
#include "subtree_freer.hpp"

namespace s2pt {

void fill_split_table(TableCore& core, Pa page, Pte leaf, Level level) {
  const Geometry& g = core.geometry();
  const Level child = level.deeper();
  const u64 entries = g.entries_per_table();
  u64* table = core.pages().table(page);
  u32 non_zero = 0;
  const OaLayout oa = core.oa();
  for (u64 i = 0; i < entries; ++i) {
    const Pte entry =
        leaf.is_valid()
            ? leaf.as_leaf_at(child, leaf.output_address(oa) + i * g.level_bytes(child), oa)
            : leaf;
    table[i] = entry.raw();
    non_zero += entry.is_zero() ? 0 : 1;
  }
  __atomic_add_fetch(core.pages().refcount(page), non_zero, __ATOMIC_RELEASE);
}

Result<Pa> build_split_table(TableCore& core, Pte leaf, Level level) {
  Result<Pa> page = core.pages().alloc_table();
  if (!page.ok()) return page.status();
  fill_split_table(core, page.value(), leaf, level);
  return page.value();
}

bool memory_needs_preparing(const TableCore& core, const Attrs& attrs) {
  return core.needs_cleaning(attrs) || (has(attrs.perm, Perm::exec) && !core.features().dic);
}

void prepare_memory(TableCore& core, Pa pa, u64 bytes, const Attrs& attrs, Maintenance& m) {
  if (core.needs_cleaning(attrs)) {
    m.dc_civac(pa, bytes);
    m.dsb_ish();
  }
  if (has(attrs.perm, Perm::exec) && !core.features().dic) {
    m.invalidate_icache(pa, bytes);
    m.dsb_ish();
    m.isb();
  }
}

void prepare_for_exec(TableCore& core, Pte old, Pte next, Level level, Maintenance& m) {
  if (core.features().dic || has(old.perm(), Perm::exec) || !has(next.perm(), Perm::exec)) return;
  m.invalidate_icache(next.output_address(core.oa()).align_down(core.geometry().level_bytes(level)),
                      core.geometry().level_bytes(level));
  m.dsb_ish();
  m.isb();
}

namespace {

// Splits every leaf of an unlinked subtree above `target` into a table one level down; the walker
// then walks into it, down to `target`.
class BuildVisitor {
 public:
  explicit BuildVisitor(Level target) : target_(target) {}
  Status leaf(WalkContext& ctx) {
    if (ctx.level.deeper() > target_) return Status::ok;
    Result<Pa> table = build_split_table(ctx.table(), ctx.old, ctx.level);
    if (!table.ok()) return table.status();
    ctx.set(Pte::table(table.value(), ctx.oa()));
    return Status::ok;
  }

 private:
  Level target_;
};

}  // namespace

Result<Pa> build_subtree(TableCore& core, Pte leaf, Level level, Level target) {
  Result<Pa> top = build_split_table(core, leaf, level);
  if (!top.ok()) return top.status();
  const Subtree subtree{.table = top.value(), .level = level.deeper(), .base = Ipa{}};
  BuildVisitor build(target);
  if (Status s = walk_detached(core, subtree, build); s != Status::ok) {
    free_subtree(core, subtree, SubtreeLeaves::unread);
    return s;
  }
  return top.value();
}

void clean_removed_leaf(TableCore& core, Pte leaf, Level level) {
  if (!leaf.is_leaf(level) || !core.needs_cleaning(leaf)) return;
  core.maintenance().dc_civac(leaf.output_address(core.oa()), core.geometry().level_bytes(level));
  core.maintenance().dsb_ish();
}

void break_before_make(WalkContext& ctx, Pte next, OldMemory old_memory) {
  const Pte old = ctx.old;
  ctx.set(Pte::locked());
  const bool was_table = old.is_table(ctx.level);
  ctx.maintenance().invalidate(InvalidationScope{
      .range = IpaRange{ctx.entry_base(), ctx.entry_bytes()},
      .tables_removed = was_table,
      .leaf_level = was_table ? LevelHint::none() : LevelHint::at(ctx.level),
  });
  if (was_table) {
    free_subtree(
        ctx.table(),
        Subtree{.table = old.table_address(ctx.oa()),
                .level = ctx.level.deeper(),
                .base = ctx.entry_base()},
        old_memory == OldMemory::still_mapped ? SubtreeLeaves::unread : SubtreeLeaves::removed);
  } else if (old_memory == OldMemory::released) {
    clean_removed_leaf(ctx.table(), old, ctx.level);
  }
  ctx.set(next);
}

Status split_entry(WalkContext& ctx) {
  Result<Pa> table = build_split_table(ctx.table(), ctx.old, ctx.level);
  if (!table.ok()) return table.status();
  if (ctx.old.is_valid()) {
    break_before_make(ctx, Pte::table(table.value(), ctx.oa()), OldMemory::still_mapped);
  } else {
    ctx.set(Pte::table(table.value(), ctx.oa()));
  }
  return Status::ok;
}

void free_subtree(TableCore& core, Subtree subtree, SubtreeLeaves leaves) {
  LeafRemoval removal(core);
  {
    FreeBatch pages(core);
    SubtreeFreer freer(core, leaves, removal, pages);
    if (freer.reads_leaves() || !subtree.level.is_last()) walk_detached(core, subtree, freer);
    pages.add(subtree.table);
  }
  // The CMOs of the leaves must complete before the memory they cleaned can be reused.
  removal.complete();
}

void prune_if_empty(WalkContext& ctx) {
  if (!ctx.old.is_table(ctx.level)) return;
  const Pa child = ctx.old.table_address(ctx.oa());
  if (ctx.pages().refs(child) != 1) return;
  ctx.set(Pte::invalid());
  ctx.maintenance().invalidate(InvalidationScope{
      .range = IpaRange{ctx.entry_base(), ctx.entry_bytes()},
      .tables_removed = true,
      .empty_tables = true,
  });
  ctx.pages().free_table(child);
}

}  // namespace s2pt
