// The scenario parser. Every byte string is either accepted or refused with the position of the
// first problem; nothing here throws, asserts or indexes without a bounds check.
#include <cstdio>
#include <limits>

#include "scenario/scenario.hpp"

namespace s2pt::scenario {
namespace {

struct Token {
  std::string_view text;
  u32 column = 0;
};

constexpr bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

u32 saturate(std::size_t v) {
  return v > std::numeric_limits<u32>::max() ? std::numeric_limits<u32>::max()
                                             : static_cast<u32>(v);
}

std::vector<Token> tokenize(std::string_view line) {
  std::vector<Token> tokens;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && is_blank(line[i]))
      ++i;
    const std::size_t start = i;
    while (i < line.size() && !is_blank(line[i]))
      ++i;
    if (i > start) tokens.push_back(Token{line.substr(start, i - start), saturate(start + 1)});
  }
  return tokens;
}

struct KeyValue {
  std::string_view key;
  std::string_view value;
};
std::optional<KeyValue> split_key_value(std::string_view token) {
  const std::size_t eq = token.find('=');
  if (eq == std::string_view::npos) return std::nullopt;
  return KeyValue{token.substr(0, eq), token.substr(eq + 1)};
}

std::optional<bool> parse_switch(std::string_view word) {
  if (word == "on") return true;
  if (word == "off") return false;
  return std::nullopt;
}

std::optional<Granule> parse_granule(std::string_view word) {
  if (word == "4K" || word == "4k") return Granule::k4;
  if (word == "16K" || word == "16k") return Granule::k16;
  if (word == "64K" || word == "64k") return Granule::k64;
  return std::nullopt;
}

struct Keyword {
  std::string_view word;
  OpKind op;
};
constexpr Keyword kOperations[] = {
    {"table", OpKind::table},
    {"map", OpKind::map},
    {"unmap", OpKind::unmap},
    {"write-protect", OpKind::write_protect},
    {"relax", OpKind::relax},
    {"mkold", OpKind::mkold},
    {"mkyoung", OpKind::mkyoung},
    {"split", OpKind::split},
    {"collapse", OpKind::collapse},
    {"fault", OpKind::fault},
    {"annotate", OpKind::annotate},
    {"flush", OpKind::flush},
    {"lookup", OpKind::lookup},
    {"destroy", OpKind::destroy},
    {"destroy-range", OpKind::destroy_range},
    {"reclaim", OpKind::reclaim},
    {"fail-alloc", OpKind::fail_alloc},
};

// Parses one line's tokens. Each parse_* member returns false after recording an error.
class LineParser {
 public:
  LineParser(u32 line, std::vector<Token> tokens, std::optional<ParseError>& error)
      : line_(line), tokens_(std::move(tokens)), error_(error) {}

  bool operation(OpKind op, Step& step) {
    step.op = op;
    switch (op) {
      case OpKind::table:
        return table(step.table);
      case OpKind::map:
        return map(step);
      case OpKind::unmap:
        return unmap(step);
      case OpKind::relax:
        return range(step.range) && perm_argument(step.perm) && finished();
      case OpKind::annotate:
        return range(step.range) && owner(step.owner) && finished();
      case OpKind::write_protect:
      case OpKind::mkold:
      case OpKind::mkyoung:
      case OpKind::split:
        return range(step.range) && split_options(step);
      case OpKind::fault:
        return fault(step);
      case OpKind::collapse:
      case OpKind::flush:
        return range(step.range) && finished();
      case OpKind::lookup:
        return lookup(step);
      case OpKind::destroy:
        return finished();
      case OpKind::destroy_range:
        return range(step.range) && budget(step.budget, true);
      case OpKind::reclaim:
        return budget(step.budget, false);
      case OpKind::fail_alloc:
        return fail_alloc(step);
    }
    return fail_here("unknown operation");
  }

