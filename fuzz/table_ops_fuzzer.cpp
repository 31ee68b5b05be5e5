// Operation sequences on a table, every step checked against a page-by-page model.
//
// The input picks a geometry (granule, IPA and PA size, VMID width), CPU features and table
// options, then a sequence of map / unmap (every UnmapStrategy) / write_protect / relax /
// annotate / mkyoung / mkold / test_and_clear_young / flush_dcache / split / collapse /
// handle_fault / destroy_range / lookup calls over a window of four level-2 blocks placed at the
// start of the IPA space, across a level-1 boundary or at its end, with ranges drawn near block
// boundaries. With the 4K granule the window may instead be four level-1 (1 GiB) blocks, across
// a level-0 boundary; the model then keeps one slot per level-2 block, and the calls keep every
// level-2 block uniform (no page-sized leaf: no `no_blocks`, no split to pages, no page faults).
// Some calls get bad input (expecting the exact error and an unchanged table), some an
// allocation failure after n allocations (expecting no_memory, a valid table and exactly the
// reported prefix done). handle_fault gets varied requests (leaf sizes valid and not, outputs of
// the current mapping or not, attributes) and page caches full, too small, of the wrong page size
// or with a bad walker slot; its outcome is predicted from the model. After every step the
// table's memory is read without the core's walker and compared with the model, audited
// (reference counts, no empty tables, page accounting), and every page the pool lent must be a
// table page. A second table on the same page pool must stay untouched and share no table page;
// at the end both are destroyed and nothing may leak.
#include <algorithm>
#include <cinttypes>
#include <cstdlib>
#include <optional>
#include <set>
#include <vector>

#include "byte_reader.hpp"
#include "fuzz_check.hpp"
#include "s2pt/arch/counting.hpp"
#include "s2pt/hosted/page_pool.hpp"
#include "s2pt/table.hpp"
#include "support/audit.hpp"
#include "support/leaves.hpp"
#include "support/unmap_strategies.hpp"

namespace s2pt::fuzz {
namespace {

constexpr u64 kWindowBlocks = 4;
constexpr int kMaxSteps = 48;

// S2PT_FUZZ_TRACE=1 prints every call, to read a failing input.
bool tracing() {
  static const bool on = std::getenv("S2PT_FUZZ_TRACE") != nullptr;
  return on;
}

// ---- the model -------------------------------------------------------------------------------

struct Slot {
  bool mapped = false;
  Pa pa;
  Attrs attrs;
  u8 owner = 0;  // annotation of an unmapped page
  bool operator==(const Slot&) const = default;
};

// One slot per `unit` bytes of the window: the granule's page, or (in the 1 GiB block mode) a
// level-2 block, when every call keeps each unit uniform. A slot's `pa` is that of its first byte.
class Model {
 public:
  Model(Ipa start, u64 bytes, u64 unit) : start_(start), unit_(unit), slots_(bytes / unit) {}

  Ipa start() const { return start_; }
  Ipa end() const { return start_ + slots_.size() * unit_; }
  u64 unit() const { return unit_; }
  bool inside(Ipa ipa) const { return ipa >= start_ && ipa < end(); }
  Slot& at(Ipa ipa) { return slots_[(ipa - start_) / unit_]; }
  const Slot& at(Ipa ipa) const { return slots_[(ipa - start_) / unit_]; }
  // The part of `range` inside the window (empty if none).
  IpaRange clip(IpaRange range) const {
    const Ipa first = std::max(range.start, start_);
    const Ipa last = std::min(range.end(), end());
    return first < last ? IpaRange{first, last - first} : IpaRange{start_, 0};
  }

  template <class F>
  void each(IpaRange range, F&& f) {
    for (u64 off = 0; off < range.size; off += unit_)
      f(at(range.start + off), off);
  }
  bool any_mapped(IpaRange range) {
    bool any = false;
    each(range, [&](Slot& s, u64) { any |= s.mapped; });
    return any;
  }
  bool any_device(IpaRange range) {
    bool any = false;
    each(range, [&](Slot& s, u64) { any |= s.mapped && s.attrs.is_device(); });
    return any;
  }
  bool any_used(IpaRange range) {
    bool any = false;
    each(range, [&](Slot& s, u64) { any |= s.mapped || s.owner != 0; });
    return any;
  }
  u64 used_units() const {
    return static_cast<u64>(std::count_if(slots_.begin(), slots_.end(),
                                          [](const Slot& s) { return s.mapped || s.owner != 0; }));
  }

