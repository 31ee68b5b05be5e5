#include "ptdump/ptdump.hpp"

#include <nlohmann/json.hpp>
#include <string>

#include "core_access.hpp"
#include "scenario/names.hpp"
#include "scenario/scenario.hpp"
#include "walker.hpp"

namespace s2pt::ptdump {
namespace {

using scenario::memtype_name;
using scenario::perm_string;
using scenario::shareability_name;
using scenario::size_string;

class DumpVisitor {
 public:
  explicit DumpVisitor(Dump& dump) : dump_(dump) {}

  Status table_pre(ReadContext& ctx) {
    ++dump_.pages.at(ctx.level.deeper());
    return Status::ok;
  }

  Status leaf(ReadContext& ctx) {
    if (ctx.old.is_zero()) return Status::ok;
    add(describe(ctx));
    return Status::ok;
  }

 private:
  static Region describe(const ReadContext& ctx) {
    const Pte e = ctx.old;
    Region r{.start = ctx.entry_base(),
             .size = ctx.entry_bytes(),
             .level = ctx.level,
             .entries = 1,
             .raw = e.raw()};
    if (e.is_leaf(ctx.level)) {
      r.kind = Region::Kind::mapped;
      r.pa = e.output_address(ctx.oa());
      r.memattr = e.memattr();
      if (Result<Attrs> a = e.attrs(ctx.format()); a.ok()) {
        r.attrs = a.value();
      } else {
        r.memattr_known = false;
        r.attrs = Attrs{.perm = e.perm(),
                        .sh = e.sh(ctx.oa()),
                        .af = e.af(),
                        .contiguous = e.contiguous(),
                        .sw = e.sw()};
      }
    } else if (e.is_annotated()) {
      r.kind = Region::Kind::annotated;
      r.owner = e.owner();
    } else if (e.is_locked()) {
      r.kind = Region::Kind::locked;
    } else {
      r.kind = Region::Kind::reserved;
    }
    return r;
  }

  // Whether `next` continues `last` seamlessly: same kind, level and attributes, and (for
  // mappings) the next PA right after the last one.
  static bool continues(const Region& last, const Region& next) {
    if (last.kind != next.kind || last.level != next.level || last.end() != next.start) {
      return false;
    }
    switch (next.kind) {
      case Region::Kind::mapped:
        return last.pa + last.size == next.pa && last.attrs == next.attrs &&
               last.memattr == next.memattr;
      case Region::Kind::annotated:
        return last.owner == next.owner;
      case Region::Kind::locked:
      case Region::Kind::reserved:
        return false;  // each odd descriptor gets its own line
    }
    return false;
  }

  void add(const Region& r) {
    if (!dump_.regions.empty() && continues(dump_.regions.back(), r)) {
      Region& last = dump_.regions.back();
      last.size += r.size;
      last.entries += r.entries;
      return;
    }
    dump_.regions.push_back(r);
  }