  bool expectation(std::string_view keyword, Expectation& e) {
    e.pos = SourcePos{line_, tokens_[0].column};
    if (keyword == "expect-error") {
      e.kind = Expectation::Kind::error;
      const Token* t = next("a status name (e.g. exists, no_memory)");
      if (!t) return false;
      const std::optional<Status> s = parse_status(t->text);
      if (!s) return fail(*t, "unknown status " + quote(t->text));
      if (*s == Status::ok) return fail(*t, "expect-error needs an error, not ok");
      e.error = *s;
      while (const Token* kv_token = optional_next()) {
        const std::optional<KeyValue> kv = split_key_value(kv_token->text);
        if (!kv || kv->key != "done") return fail(*kv_token, "expected done=SIZE");
        if (!number_value(*kv_token, kv->value, e.done.emplace())) return false;
      }
      return true;
    }
    if (keyword == "expect-pages") {
      e.kind = Expectation::Kind::pages;
      return number(e.pages, "a number of table pages") && finished();
    }
    e.kind = Expectation::Kind::ops;
    if (cursor_ >= tokens_.size()) return fail_end("expected counter=N (e.g. tlbi_ipa=1)");
    while (const Token* t = optional_next()) {
      const std::optional<KeyValue> kv = split_key_value(t->text);
      if (!kv) return fail(*t, "expected counter=N, got " + quote(t->text));
      const std::optional<Counter> c = parse_counter(kv->key);
      if (!c) return fail(*t, "unknown counter " + quote(kv->key) + counter_list());
      u64 value = 0;
      if (!number_value(*t, kv->value, value)) return false;
      e.ops.emplace_back(*c, value);
    }
    return true;
  }