 private:
  Ipa start_;
  u64 unit_;
  std::vector<Slot> slots_;
};

// ---- the table's memory ----------------------------------------------------------------------

using test::leaf_entries;
using Entry = test::LeafEntry;

std::set<u64> table_pages_of(Table& table) {
  std::set<u64> pages;
  for (const auto& [pa, bytes] : test::snapshot(table).pages)
    pages.insert(pa);
  return pages;
}

// The table's memory says exactly what the model says.
void check_against_model(Table& table, const Model& model) {
  const test::AuditReport report = test::audit(table);
  FUZZ_CHECK(report.clean(), "audit: %s", report.summary().c_str());
  u64 covered = 0;
  for (const Entry& e : leaf_entries(table)) {
    FUZZ_CHECK(model.inside(e.base) && e.size <= model.end() - e.base,
               "entry 0x%" PRIx64 " at IPA 0x%" PRIx64 " (L%d) outside the window", e.pte.raw(),
               e.base.raw, e.level.value());
    // Not a table bug by itself, but a call the harness should not have made in this mode.
    FUZZ_CHECK(e.size % model.unit() == 0,
               "entry at IPA 0x%" PRIx64 " (L%d) smaller than the model's unit 0x%" PRIx64,
               e.base.raw, e.level.value(), model.unit());
    if (e.pte.is_leaf(e.level)) {
      const Result<Attrs> attrs = e.pte.attrs(table.format());
      FUZZ_CHECK(attrs.ok(), "leaf 0x%" PRIx64 " has undecodable attributes", e.pte.raw());
      for (u64 off = 0; off < e.size; off += model.unit()) {
        const Slot& s = model.at(e.base + off);
        FUZZ_CHECK(s.mapped && s.pa == e.pte.output_address(table.geometry().oa_layout()) + off &&
                       s.attrs == attrs.value(),
                   "IPA 0x%" PRIx64 ": table maps 0x%" PRIx64 " perm %u af %d, model %s 0x%" PRIx64
                   " perm %u af %d",
                   (e.base + off).raw,
                   (e.pte.output_address(table.geometry().oa_layout()) + off).raw,
                   static_cast<unsigned>(attrs->perm), attrs->af, s.mapped ? "maps" : "unmapped",
                   s.pa.raw, static_cast<unsigned>(s.attrs.perm), s.attrs.af);
      }
    } else {
      FUZZ_CHECK(e.pte.is_annotated(), "stray invalid entry 0x%" PRIx64, e.pte.raw());
      for (u64 off = 0; off < e.size; off += model.unit()) {
        const Slot& s = model.at(e.base + off);
        FUZZ_CHECK(!s.mapped && s.owner == e.pte.owner().raw,
                   "IPA 0x%" PRIx64 ": table owner %u, model %s owner %u", (e.base + off).raw,
                   e.pte.owner().raw, s.mapped ? "mapped" : "unmapped", s.owner);
      }
    }
    covered += e.size / model.unit();
  }
  FUZZ_CHECK(covered == model.used_units(), "table holds %" PRIu64 " units, model %" PRIu64,
             covered, model.used_units());
}

// The core's own lookup and owner queries agree with the model at one IPA.
void check_lookup(Table& table, const Model& model, Ipa ipa) {
  const Result<Translation> t = table.lookup(ipa);
  if (ipa.raw >= table.geometry().ipa_limit()) {
    FUZZ_CHECK(t.status() == Status::ipa_out_of_range, "lookup beyond the IPA space: %s",
               describe(t.status()));
    return;
  }
  const Slot none;
  const Slot& s = model.inside(ipa) ? model.at(ipa) : none;
  const u64 offset = ipa.raw & (model.unit() - 1);
  if (!s.mapped) {
    FUZZ_CHECK(t.status() == Status::not_mapped, "lookup 0x%" PRIx64 ": %s, model unmapped",
               ipa.raw, describe(t.status()));
    FUZZ_CHECK(table.owner(ipa).raw == s.owner, "owner at 0x%" PRIx64 ": %u, model %u", ipa.raw,
               table.owner(ipa).raw, s.owner);
    return;
  }
  FUZZ_CHECK(t.ok() && t->pa == s.pa + offset && t->attrs == s.attrs && t->base <= ipa &&
                 ipa - t->base < t->size,
             "lookup 0x%" PRIx64 ": %s 0x%" PRIx64 ", model 0x%" PRIx64, ipa.raw,
             describe(t.status()), t.ok() ? t->pa.raw : 0, (s.pa + offset).raw);
  FUZZ_CHECK(table.owner(ipa).raw == 0, "mapped IPA 0x%" PRIx64 " has an owner", ipa.raw);
}

// ---- input decoding --------------------------------------------------------------------------

struct Setup {
  Granule granule;
  unsigned ipa_bits;
  unsigned pa_bits;
  unsigned vmid_bits;
  Vmid vmid;
};

// What Geometry::make must answer, from the architecture's rules (the default root
// concatenation keeps every start level encodable).
Status expected_geometry_status(const Setup& s) {
  static constexpr unsigned kPaSizes[] = {32, 36, 40, 42, 44, 48, 52};
  const bool pa_ok =
      std::find(std::begin(kPaSizes), std::end(kPaSizes), s.pa_bits) != std::end(kPaSizes);
  if (s.ipa_bits < 32 || s.ipa_bits > 52 || !pa_ok || s.ipa_bits > s.pa_bits) {
    return Status::bad_geometry;
  }
  if (s.vmid_bits != 8 && s.vmid_bits != 16) return Status::bad_geometry;
  return Status::ok;
}

// And Table::create: the VMID must fit, and a 52-bit PA size needs the granule's 52-bit layout
// from the CPU (FEAT_LPA2 for 4K and 16K, FEAT_LPA for 64K).
Status expected_create_status(const Setup& s, const Features& cpu) {
  if (const Status g = expected_geometry_status(s); g != Status::ok) return g;
  if (s.vmid_bits == 8 && s.vmid.raw > 0xFF) return Status::bad_geometry;
  if (s.pa_bits == 52 && !(s.granule == Granule::k64 ? cpu.lpa : cpu.lpa2)) {
    return Status::missing_feature;
  }
  return Status::ok;
}

Setup pick_setup(ByteReader& in) {
  static constexpr Granule kGranules[] = {Granule::k4, Granule::k16, Granule::k64};
  static constexpr unsigned kIpaBits[] = {32, 33, 36, 39, 40, 42, 44, 47, 48, 31, 49, 52};
  static constexpr unsigned kPaBits[] = {48, 40, 44, 42, 36, 32, 38, 52};
  Setup s;
  s.granule = in.pick(kGranules);
  const u8 sizes = in.u8();
  static constexpr unsigned kWideIpaBits[] = {49, 52, 48, 40};
  if ((sizes & 0xC0) == 0xC0) {  // anything, valid or not
    s.ipa_bits = kIpaBits[sizes % 12];
    s.pa_bits = kPaBits[(sizes >> 3) % 8];
  } else if ((sizes & 0xC0) == 0x80) {  // a 52-bit PA space, the IPA up to 52 bits
    s.ipa_bits = kWideIpaBits[sizes % 4];
    s.pa_bits = 52;
  } else {  // a valid IPA size, the PA size 44 or 48 bits
    s.ipa_bits = kIpaBits[sizes % 9];
    s.pa_bits = (sizes & 0x20) && s.ipa_bits <= 44 ? 44 : 48;
  }
  const u8 vmid = in.u8();
  s.vmid_bits = (vmid & 0x80) ? 8 : (vmid & 0x40) && (vmid & 0x20) ? 12 : 16;
  s.vmid = Vmid{static_cast<u16>((vmid & 0x10) ? 0x100 + (vmid & 0xF) : vmid & 0xF)};
  return s;
}

struct Bounds {
  Geometry g;
  u64 block;  // the largest leaf the window exercises: a level-2 block, or level-1 in 1 GiB mode
  Model* model;
  bool coarse() const { return model->unit() != g.page_bytes(); }
};

// A range inside the window, its ends near block (and table) boundaries more often than not.
IpaRange pick_range(ByteReader& in, const Bounds& b) {
  const Model& m = *b.model;
  const u64 unit = m.unit();
  const u64 window_units = (m.end() - m.start()) / unit;
  const u64 block_units = b.block / unit;
  auto point = [&](u8 kind) -> u64 {
    const u8 d = in.u8();
    const std::int64_t delta = (d & 8) ? 0 : static_cast<std::int64_t>(d % 7) - 3;
    std::int64_t at = 0;
    switch (kind % 3) {
      case 0:  // a block boundary, give or take a few units
        at = static_cast<std::int64_t>(in.below(kWindowBlocks + 1) * block_units) + delta;
        break;
      case 1:  // a 16-unit (contiguous-group sized, in pages) boundary
        at = static_cast<std::int64_t>(in.below(window_units / 16 + 1) * 16) + delta;
        break;
      default:
        at = static_cast<std::int64_t>(in.below(window_units + 1));
    }
    return static_cast<u64>(
        std::clamp<std::int64_t>(at, 0, static_cast<std::int64_t>(window_units)));
  };
  const u8 kinds = in.u8();
  u64 first = point(kinds);
  u64 last = 0;
  switch ((kinds >> 2) % 7) {
    case 4:  // whole aligned blocks, where block leaves go
      first = in.below(kWindowBlocks) * block_units;
      last = first + block_units * (1 + in.below(2));
      break;
    case 0:
      last = first + 1;
      break;
    case 1:
      last = first + block_units;
      break;
    case 2:
      last = first + in.below(8) + 1;
      break;
    case 3:
      first = 0;
      last = window_units;
      break;
    default:
      last = point(kinds >> 5);
  }
  last = std::min(last, window_units);
  if (first > last) std::swap(first, last);
  if (first == last) {
    if (last < window_units) {
      ++last;
    } else {
      --first;
    }
  }
  return IpaRange{m.start() + first * unit, (last - first) * unit};
}

// Sometimes replaces a good range by a bad one; returns the status the call must fail with.
Status maybe_break_range(ByteReader& in, const Geometry& g, IpaRange& range) {
  const u8 choice = in.u8();
  if (choice < 224) return Status::ok;
  switch (choice % 6) {
    case 0:
      range.size = 0;
      return Status::empty_range;
    case 1:
      range.start = range.start + (u64{1} << (choice % 12));
      return Status::unaligned;
    case 2:
      range.size += 0x800;
      return Status::unaligned;
    case 3:
      range.start = Ipa{~u64{0} - g.page_bytes() + 1};
      range.size = 2 * g.page_bytes();
      return Status::wraps;
    case 4:
      range.start = Ipa{g.ipa_limit() - g.page_bytes()};
      range.size = 2 * g.page_bytes();
      return Status::ipa_out_of_range;
    default:
      range.start = Ipa{g.ipa_limit()};
      range.size = g.page_bytes();
      return Status::ipa_out_of_range;
  }
}

// An output address wrong on purpose, picked by `which`: misaligned, at the PA limit, the
// caller's own near miss, or so high that the range wraps.
Pa bad_output(const Geometry& g, Pa pa, u8 which, Pa near_miss) {
  switch (which % 4) {
    case 0:
      return pa + 0x400;
    case 1:
      return Pa{g.pa_limit()};
    case 2:
      return near_miss;
    default:
      return Pa{~u64{0} - g.page_bytes() + 1};
  }
}

// What the output address of a map must be refused with, if anything.
Status output_status(const Geometry& g, Pa pa, u64 size) {
  if (!pa.aligned(g.page_bytes())) return Status::unaligned;
  if (pa.raw + size < pa.raw) return Status::wraps;
  if (pa.raw >= g.pa_limit() || size > g.pa_limit() - pa.raw) return Status::pa_out_of_range;
  return Status::ok;
}

Attrs pick_attrs(ByteReader& in) {
  const u8 a = in.u8();
  const u8 b = in.u8();
  Attrs attrs;
  attrs.perm = Perm(a & 7);
  attrs.mem = MemType((a >> 3) & 3);
  static constexpr Shareability kSh[] = {Shareability::inner, Shareability::outer,
                                         Shareability::non, Shareability::inner};
  attrs.sh = kSh[(a >> 5) & 3];
  attrs.af = (a & 0x80) == 0;
  attrs.sw = b & 0xF;
  if ((b & 0xF0) == 0xF0) {  // malformed on purpose, one field at a time
    switch (b & 3) {
      case 0:
        attrs.perm = Perm(8 | (a & 7));
        break;
      case 1:
        attrs.mem = MemType(4 + (a & 3));
        break;
      case 2:
        attrs.sh = Shareability(1);
        break;
      default:
        attrs.sw = static_cast<u8>(16 + (a & 7));
    }
  } else if ((b & 0xF0) == 0xE0) {
    attrs.contiguous = true;
  }
  return attrs;
}

Status attrs_status(const Attrs& a, const Geometry& g) {
  const bool malformed = (static_cast<u8>(a.perm) & ~kPermMask) != 0 ||
                         static_cast<u8>(a.mem) >= kMemTypeCount || static_cast<u8>(a.sh) == 1 ||
                         a.sw >= 16;
  if (malformed) return Status::bad_attributes;
  // LPA2 descriptors have no shareability field: inner (VTCR_EL2.SH0) or nothing.
  if (g.oa_layout() == OaLayout::lpa2 && a.sh != Shareability::inner) return Status::bad_attributes;
  if (a.is_device() && has(a.perm, Perm::exec)) return Status::exec_on_device;
  if (a.contiguous) return Status::unsupported;
  return Status::ok;
}

// ---- the run ---------------------------------------------------------------------------------

enum class Op : u8 {
  map,
  unmap,
  write_protect,
  relax,
  annotate,
  mkyoung,
  mkold,
  test_and_clear_young,
  flush_dcache,
  split,
  collapse,
  fault,
  destroy_range,
  lookup,
  count,
};

class Run {
 public:
  Run(ByteReader& in, Table& table, Table& neighbour, hosted::PagePool& pool,
      counting::CountingArch& arch, Model& model, u64 block)
      : in_(in),
        table_(table),
        neighbour_(neighbour),
        pool_(pool),
        arch_(arch),
        model_(model),
        bounds_{table.geometry(), block, &model} {}

