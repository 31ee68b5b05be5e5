#include "s2pt/sim/tlbi_scope.hpp"

namespace s2pt::sim {

TlbiScope TlbiScope::decode(Vmid vmid, TlbiOp op, u64 operand, Granule granule, bool ds) {
  TlbiScope s{.op = op, .operand = operand, .vmid = vmid};
  s.leaf_only = is_leaf_only(op);
  s.local = is_local(op);
  if (op == TlbiOp::vmalle1is || op == TlbiOp::vmalle1) {
    s.kind = Kind::stage1_all;
  } else if (op == TlbiOp::vmalls12e1is) {
    s.kind = Kind::vmid_all;
  } else if (is_by_ipa(op)) {
    const tlbi::IpaOperand d = tlbi::decode_ipa(operand, granule);
    s.kind = Kind::by_ipa;
    s.granule_mismatch = d.other_granule;
    s.start = d.ipa;
    s.bytes = 1;
    s.hint = d.hint;
  } else {
    const tlbi::RangeOperand r = tlbi::decode_range(operand, ds);
    s.kind = Kind::range;
    s.granule_mismatch = r.granule != granule;
    s.start = r.start();
    s.bytes = r.bytes();
    s.hint = r.hint;
  }
  return s;
}

bool TlbiScope::hits(Ipa base, u64 size) const {
  if (granule_mismatch) return false;
  // The entry [base, base + bytes) and the scope [start, start + this->bytes) intersect.
  return start < base + size && base < start + bytes;
}

bool TlbiScope::removes(const TlbEntry& e) const {
  if (e.vmid != vmid) return false;
  switch (kind) {
    case Kind::vmid_all:
      return true;
    case Kind::stage1_all:
      return e.combined;
    case Kind::by_ipa:
    case Kind::range:
      // IPA-based stage-2 maintenance never reaches the combined stage-1+2 entries, and with a
      // level hint only entries of that level are guaranteed to go: the model removes no other.
      if (e.combined) return false;
      if (hint.known() && hint.level() != e.level) return false;
      return hits(e.base, e.bytes);
  }
  return false;
}

bool TlbiScope::removes(const WalkEntry& e) const {
  if (e.vmid != vmid) return false;
  switch (kind) {
    case Kind::vmid_all:
      return true;
    case Kind::stage1_all:
      return false;
    case Kind::by_ipa:
    case Kind::range:
      // Leaf-only forms keep walk-cache entries; a level hint names the leaf's level, so the
      // model lets cached intermediate entries survive a hinted operation.
      if (leaf_only || hint.known()) return false;
      return hits(e.base, e.bytes);
  }
  return false;
}

bool TlbiScope::covers(Vmid v, Ipa base, u64 size, Level level, bool was_table) const {
  if (v != vmid || local) return false;
  if (kind == Kind::vmid_all) return true;
  if (kind == Kind::stage1_all) return false;
  if (!hits(base, size)) return false;
  if (was_table) return !leaf_only && !hint.known();
  return !hint.known() || hint.level() == level;
}

}  // namespace s2pt::sim