 private:
  // table [granule=4K] [ipa=BITS] [pa=BITS] [vmid=N] [vmid_bits=8|16] [max_root_pages=N]
  //       [fwb=on|off] [tlbi_range=on|off] [ttl=on|off] [dic=on|off] [lpa2=on|off]
  //       [lpa=on|off] [max_ipa_ops=N] [max_range_ops=N]
  bool table(TableSpec& spec) {
    while (const Token* t = optional_next()) {
      const std::optional<KeyValue> kv = split_key_value(t->text);
      if (!kv) return fail(*t, "expected key=value, got " + quote(t->text));
      const std::string_view key = kv->key;
      const std::string_view value = kv->value;
      if (key == "granule") {
        const std::optional<Granule> g = parse_granule(value);
        if (!g) return fail(*t, "granule must be 4K, 16K or 64K");
        spec.granule = *g;
      } else if (key == "ipa" || key == "pa" || key == "vmid_bits" || key == "max_root_pages") {
        u64 bits = 0;
        if (!number_value(*t, value, bits)) return false;
        if (bits > 64) return fail(*t, std::string(key) + " must be at most 64");
        unsigned& field = key == "ipa"         ? spec.ipa_bits
                          : key == "pa"        ? spec.pa_bits
                          : key == "vmid_bits" ? spec.vmid_bits
                                               : spec.max_root_pages;
        field = static_cast<unsigned>(bits);
      } else if (key == "vmid") {
        u64 vmid = 0;
        if (!number_value(*t, value, vmid)) return false;
        if (vmid > 0xFFFF) return fail(*t, "vmid must fit 16 bits");
        spec.vmid = static_cast<u16>(vmid);
      } else if (key == "fwb" || key == "tlbi_range" || key == "ttl" || key == "dic" ||
                 key == "lpa2" || key == "lpa") {
        const std::optional<bool> on = parse_switch(value);
        if (!on) return fail(*t, std::string(key) + " must be on or off");
        bool& field = key == "fwb"          ? spec.features.fwb
                      : key == "tlbi_range" ? spec.features.tlbi_range
                      : key == "ttl"        ? spec.features.ttl
                      : key == "lpa2"       ? spec.features.lpa2
                      : key == "lpa"        ? spec.features.lpa
                                            : spec.features.dic;
        field = *on;
      } else if (key == "max_ipa_ops" || key == "max_range_ops") {
        u64 limit = 0;
        if (!number_value(*t, value, limit)) return false;
        if (limit > 0xFFFF'FFFF) return fail(*t, std::string(key) + " must fit 32 bits");
        u32& field = key == "max_ipa_ops" ? spec.limits.max_ipa_ops : spec.limits.max_range_ops;
        field = static_cast<u32>(limit);
      } else {
        return fail(*t, "unknown table setting " + quote(key) +
                            " (granule, ipa, pa, vmid, vmid_bits, max_root_pages, fwb, "
                            "tlbi_range, ttl, dic, lpa2, lpa, max_ipa_ops, max_range_ops)");
      }
    }
    return true;
  }

  // map IPA SIZE PA [PERM] [MEMTYPE] [replace] [no_blocks] [af=on|off] [sh=inner|outer|non]
  //     [sw=N]
  bool map(Step& step) {
    if (!range(step.range)) return false;
    u64 pa = 0;
    if (!number(pa, "the output address (PA)")) return false;
    step.pa = Pa{pa};
    AttrsSeen seen;
    while (const Token* t = optional_next()) {
      if (const Match m = permission_or_memtype(*t, step.attrs, seen); m != Match::no) {
        if (m == Match::error) return false;
      } else if (t->text == "replace") {
        step.flags = step.flags | MapFlags::replace;
      } else if (t->text == "no_blocks") {
        step.flags = step.flags | MapFlags::no_blocks;
      } else if (const std::optional<KeyValue> kv = split_key_value(t->text)) {
        if (!map_attribute(*t, *kv, step.attrs)) return false;
      } else {
        return fail(*t,
                    "expected permissions (rw, r-x, ...), a memory type (normal_wb, "
                    "normal_nc, device_ngnre, device_ngnrne), replace or no_blocks; got " +
                        quote(t->text));
      }
    }
    return true;
  }

  // Permissions (rw, r-x, ...) or a memory type, each at most once per line.
  struct AttrsSeen {
    bool perm = false;
    bool mem = false;
  };
  enum class Match { no, yes, error };
  Match permission_or_memtype(const Token& t, Attrs& attrs, AttrsSeen& seen) {
    if (const std::optional<Perm> p = parse_perm(t.text)) {
      if (seen.perm) {
        fail(t, "permissions given twice");
        return Match::error;
      }
      seen.perm = true;
      attrs.perm = *p;
      return Match::yes;
    }
    if (const std::optional<MemType> m = parse_memtype(t.text)) {
      if (seen.mem) {
        fail(t, "memory type given twice");
        return Match::error;
      }
      seen.mem = true;
      attrs.mem = *m;
      return Match::yes;
    }
    return Match::no;
  }

  bool map_attribute(const Token& t, const KeyValue& kv, Attrs& attrs) {
    if (kv.key == "af") {
      const std::optional<bool> on = parse_switch(kv.value);
      if (!on) return fail(t, "af must be on or off");
      attrs.af = *on;
      return true;
    }
    if (kv.key == "sh") {
      if (kv.value == "inner")
        attrs.sh = Shareability::inner;
      else if (kv.value == "outer")
        attrs.sh = Shareability::outer;
      else if (kv.value == "non")
        attrs.sh = Shareability::non;
      else
        return fail(t, "sh must be inner, outer or non");
      return true;
    }
    if (kv.key == "sw") {
      u64 sw = 0;
      if (!number_value(t, kv.value, sw)) return false;
      if (sw > 0xFF) return fail(t, "sw must fit 8 bits");
      attrs.sw = static_cast<u8>(sw);  // values above 15 reach the core, which refuses them
      return true;
    }
    return fail(t, "unknown map attribute " + quote(kv.key) + " (af, sh, sw)");
  }

  // unmap IPA SIZE [STRATEGY | strategy=STRATEGY]
  bool unmap(Step& step) {
    if (!range(step.range)) return false;
    const Token* t = optional_next();
    if (!t) return true;
    std::string_view word = t->text;
    if (const std::optional<KeyValue> kv = split_key_value(word)) {
      if (kv->key != "strategy") return fail(*t, "expected a strategy, got " + quote(word));
      word = kv->value;
    }
    const std::optional<UnmapStrategy> s = parse_strategy(word);
    if (!s) return fail(*t, "unknown unmap strategy " + quote(word) + strategy_list());
    step.strategy = *s;
    return finished();
  }

  // lookup IPA [expect mapped [PA] [PERM] [MEMTYPE] [level=N] [af=on|off] [size=SIZE]]
  // lookup IPA [expect unmapped [owner=N]]
  bool lookup(Step& step) {
    u64 ipa = 0;
    if (!number(ipa, "an IPA")) return false;
    step.ipa = Ipa{ipa};
    const Token* t = optional_next();
    if (!t) return true;
    if (t->text != "expect") return fail(*t, "expected 'expect', got " + quote(t->text));
    const Token* what = next("'mapped' or 'unmapped'");
    if (!what) return false;
    LookupExpect& e = step.expect.emplace();
    if (what->text == "unmapped") {
      e.mapped = false;
      while (const Token* kv_token = optional_next()) {
        const std::optional<KeyValue> kv = split_key_value(kv_token->text);
        if (!kv || kv->key != "owner") return fail(*kv_token, "expected owner=N");
        u64 owner = 0;
        if (!number_value(*kv_token, kv->value, owner)) return false;
        if (owner > 0xFF) return fail(*kv_token, "owner must fit 8 bits");
        e.owner = OwnerId{static_cast<u8>(owner)};
      }
      return true;
    }
    if (what->text != "mapped") {
      return fail(*what, "expected 'mapped' or 'unmapped', got " + quote(what->text));
    }
    e.mapped = true;
    while (const Token* a = optional_next()) {
      if (const std::optional<u64> pa = parse_number(a->text)) {
        if (e.pa) return fail(*a, "output address given twice");
        e.pa = Pa{*pa};
      } else if (const std::optional<Perm> p = parse_perm(a->text)) {
        if (e.perm) return fail(*a, "permissions given twice");
        e.perm = *p;
      } else if (const std::optional<MemType> m = parse_memtype(a->text)) {
        if (e.mem) return fail(*a, "memory type given twice");
        e.mem = *m;
      } else if (const std::optional<KeyValue> kv = split_key_value(a->text)) {
        if (!lookup_attribute(*a, *kv, e)) return false;
      } else {
        return fail(*a, "expected the PA, permissions, a memory type, level=, af= or size=; got " +
                            quote(a->text));
      }
    }
    return true;
  }

  bool lookup_attribute(const Token& t, const KeyValue& kv, LookupExpect& e) {
    if (kv.key == "level") {
      u64 level = 0;
      if (!number_value(t, kv.value, level)) return false;
      if (level > 3) return fail(t, "level must be 0 to 3");
      e.level = static_cast<int>(level);
      return true;
    }
    if (kv.key == "af") {
      const std::optional<bool> on = parse_switch(kv.value);
      if (!on) return fail(t, "af must be on or off");
      e.af = *on;
      return true;
    }
    if (kv.key == "size") return number_value(t, kv.value, e.size.emplace());
    if (kv.key == "pa") {
      u64 pa = 0;
      if (!number_value(t, kv.value, pa)) return false;
      e.pa = Pa{pa};
      return true;
    }
    return fail(t, "unknown lookup check " + quote(kv.key) + " (level, af, size, pa)");
  }

  // split IPA SIZE [level=N] [budget=N]
  bool split_options(Step& step) {
    while (const Token* t = optional_next()) {
      const std::optional<KeyValue> kv = split_key_value(t->text);
      if (kv && kv->key == "level") {
        u64 level = 0;
        if (!number_value(*t, kv->value, level)) return false;
        if (level > 3) return fail(*t, "level must be 0 to 3");
        step.level = static_cast<int>(level);
      } else if (kv && kv->key == "budget") {
        if (!number_value(*t, kv->value, step.budget.emplace())) return false;
      } else {
        return fail(*t, "expected level=N or budget=N, got " + quote(t->text));
      }
    }
    return true;
  }

  // fault IPA PA [leaf=SIZE] [PERM] [MEMTYPE] [expect=OUTCOME]
  bool fault(Step& step) {
    u64 ipa = 0;
    u64 pa = 0;
    if (!number(ipa, "the faulting IPA") || !number(pa, "the backing PA")) return false;
    step.ipa = Ipa{ipa};
    step.pa = Pa{pa};
    AttrsSeen seen;
    while (const Token* t = optional_next()) {
      if (const Match m = permission_or_memtype(*t, step.attrs, seen); m != Match::no) {
        if (m == Match::error) return false;
      } else if (const std::optional<KeyValue> kv = split_key_value(t->text);
                 kv && kv->key == "leaf") {
        if (!number_value(*t, kv->value, step.leaf_bytes)) return false;
      } else if (kv && kv->key == "expect") {
        for (FaultOutcome o : {FaultOutcome::mapped, FaultOutcome::relaxed,
                               FaultOutcome::made_young, FaultOutcome::already_resolved}) {
          if (kv->value == fault_outcome_name(o)) step.fault_expect = o;
        }
        if (!step.fault_expect) {
          return fail(*t, "expected mapped, relaxed, made_young or already_resolved");
        }
      } else {
        return fail(*t, "expected permissions, a memory type, leaf=SIZE or expect=OUTCOME; got " +
                            quote(t->text));
      }
    }
    return true;
  }

  // destroy-range: [budget=N] after the range; reclaim: [N].
  bool budget(std::optional<u64>& out, bool keyed) {
    const Token* t = optional_next();
    if (!t) return true;
    std::string_view value = t->text;
    if (keyed) {
      const std::optional<KeyValue> kv = split_key_value(value);
      if (!kv || kv->key != "budget") return fail(*t, "expected budget=N, got " + quote(value));
      value = kv->value;
    }
    if (!number_value(*t, value, out.emplace())) return false;
    return finished();
  }

  // fail-alloc N | fail-alloc off
  bool fail_alloc(Step& step) {
    const Token* t = next("a count of allocations that still succeed, or off");
    if (!t) return false;
    if (t->text == "off") {
      step.fail_after.reset();
    } else if (!number_value(*t, t->text, step.fail_after.emplace())) {
      return false;
    }
    return finished();
  }

  bool range(IpaRange& r) {
    u64 start = 0;
    u64 size = 0;
    if (!number(start, "an IPA") || !number(size, "a size (e.g. 4K, 2M, 0x1000)")) return false;
    r = IpaRange{Ipa{start}, size};
    return true;
  }

  bool perm_argument(Perm& p) {
    const Token* t = next("permissions (r, w, x, rw, r-x, ...)");
    if (!t) return false;
    const std::optional<Perm> parsed = parse_perm(t->text);
    if (!parsed) return fail(*t, "bad permissions " + quote(t->text) + " (r, w, x, rw, r-x, ...)");
    p = *parsed;
    return true;
  }

  bool owner(OwnerId& o) {
    u64 owner = 0;
    if (!number(owner, "an owner id (0 to 255)")) return false;
    if (owner > 0xFF) return fail(tokens_[cursor_ - 1], "owner must fit 8 bits");
    o = OwnerId{static_cast<u8>(owner)};
    return true;
  }

  bool number(u64& out, const char* what) {
    const Token* t = next(what);
    return t && number_value(*t, t->text, out);
  }
  bool number_value(const Token& t, std::string_view text, u64& out) {
    const std::optional<u64> n = parse_number(text);
    if (!n) return fail(t, "bad number " + quote(text));
    out = *n;
    return true;
  }

  const Token* optional_next() { return cursor_ < tokens_.size() ? &tokens_[cursor_++] : nullptr; }
  const Token* next(const char* what) {
    if (const Token* t = optional_next()) return t;
    fail_end(std::string("expected ") + what);
    return nullptr;
  }
  bool finished() {
    if (cursor_ >= tokens_.size()) return true;
    return fail(tokens_[cursor_], "unexpected " + quote(tokens_[cursor_].text));
  }

  bool fail(const Token& at, std::string message) {
    error_ = ParseError{SourcePos{line_, at.column}, std::move(message)};
    return false;
  }
  bool fail_end(std::string message) {
    const Token& last = tokens_.back();
    error_ =
        ParseError{SourcePos{line_, saturate(last.column + last.text.size())}, std::move(message)};
    return false;
  }
  bool fail_here(std::string message) { return fail(tokens_[0], std::move(message)); }

  static std::string strategy_list() {
    std::string s = " (";
    for (UnmapStrategy strategy : unmap_strategies()) {
      if (s.size() > 2) s += ", ";
      s += name(strategy);
    }
    return s + ")";
  }
  static std::string counter_list() {
    std::string s = " (";
    for (Counter c : all_counters()) {
      if (s.size() > 2) s += ", ";
      s += counter_name(c);
    }
    return s + ")";
  }

  u32 line_;
  std::vector<Token> tokens_;
  std::size_t cursor_ = 1;  // past the keyword
  std::optional<ParseError>& error_;
};

std::string joined(const std::vector<Token>& tokens) {
  std::string s;
  for (const Token& t : tokens) {
    if (!s.empty()) s += ' ';
    s += t.text;
  }
  return s;
}

}  // namespace