  void step() {
    const u8 op_byte = in_.u8();
    const Op op = Op(op_byte % static_cast<u8>(Op::count));
    // One call in eight runs out of table pages after a few allocations.
    const bool inject = (op_byte & 0xE0) == 0xE0;
    IpaRange range = pick_range(in_, bounds_);
    const Status range_status = maybe_break_range(in_, bounds_.g, range);
    const test::TableSnapshot before = test::snapshot(table_);
    if (inject) pool_.fail_after(in_.below(6));
    arch_.clear();

    Outcome out;
    switch (op) {
      case Op::map:
        out = do_map(range, range_status);
        break;
      case Op::unmap:
        out = do_unmap(range, range_status);
        break;
      case Op::write_protect:
      case Op::relax:
        out = do_permissions(op, range, range_status);
        break;
      case Op::annotate:
        out = do_annotate(range, range_status);
        break;
      case Op::mkyoung:
      case Op::mkold:
      case Op::test_and_clear_young:
        out = do_aging(op, range, range_status);
        break;
      case Op::split:
        out = do_split(range, range_status);
        break;
      case Op::collapse:
        out = {range_status, table_.collapse(range), nullptr};
        break;
      case Op::flush_dcache:
        out = {range_status, table_.flush_dcache(range), nullptr};
        break;
      case Op::fault: {
        const Ipa ipa = do_fault(range, range_status, inject, before);
        pool_.never_fail();
        after_call(IpaRange{ipa.align_down(bounds_.g.page_bytes()), bounds_.g.page_bytes()});
        return;
      }
      case Op::destroy_range:
        out = do_destroy_range(range, range_status);
        break;
      case Op::lookup:
        pool_.never_fail();
        check_lookup(table_, model_, pick_ipa());
        return;
      case Op::count:
        break;
    }
    pool_.never_fail();
    if (tracing()) {
      static constexpr const char* kNames[] = {
          "map",      "unmap", "write_protect",        "relax",        "annotate",
          "mkyoung",  "mkold", "test_and_clear_young", "flush_dcache", "split",
          "collapse", "fault", "destroy_range"};
      std::fprintf(stderr, "%s [0x%" PRIx64 ", +0x%" PRIx64 ")%s: %s, 0x%" PRIx64 " done\n",
                   kNames[static_cast<int>(op)], range.start.raw, range.size,
                   inject ? " (allocation failure)" : "", describe(out.progress.status),
                   out.progress.bytes_done);
    }
    settle(out, range, before);
    if (op == Op::destroy_range) check_teardown(range, out.progress);
    after_call(range);
  }

