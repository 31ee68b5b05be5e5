// Checks of caller input, done before anything is touched so that bad input changes nothing.
#pragma once

#include "s2pt/geometry.hpp"
#include "s2pt/pte.hpp"
#include "table_core.hpp"

namespace s2pt {

// Each range a table operation takes: non-empty, granule-aligned, inside the IPA space.
constexpr Status check_range(const Geometry& g, IpaRange range) {
  if (range.size == 0) return Status::empty_range;
  if (!range.start.aligned(g.page_bytes()) || (range.size & (g.page_bytes() - 1)) != 0) {
    return Status::unaligned;
  }
  if (range.start.raw + range.size < range.start.raw) return Status::wraps;
  if (range.start.raw >= g.ipa_limit() || range.size > g.ipa_limit() - range.start.raw) {
    return Status::ipa_out_of_range;
  }
  return Status::ok;
}

// The first failed check of several, in the order given. (A fold, not a loop over a list: every
// map call passes here, and the compiler kept the list in memory.)
template <class... Checks>
constexpr Status first_failure(Checks... checks) {
  Status first = Status::ok;
  ((first = first != Status::ok ? first : checks), ...);
  return first;
}

// What every Table operation on a range checks first, in this order: the range, the operation's
// own input checks (`input`: the first that failed), then whether the table still exists.
inline Status check_call(const TableCore& core, IpaRange range, Status input = Status::ok) {
  return first_failure(check_range(core.geometry(), range), input,
                       core.has_root() ? Status::ok : Status::destroyed);
}

constexpr Status check_output(const Geometry& g, Pa pa, u64 size) {
  if (!pa.aligned(g.page_bytes())) return Status::unaligned;
  if (pa.raw + size < pa.raw) return Status::wraps;
  if (pa.raw >= g.pa_limit() || size > g.pa_limit() - pa.raw) return Status::pa_out_of_range;
  return Status::ok;
}

constexpr Status check_attrs(const Attrs& attrs, const Geometry& g) {
  if (!attrs.well_formed()) return Status::bad_attributes;
  // With LPA2 a descriptor has no shareability field: VTCR_EL2.SH0 (inner) applies to all.
  if (g.oa_layout() == OaLayout::lpa2 && attrs.sh != Shareability::inner) {
    return Status::bad_attributes;
  }
  if (attrs.executable_device()) return Status::exec_on_device;
  // The contiguous hint needs whole, identical groups of entries; the operations do not manage
  // groups yet, so a caller may not ask for it.
  if (attrs.contiguous) return Status::unsupported;
  return Status::ok;
}

}  // namespace s2pt