std::string_view fault_outcome_name(FaultOutcome o) {
  switch (o) {
    case FaultOutcome::mapped:
      return "mapped";
    case FaultOutcome::relaxed:
      return "relaxed";
    case FaultOutcome::made_young:
      return "made_young";
    case FaultOutcome::already_resolved:
      return "already_resolved";
  }
  return "?";
}

std::string_view op_name(OpKind op) {
  for (const Keyword& k : kOperations) {
    if (k.op == op) return k.word;
  }
  return "?";
}

std::optional<u64> parse_number(std::string_view token) {
  if (token.empty()) return std::nullopt;
  unsigned shift = 0;
  switch (token.back()) {
    case 'K':
    case 'k':
      shift = 10;
      break;
    case 'M':
    case 'm':
      shift = 20;
      break;
    case 'G':
    case 'g':
      shift = 30;
      break;
    case 'T':
    case 't':
      shift = 40;
      break;
    default:
      break;
  }
  if (shift != 0) token.remove_suffix(1);
  u64 base = 10;
  if (token.size() > 2 && token[0] == '0' && (token[1] == 'x' || token[1] == 'X')) {
    base = 16;
    token.remove_prefix(2);
  }
  if (token.empty() || token.front() == '_' || token.back() == '_') return std::nullopt;
  u64 value = 0;
  for (char c : token) {
    if (c == '_') continue;
    u64 digit = 0;
    if (c >= '0' && c <= '9')
      digit = static_cast<u64>(c - '0');
    else if (base == 16 && c >= 'a' && c <= 'f')
      digit = static_cast<u64>(c - 'a') + 10;
    else if (base == 16 && c >= 'A' && c <= 'F')
      digit = static_cast<u64>(c - 'A') + 10;
    else
      return std::nullopt;
    if (value > (std::numeric_limits<u64>::max() - digit) / base) return std::nullopt;
    value = value * base + digit;
  }
  if (shift != 0 && value > (std::numeric_limits<u64>::max() >> shift)) return std::nullopt;
  return value << shift;
}