 private:
  // What a call must have done: `expected` is ok when only no_memory may stop it; `apply`
  // changes the model for a processed prefix of the range.
  using Apply = void (*)(Run&, IpaRange);
  struct Outcome {
    Status expected = Status::ok;
    Progress progress;
    Apply apply = nullptr;
    bool budgeted = false;  // may stop early with `budget_exhausted` (a page budget ran out)
  };

  // The checks after every call that may have changed the table.
  void after_call(IpaRange range) {
    for (const counting::Op& o : arch_.log()) {
      FUZZ_CHECK(o.kind != counting::OpKind::tlbi || o.vmid == table_.vmid(),
                 "TLBI for VMID %u from a table of VMID %u", o.vmid.raw, table_.vmid().raw);
    }
    check_against_model(table_, model_);
    check_lookup(table_, model_, range.start);
    if (range.size > 0) check_lookup(table_, model_, range.start + (range.size - 1));
    // Every page the pool lent is a table page of one of the two tables (or still waits for its
    // grace period).
    if (!table_.reclaim_pending() && !neighbour_.reclaim_pending()) {
      const u64 pages = table_.stats().table_pages + neighbour_.stats().table_pages;
      FUZZ_CHECK(pool_.bytes_in_use() == pages * bounds_.g.page_bytes(),
                 "pool lends 0x%" PRIx64 " bytes, the tables hold %" PRIu64 " pages",
                 pool_.bytes_in_use(), pages);
    }
  }

  void settle(const Outcome& out, IpaRange range, const test::TableSnapshot& before) {
    const Progress p = out.progress;
    if (out.expected != Status::ok) {
      FUZZ_CHECK(p.status == out.expected && p.bytes_done == 0,
                 "expected %s, got %s after 0x%" PRIx64, describe(out.expected), describe(p.status),
                 p.bytes_done);
      FUZZ_CHECK(test::snapshot(table_) == before, "refused call (%s) changed the table",
                 describe(p.status));
      return;
    }
    if (p.ok()) {
      FUZZ_CHECK(p.bytes_done == range.size, "ok after 0x%" PRIx64 " of 0x%" PRIx64, p.bytes_done,
                 range.size);
      if (out.apply) out.apply(*this, range);
      return;
    }
    FUZZ_CHECK(
        p.status == Status::no_memory || (out.budgeted && p.status == Status::budget_exhausted),
        "unexpected %s", describe(p.status));
    FUZZ_CHECK(p.bytes_done < range.size && (p.bytes_done & (bounds_.g.page_bytes() - 1)) == 0,
               "%s reports 0x%" PRIx64 " of 0x%" PRIx64 " done", describe(p.status), p.bytes_done,
               range.size);
    FUZZ_CHECK(p.bytes_done % model_.unit() == 0,
               "0x%" PRIx64 " done is not a multiple of the model's unit", p.bytes_done);
    if (out.apply && p.bytes_done > 0) out.apply(*this, IpaRange{range.start, p.bytes_done});
  }

  Ipa pick_ipa() {
    switch (in_.u8() % 4) {
      case 0:
        return Ipa{bounds_.g.ipa_limit() + in_.below(1 << 20)};
      case 1:
        return Ipa{in_.below(bounds_.g.ipa_limit())};
      default:
        return model_.start() + in_.below(model_.end() - model_.start());
    }
  }

  Outcome do_map(IpaRange range, Status range_status) {
    const Geometry& g = bounds_.g;
    const u8 how = in_.u8();
    // The output keeps the IPA's offset within a block (so blocks can be used) or shifts it by
    // a few pages; it sits low, near the top of the PA space, or is bad on purpose.
    const u64 blocks_in_pa = g.pa_limit() / bounds_.block;
    u64 base_block = (how & 1) ? blocks_in_pa - kWindowBlocks - 1 : in_.below(blocks_in_pa / 2);
    Pa pa{base_block * bounds_.block + (range.start.raw & (bounds_.block - 1))};
    if ((how & 6) == 6) pa = pa + (in_.below(4) + 1) * model_.unit();
    if ((how & 0x1C) == 0x1C) {
      pa = bad_output(g, pa, static_cast<u8>(how >> 5), Pa{g.pa_limit() - g.page_bytes()});
    }
    const Status pa_status = output_status(g, pa, range.size);
    const Attrs attrs = pick_attrs(in_);
    const u8 flag_byte = in_.u8();
    MapFlags flags = (flag_byte & 1) ? MapFlags::replace : MapFlags::none;
    // Pages would split the 1 GiB mode's units.
    if ((flag_byte & 6) == 6 && !bounds_.coarse()) flags = flags | MapFlags::no_blocks;
    Status flags_status = Status::ok;
    if (flag_byte == 0xFF) {
      flags = MapFlags(0x80 | (flag_byte & 3));
      flags_status = Status::bad_flags;
    }

    Status expected = range_status;
    if (expected == Status::ok) expected = pa_status;
    if (expected == Status::ok) expected = attrs_status(attrs, g);
    if (expected == Status::ok) expected = flags_status;
    if (expected == Status::ok && !has(flags, MapFlags::replace) && model_.any_used(range)) {
      expected = Status::exists;
    }
    pending_pa_ = pa;
    pending_range_start_ = range.start;
    pending_attrs_ = attrs;
    return {expected, table_.map(range, pa, attrs, flags), [](Run& r, IpaRange done) {
              r.model_.each(done, [&](Slot& s, u64 off) {
                const u64 shift = done.start - r.pending_range_start_;
                s = Slot{
                    .mapped = true, .pa = r.pending_pa_ + shift + off, .attrs = r.pending_attrs_};
              });
            }};
  }