  Dump& dump_;
};

std::string hex(u64 v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

const char* granule_text(Granule g) {
  switch (g) {
    case Granule::k4:
      return "4K";
    case Granule::k16:
      return "16K";
    case Granule::k64:
      return "64K";
  }
  return "?";
}

const char* kind_text(const Region& r) {
  switch (r.kind) {
    case Region::Kind::mapped:
      return r.level.is_last() ? "page" : "block";
    case Region::Kind::annotated:
      return "owned";
    case Region::Kind::locked:
      return "locked";
    case Region::Kind::reserved:
      return "reserved";
  }
  return "?";
}

std::string memtype_text(const Region& r) {
  if (r.memattr_known) return std::string(memtype_name(r.attrs.mem));
  return "memattr=" + hex(r.memattr);
}

}  // namespace

u64 TablePages::total() const {
  u64 sum = 0;
  for (u64 n : by_level)
    sum += n;
  return sum;
}

Dump collect(Table& table) {
  Dump dump;
  if (table.destroyed()) return dump;
  const Geometry& g = table.geometry();
  dump.pages.at(g.start_level()) = g.root_pages();
  DumpVisitor visitor(dump);
  visit(CoreAccess::core(table), IpaRange{Ipa{0}, g.ipa_limit()}, visitor);
  return dump;
}

void print_text(std::FILE* out, const Table& table, const Dump& dump) {
  const Geometry& g = table.geometry();
  std::fprintf(out, "---[ stage-2 table: %s granule, %u-bit IPA, %u-bit PA, VMID %u, FWB %s ]---\n",
               granule_text(g.granule()), g.ipa_bits(), g.pa_bits(), table.vmid().raw,
               table.format().memattr == MemAttrFormat::fwb ? "on" : "off");
  std::fprintf(out, "VTTBR_EL2 0x%016llx  VTCR_EL2 0x%llx  start level %d, %u root page(s)\n",
               static_cast<unsigned long long>(table.vttbr()),
               static_cast<unsigned long long>(g.vtcr()), g.start_level().value(), g.root_pages());
  for (const Region& r : dump.regions) {
    std::fprintf(out, "0x%016llx-0x%016llx %8s  L%d %-6s",
                 static_cast<unsigned long long>(r.start.raw),
                 static_cast<unsigned long long>(r.end().raw), size_string(r.size).c_str(),
                 r.level.value(), kind_text(r));
    switch (r.kind) {
      case Region::Kind::mapped:
        std::fprintf(out, " -> 0x%016llx  %s %-13s %-5s %s%s%s\n",
                     static_cast<unsigned long long>(r.pa.raw), perm_string(r.attrs.perm).c_str(),
                     memtype_text(r).c_str(), std::string(shareability_name(r.attrs.sh)).c_str(),
                     r.attrs.af ? "AF" : "--", r.attrs.contiguous ? " CONT" : "",
                     r.attrs.sw != 0 ? (" sw=" + std::to_string(r.attrs.sw)).c_str() : "");
        break;
      case Region::Kind::annotated:
        std::fprintf(out, " owner %u (invalid)\n", r.owner.raw);
        break;
      case Region::Kind::locked:
      case Region::Kind::reserved:
        std::fprintf(out, " descriptor %s\n", hex(r.raw).c_str());
        break;
    }
  }
  if (dump.regions.empty()) std::fprintf(out, "(nothing mapped or annotated)\n");
  std::string pages;
  for (int level = g.start_level().value(); level <= Level::kLast; ++level) {
    if (!pages.empty()) pages += ", ";
    pages += "L" + std::to_string(level) + " " + std::to_string(dump.pages.at(Level{level}));
    if (Level{level} == g.start_level()) pages += " (root)";
  }
  std::fprintf(out, "---[ table pages: %s; total %llu ]---\n", pages.c_str(),
               static_cast<unsigned long long>(dump.pages.total()));
}

void print_json(std::FILE* out, const Table& table, const Dump& dump) {
  const Geometry& g = table.geometry();
  nlohmann::ordered_json regions = nlohmann::ordered_json::array();
  for (const Region& r : dump.regions) {
    nlohmann::ordered_json region{
        {"start", hex(r.start.raw)}, {"end", hex(r.end().raw)}, {"size", r.size},
        {"level", r.level.value()},  {"kind", kind_text(r)},    {"entries", r.entries}};
    switch (r.kind) {
      case Region::Kind::mapped:
        region["pa"] = hex(r.pa.raw);
        region["perm"] = perm_string(r.attrs.perm);
        region["mem"] = memtype_text(r);
        region["sh"] = std::string(shareability_name(r.attrs.sh));
        region["af"] = r.attrs.af;
        region["contiguous"] = r.attrs.contiguous;
        region["sw"] = r.attrs.sw;
        break;
      case Region::Kind::annotated:
        region["owner"] = r.owner.raw;
        break;
      case Region::Kind::locked:
      case Region::Kind::reserved:
        region["descriptor"] = hex(r.raw);
        break;
    }
    regions.push_back(std::move(region));
  }
  nlohmann::ordered_json by_level = nlohmann::ordered_json::object();
  for (int level = g.start_level().value(); level <= Level::kLast; ++level)
    by_level[std::to_string(level)] = dump.pages.at(Level{level});
  const nlohmann::ordered_json document{
      {"granule", granule_text(g.granule())},
      {"ipa_bits", g.ipa_bits()},
      {"pa_bits", g.pa_bits()},
      {"start_level", g.start_level().value()},
      {"root_pages", g.root_pages()},
      {"vmid", table.vmid().raw},
      {"fwb", table.format().memattr == MemAttrFormat::fwb},
      {"vttbr", hex(table.vttbr())},
      {"vtcr", hex(g.vtcr())},
      {"regions", std::move(regions)},
      {"table_pages", {{"total", dump.pages.total()}, {"by_level", std::move(by_level)}}},
  };
  std::fprintf(out, "%s\n", document.dump(2).c_str());
}

}  // namespace s2pt::ptdump
