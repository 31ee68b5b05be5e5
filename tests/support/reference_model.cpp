#include "support/reference_model.hpp"

namespace s2pt::test {

ReferenceModel::ReferenceModel(Ipa window_start, u64 window_bytes, u64 page_bytes)
    : start_(window_start), page_(page_bytes), pages_(window_bytes / page_bytes) {}

bool ReferenceModel::any_mapped(IpaRange range) const {
  for (u64 off = 0; off < range.size; off += page_) {
    if (pages_[index(range.start + off)]) return true;
  }
  return false;
}

bool ReferenceModel::any_device(IpaRange range) const {
  for (u64 off = 0; off < range.size; off += page_) {
    const std::optional<Mapping>& m = pages_[index(range.start + off)];
    if (m && m->attrs.is_device()) return true;
  }
  return false;
}

void ReferenceModel::map(IpaRange range, Pa pa, const Attrs& attrs) {
  for (u64 off = 0; off < range.size; off += page_) {
    pages_[index(range.start + off)] = Mapping{pa + off, attrs};
  }
}

void ReferenceModel::unmap(IpaRange range) {
  for (u64 off = 0; off < range.size; off += page_)
    pages_[index(range.start + off)].reset();
}

void ReferenceModel::change_perm(IpaRange range, Perm remove, Perm add) {
  for (u64 off = 0; off < range.size; off += page_) {
    auto& slot = pages_[index(range.start + off)];
    if (slot) slot->attrs.perm = without(slot->attrs.perm, remove) | add;
  }
}

std::optional<ReferenceModel::Mapping> ReferenceModel::lookup(Ipa ipa) const {
  if (ipa < start_ || ipa - start_ >= window_bytes()) return std::nullopt;
  const auto& slot = pages_[index(ipa)];
  if (!slot) return std::nullopt;
  return Mapping{slot->pa + (ipa - start_) % page_, slot->attrs};
}

}  // namespace s2pt::test