  Outcome do_unmap(IpaRange range, Status range_status) {
    static const std::vector<UnmapStrategy> strategies = test::all_unmap_strategies();
    const u8 pick = in_.u8();
    UnmapStrategy strategy = strategies[pick % strategies.size()];
    Status expected = range_status;
    if (pick == 0xFF) {  // a value no strategy has
      strategy = UnmapStrategy(0xFF);
      if (expected == Status::ok) expected = Status::unsupported;
    }
    return {expected, table_.unmap(range, strategy), [](Run& r, IpaRange done) {
              r.model_.each(done, [](Slot& s, u64) {
                if (s.mapped) s = Slot{};
              });
            }};
  }

  Outcome do_permissions(Op op, IpaRange range, Status range_status) {
    Status expected = range_status;
    if (op == Op::write_protect) {
      return {expected, table_.write_protect(range), [](Run& r, IpaRange done) {
                r.model_.each(done, [](Slot& s, u64) {
                  if (s.mapped) s.attrs.perm = without(s.attrs.perm, Perm::write);
                });
              }};
    }
    const u8 p = in_.u8();
    pending_perm_ = Perm(p & 7);
    if ((p & 0xF8) == 0xF8) {
      pending_perm_ = Perm(p);
      if (expected == Status::ok) expected = Status::bad_attributes;
    }
    if (expected == Status::ok && has(pending_perm_, Perm::exec) &&
        model_.any_device(model_.clip(range))) {
      expected = Status::exec_on_device;
    }
    return {expected, table_.relax(range, pending_perm_), [](Run& r, IpaRange done) {
              r.model_.each(done, [&](Slot& s, u64) {
                if (s.mapped) s.attrs.perm = s.attrs.perm | r.pending_perm_;
              });
            }};
  }

  // Splitting blocks (ahead of dirty logging) changes no translation: the model stays as it is.
  Outcome do_split(IpaRange range, Status range_status) {
    Level target{static_cast<int>(in_.u8() % 4)};
    if (bounds_.coarse() && target.is_last()) target = Level{2};
    const u64 budget = in_.below(40);
    Status expected = range_status;
    if (expected == Status::ok &&
        (!bounds_.g.leaf_allowed(target) || target < bounds_.g.start_level())) {
      expected = Status::unsupported;
    }
    Outcome out{expected, table_.split(range, target, budget), nullptr};
    out.budgeted = true;
    return out;
  }

  Outcome do_annotate(IpaRange range, Status range_status) {
    pending_owner_ = static_cast<u8>(in_.u8() % 4 == 0 ? 0 : in_.u8());
    Status expected = range_status;
    if (expected == Status::ok && model_.any_mapped(range)) expected = Status::exists;
    return {expected, table_.annotate(range, OwnerId{pending_owner_}), [](Run& r, IpaRange done) {
              r.model_.each(done, [&](Slot& s, u64) { s.owner = r.pending_owner_; });
            }};
  }

  // Aging acts on whole leaves: the model's pages change with every leaf the range touches.
  Outcome do_aging(Op op, IpaRange range, Status range_status) {
    if (range_status != Status::ok) {
      const Progress p = op == Op::mkyoung ? table_.mkyoung(range) : table_.mkold(range);
      return {range_status, p, nullptr};
    }
    const bool young = op == Op::mkyoung;
    bool model_young = false;
    for (const Entry& e : leaf_entries(table_)) {
      if (!e.pte.is_leaf(e.level) || e.base >= range.end() || e.base + e.size <= range.start) {
        continue;
      }
      model_.each(IpaRange{e.base, e.size}, [&](Slot& s, u64) {
        model_young |= s.attrs.af;
        s.attrs.af = young;
      });
    }
    if (op == Op::test_and_clear_young) {
      const Result<bool> r = table_.test_and_clear_young(range);
      FUZZ_CHECK(r.ok() && r.value() == model_young, "test_and_clear_young: %s %d, model %d",
                 describe(r.status()), r.ok() && r.value(), model_young);
      return {Status::ok, Progress{Status::ok, range.size}, nullptr};
    }
    // No allocation: injected failures must not matter.
    const Progress p = young ? table_.mkyoung(range) : table_.mkold(range);
    FUZZ_CHECK(p.ok(), "aging failed: %s", describe(p.status));
    return {Status::ok, p, nullptr};
  }

  // ---- the fault path ----

  // The leaf sizes the architecture allows (D8.2 of the Arm ARM): the granule's page, a level-2
  // block, with 4K a level-1 block where the geometry has level 1; with a 52-bit layout one
  // level more (4K: level 0, 16K and 64K: level 1), where the geometry has that level.
  bool is_leaf_size(u64 bytes) const {
    const Geometry& g = bounds_.g;
    if (bytes == g.page_bytes() || bytes == g.level_bytes(Level{2})) return true;
    const bool wide = g.oa_layout() != OaLayout::bits48;
    const int lowest = (g.granule() == Granule::k4 ? 1 : 2) - (wide ? 1 : 0);
    for (int level = lowest; level < 2; ++level) {
      if (g.has_level(Level{level}) && bytes == g.level_bytes(Level{level})) return true;
    }
    return false;
  }

  u64 pick_leaf_bytes(u8 how) {
    const Geometry& g = bounds_.g;
    const u64 page = g.page_bytes();
    const u64 l2 = g.level_bytes(Level{2});
    switch (how % 8) {
      case 0:
      case 1:
        // The 1 GiB mode keeps every level-2 unit uniform: no page-sized leaf there.
        return bounds_.coarse() ? l2 : page;
      case 2:
      case 3:
        return l2;
      case 4:
        return g.has_level(Level{1}) ? g.level_bytes(Level{1}) : l2;
      case 5:  // no leaf has this size
        return (how & 0x80) ? 0 : 2 * page;
      case 6:
        return (how & 0x80) ? 3 * l2 : page / 2;
      default:
        return g.has_level(Level{0}) ? g.level_bytes(Level{0}) : l2 * 2;
    }
  }

