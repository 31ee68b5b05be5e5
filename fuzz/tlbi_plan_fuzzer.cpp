// The TLBI planner against the operand decoders: for a random geometry, CPU features, limits and
// invalidation scope, decode every planned operation as the hardware would and check that
//  - no operation is malformed (operands re-encode to themselves, granule and hint fields are
//    the table's, addresses inside the IPA space, ascending order, nothing after a whole-VMID);
//  - the operations cover exactly the requested leaves, each once (or the whole VMID);
//  - leaf-only forms, level hints and range forms are used only where the scope allows them;
//  - the number of operations respects the limits and, with FEAT_TLBIRANGE, is at most 5 per
//    2^21 pages (plus the single pages before the first 64 KiB boundary with LPA2);
//  - with LPA2 (52-bit 4K and 16K tables), every range operation starts 64 KiB aligned;
//  - count() gives the plan's size, and choose() the same as decide() and count().
#include <algorithm>
#include <cinttypes>
#include <vector>

#include "byte_reader.hpp"
#include "fuzz_check.hpp"
#include "s2pt/tlbi_plan.hpp"

namespace s2pt::fuzz {
namespace {

struct Covered {
  u64 start;  // bytes
  u64 end;
};

// More than any plan within the fuzzer's limits may emit; a runaway plan stops here.
constexpr u64 kMaxOps = 1u << 14;
constexpr u32 kMaxLimit = 4096;

Geometry pick_geometry(ByteReader& in) {
  static constexpr Granule kGranules[] = {Granule::k4, Granule::k16, Granule::k64};
  static constexpr unsigned kIpaBits[] = {32, 33, 36, 39, 40, 42, 43, 44, 47, 48, 49, 51, 52};
  static constexpr unsigned kRootPages[] = {16, 1};
  const Granule g = in.pick(kGranules);
  const unsigned ipa = in.pick(kIpaBits);
  // Beyond 48 IPA bits the PA size is 52; below, sometimes 52 too (the layout changes with it).
  const unsigned pa = ipa > 48 || in.flag() ? 52 : 48;
  const unsigned roots = in.pick(kRootPages);
  const Result<Geometry> geometry = Geometry::make(g, ipa, pa, 16, roots);
  // Only one refusal is legitimate here: without concatenation, 16K at 48 bits would start at
  // level 0, which needs DS; the default (16 root pages) always works.
  if (!geometry.ok() && roots == 1) return Geometry::make(g, ipa, pa).value();
  FUZZ_CHECK(geometry.ok(), "valid geometry refused: granule %u, %u-bit IPA, %u-bit PA",
             granule_shift(g), ipa, pa);
  return geometry.value();
}

LevelHint pick_leaf_level(ByteReader& in, const Geometry& g) {
  const unsigned choice = in.u8() % 5;
  if (choice == 0) return LevelHint::none();
  const Level level{static_cast<int>(choice) - 1};  // level 0: 4K blocks with LPA2 only
  return g.leaf_allowed(level) ? LevelHint::at(level) : LevelHint::none();
}

void run(ByteReader& in) {
  const Geometry g = pick_geometry(in);
  const u8 feature_bits = in.u8();
  const Features features{.tlbi_range = (feature_bits & 1) != 0, .ttl = (feature_bits & 2) != 0};
  const PlannerLimits limits{.max_ipa_ops = static_cast<u32>(in.below(kMaxLimit + 1)),
                             .max_range_ops = static_cast<u32>(in.below(kMaxLimit + 1))};

  InvalidationScope scope;
  scope.leaf_level = pick_leaf_level(in, g);
  const u8 scope_bits = in.u8();
  scope.tables_removed = (scope_bits & 1) != 0;
  scope.leaf_only = (scope_bits & 2) != 0;
  scope.empty_tables = scope.tables_removed && (scope_bits & 4) != 0;
  // The unit every removed leaf occupies: the hinted level's size, as the scope promises.
  const u64 unit = scope.leaf_level.known() && !scope.tables_removed
                       ? g.level_bytes(scope.leaf_level.level())
                       : g.page_bytes();
  const u64 units_in_space = g.ipa_limit() / unit;
  // Sizes near the range-operation boundaries (2^21 pages, NUM and SCALE carries) are the
  // interesting ones; pick a count of units by magnitude so both small and huge scopes occur.
  const unsigned magnitude = static_cast<unsigned>(in.below(64 - __builtin_clzll(units_in_space)));
  u64 units = (u64{1} << magnitude) + in.below(u64{1} << magnitude) + in.below(3);
  if (in.flag()) units = (u64{1} << magnitude) - (in.u8() & 3);
  units = std::clamp<u64>(units, 1, units_in_space);
  const u64 first_unit = in.below(units_in_space - units + 1);
  scope.range = IpaRange{Ipa{first_unit * unit}, units * unit};

  const TlbiPlanner planner(g, features, limits);
  std::vector<TlbiInstr> plan;
  planner.for_each(scope, [&](TlbiInstr instr) {
    FUZZ_CHECK(plan.size() < kMaxOps, "runaway plan for %" PRIu64 " units", units);
    plan.push_back(instr);
  });
  FUZZ_CHECK(!plan.empty(), "empty plan");
  // The counts a plan is tallied by, and choose()'s per-level answer for one leaf, agree with
  // the rules and with the operations the plan emits.
  const TlbiPlanner::Decision decision = planner.decide(scope);
  const TlbiPlanner::OpCounts counts = planner.count(scope, decision);
  FUZZ_CHECK(planner.choose(scope) == (TlbiPlanner::Choice{decision, counts}),
             "choose() differs from decide() and count() for %" PRIu64 " units", units);
  FUZZ_CHECK(counts.ipa + counts.range + counts.vmid == plan.size(),
             "count() gives %" PRIu64 " operations, the plan has %zu",
             counts.ipa + counts.range + counts.vmid, plan.size());

  const u64 pages = scope.range.size / g.page_bytes();
  const u64 chunks = (pages + tlbi::kMaxRangePages - 1) / tlbi::kMaxRangePages;
  // With DS, single pages up to the first 64 KiB boundary come first; the rest needs as many
  // range-plan operations as without DS.
  const bool ds = g.oa_layout() == OaLayout::lpa2;
  const u64 align = ds ? (u64{1} << tlbi::kDsBaseShift) / g.page_bytes() : 1;
  const u64 first_page = scope.range.start.raw / g.page_bytes();
  const u64 head = std::min(pages, (align - first_page % align) % align);
  const u64 range_plan_ops = head + TlbiPlanner::range_ops_for(pages - head);
  if (plan.front().op == TlbiOp::vmalls12e1is) {
    FUZZ_CHECK(plan.size() == 1 && plan.front().operand == 0, "whole-VMID invalidation not alone");
    FUZZ_CHECK(!scope.empty_tables, "whole VMID for empty tables, where one TLBI suffices");
    // Only when the precise plan would exceed its limit.
    const bool exceeds = features.tlbi_range
                             ? std::min<u64>(units, range_plan_ops) >
                                   std::min(limits.max_ipa_ops, limits.max_range_ops)
                             : units > limits.max_ipa_ops;
    FUZZ_CHECK(exceeds, "whole VMID for %" PRIu64 " units within limits", units);
    return;
  }

  if (scope.empty_tables) {
    FUZZ_CHECK(plan.size() == 1 && plan.front().op == TlbiOp::ipas2e1is,
               "empty tables need one non-leaf TLBI by IPA, got %zu ops", plan.size());
    const tlbi::IpaOperand decoded = tlbi::decode_ipa(plan.front().operand, g.granule());
    FUZZ_CHECK(scope.range.contains(decoded.ipa) && !decoded.hint.known(),
               "walk-cache TLBI outside the removed tables or hinted");
    return;
  }

  const bool leaf_only = scope.leaf_only && !scope.tables_removed;
  const LevelHint hint =
      features.ttl && !scope.tables_removed ? scope.leaf_level : LevelHint::none();
  std::vector<Covered> covered;
  bool any_range = false;
  for (const TlbiInstr& instr : plan) {
    FUZZ_CHECK(instr.op != TlbiOp::vmalls12e1is && instr.op != TlbiOp::vmalle1is,
               "%s inside a precise plan", name(instr.op));
    FUZZ_CHECK(is_leaf_only(instr.op) == leaf_only, "%s for a scope with leaf_only=%d",
               name(instr.op), leaf_only);
    if (is_by_ipa(instr.op)) {
      const tlbi::IpaOperand decoded = tlbi::decode_ipa(instr.operand, g.granule());
      FUZZ_CHECK(tlbi::ipa_operand(decoded.ipa, g.granule(), decoded.hint) == instr.operand,
                 "stray bits in by-IPA operand 0x%" PRIx64, instr.operand);
      FUZZ_CHECK(decoded.hint == hint, "by-IPA hint differs from the scope's");
      FUZZ_CHECK(decoded.ipa.aligned(unit) && decoded.ipa.raw < g.ipa_limit(),
                 "by-IPA address 0x%" PRIx64 " not at a leaf of the scope", decoded.ipa.raw);
      // A TLBI by IPA removes every entry translating that IPA: the whole leaf holding it.
      covered.push_back({decoded.ipa.raw, decoded.ipa.raw + unit});
    } else {
      FUZZ_CHECK(is_range(instr.op) && features.tlbi_range, "%s without FEAT_TLBIRANGE",
                 name(instr.op));
      any_range = true;
      const tlbi::RangeOperand r = tlbi::decode_range(instr.operand, ds);
      FUZZ_CHECK(tlbi::range_operand(r) == instr.operand, "stray bits in range operand 0x%" PRIx64,
                 instr.operand);
      FUZZ_CHECK(!ds || r.start().aligned(u64{1} << tlbi::kDsBaseShift),
                 "range op at 0x%" PRIx64 " not 64 KiB aligned under DS", r.start().raw);
      FUZZ_CHECK(r.granule == g.granule(), "range TG %u for a %u-bit granule",
                 granule_shift(r.granule), granule_shift(g.granule()));
      FUZZ_CHECK(r.hint == hint, "range hint differs from the scope's");
      FUZZ_CHECK(r.start().raw < g.ipa_limit() && r.bytes() <= g.ipa_limit() - r.start().raw,
                 "range op 0x%" PRIx64 "+0x%" PRIx64 " beyond the IPA space", r.start().raw,
                 r.bytes());
      covered.push_back({r.start().raw, r.start().raw + r.bytes()});
    }
  }
  for (std::size_t i = 1; i < covered.size(); ++i) {
    FUZZ_CHECK(covered[i - 1].start < covered[i].start, "operations not in ascending IPA order");
  }
  // Exactly the requested leaves, each once: the covered intervals tile the range.
  u64 cursor = scope.range.start.raw;
  for (const Covered& c : covered) {
    FUZZ_CHECK(c.start == cursor, "gap or overlap at 0x%" PRIx64 " (op covers 0x%" PRIx64 ")",
               cursor, c.start);
    cursor = c.end;
  }
  FUZZ_CHECK(cursor == scope.range.end().raw, "plan ends at 0x%" PRIx64 ", range at 0x%" PRIx64,
             cursor, scope.range.end().raw);

  if (any_range) {
    FUZZ_CHECK(plan.size() <= limits.max_range_ops, "%zu range-plan ops above the limit %u",
               plan.size(), limits.max_range_ops);
  } else {
    FUZZ_CHECK(plan.size() == units && plan.size() <= limits.max_ipa_ops,
               "%zu by-IPA ops for %" PRIu64 " units (limit %u)", plan.size(), units,
               limits.max_ipa_ops);
  }
  if (features.tlbi_range) {
    FUZZ_CHECK(plan.size() <= 5 * chunks + head, "%zu ops for %" PRIu64 " pages with range TLBIs",
               plan.size(), pages);
  }
}

}  // namespace
}  // namespace s2pt::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  s2pt::fuzz::ByteReader in(data, size);
  s2pt::fuzz::run(in);
  return 0;
}
