// Table lifetime, lookups and statistics.
#include "s2pt/table.hpp"

#include "s2pt/walker.hpp"
#include "subtree.hpp"

namespace s2pt {

Table::Table(const TableConfig& config, Mm& mm, Arch& arch, Features features)
    : core_(config.geometry, config.vmid, mm, arch, features, config.limits) {}

Result<Table> Table::create(const TableConfig& config, Mm& mm, Arch& arch) {
  if (config.geometry.vmid_bits() == 8 && config.vmid.raw > 0xFF) return Status::bad_geometry;
  Table table(config, mm, arch, effective_features(arch.features(), config));
  if (Result<Pa> root = table.core_.alloc_root(); !root.ok()) return root.status();
  return Result<Table>(static_cast<Table&&>(table));
}

Table::Table(Table&& other) noexcept : core_(other.core_) {
  other.core_.clear_root();
}

void Table::destroy() {
  if (!core_.has_root()) return;
  const Geometry& g = core_.geometry();
  const Level start = g.start_level();
  Maintenance& m = core_.maintenance();
  u64* root = core_.root();

  // Root entries are unlinked a batch at a time; each batch is invalidated as a whole VMID before
  // its subtrees are cleaned and freed. The batch lives on the stack: no heap in the core.
  constexpr unsigned kBatch = 64;
  Pte batch[kBatch];
  u64 where[kBatch];
  u64 index = 0;
  for (;;) {
    unsigned n = 0;
    bool any_valid = false;
    for (; index < g.root_entries() && n < kBatch; ++index) {
      const Pte e = entry::load(root + index);
      if (e.is_zero()) continue;
      entry::store(root + index, Pte::invalid());
      any_valid |= e.is_valid();
      batch[n] = e;
      where[n] = index;
      ++n;
    }
    if (n == 0) break;
    if (any_valid) m.invalidate_vmid();
    bool cleaned = false;
    for (unsigned i = 0; i < n; ++i) {
      const Ipa base{where[i] * g.level_bytes(start)};
      if (batch[i].is_table(start)) {
        dispose_subtree(core_, batch[i].table_address(), start.deeper(), base);
      } else {
        cleaned |= clean_removed_leaf(core_, batch[i], start);
      }
    }
    if (cleaned) m.dsb_ish();
  }
  core_.free_root();
}

namespace {

class LookupVisitor {
 public:
  Status leaf(WalkContext& ctx) {
    found_ = ctx.old;
    level_ = ctx.level;
    base_ = ctx.entry_base();
    return Status::ok;
  }
  Pte found() const { return found_; }
  Level level() const { return level_; }
  Ipa base() const { return base_; }

 private:
  Pte found_;
  Level level_{kLastLevel};
  Ipa base_;
};

}  // namespace

Result<Translation> Table::lookup(Ipa ipa) const {
  const Geometry& g = core_.geometry();
  if (ipa.raw >= g.ipa_limit()) return Status::ipa_out_of_range;
  if (!core_.has_root()) return Status::not_mapped;
  LookupVisitor visitor;
  // The visitor only reads; the walker's interface is shared with the visitors that write.
  walk(const_cast<TableCore&>(core_), IpaRange{ipa.align_down(g.page_bytes()), g.page_bytes()},
       visitor);
  const Pte leaf = visitor.found();
  if (!leaf.is_leaf(visitor.level())) return Status::not_mapped;
  Result<Attrs> attrs = leaf.attrs(core_.format());
  if (!attrs.ok()) return attrs.status();
  const u64 size = g.level_bytes(visitor.level());
  return Translation{
      .base = visitor.base(),
      .size = size,
      .level = visitor.level(),
      // Output-address bits below the leaf's size are RES0 in a block: read as the hardware does.
      .pa = leaf.output_address().align_down(size) + (ipa - visitor.base()),
      .attrs = attrs.value(),
  };
}

OwnerId Table::owner(Ipa ipa) const {
  const Geometry& g = core_.geometry();
  if (ipa.raw >= g.ipa_limit() || !core_.has_root()) return OwnerId{};
  LookupVisitor visitor;
  walk(const_cast<TableCore&>(core_), IpaRange{ipa.align_down(g.page_bytes()), g.page_bytes()},
       visitor);
  return visitor.found().owner();
}

TableStats Table::stats() const {
  return TableStats{.table_pages = core_.table_pages(),
                    .maintenance = core_.maintenance().counters()};
}

}  // namespace s2pt