  // The status handle_fault must answer before touching anything, in the order it checks.
  Status fault_input_status(const FaultRequest& f, const PageCache& cache) const {
    const Geometry& g = bounds_.g;
    if (f.ipa.raw >= g.ipa_limit()) return Status::ipa_out_of_range;
    if (!is_leaf_size(f.leaf_bytes)) return Status::unsupported;
    if (const Status s = output_status(g, f.pa, f.leaf_bytes); s != Status::ok) return s;
    if (!f.pa.aligned(f.leaf_bytes)) return Status::unaligned;
    if (const Status s = attrs_status(f.attrs, g); s != Status::ok) return s;
    if (cache.page_bytes() != g.page_bytes() || cache.walker_slot() >= Reclaimer::kWalkerSlots) {
      return Status::mismatched_cache;
    }
    // One table page for each level below the root, whatever the fault will need.
    if (cache.size() < g.levels() - 1) return Status::no_memory;
    return Status::ok;
  }

  // One handle_fault, with a page cache filled (or not) beforehand; returns the IPA it faulted.
  Ipa do_fault(IpaRange range, Status range_status, bool inject,
               const test::TableSnapshot& before) {
    const Geometry& g = bounds_.g;
    const u64 page = g.page_bytes();
    // The faulting IPA: anywhere in the range (any byte of a page), or beyond the IPA space.
    Ipa ipa = range.start + in_.below(std::max<u64>(range.size, 1));
    if (range_status == Status::wraps || range_status == Status::ipa_out_of_range) {
      ipa = (range_status == Status::wraps) ? Ipa{~u64{0} - in_.below(page)}
                                            : Ipa{g.ipa_limit() + in_.below(1 << 20)};
    } else if (ipa >= model_.end()) {
      ipa = model_.end() - 1;
    }

    const u8 how = in_.u8();
    u64 leaf_bytes = pick_leaf_bytes(how);
    const bool in_window = model_.inside(ipa);
    const Ipa page_ipa = ipa.align_down(page);
    // A 1 GiB leaf goes in whole where nothing in its region is used, else the faulting page
    // alone. In page mode the region reaches beyond the window, where the model cannot follow a
    // whole block; in the 1 GiB mode a page would split a level-2 unit. Those become level-2
    // faults.
    if (in_window && leaf_bytes > g.level_bytes(Level{2}) && is_leaf_size(leaf_bytes)) {
      const bool used =
          model_.any_used(model_.clip(IpaRange{ipa.align_down(leaf_bytes), leaf_bytes}));
      if (used == bounds_.coarse()) {
        leaf_bytes = g.level_bytes(Level{2});
      } else if (bounds_.coarse() && leaf_bytes > model_.end() - model_.start()) {
        // A 52-bit layout's larger blocks (64 GiB, 512 GiB, 4 TiB) reach past even the 1 GiB
        // mode's window: its own 1 GiB block instead.
        leaf_bytes = bounds_.block;
      }
    }

    // The output: that of the current mapping (a permission or access fault), shifted by a leaf
    // (memory the IPA is not mapped to), anywhere, or bad on purpose.
    const u8 out = in_.u8();
    const Ipa leaf_ipa = ipa.align_down(std::max<u64>(leaf_bytes, 1));
    Pa pa;
    const Slot* slot = in_window ? &model_.at(ipa) : nullptr;
    if (slot && slot->mapped && (out & 3) != 0) {
      const Pa have = slot->pa + (page_ipa - ipa.align_down(model_.unit()));
      pa = Pa{have.raw - (page_ipa - leaf_ipa)};
      if ((out & 3) == 3) pa = pa + std::max<u64>(leaf_bytes, page);
    } else {
      const u64 unit = std::max<u64>(leaf_bytes, page);
      pa = Pa{in_.below(std::max<u64>(g.pa_limit() / unit / 2, 1)) * unit};
    }
    if ((out & 0x1C) == 0x1C) {
      // The near miss is page aligned, but not leaf aligned when the leaf is a block.
      pa = bad_output(g, pa, static_cast<u8>(out >> 5), pa + page);
    }
    const FaultRequest request{
        .ipa = ipa, .pa = pa, .leaf_bytes = leaf_bytes, .attrs = pick_attrs(in_)};

    // The cache: usually enough pages, sometimes too few, of the wrong size, or a bad slot.
    const u8 c = in_.u8();
    const unsigned slot_index = (c & 0xE0) == 0xE0 ? Reclaimer::kWalkerSlots + (c & 3) : c & 31;
    const u64 cache_page = (c & 0xE0) == 0xC0 ? (page == 4096 ? 16384 : 4096) : page;
    PageCache cache(cache_page, slot_index);
    const u8 fill = in_.u8();
    const unsigned want = fill < 160 ? g.levels() - 1 + (fill & 1) : fill % g.levels();
    // An injected allocation failure (armed by step()) hits the topup.
    const Status topup = cache.topup(pool_, want);
    pool_.never_fail();
    FUZZ_CHECK(topup == Status::ok || (inject && topup == Status::no_memory && cache.size() < want),
               "topup: %s with %u of %u pages", describe(topup), cache.size(), want);
    const unsigned cache_before = cache.size();
    const u64 pages_before = table_.stats().table_pages;
    arch_.clear();

    const Status refused = fault_input_status(request, cache);
    const Result<FaultOutcome> got = table_.handle_fault(request, cache);
    if (tracing()) {
      std::fprintf(stderr,
                   "fault ipa 0x%" PRIx64 " pa 0x%" PRIx64 " leaf 0x%" PRIx64
                   " perm %u, cache %u pages: %s %d\n",
                   ipa.raw, pa.raw, leaf_bytes, static_cast<unsigned>(request.attrs.perm),
                   cache_before, describe(got.status()), got.ok() ? int(got.value()) : -1);
    }
    if (refused == Status::ok) {
      FUZZ_CHECK(in_window, "a valid fault outside the window");
      settle_fault(request, got, cache_before - cache.size(), pages_before);
    } else {
      FUZZ_CHECK(got.status() == refused, "fault: %s, expected %s", describe(got.status()),
                 describe(refused));
    }
    if (refused != Status::ok || !got.ok()) {
      FUZZ_CHECK(test::snapshot(table_) == before, "refused fault (%s) changed the table",
                 describe(got.status()));
      FUZZ_CHECK(cache.size() == cache_before, "refused fault took a cached page");
      FUZZ_CHECK(arch_.log().empty(), "refused fault did maintenance");
    }
    cache.drain(pool_);
    return in_window ? ipa : range.start;
  }

