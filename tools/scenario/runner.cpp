#include "scenario/runner.hpp"

#include <utility>

namespace s2pt::scenario {
namespace {

std::string hex(u64 v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string status_text(Status s) {
  return std::string(status_name(s)) + " (" + describe(s) + ")";
}

// What one step did, as far as its expectations care.
struct Outcome {
  Status status = Status::ok;
  std::optional<u64> done = {};             // ranged operations
  std::optional<Translation> mapping = {};  // lookup
  OwnerId owner = {};                       // lookup of an unmapped IPA
  std::string note = {};                    // extra words for the report
};

class Runner {
 public:
  Runner(Backend& backend, const RunOptions& options) : backend_(backend), options_(options) {}

  RunResult run(const Scenario& scenario) {
    for (const Step& step : scenario.steps) {
      if (!run_step(step)) return std::move(result_);
      ++result_.steps_run;
    }
    if (table_ && !table_->destroyed() && options_.inspect_final) options_.inspect_final(*table_);
    close_table(0, "the final teardown");
    if (backend_.table_bytes_in_use() != 0) {
      fail(0,
           "the final teardown left " + std::to_string(backend_.table_bytes_in_use()) +
               " bytes of table pages allocated",
           Failure::Cause::leak);
    }
    return std::move(result_);
  }

 private:
  bool run_step(const Step& step) {
    // A `table` line starts counting afresh (its new table has issued nothing yet).
    const MaintenanceCounters before =
        step.op == OpKind::table ? MaintenanceCounters{} : counters();
    std::optional<Outcome> outcome = execute(step);
    if (!outcome) return false;
    const MaintenanceCounters issued = counters() - before;
    report(step, *outcome, issued);
    return check(step, *outcome, issued);
  }

  std::optional<Outcome> execute(const Step& step) {
    if (step.op == OpKind::fail_alloc) {
      backend_.fail_allocations_after(step.fail_after);
      return Outcome{};
    }
    if (step.op == OpKind::table) return create(step);
    if (!table_) {
      fail(step.pos.line,
           "no table: the 'table' on line " + std::to_string(table_line_) + " was not created");
      return std::nullopt;
    }
    Table& t = *table_;
    const IpaRange focus = focus_of(step, t.geometry());
    backend_.before_step(t, focus, step.text);
    std::optional<Outcome> outcome = apply(t, step);
    const StepFindings findings = backend_.after_step(t, focus);
    if (!backend_problems(step.pos.line, findings)) return std::nullopt;
    if (outcome && !findings.note.empty()) {
      outcome->note += (outcome->note.empty() ? "" : " ") + findings.note;
    }
    return outcome;
  }

  // The IPA range a step works on; empty for the whole table.
  static IpaRange focus_of(const Step& step, const Geometry& g) {
    switch (step.op) {
      case OpKind::fault:
      case OpKind::lookup:
        return IpaRange{step.ipa.align_down(g.page_bytes()), g.page_bytes()};
      case OpKind::destroy:
      case OpKind::reclaim:
      case OpKind::table:
      case OpKind::fail_alloc:
        return IpaRange{};
      default:
        return step.range;
    }
  }

  // What the backend found wrong in a step: every problem is printed, the first one fails it.
  bool backend_problems(u32 line, const StepFindings& findings) {
    if (findings.problems.empty()) return true;
    if (options_.out) {
      for (const std::string& p : findings.problems)
        std::fprintf(options_.out, "      %.*s: %s\n", static_cast<int>(backend_.name().size()),
                     backend_.name().data(), p.c_str());
    }
    std::string message = "the " + std::string(backend_.name()) + " backend found " +
                          std::to_string(findings.problems.size()) +
                          " problem(s); the first: " + findings.problems.front();
    return fail(line, std::move(message), Failure::Cause::backend);
  }

  std::optional<Outcome> apply(Table& t, const Step& step) {
    switch (step.op) {
      case OpKind::map:
        return ranged(t.map(step.range, step.pa, step.attrs, step.flags));
      case OpKind::unmap:
        return ranged(t.unmap(step.range, step.strategy));
      case OpKind::write_protect:
        return ranged(t.write_protect(step.range));
      case OpKind::relax:
        return ranged(t.relax(step.range, step.perm));
      case OpKind::mkold:
        return ranged(t.mkold(step.range));
      case OpKind::mkyoung:
        return ranged(t.mkyoung(step.range));
      case OpKind::annotate:
        return ranged(t.annotate(step.range, step.owner));
      case OpKind::flush:
        return ranged(t.flush_dcache(step.range));
      case OpKind::split:
        return ranged(t.split(step.range, Level{step.level}, step.budget.value_or(~u64{0})));
      case OpKind::collapse:
        return ranged(t.collapse(step.range));
      case OpKind::fault:
        return fault(t, step);
      case OpKind::lookup:
        return lookup(t, step.ipa);
      case OpKind::destroy:
        t.destroy();
        backend_.table_stopping(t);
        return reclaim_everything(step, Outcome{});
      case OpKind::destroy_range: {
        const Progress p = t.destroy_range(step.range, step.budget.value_or(~u64{0}));
        return reclaim_everything(step, ranged(p));
      }
      case OpKind::reclaim:
        return reclaim(t, step);
      case OpKind::table:
      case OpKind::fail_alloc:
        break;
    }
    return Outcome{.status = Status::unsupported};
  }

  // Tears the live table down as a hypervisor would when its VM goes away: destroy, stop the
  // guests, free every page.
  void close_table(u32 line, std::string_view what) {
    if (!table_) return;
    Table& t = *table_;
    if (!t.destroyed()) {
      backend_.before_step(t, IpaRange{}, what);
      t.destroy();
      backend_.table_stopping(t);
      t.reclaim_all();
      backend_problems(line, backend_.after_step(t, IpaRange{}));
    }
    table_.reset();
  }

  std::optional<Outcome> create(const Step& step) {
    close_table(step.pos.line, "tearing down the previous table");
    if (result_.failure) return std::nullopt;
    if (backend_.table_bytes_in_use() != 0) {
      fail(step.pos.line,
           "destroying the previous table left " + std::to_string(backend_.table_bytes_in_use()) +
               " bytes allocated",
           Failure::Cause::leak);
      return std::nullopt;
    }
    table_line_ = step.pos.line;
    const TableSpec& spec = step.table;
    Result<Geometry> geometry = Geometry::make(spec.granule, spec.ipa_bits, spec.pa_bits,
                                               spec.vmid_bits, spec.max_root_pages);
    if (!geometry.ok()) return Outcome{.status = geometry.status()};
    Arch& arch = backend_.arch_for(spec.features);
    const TableConfig config{
        .geometry = geometry.value(), .vmid = Vmid{spec.vmid}, .limits = spec.limits};
    Result<Table> table = Table::create(config, backend_.mm(), arch);
    if (!table.ok()) return Outcome{.status = table.status()};
    table_.emplace(static_cast<Result<Table>&&>(table).value());
    backend_.table_created(*table_);
    char note[96];
    std::snprintf(note, sizeof note, "start level %d, %u root page(s), VTCR_EL2 %s",
                  geometry->start_level().value(), geometry->root_pages(),
                  hex(geometry->vtcr()).c_str());
    return Outcome{.note = note};
  }

  // Frees what the operation retired; after a whole-table destroy nothing may remain allocated.
  std::optional<Outcome> reclaim_everything(const Step& step, Outcome outcome) {
    table_->reclaim_all();
    if (step.op != OpKind::destroy) return outcome;
    if (backend_.table_bytes_in_use() != 0) {
      fail(step.pos.line,
           "destroy left " + std::to_string(backend_.table_bytes_in_use()) +
               " bytes of table pages allocated",
           Failure::Cause::leak);
      return std::nullopt;
    }
    return outcome;
  }

  // One fault on one CPU: the page cache is filled first, as a fault handler does outside the
  // lock, and what the fault did not use goes back to the pool.
  std::optional<Outcome> fault(Table& t, const Step& step) {
    const Geometry& g = t.geometry();
    PageCache cache(g.page_bytes(), 0);
    if (const Status s = cache.topup(backend_.mm(), g.levels()); s != Status::ok) {
      cache.drain(backend_.mm());
      return Outcome{.status = s, .note = "(filling the page cache)"};
    }
    const FaultRequest request{
        .ipa = step.ipa,
        .pa = step.pa,
        .leaf_bytes = step.leaf_bytes != 0 ? step.leaf_bytes : g.page_bytes(),
        .attrs = step.attrs};
    const Result<FaultOutcome> r = t.handle_fault(request, cache);
    cache.drain(backend_.mm());
    if (!r.ok()) return Outcome{.status = r.status()};
    if (step.fault_expect && *step.fault_expect != r.value()) {
      fail(step.pos.line, "expected the fault to be " +
                              std::string(fault_outcome_name(*step.fault_expect)) + ", it was " +
                              std::string(fault_outcome_name(r.value())));
      return std::nullopt;
    }
    return Outcome{.note = "(" + std::string(fault_outcome_name(r.value())) + ")"};
  }

  // reclaim [N]: Table::reclaim(N), or everything.
  static Outcome reclaim(Table& t, const Step& step) {
    const u64 before = t.stats().table_pages;
    if (step.budget) {
      t.reclaim(*step.budget);
    } else {
      t.reclaim_all();
    }
    const u64 freed = before - t.stats().table_pages;
    return Outcome{.note = "(freed " + std::to_string(freed) + " table page(s)" +
                           (t.reclaim_pending() ? ", more pending)" : ")")};
  }

  static Outcome ranged(Progress p) { return Outcome{.status = p.status, .done = p.bytes_done}; }

  static Outcome lookup(const Table& t, Ipa ipa) {
    Result<Translation> r = t.lookup(ipa);
    if (r.ok()) return Outcome{.mapping = r.value()};
    if (r.status() == Status::not_mapped) return Outcome{.owner = t.owner(ipa)};
    return Outcome{.status = r.status()};
  }

  MaintenanceCounters counters() const {
    return table_ ? table_->stats().maintenance : MaintenanceCounters{};
  }
  u64 table_pages() const { return table_ ? table_->stats().table_pages : 0; }

  void report(const Step& step, const Outcome& o, const MaintenanceCounters& issued) {
    std::FILE* out = options_.out;
    if (!out) return;
    std::string line = std::to_string(step.pos.line) + ": " + step.text + "  ->  ";
    if (o.status != Status::ok) {
      line += status_name(o.status);
      if (o.done && *o.done != 0) line += " after " + size_string(*o.done);
    } else if (step.op == OpKind::lookup) {
      line += lookup_text(o);
    } else {
      line += "ok";
    }
    if (!o.note.empty()) line += " " + o.note;
    std::string counts;
    for (Counter c : all_counters()) {
      if (c == Counter::tlbi || c == Counter::dsb) continue;  // the sums of the others
      if (const u64 v = counter_value(issued, c); v != 0) {
        counts +=
            (counts.empty() ? "" : " ") + std::string(counter_name(c)) + "=" + std::to_string(v);
      }
    }
    line += "  [" + (counts.empty() ? std::string("nothing issued") : counts) + "]";
    line += "  pages=" + std::to_string(table_pages());
    std::fprintf(out, "%s\n", line.c_str());
    if (options_.trace && table_) {
      const Geometry& g = table_->geometry();
      for (const std::string& op :
           backend_.take_trace(g.granule(), g.oa_layout() == OaLayout::lpa2)) {
        std::fprintf(out, "      %s\n", op.c_str());
      }
    }
  }

  static std::string lookup_text(const Outcome& o) {
    if (!o.mapping) {
      return o.owner.raw != 0 ? "unmapped, owner " + std::to_string(o.owner.raw) : "unmapped";
    }
    const Translation& m = *o.mapping;
    return "mapped " + hex(m.pa.raw) + " " + perm_string(m.attrs.perm) + " " +
           std::string(memtype_name(m.attrs.mem)) + (m.attrs.af ? " af=on" : " af=off") +
           " level=" + std::to_string(m.level.value()) + " size=" + size_string(m.size);
  }

  bool check(const Step& step, const Outcome& o, const MaintenanceCounters& issued) {
    const Expectation* error = nullptr;
    for (const Expectation& e : step.expects) {
      if (e.kind == Expectation::Kind::error) error = &e;
    }
    if (error) {
      if (o.status != error->error) {
        return fail(error->pos.line, "expected " + std::string(op_name(step.op)) +
                                         " to fail with " + std::string(status_name(error->error)) +
                                         ", got " + status_text(o.status));
      }
      if (error->done && o.done != error->done) {
        return fail(error->pos.line, "expected " + hex(*error->done) + " bytes done, got " +
                                         hex(o.done.value_or(0)));
      }
    } else if (o.status != Status::ok) {
      std::string message = std::string(op_name(step.op)) + " failed: " + status_text(o.status);
      if (o.done && *o.done != 0) message += " after " + hex(*o.done) + " bytes";
      if (!o.note.empty()) message += " " + o.note;
      return fail(step.pos.line, message);
    }
    if (step.op == OpKind::lookup && step.expect && !check_lookup(step, o)) return false;
    for (const Expectation& e : step.expects) {
      if (e.kind == Expectation::Kind::pages && table_pages() != e.pages) {
        return fail(e.pos.line, "expected " + std::to_string(e.pages) + " table pages, there are " +
                                    std::to_string(table_pages()));
      }
      if (e.kind == Expectation::Kind::ops) {
        for (const auto& [counter, wanted] : e.ops) {
          const u64 got = counter_value(issued, counter);
          if (got != wanted) {
            return fail(e.pos.line, "expected " + std::string(counter_name(counter)) + "=" +
                                        std::to_string(wanted) + ", the operation issued " +
                                        std::to_string(got));
          }
        }
      }
    }
    return true;
  }

  bool check_lookup(const Step& step, const Outcome& o) {
    const LookupExpect& e = *step.expect;
    const u32 line = step.pos.line;
    if (o.status != Status::ok) return true;  // an expected error was checked already
    if (!e.mapped) {
      if (o.mapping) return fail(line, "expected unmapped, got " + lookup_text(o));
      if (e.owner && *e.owner != o.owner) {
        return fail(line, "expected owner " + std::to_string(e.owner->raw) + ", got " +
                              std::to_string(o.owner.raw));
      }
      return true;
    }
    if (!o.mapping) return fail(line, "expected mapped, got " + lookup_text(o));
    const Translation& m = *o.mapping;
    if (e.pa && *e.pa != m.pa) return mismatch(line, "PA " + hex(e.pa->raw), o);
    if (e.perm && *e.perm != m.attrs.perm) {
      return mismatch(line, "permissions " + perm_string(*e.perm), o);
    }
    if (e.mem && *e.mem != m.attrs.mem) {
      return mismatch(line, "memory type " + std::string(memtype_name(*e.mem)), o);
    }
    if (e.level && *e.level != m.level.value()) {
      return mismatch(line, "level " + std::to_string(*e.level), o);
    }
    if (e.af && *e.af != m.attrs.af) return mismatch(line, *e.af ? "af=on" : "af=off", o);
    if (e.size && *e.size != m.size) return mismatch(line, "size " + size_string(*e.size), o);
    return true;
  }

  bool mismatch(u32 line, const std::string& wanted, const Outcome& o) {
    return fail(line, "expected " + wanted + ", got " + lookup_text(o));
  }

  bool fail(u32 line, std::string message, Failure::Cause cause = Failure::Cause::expectation) {
    if (!result_.failure) result_.failure = Failure{line, std::move(message), cause};
    return false;
  }

  Backend& backend_;
  const RunOptions& options_;
  std::optional<Table> table_;
  u32 table_line_ = 0;
  RunResult result_;
};

}  // namespace

RunResult run(const Scenario& scenario, Backend& backend, const RunOptions& options) {
  return Runner(backend, options).run(scenario);
}

}  // namespace s2pt::scenario
