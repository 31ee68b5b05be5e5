// Table lifetime, lookups and statistics.
#include "s2pt/table.hpp"

#include "markers.hpp"
#include "reclaim.hpp"
#include "subtree.hpp"
#include "walker.hpp"

namespace s2pt {

// core_storage_ is raw storage for the TableCore built in it, not a field to initialise.
// NOLINTNEXTLINE(cppcoreguidelines-pro-type-member-init)
Table::Table(const TableConfig& config, Mm& mm, Arch& arch, Features features)
    : core_(*new (core_storage_)
                TableCore(config.geometry, config.vmid, mm, arch, features, config.limits)) {
  static_assert(sizeof(TableCore) <= sizeof(core_storage_) && alignof(TableCore) <= alignof(u64));
}

Result<Table> Table::create(const TableConfig& config, Mm& mm, Arch& arch) {
  if (config.geometry.vmid_bits() == 8 && config.vmid.raw > 0xFF) return Status::bad_geometry;
  // A 52-bit PA size needs the descriptor layout of its granule from the CPU.
  const OaLayout oa = config.geometry.oa_layout();
  const Features& cpu = arch.features();
  if ((oa == OaLayout::lpa2 && !cpu.lpa2) || (oa == OaLayout::lpa && !cpu.lpa)) {
    return Status::missing_feature;
  }
  Table table(config, mm, arch, effective_features(arch.features(), config));
  if (Result<Pa> root = table.core_.alloc_root(); !root.ok()) return root.status();
  return Result<Table>(static_cast<Table&&>(table));
}

// NOLINTNEXTLINE(cppcoreguidelines-pro-type-member-init): raw storage, as above
Table::Table(Table&& other) noexcept : core_(*new (core_storage_) TableCore(other.core_)) {
  other.core_.clear_root();
  other.core_.reclaimer() = Reclaimer{};
  other.core_.retired() = RetiredPages{};
}

Table::~Table() {
  destroy();
  reclaim_all();
  core_.~TableCore();
}

namespace {

// Parks every valid root entry: invalid to the hardware from here on, its payload kept for the
// reclaimer, which finds the subtrees there once their grace period is over. The walk goes no
// deeper than the root, so destroy() costs the same whatever is mapped.
class RootParker {
 public:
  static constexpr bool kSkipsEmpty = true;
  Status table_pre(WalkContext& ctx) {
    ctx.set(marker::park(ctx.old));
    ctx.skip_children();
    return Status::ok;
  }
  Status leaf(WalkContext& ctx) {
    if (ctx.old.is_valid()) ctx.set(marker::park(ctx.old));
    return Status::ok;
  }
};

}  // namespace

void Table::destroy() {
  if (!core_.has_root()) return;
  RootParker parker;
  walk(core_, IpaRange{Ipa{0}, core_.geometry().ipa_limit()}, parker);
  core_.maintenance().invalidate_vmid();
  retire_root(core_, core_.detach_root());
}

u64 Table::reclaim(u64 budget) {
  close_retired(core_);
  return s2pt::reclaim(core_, budget);
}

bool Table::reclaim_pending() {
  return s2pt::reclaim_pending(core_);
}

void Table::reclaim_all() {
  s2pt::reclaim_all(core_);
}

namespace {

class LookupVisitor {
 public:
  Status leaf(ReadContext& ctx) {
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
  visit(core_, IpaRange{ipa.align_down(g.page_bytes()), g.page_bytes()}, visitor);
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
      .pa = leaf.output_address(core_.oa()).align_down(size) + (ipa - visitor.base()),
      .attrs = attrs.value(),
  };
}

OwnerId Table::owner(Ipa ipa) const {
  const Geometry& g = core_.geometry();
  if (ipa.raw >= g.ipa_limit() || !core_.has_root()) return OwnerId{};
  LookupVisitor visitor;
  visit(core_, IpaRange{ipa.align_down(g.page_bytes()), g.page_bytes()}, visitor);
  return visitor.found().owner();
}

void Table::set_leaf_observer(const LeafObserver& observer) {
  core_.set_observer(observer);
}
Reclaimer& Table::reclaimer() {
  return core_.reclaimer();
}
const Geometry& Table::geometry() const {
  return core_.geometry();
}
Vmid Table::vmid() const {
  return core_.vmid();
}
DescriptorFormat Table::format() const {
  return core_.format();
}
const Features& Table::features() const {
  return core_.features();
}
Pa Table::root() const {
  return core_.root_pa();
}
bool Table::destroyed() const {
  return !core_.has_root();
}

TableStats Table::stats() const {
  return TableStats{.table_pages = core_.pages().table_pages(),
                    .maintenance = core_.maintenance_counters()};
}

}  // namespace s2pt