  // What the page model says a valid fault does, checked against what it did.
  void settle_fault(const FaultRequest& f, const Result<FaultOutcome>& got, unsigned pages_taken,
                    u64 pages_before) {
    const Geometry& g = bounds_.g;
    const Ipa page_ipa = f.ipa.align_down(g.page_bytes());
    const Ipa leaf_ipa = f.ipa.align_down(f.leaf_bytes);
    const Slot s = model_.at(page_ipa);
    u64 tlbis = 0;
    u64 broadcast = 0;
    for (const counting::Op& o : arch_.log()) {
      tlbis += o.kind == counting::OpKind::tlbi;
      broadcast += o.kind == counting::OpKind::tlbi && !is_local(o.tlbi);
    }
    const u64 pages_added = table_.stats().table_pages - pages_before;

    if (s.mapped) {
      const Pa have = s.pa + (page_ipa - page_ipa.align_down(model_.unit()));
      const Pa want = f.pa + (page_ipa - leaf_ipa);
      if (have != want || s.attrs.mem != f.attrs.mem) {
        FUZZ_CHECK(got.status() == Status::exists, "fault on other memory: %s, expected exists",
                   describe(got.status()));
        return;
      }
      FUZZ_CHECK(got.ok(), "fault on its own mapping: %s", describe(got.status()));
      const Perm perm = s.attrs.perm | f.attrs.perm;
      const FaultOutcome expected = perm != s.attrs.perm ? FaultOutcome::relaxed
                                    : !s.attrs.af        ? FaultOutcome::made_young
                                                         : FaultOutcome::already_resolved;
      FUZZ_CHECK(got.value() == expected, "fault outcome %d, expected %d", int(got.value()),
                 int(expected));
      FUZZ_CHECK(pages_taken == 0 && pages_added == 0, "resolving a mapped IPA took table pages");
      // A permission change, or one another CPU made (already resolved), needs this CPU's old
      // translation gone: two local TLBIs (IPAS2E1, VMALLE1) and no broadcast. Making an entry
      // young needs none (an entry without AF is never cached).
      const u64 want_tlbis = expected == FaultOutcome::made_young ? 0 : 2;
      FUZZ_CHECK(tlbis == want_tlbis && broadcast == 0,
                 "%" PRIu64 " TLBIs (%" PRIu64 " broadcast) for outcome %d", tlbis, broadcast,
                 int(expected));
      // The whole leaf that holds the IPA changes.
      for (const Entry& e : leaf_entries(table_)) {
        if (e.base <= page_ipa && page_ipa - e.base < e.size) {
          model_.each(IpaRange{e.base, e.size}, [&](Slot& t, u64) {
            t.attrs.perm = t.attrs.perm | f.attrs.perm;
            t.attrs.af = true;
          });
        }
      }
      return;
    }
    if (s.owner != 0) {
      FUZZ_CHECK(got.status() == Status::exists, "fault on an annotated IPA: %s",
                 describe(got.status()));
      return;
    }
    FUZZ_CHECK(got.ok() && got.value() == FaultOutcome::mapped, "fault on a free IPA: %s %d",
               describe(got.status()), got.ok() ? int(got.value()) : -1);
    FUZZ_CHECK(tlbis == 0, "installing a leaf issued %" PRIu64 " TLBIs", tlbis);
    FUZZ_CHECK(pages_taken == pages_added && pages_taken <= g.levels() - 1,
               "fault took %u cached pages and linked %" PRIu64, pages_taken, pages_added);
    // The requested leaf, unless a table already holds part of its region: then the page alone.
    IpaRange mapped{leaf_ipa, f.leaf_bytes};
    if (f.leaf_bytes > g.page_bytes() && model_.any_used(model_.clip(mapped))) {
      mapped = IpaRange{page_ipa, g.page_bytes()};
    }
    model_.each(mapped, [&](Slot& t, u64 off) {
      t = Slot{.mapped = true, .pa = f.pa + (mapped.start - leaf_ipa) + off, .attrs = f.attrs};
    });
  }

  // ---- chunked teardown ----

  Outcome do_destroy_range(IpaRange range, Status range_status) {
    const u8 b = in_.u8();
    const u64 budget = b < 96 ? b % 4 : b < 224 ? 4 + b % 32 : ~u64{0};
    Outcome out{range_status, table_.destroy_range(range, budget), [](Run& r, IpaRange done) {
                  r.model_.each(done, [](Slot& s, u64) {
                    if (s.mapped) s = Slot{};
                  });
                }};
    out.budgeted = true;
    return out;
  }

  // A teardown that stopped early did at least one chunk (one level-1 region, or one root
  // entry's when the root is deeper) and stopped at a chunk's end; then the reclaimer, in small
  // budgets, frees everything destroyed.
  void check_teardown(IpaRange range, const Progress& p) {
    const Geometry& g = bounds_.g;
    const Level chunk_level = g.start_level().value() < 1 ? Level{1} : g.start_level();
    if (p.status == Status::budget_exhausted) {
      FUZZ_CHECK(p.bytes_done > 0, "destroy_range stopped before its first chunk");
      FUZZ_CHECK((range.start + p.bytes_done).aligned(g.level_bytes(chunk_level)),
                 "destroy_range stopped at 0x%" PRIx64 ", inside a chunk",
                 (range.start + p.bytes_done).raw);
    }
    const u64 budget = 1 + in_.below(4);
    for (int i = 0; i < 64 && table_.reclaim_pending(); ++i) {
      const u64 freed = table_.reclaim(budget);
      FUZZ_CHECK(freed <= budget, "reclaim(%" PRIu64 ") freed %" PRIu64, budget, freed);
    }
    table_.reclaim_all();
    FUZZ_CHECK(!table_.reclaim_pending(), "reclaim_all left pages pending");
  }