std::string quote(std::string_view token) {
  constexpr std::size_t kMax = 40;
  std::string s = "'";
  for (std::size_t i = 0; i < token.size() && i < kMax; ++i) {
    const auto c = static_cast<unsigned char>(token[i]);
    if (c >= 0x20 && c < 0x7F && c != '\'' && c != '\\') {
      s += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      s += buf;
    }
  }
  if (token.size() > kMax) s += "...";
  return s + "'";
}

std::string size_string(u64 bytes) {
  static constexpr struct {
    unsigned shift;
    char suffix;
  } kUnits[] = {{40, 'T'}, {30, 'G'}, {20, 'M'}, {10, 'K'}};
  char buf[32];
  for (const auto& unit : kUnits) {
    const u64 one = u64{1} << unit.shift;
    if (bytes != 0 && bytes % one == 0) {
      std::snprintf(buf, sizeof buf, "%llu%c", static_cast<unsigned long long>(bytes / one),
                    unit.suffix);
      return buf;
    }
  }
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(bytes));
  return buf;
}

ParseResult parse(std::string_view text) {
  ParseResult result;
  std::optional<ParseError>& error = result.error;
  std::vector<Step>& steps = result.scenario.steps;
  bool have_table = false;
  u32 line_number = 0;
  std::size_t pos = 0;
  while (pos <= text.size() && !error) {
    const std::size_t newline = text.find('\n', pos);
    const std::size_t stop = newline == std::string_view::npos ? text.size() : newline;
    std::string_view line = text.substr(pos, stop - pos);
    pos = stop + 1;
    if (line_number < std::numeric_limits<u32>::max()) ++line_number;
    if (const std::size_t hash = line.find('#'); hash != std::string_view::npos) {
      line = line.substr(0, hash);
    }
    std::vector<Token> tokens = tokenize(line);
    if (tokens.empty()) continue;

    const std::string_view keyword = tokens[0].text;
    const SourcePos at{line_number, tokens[0].column};
    if (keyword == "expect-error" || keyword == "expect-pages" || keyword == "expect-ops") {
      if (steps.empty()) {
        error = ParseError{at, std::string(keyword) +
                                   " checks the operation before it, and "
                                   "there is none"};
        break;
      }
      Step& checked = steps.back();
      Expectation e;
      LineParser parser(line_number, std::move(tokens), error);
      if (!parser.expectation(keyword, e)) break;
      if (e.kind == Expectation::Kind::error) {
        for (const Expectation& other : checked.expects) {
          if (other.kind == Expectation::Kind::error) {
            error = ParseError{at, "a second expect-error for the operation on line " +
                                       std::to_string(checked.pos.line)};
          }
        }
        if (error) break;
      }
      checked.expects.push_back(std::move(e));
      continue;
    }

    const Keyword* keyword_entry = nullptr;
    for (const Keyword& k : kOperations) {
      if (k.word == keyword) keyword_entry = &k;
    }
    if (!keyword_entry) {
      error = ParseError{at, "unknown operation " + quote(keyword)};
      break;
    }
    const OpKind op = keyword_entry->op;
    if (op == OpKind::table) have_table = true;
    if (!have_table && op != OpKind::fail_alloc) {
      error = ParseError{at, std::string(keyword) + " before any 'table' line"};
      break;
    }
    Step step;
    step.pos = at;
    step.text = joined(tokens);
    LineParser parser(line_number, std::move(tokens), error);
    if (!parser.operation(op, step)) break;
    steps.push_back(std::move(step));
    if (newline == std::string_view::npos) break;
  }
  if (error) result.scenario.steps.clear();
  return result;
}

}  // namespace s2pt::scenario
