#include "s2pt/arch/counting.hpp"

#include <cstdio>

namespace s2pt::counting {
namespace {

std::string hex(u64 v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string hint(LevelHint h) {
  return h.known() ? " ttl=L" + std::to_string(h.level().value()) : "";
}

std::string describe_tlbi(const Op& op, Granule granule, bool ds) {
  std::string s = std::string("TLBI ") + name(op.tlbi);
  if (is_by_ipa(op.tlbi)) {
    const tlbi::IpaOperand d = tlbi::decode_ipa(op.operand, granule);
    s += " ipa=" + hex(d.ipa.raw) + hint(d.hint);
  } else if (is_range(op.tlbi)) {
    const tlbi::RangeOperand r = tlbi::decode_range(op.operand, ds);
    s += " ipa=" + hex(r.start().raw) + " pages=" + std::to_string(r.pages()) +
         " scale=" + std::to_string(r.scale) + " num=" + std::to_string(r.num) + hint(r.hint);
  }
  return s;
}

}  // namespace

std::string describe(const Op& op, Granule granule, bool ds) {
  switch (op.kind) {
    case OpKind::tlbi:
      return describe_tlbi(op, granule, ds);
    case OpKind::dsb_ishst:
      return "DSB ISHST";
    case OpKind::dsb_ish:
      return "DSB ISH";
    case OpKind::dsb_nshst:
      return "DSB NSHST";
    case OpKind::dsb_nsh:
      return "DSB NSH";
    case OpKind::isb:
      return "ISB";
    case OpKind::dc_civac:
      return "DC CIVAC " + hex(op.pa.raw) + " +" + hex(op.bytes);
    case OpKind::ic_ivau:
      return "IC IVAU " + hex(op.pa.raw) + " +" + hex(op.bytes);
    case OpKind::ic_ialluis:
      return "IC IALLUIS";
  }
  return "?";
}

std::vector<std::string> CountingArch::lines(Granule granule, bool ds) const {
  std::vector<std::string> out;
  out.reserve(log_.size());
  for (const Op& op : log_)
    out.push_back(describe(op, granule, ds));
  return out;
}

}  // namespace s2pt::counting