  ByteReader& in_;
  Table& table_;
  Table& neighbour_;
  hosted::PagePool& pool_;
  counting::CountingArch& arch_;
  Model& model_;
  Bounds bounds_;
  Pa pending_pa_;
  Ipa pending_range_start_;
  Attrs pending_attrs_;
  Perm pending_perm_ = Perm::none;
  u8 pending_owner_ = 0;
};

// At the start of the IPA space, across a boundary of `crossing` (the level above the window's
// blocks), across the last seam between concatenated root pages, or at the end.
Ipa pick_window(ByteReader& in, const Geometry& g, u64 window, Level crossing) {
  const u64 limit = g.ipa_limit();
  switch (in.u8() % 4) {
    case 0:
      return Ipa{0};
    case 3:
      if (g.root_pages() > 1) {
        const u64 seam =
            g.level_bytes(g.start_level()) * g.entries_per_table() * (g.root_pages() - 1);
        return Ipa{seam - window / 2};
      }
      [[fallthrough]];
    case 1:
      if (g.has_level(crossing)) {
        const u64 boundary = g.level_bytes(crossing);
        if (boundary + window / 2 <= limit) return Ipa{boundary - window / 2};
      }
      [[fallthrough]];
    default:
      return Ipa{limit - window};
  }
}

void run(ByteReader& in) {
  const Setup setup = pick_setup(in);
  const u8 feature_bits = in.u8();
  const Features cpu{.fwb = (feature_bits & 1) != 0,
                     .tlbi_range = (feature_bits & 2) != 0,
                     .ttl = (feature_bits & 4) != 0,
                     .dic = (feature_bits & 8) != 0,
                     // Mostly present, so that 52-bit tables get created.
                     .lpa2 = (feature_bits & 0x30) != 0x30,
                     .lpa = (feature_bits & 0x30) != 0x30};
  const u8 option_bits = in.u8();
  const PlannerLimits limits{.max_ipa_ops = 1u + in.u8() * 4u, .max_range_ops = 1u + in.u8()};

  hosted::PagePool pool(hosted::PagePoolConfig{.arena_bytes = u64{64} << 20,
                                               .poison_freed = (option_bits & 0x80) != 0});
  counting::CountingArch arch(cpu);

  const Result<Geometry> geometry =
      Geometry::make(setup.granule, setup.ipa_bits, setup.pa_bits, setup.vmid_bits);
  const Status expected = expected_create_status(setup, cpu);
  if (!geometry.ok()) {
    FUZZ_CHECK(geometry.status() == expected, "Geometry::make(%u, %u, %u, %u): %s, expected %s",
               granule_shift(setup.granule), setup.ipa_bits, setup.pa_bits, setup.vmid_bits,
               describe(geometry.status()), describe(expected));
    return;
  }
  const TableConfig config{.geometry = geometry.value(),
                           .vmid = setup.vmid,
                           .use_fwb = (option_bits & 1) == 0,
                           .use_tlbi_range = (option_bits & 2) == 0,
                           .use_ttl = (option_bits & 4) == 0,
                           .limits = limits};
  if ((option_bits & 0x38) == 0x38) {  // the root cannot be allocated
    pool.fail_after(0);
    const Result<Table> t = Table::create(config, pool, arch);
    FUZZ_CHECK(t.status() == (expected == Status::ok ? Status::no_memory : expected),
               "create without memory: %s", describe(t.status()));
    FUZZ_CHECK(pool.bytes_in_use() == 0, "create failure leaked");
    return;
  }
  Result<Table> created = Table::create(config, pool, arch);
  FUZZ_CHECK(created.status() == expected, "create: %s, expected %s", describe(created.status()),
             describe(expected));
  if (!created.ok()) return;
  Table& table = created.value();

  // A neighbouring VM on the same pool, with a mapping where the window may be.
  Result<Table> neighbour = Table::create(
      TableConfig{.geometry = geometry.value(), .vmid = Vmid{static_cast<u16>(setup.vmid.raw ^ 1)}},
      pool, arch);
  FUZZ_CHECK(neighbour.ok(), "neighbour: %s", describe(neighbour.status()));
  const Geometry& g = table.geometry();
  // The 1 GiB block mode (4K granule): the window is four level-1 blocks, modelled one level-2
  // block at a time (so no call may leave a page-sized leaf there).
  const bool gib_blocks = (option_bits & 0x40) != 0 && g.granule() == Granule::k4 &&
                          g.has_level(Level{1}) && g.ipa_limit() >= (u64{64} << 30) &&
                          g.pa_limit() >= (u64{1} << 40);
  const Level block_level = gib_blocks ? Level{1} : Level{2};
  const u64 block = g.level_bytes(block_level);
  const u64 window = kWindowBlocks * block;
  const Ipa window_start = pick_window(in, g, window, Level{block_level.value() - 1});
  FUZZ_CHECK(
      neighbour
          ->map({window_start, 2 * g.page_bytes()}, Pa{g.page_bytes()}, Attrs::normal(Perm::rw))
          .ok(),
      "neighbour map");
  const test::TableSnapshot neighbour_before = test::snapshot(neighbour.value());

  if (tracing()) {
    std::fprintf(
        stderr,
        "granule %u, %u-bit IPA, %u-bit PA, features fwb %d range %d ttl %d, window 0x%" PRIx64
        "%s\n",
        granule_shift(setup.granule), setup.ipa_bits, setup.pa_bits, table.features().fwb,
        table.features().tlbi_range, table.features().ttl, window_start.raw,
        gib_blocks ? " (1 GiB blocks)" : "");
  }
  Model model(window_start, window, gib_blocks ? g.level_bytes(Level{2}) : g.page_bytes());
  Run run(in, table, neighbour.value(), pool, arch, model, block);
  for (int i = 0; i < kMaxSteps && !in.empty(); ++i)
    run.step();

  FUZZ_CHECK(test::snapshot(neighbour.value()) == neighbour_before, "neighbour table changed");
  const std::set<u64> ours = table_pages_of(table);
  for (u64 page : table_pages_of(neighbour.value())) {
    FUZZ_CHECK(!ours.contains(page), "table page 0x%" PRIx64 " shared by two VMIDs", page);
  }
  neighbour->destroy();
  table.destroy();
  // destroy() hands the pages to the reclaimer.
  neighbour->reclaim_all();
  table.reclaim_all();
  FUZZ_CHECK(pool.bytes_in_use() == 0, "%" PRIu64 " bytes leaked", pool.bytes_in_use());
  // A destroyed table refuses work with a specific error and translates nothing.
  FUZZ_CHECK(table.map({window_start, g.page_bytes()}, Pa{0}, Attrs{}).status == Status::destroyed,
             "map after destroy");
  FUZZ_CHECK(table.lookup(window_start).status() == Status::not_mapped, "lookup after destroy");
  FUZZ_CHECK(table.destroy_range({window_start, g.page_bytes()}, 1).status == Status::destroyed,
             "destroy_range after destroy");
  PageCache cache(g.page_bytes(), 0);
  FUZZ_CHECK(cache.topup(pool, g.levels() - 1) == Status::ok, "topup after destroy");
  const FaultRequest fault{.ipa = window_start,
                           .pa = Pa{0},
                           .leaf_bytes = g.page_bytes(),
                           .attrs = Attrs::normal(Perm::rw)};
  FUZZ_CHECK(table.handle_fault(fault, cache).status() == Status::destroyed &&
                 cache.size() == g.levels() - 1,
             "fault after destroy");
  cache.drain(pool);
  FUZZ_CHECK(pool.bytes_in_use() == 0, "the page cache leaked");
}

}  // namespace
}  // namespace s2pt::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  s2pt::fuzz::ByteReader in(data, size);
  s2pt::fuzz::run(in);
  return 0;
}
